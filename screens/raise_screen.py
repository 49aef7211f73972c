"""The RAISE panel (opened from Runs with R): the RAISE jobs of the store, a job's episode reward curve and value
loss, what drives the acquisition score (attribution per feature group), which clusters the episodes pick early,
middle and late, and the picked samples per step (enter or b: Browse on them). n trains a policy in a worker
process (live progress, c cancels, the same name resumes), d deploys the trained policy as a run, D queues the
random baseline at equal steps. The engine is engine/raise_rl (docs/raise.md)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, Static
from textual_plotext import PlotextPlot

from engine.raise_rl.settings import KNOBS
from screens.job_panel import JobPanel, JobScreen
from screens.scope_dialog import current_filter, load_choices
from screens.widgets import Dialog, EngineCaller, FormDialog, NavTable
from workbench.actions import bindings_for

EMPTY = """No RAISE job in this store yet. n trains a policy here (a form: name, target eval pool, clustering,
what it works on, steps, batch, episodes, PPO knobs), or from the command line: workbench raise train --name r1 ..."""

BASE_MODEL = "smollm2"


def knob_defaults() -> dict[str, str]:
    """The form's knob values: the engine's defaults, as text."""
    from engine.raise_rl.settings import PPOSettings, RaiseSettings

    src = {"settings": RaiseSettings(), "ppo": PPOSettings()}
    return {f: str(getattr(src[g], k)) for f, g, k in KNOBS}


def knob_values(form: dict[str, str]) -> tuple[dict, dict] | str:
    """(settings, ppo) from the form's knob texts, checked by the engine's own settings classes; or the error, naming
    the field."""
    from dataclasses import fields

    from engine.raise_rl.settings import PPOSettings, RaiseError, RaiseSettings, settings_from

    types = {
        "settings": {x.name: x.type for x in fields(RaiseSettings)},
        "ppo": {x.name: x.type for x in fields(PPOSettings)},
    }
    out: dict[str, dict] = {"settings": {}, "ppo": {}}
    for f, g, k in KNOBS:
        text = form[f]
        want = int if types[g][k] in (int, "int") else float
        try:
            out[g][k] = want(text)
        except ValueError:
            return f"{f.replace('_', ' ')}: expected {'a whole number' if want is int else 'a number'}, not {text!r}"
    for g, check in (("settings", settings_from), ("ppo", lambda d: PPOSettings(**d).validate())):
        try:
            check(out[g])
        except RaiseError as e:
            name = str(e).split(" ", 1)[0]
            field = next((f for f, gg, k in KNOBS if gg == g and k == name), name)
            return f"{field.replace('_', ' ')}: {e}"
    return out["settings"], out["ppo"]


class NewRaiseDialog(FormDialog):
    """Train a RAISE policy: name, target eval pool, base model, embeddings and clustering (optional), what it works
    on (the Browse filter or every training sample), and the knobs of the episodes and of PPO (the engine's
    defaults; docs/raise.md). A name that exists resumes that job with its own settings. Dismisses with a dict
    ({"name", "target", "base_model", "embeddings", "clustering", "scope", "words", "settings", "ppo"}) or None."""

    HELP = __doc__
    DEFAULT_CSS = """
    NewRaiseDialog > Vertical { width: 96; max-height: 96%; }
    NewRaiseDialog .row { height: 1; margin-top: 1; }
    NewRaiseDialog .row Label { width: 13; }
    NewRaiseDialog .row Input { width: 1fr; }
    NewRaiseDialog .knobs { height: 1; }
    NewRaiseDialog .knobs Label { width: 12; }
    NewRaiseDialog .knobs Input { width: 1fr; margin-right: 1; }
    NewRaiseDialog RadioSet { width: 1fr; }
    NewRaiseDialog #hint { color: $text-muted; margin-top: 1; }
    """
    FIELDS = ("name", "target", "base_model", "embeddings", "clustering", "metric")

    def __init__(self, targets: list[str], clusterings: list[str], jobs: list[str], choices=()) -> None:
        super().__init__()
        self.targets, self.clusterings, self.jobs = targets, clusterings, jobs
        self.choices = list(choices)  # (key, Scope, words): screens.scope_dialog.load_choices

    def compose(self) -> ComposeResult:
        from rich.text import Text
        from textual.widgets import RadioButton, RadioSet

        values = {
            "name": next(f"r{i}" for i in range(1, 10**6) if f"r{i}" not in self.jobs),
            "target": self.targets[0] if self.targets else "",
            "base_model": BASE_MODEL,
            "embeddings": "",
            "clustering": self.clusterings[0] if self.clusterings else "",
            "metric": "nll",
        } | knob_defaults()
        with Vertical():
            yield Label("Train a RAISE policy", classes="title")
            for f in self.FIELDS:
                with Horizontal(classes="row"):
                    yield Label(f.replace("_", " "))
                    yield Input(values[f], id=f"f-{f}", compact=True, select_on_focus=False)
            if self.choices:
                yield Label("works on:", classes="row")
                with RadioSet(id="f-scope"):
                    for i, (key, _scope, words) in enumerate(self.choices):
                        prefix = "the Browse filter: " if key == "browse" else "every training sample: "
                        yield RadioButton(Text(prefix + words), value=i == 0, id=f"f-scope-{key}")
            yield Label("episodes and PPO (docs/raise.md)", classes="row")
            for k in range(0, len(KNOBS), 3):
                with Horizontal(classes="knobs"):
                    for f, _g, _k in KNOBS[k : k + 3]:
                        yield Label(f.replace("_", " "))
                        yield Input(values[f], id=f"f-{f}", compact=True, select_on_focus=False)
            yield Static(
                f"eval pools: {', '.join(self.targets) or 'none'} · clusterings: {', '.join(self.clusterings) or 'none'}"
                " · embeddings: a stored embedding model, empty for none",
                id="hint",
            )
            yield Static("", id="error", classes="error")

    def on_mount(self) -> None:
        self.query_one("#f-name", Input).focus()

    def _submit(self) -> None:
        from textual.widgets import RadioSet

        v = {f: self.query_one(f"#f-{f}", Input).value.strip() for f in self.FIELDS}
        knobs = {f: self.query_one(f"#f-{f}", Input).value.strip() for f, _g, _k in KNOBS}
        err = None
        if not v["name"]:
            err = "name: give the job a name"
        elif v["name"] not in self.jobs and v["target"] not in self.targets:
            err = f"target: {v['target']!r} is not an eval pool (eval pools: {', '.join(self.targets) or 'none'})"
        elif v["clustering"] and v["clustering"] not in self.clusterings:
            err = f"clustering: no clustering named {v['clustering']!r}"
        elif v["metric"] not in ("nll", "accuracy"):
            err = f"metric: nll (the gold answers' NLL) or accuracy (greedy answers checked), not {v['metric']!r}"
        got = knob_values(knobs)
        if err is None and isinstance(got, str):
            err = got
        if err:
            self.query_one("#error", Static).update(err)
            return
        scope, words = None, ""
        if self.choices:
            i = self.query_one("#f-scope", RadioSet).pressed_index
            _key, scope, words = self.choices[i if 0 <= i < len(self.choices) else 0]
        out = {k: (x or None) for k, x in v.items() if k != "metric"}
        settings = got[0] | {"metric": v["metric"]}
        self.dismiss(out | {"scope": scope, "words": words, "settings": settings, "ppo": got[1]})


class CompareDialog(FormDialog):
    """Compare at equal steps (`workbench raise compare`): the arms (raise, random, ifd, full, base) and the eval
    sets (default: the job's target). Runs already queued for this job are reused. Dismisses with {"arms": [...],
    "sets": [...]} or None."""

    HELP = __doc__
    DEFAULT_CSS = """
    CompareDialog > Vertical { width: 84; }
    CompareDialog .row { height: 1; margin-top: 1; }
    CompareDialog .row Label { width: 10; }
    CompareDialog .row Input { width: 1fr; }
    CompareDialog #hint { color: $text-muted; margin-top: 1; }
    """

    def __init__(self, job: str, target: str, evals: list[str]) -> None:
        super().__init__()
        self.job, self.target, self.evals = job, target, evals

    def compose(self) -> ComposeResult:
        from engine.raise_rl.compare import ARMS

        with Vertical():
            yield Label(f"Compare RAISE job {self.job} at equal steps", classes="title")
            with Horizontal(classes="row"):
                yield Label("arms")
                yield Input(",".join(ARMS), id="c-arms", compact=True, select_on_focus=False)
            with Horizontal(classes="row"):
                yield Label("eval sets")
                yield Input(self.target, id="c-sets", compact=True, select_on_focus=False)
            yield Static(
                "one run per arm in the Runs queue (the same recipe and steps); the finished ones are evaluated "
                f"per domain now, C again evaluates the rest · eval pools: {', '.join(self.evals) or 'none'}",
                id="hint",
            )
            yield Static("", id="error", classes="error")

    def on_mount(self) -> None:
        self.query_one("#c-arms", Input).focus()

    def _submit(self) -> None:
        from engine.raise_rl.compare import check_arms
        from engine.raise_rl.policy import RaiseError

        arms = [a.strip() for a in self.query_one("#c-arms", Input).value.split(",") if a.strip()]
        sets = [x.strip() for x in self.query_one("#c-sets", Input).value.split(",") if x.strip()]
        err = None
        try:
            arms = check_arms(arms)
        except RaiseError as e:
            err = f"arms: {e}"
        if err is None and not sets:
            err = "eval sets: name at least one eval pool"
        bad = [x for x in sets if x not in self.evals]
        if err is None and bad:
            err = f"eval sets: {', '.join(bad)} {'is' if len(bad) == 1 else 'are'} not an eval pool"
        if err:
            self.query_one("#error", Static).update(err)
            return
        self.dismiss({"arms": arms, "sets": sets})


class RaiseScreen(JobScreen, EngineCaller, Dialog):
    """RAISE: the jobs (status, episodes, target, last return); the highlighted job's reward and value-loss curves
    per episode, its attribution per feature group, the clusters picked early / middle / late in the first and the
    last episode, and the picks per step (of the deploy plan when there is one, else of the last episode).
    enter or b: Browse on the highlighted step's samples. n: train a policy (a worker process: live progress,
    c cancels at the next step, the same name resumes); d: deploy the trained policy as a run; D: the random
    baseline at equal steps; ctrl+r reloads; escape closes."""

    CONTEXT = "raise"
    BINDINGS = bindings_for("raise")
    HELP = __doc__
    JOB_PANEL = "x-jobbar"
    DEFAULT_CSS = """
    RaiseScreen > Vertical { width: 96%; height: 94%; max-height: 100%; }
    RaiseScreen #x-top { height: 9; }
    RaiseScreen #x-jobs { width: 1fr; height: 100%; }
    RaiseScreen #x-detail { width: 1fr; height: 100%; padding: 0 1; }
    RaiseScreen #x-mid { height: 1fr; }
    RaiseScreen #x-curve { width: 1fr; height: 100%; }
    RaiseScreen #x-steps { width: 1fr; height: 100%; }
    RaiseScreen #x-jobbar { height: 1; }
    RaiseScreen #x-compare { height: auto; max-height: 10; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[dict] = []
        self.job_name: str | None = None
        self.info: dict | None = None
        self.steps: list[dict] = []

    @property
    def store(self):
        return self.app.store  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("RAISE: batch selection learned with PPO (docs/raise.md)", classes="title")
            with Horizontal(id="x-top"):
                yield NavTable(id="x-jobs", cursor_type="row", zebra_stripes=True)
                yield Static(EMPTY, id="x-detail")
            with Horizontal(id="x-mid"):
                yield PlotextPlot(id="x-curve")
                yield NavTable(id="x-steps", cursor_type="row", zebra_stripes=True)
            yield Static("", id="x-compare")
            yield JobPanel(
                "n trains · d deploys · D random baseline · C compares · enter/b browses a step · c cancels",
                status_id="x-job",
                progress_id="x-progress",
                id="x-jobbar",
            )

    def on_mount(self) -> None:
        jobs = self.query_one("#x-jobs", DataTable)
        jobs.add_columns("job", "status", "episodes", "target", "last return")
        self.query_one("#x-steps", DataTable).add_columns("step", "clusters", "samples")
        jobs.focus()
        self.reload()

    # -- loading ---------------------------------------------------------------------------------------------
    def reload(self) -> None:
        from engine.raise_rl.reading import list_jobs

        if self.store is None:
            return
        self.run_engine(lambda: list_jobs(self.store), self._jobs_loaded, group="raise-jobs", exclusive=True)

    def _jobs_loaded(self, jobs: list[dict]) -> None:
        self.jobs = jobs
        t = self.query_one("#x-jobs", DataTable)
        t.clear()
        for j in jobs:
            ret = "" if j["last_return"] is None else f"{j['last_return']:+.4f}"
            t.add_row(j["name"], j["status"], f"{j['episode']}/{j['episodes']}", j["target"] or "", ret, key=j["name"])
        if not jobs:
            self.query_one("#x-detail", Static).update(EMPTY)
            return
        names = [j["name"] for j in jobs]
        row = names.index(self.job_name) if self.job_name in names else 0
        t.move_cursor(row=row)
        self._load_job(names[row])

    @on(DataTable.RowHighlighted, "#x-jobs")
    def _job_highlighted(self, event: DataTable.RowHighlighted) -> None:
        name = event.row_key.value if event.row_key is not None else None
        if name and name != self.job_name:
            self._load_job(name)

    def _load_job(self, name: str) -> None:
        from engine.raise_rl.reading import summary

        self.job_name = name
        folder = next(j["folder"] for j in self.jobs if j["name"] == name)
        self.run_engine(lambda: summary(folder), self._show_job, group="raise-job", exclusive=True)

    def _show_job(self, info: dict) -> None:
        self.info = info
        spec, eps = info["spec"], info["episodes"]
        lines = [
            f"target {spec.get('target')} · base {spec.get('base_model')} · {spec.get('pool')} samples · "
            f"clustering {spec.get('clustering') or 'none'}"
        ]
        if eps:
            attr = eps[-1].get("attribution") or {}
            lines.append("score driven by: " + ", ".join(f"{k} {v:.0%}" for k, v in attr.items()))
            by = info.get("clusters_by_episode") or [info["clusters_by_stage"]]
            for label, d in (("first", by[0]), ("last", by[-1])) if len(by) > 1 else (("last", by[-1]),):
                parts = [
                    f"{st} " + " ".join(f"{c}x{n}" for c, n in sorted(d[st].items()))
                    for st in ("early", "middle", "late")
                    if st in d
                ]
                lines.append(f"clusters, {label} episode: " + " | ".join(parts))
        else:
            lines.append("no finished episode yet")
        plan = info.get("plan")
        if plan:
            metric = "accuracy" if (spec.get("settings") or {}).get("metric") == "accuracy" else "NLL"
            lines.append(f"deploy plan: {metric} {plan['val0']:.4f} -> {plan['val_final']:.4f} (its rollout)")
        self.query_one("#x-detail", Static).update("\n".join(lines))
        self._plot(eps)
        self.steps = (plan or {}).get("steps") or info["last_episode_steps"]
        t = self.query_one("#x-steps", DataTable)
        t.clear()
        for st in self.steps:
            t.add_row(
                str(st["step"]),
                " ".join(map(str, st.get("clusters") or [])),
                " ".join(map(str, st["samples"])),
                key=str(st["step"]),
            )

    def _plot(self, eps: list[dict]) -> None:
        w = self.query_one("#x-curve", PlotextPlot)
        plt = w.plt
        plt.clear_data()
        plt.clear_figure()
        if eps:
            x = [e["episode"] for e in eps]
            plt.plot(x, [e["return"] for e in eps], label="return")
            plt.plot(x, [e.get("value_loss") or 0.0 for e in eps], label="value loss")
            plt.xlabel("episode")
        plt.title("reward per episode, value loss")
        w.refresh()

    # -- browse ----------------------------------------------------------------------------------------------
    @on(DataTable.RowSelected, "#x-steps")
    def _step_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_browse_step()

    def action_browse_step(self) -> None:
        from engine.raise_rl.reading import browse_expression

        t = self.query_one("#x-steps", DataTable)
        if not self.steps or t.cursor_row is None or t.cursor_row >= len(self.steps):
            self.app.notify("no step to browse: pick a job with finished episodes")
            return
        expr = browse_expression(self.steps[t.cursor_row]["samples"])
        self.dismiss(None)
        self.app.open_browse(expression=expr)  # type: ignore[attr-defined]

    def action_refresh(self) -> None:
        self.reload()

    # -- training --------------------------------------------------------------------------------------------
    def action_new_job(self) -> None:
        if self._busy():
            return

        flt = current_filter(self.app)

        def load():
            from engine.data.scope import eval_pools
            from engine.geometry.cluster_store import list_clusterings

            clusterings = [c.name for c in list_clusterings(self.store)]
            return list(eval_pools(self.store).values()), clusterings, load_choices(self.store, flt)

        def opened(got) -> None:
            targets, clusterings, choices = got
            jobs = [j["name"] for j in self.jobs]
            self.app.push_screen(NewRaiseDialog(targets, clusterings, jobs, choices), self._train)

        self.run_engine(load, opened, group="raise-form")

    def _train(self, form: dict | None) -> None:
        from engine.raise_rl.reading import jobs_root

        if not form:
            return
        folder = jobs_root(self.store) / form["name"]
        resume = any(j["name"] == form["name"] for j in self.jobs)

        def prepare():
            from engine.raise_rl.job import prepare as prep

            if resume:
                return folder
            prep(
                self.store, folder, base_model=form["base_model"] or BASE_MODEL, target=form["target"],
                scope=form.get("scope"), embeddings=form["embeddings"], text_kind="instruction_response",
                clustering=form["clustering"], settings=form["settings"], ppo=form["ppo"],
            )  # fmt: skip
            return folder

        self.panel.start("raise", f"raise {form['name']}: preparing the job folder…", show_bar=False)
        self.job_name = form["name"]
        self.run_engine(prepare, self._spawn, self._failed, group="raise-prepare")
        if resume:
            self.app.notify(f"resuming RAISE job {form['name']!r} with its own settings")

    def _spawn(self, folder) -> None:
        from engine.raise_rl.job import start

        proc = start(folder)
        name = folder.name
        self.panel.finish("")
        self.panel.start("raise", f"raise {name}: starting the worker…", proc=proc, total=None, folder=str(folder))
        self.panel.poll(1.0, self._poll)
        self.reload()

    def _poll(self) -> None:
        from engine.raise_rl.reading import job_status

        job = self.job
        if job is None:
            return
        folder = job.data["folder"]
        st = job_status(folder)
        name = folder.rsplit("/", 1)[-1]
        ep, total = int(st.get("episode", 0)), st.get("episodes")
        if job.proc.poll() is None:
            ret = st.get("last_return")
            more = "" if ret is None else f", last return {ret:+.4f}"
            line = f"raise {name}: episode {ep}/{total or '?'}{more} · c cancels"
            self.panel.progress(ep, total, None if job.state == "cancelling" else line)
            if st.get("episode") != job.data.get("seen"):
                job.data["seen"] = st.get("episode")
                self.reload()
            return
        state = st.get("status", "failed")
        if job.proc.returncode not in (0, 130) and state == "running":
            state = "failed"
        ended = {"done": "done", "cancelled": "cancelled", "stopped": "cancelled"}.get(state, "failed")
        text = f"raise {name}: {state} after {ep} episode(s)"
        if ended == "cancelled":
            text += " (n with the same name resumes)"
        if st.get("error"):
            text += f": {st['error']}"
        self.panel.finish(text, ended)
        self.reload()

    def _failed(self, error: BaseException) -> None:
        self.panel.fail(error)

    def action_cancel(self) -> None:
        if self.job is not None:  # escape: the panel holds the job, so it stays open until the job ends
            self.app.notify("a RAISE job is running: c cancels it (it resumes later), then escape closes")
            return
        self.dismiss(None)

    def action_cancel_job(self) -> None:
        if self.job is not None:
            self.panel.cancel("cancelling: the worker stops at its next step…")
        else:
            self.app.notify("no RAISE job is running")

    # -- deploy ----------------------------------------------------------------------------------------------
    def action_deploy(self) -> None:
        self._deploy(False)

    def action_deploy_random(self) -> None:
        self._deploy(True)

    def _deploy(self, random: bool) -> None:
        if self._busy():
            return
        if not self.job_name or not self.jobs:
            self.app.notify("no RAISE job to deploy: n trains one")
            return
        name = self.job_name
        folder = next(j["folder"] for j in self.jobs if j["name"] == name)

        def work(_progress, _token):
            from engine.raise_rl.job import deploy_run, plan

            pl = plan(folder, random=random)
            return deploy_run(self.store, folder, name=f"raise-{name}-random" if random else None, plan_obj=pl)

        def done(run: Any) -> None:
            what = "the random baseline" if random else "the policy's plan"
            self.panel.finish(f"run {run.id} {run.name!r} queued: {what} (the Runs queue trains it)")
            self.app.notify(f"run {run.name!r} queued")
            self.reload()

        self.panel.run("deploy", work, done, text=f"raise {name}: rolling the policy out…", suffix="")

    # -- comparison ------------------------------------------------------------------------------------------
    def action_compare(self) -> None:
        if self._busy():
            return
        if not self.job_name or not self.jobs:
            self.app.notify("no RAISE job to compare: n trains one")
            return
        name = self.job_name
        folder = next(j["folder"] for j in self.jobs if j["name"] == name)
        target = next(j["target"] for j in self.jobs if j["name"] == name) or ""

        def load():
            from engine.data.scope import eval_pools

            return list(eval_pools(self.store).values())

        def opened(evals: list[str]) -> None:
            self.app.push_screen(CompareDialog(name, target, evals), lambda form: self._compare(name, folder, form))

        self.run_engine(load, opened, group="raise-form")

    def _compare(self, name: str, folder: str, form: dict | None) -> None:
        if not form:
            return

        def work(progress, token):
            from engine.raise_rl.compare import evaluate_comparison, queue_comparison
            from engine.training.runs import get_run

            runs = queue_comparison(self.store, folder, arms=form["arms"])
            # the status the evaluation saw (the queue may finish an arm meanwhile: C again evaluates it)
            status = {a: get_run(self.store, rid).status for a, rid in runs.items()}
            rows = evaluate_comparison(self.store, folder, form["sets"], progress=progress, cancel=token)
            return runs, rows, status

        def done(got) -> None:
            from engine.raise_rl.compare import comparison_lines

            runs, rows, status = got
            lines = comparison_lines(runs, rows, status, hint="the Runs queue trains them, C again evaluates them")
            self.query_one("#x-compare", Static).update(Text("\n".join(lines)))
            left = sum(1 for st in status.values() if st != "done")
            more = (
                f"; {left} arm(s) not trained yet: the Runs queue trains them, C again evaluates them" if left else ""
            )
            self.panel.finish(f"raise {name}: comparison of {len(runs)} arms{more}")
            self.reload()

        self.panel.run("compare", work, done, text=f"raise {name}: queueing the arms, evaluating the finished…")
