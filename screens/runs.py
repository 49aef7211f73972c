"""The Runs area: every training run (finished, failed and cancelled ones stay), the queue, the selected run's
progress with ETA, loss curves per domain, GPU memory, and cancel / resume / new run. The app ticks the queue
(`engine.training.runs.tick`: ingest the workers' metrics, mark dead workers failed, start the next queued run) on every
screen; this screen reloads what the ticks stored about once a second."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, DataTable, Input, Label, ProgressBar, Select, Static
from textual_plotext import PlotextPlot

from screens.widgets import EngineCaller, FormDialog, WorkbenchScreen
from workbench.actions import bindings_for

RELOAD_S = 1.0  # seconds between reloads of the runs and curves
MAX_POINTS = 400  # per curve; longer curves are thinned evenly for the terminal plot
STATUS_STYLE = {
    "queued": "cyan",
    "running": "bold yellow",
    "done": "green",
    "failed": "bold red",
    "cancelled": "grey50",
}
COLORS = ["blue", "red", "green", "orange", "magenta", "cyan", "yellow"]

EMPTY = (
    "No runs yet. Press n to train a saved mixture version (protocol, base model, LoRA and training "
    "settings in a form), or from the command line: "
    "workbench train MIXTURE --protocol multi_task|sequential|multi_stage"
)


def fmt_eta(s: Any) -> str:
    """ "1h05m" / "3m07s" / "-"."""
    if not isinstance(s, (int, float)):
        return "-"
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def thin(points: list[tuple[int, float]], n: int = MAX_POINTS) -> list[tuple[int, float]]:
    """At most n points, evenly spread, the last one kept."""
    if len(points) <= n:
        return points
    step = len(points) / n
    out = [points[int(i * step)] for i in range(n)]
    if out[-1] != points[-1]:
        out.append(points[-1])
    return out


class RunsScreen(WorkbenchScreen):
    """Runs: the table lists every run with its status, progress and ETA; the right side shows the highlighted
    run (recipe, LoRA and training settings, error, GPU memory, gradient conflict), a progress bar and its loss
    curves (training loss and the eval loss of each domain). c cancels the highlighted run (a running one
    saves a checkpoint first), r resumes a failed or cancelled run from its last checkpoint (it joins the
    queue), n opens the new-run form (mixture version, protocol, base model, LoRA and training settings).
    Runs start one after another: the queue line says what runs and what waits."""

    CONTEXT = "runs"
    MODE = "runs"
    BINDINGS = bindings_for("runs")
    HELP = __doc__
    DEFAULT_CSS = """
    #r-main { height: 1fr; }
    #r-left { width: 3fr; height: 1fr; }
    #r-runs { height: 1fr; }
    #r-queue { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    #r-right { width: 2fr; height: 1fr; }
    #r-detail { height: auto; max-height: 12; padding: 0 1; }
    #r-progress { height: 1; padding: 0 1; }
    #r-loss { height: 1fr; min-height: 8; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[Any] = []  # engine.training.runs.RunInfo
        self.selected: int | None = None
        self.series: dict[str, list[tuple[int, float]]] = {}
        self.conflict: dict = {}
        self.conflict_rates: dict[int, float | None] = {}  # run id -> pooled Conflict Rate (ours), None: not yet
        self.conflict_results: dict[
            int, Any
        ] = {}  # run id -> engine.evaluation.conflict.ConflictResult (None: not yet)
        self._conflict_key: tuple | None = None
        self._busy = False

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with Horizontal(id="r-main"):
            with Vertical(id="r-left"):
                yield DataTable(id="r-runs", cursor_type="row", zebra_stripes=True)
                yield Static("", id="r-queue")
            with Vertical(id="r-right"):
                yield Static(EMPTY, id="r-detail")
                yield ProgressBar(id="r-progress", show_eta=False)
                yield PlotextPlot(id="r-loss")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        t = self.query_one("#r-runs", DataTable)
        for key, label, width in [
            ("id", "id", 4),
            ("status", "status", 9),
            ("kind", "kind", 10),
            ("protocol", "protocol", 11),
            ("step", "step", 9),
            ("loss", "loss", 7),
            ("conflict", "conflict", 8),
            ("eta", "ETA", 6),
            ("name", "name", 28),
        ]:
            t.add_column(label, key=key, width=width)
        t.focus()
        super().on_mount()
        self.set_interval(RELOAD_S, self.refresh_runs)

    # -- loading -----------------------------------------------------------------------------------------
    def on_data_changed(self, what: str) -> None:
        if what in ("store", "runs"):
            self.refresh_runs()

    def refresh_runs(self) -> None:
        """Reload the runs and the selected run's curves (thread worker)."""
        store = self.store
        if store is None or self._busy:
            return
        self._busy = True
        sel = self.selected

        def load():
            from engine.training import runs as R

            runs = R.list_runs(store)
            self._conflict_rates(store, runs)
            running = [r.id for r in runs if r.status == "running"]
            rid = sel if sel in {r.id for r in runs} else (running or [r.id for r in runs[-1:]] or [None])[0]
            series: dict[str, list[tuple[int, float]]] = {}
            conflict = {}
            if rid is not None:
                for step, name, value in R.run_metrics(store, rid, ["loss", "eval_loss/"]):
                    series.setdefault(name, []).append((step, value))
                conflict = R.grad_conflict(store, rid)
            return runs, rid, series, conflict

        self.run_engine(load, self._loaded, self._failed, group="runs-reload")

    def _failed(self, error: BaseException) -> None:
        self._busy = False
        self.engine_error(error)

    def _loaded(self, res: tuple) -> None:
        self._busy = False
        runs, rid, series, conflict = res
        self.runs = runs
        if self.selected is None or self.selected not in {r.id for r in runs}:
            self.selected = rid
        self._fill_table()
        if rid == self.selected:
            self.series, self.conflict = series, conflict
        self._show_selected()

    def _fill_table(self) -> None:
        t = self.query_one("#r-runs", DataTable)
        keys = [str(r.id) for r in self.runs]
        have = [str(k.value) for k in t.rows]
        if have != keys:
            t.clear()
            for r in self.runs:
                t.add_row(*self._cells(r), key=str(r.id))
            if self.selected is not None and str(self.selected) in keys:
                t.move_cursor(row=keys.index(str(self.selected)))
        else:
            for r in self.runs:
                for col, val in zip(
                    ("id", "status", "kind", "protocol", "step", "loss", "conflict", "eta", "name"), self._cells(r)
                ):
                    t.update_cell(str(r.id), col, val)
        q = [r for r in self.runs if r.status in ("running", "queued")]
        running = [f"#{r.id}" for r in q if r.status == "running"]
        waiting = sorted((r for r in q if r.status == "queued"), key=lambda r: (r.queue_pos or 0, r.id))
        self.query_one("#r-queue", Static).update(
            "queue: "
            + (f"running {running[0]}" if running else "nothing running")
            + (" · next " + ", ".join(f"#{r.id}" for r in waiting) if waiting else " · nothing waiting")
        )

    def _cells(self, r) -> list:
        p = r.progress
        step = "-" if r.kind == "base" else f"{p.get('step', 0)}/{p.get('total') or '?'}"
        loss = f"{p['loss']:.4f}" if isinstance(p.get("loss"), (int, float)) else "-"
        eta = fmt_eta(p.get("eta_s")) if r.status == "running" else "-"
        return [
            str(r.id),
            Text(r.status, style=STATUS_STYLE.get(r.status, "")),
            r.kind,
            r.protocol or "-",
            step,
            loss,
            self._conflict_cell(r),
            eta,
            r.name,
        ]

    def _conflict_cell(self, r) -> str:
        """The pooled joint Conflict Rate; '*' marks a partial one (a domain without specialist left out)."""
        rate = self.conflict_rates.get(r.id)
        res = self.conflict_results.get(r.id)
        if rate is None:
            return "-"
        return f"{rate:.0%}" + ("*" if res is not None and res.partial else "")

    def _conflict_rates(self, store, runs) -> None:
        """Pooled Conflict Rate (ours; accuracy variant) of each finished mixture run, recomputed only when the
        finished runs or the evaluations changed (worker thread)."""
        from engine.evaluation.conflict import summary_for_runs
        from engine.evaluation.evaluate import evaluations_stamp

        n_eval, last_eval = evaluations_stamp(store)
        done = tuple(r.id for r in runs if r.status == "done" and r.kind == "mixture")
        key = (done, n_eval, last_eval)
        if key != self._conflict_key:
            self.conflict_results = summary_for_runs(store, list(done), full=True)
            self.conflict_rates = {k: (v.rate if v is not None else None) for k, v in self.conflict_results.items()}
            self._conflict_key = key

    def _run(self, rid: int | None):
        return next((r for r in self.runs if r.id == rid), None)

    def _show_selected(self) -> None:
        r = self._run(self.selected)
        detail = self.query_one("#r-detail", Static)
        bar = self.query_one("#r-progress", ProgressBar)
        if r is None:
            detail.update(EMPTY)
            bar.update(total=None, progress=0)
            self._plot({}, "no run")
            return
        p, cfg = r.progress, r.config
        lo, tr = cfg.get("lora", {}), cfg.get("train", {})
        t = Text()
        t.append(f"#{r.id} {r.name}  ", style="bold")
        t.append(r.status, style=STATUS_STYLE.get(r.status, ""))
        if r.status == "running":
            t.append(
                f"  step {p.get('step', 0)}/{p.get('total') or '?'} · ETA {fmt_eta(p.get('eta_s'))}"
                f" · {p.get('tokens_per_s', 0):,.0f} tok/s" + (f" · {p['phase']}" if p.get("phase") else "")
            )
        t.append(
            f"\nmixture {cfg.get('mixture') or '-'} · base {r.base_model} · protocol {r.protocol or '-'}"
            + (f" (order {','.join(cfg['order'])})" if cfg.get("order") else "")
        )
        if r.kind != "base":
            t.append(
                f"\nLoRA r={lo.get('r')} α={lo.get('alpha')} dropout={lo.get('dropout')} "
                f"on {lo.get('target_modules')} · lr {tr.get('lr')} · max_len {tr.get('max_len')} · "
                f"{tr.get('packing')} · batch {tr.get('batch_size')}×{tr.get('grad_accum')}"
            )
        if isinstance(p.get("gpu_mem_gb"), (int, float)):
            t.append(f"\nGPU memory (peak): {p['gpu_mem_gb']:.2f} GB")
        cr = self.conflict_results.get(r.id)
        if cr is not None:
            t.append(
                f"\nConflict Rate (ours, vs specialists): joint conflict {cr.label(2)} · conditional conflict "
                f"{'-' if cr.conditional_conflict_rate is None else f'{cr.conditional_conflict_rate:.2f}'} · "
                f"gain {'-' if cr.gain_rate is None else f'{cr.gain_rate:.2f}'} · {cr.n_shared} shared items",
                style="yellow" if cr.partial else "",
            )
            if cr.settings_mismatches:
                t.append(
                    "\n⚠ evaluations compared differ in "
                    + ", ".join(dict.fromkeys(x["setting"] for x in cr.settings_mismatches)),
                    style="red",
                )
        for (a, b), v in self.conflict.items():
            t.append(
                f"\ngradient conflict {a}|{b}: {v['share']:.0%} of {v['n']} sampled steps negative "
                f"(mean cos {v['mean']:+.2f})"
            )
        if r.error:
            t.append("\n" + r.error.strip().splitlines()[0], style="red")
            rest = r.error.strip().splitlines()[1:]
            if rest:
                t.append("\n" + "\n".join(rest[-4:]), style="grey50")
        detail.update(t)
        total = p.get("total")
        if r.kind == "base":
            bar.update(total=1, progress=1)
        elif total:
            bar.update(total=total, progress=p.get("step", 0))
        else:
            bar.update(total=None, progress=0)
        self._plot(self.series, f"#{r.id} loss")

    def _plot(self, series: dict[str, list[tuple[int, float]]], title: str) -> None:
        plot = self.query_one("#r-loss", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        names = sorted(series, key=lambda n: (n != "loss", n))
        for i, name in enumerate(names):
            pts = thin(series[name])
            if not pts:
                continue
            label = "train" if name == "loss" else name.split("/", 1)[1]
            plt.plot(
                [s for s, _ in pts],
                [v for _, v in pts],
                label=label,
                color=COLORS[i % len(COLORS)],
                marker="braille" if name == "loss" else "dot",
            )
        plt.title(title if series else f"{title}: no metrics yet")
        plt.xlabel("step")
        plot.refresh()

    # -- events ------------------------------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#r-runs")
    def _row(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is None or event.row_key.value is None:
            return
        rid = int(event.row_key.value)
        if rid != self.selected:
            self.selected = rid
            self.series, self.conflict = {}, {}
            self._show_selected()
            self.refresh_runs()

    # -- actions -----------------------------------------------------------------------------------------
    def _act(self, fn_name: str, verb: str) -> None:
        store, rid = self.store, self.selected
        if store is None or rid is None:
            self.app.notify("no run selected", severity="warning")
            return

        def call():
            from engine.training import runs as R

            return getattr(R, fn_name)(store, rid)

        def done(run) -> None:
            self.app.notify(
                f"run {rid}: {verb}"
                if run.status != "running"
                else f"run {rid}: cancel requested (stops after its current step, with a checkpoint)",
                title="Runs",
            )
            self.refresh_runs()

        self.run_engine(call, done, group="runs-action")

    def action_cancel_run(self) -> None:
        self._act("cancel_run", "cancelled")

    def action_resume_run(self) -> None:
        self._act("resume_run", "queued again (resumes from its last checkpoint)")

    def action_refresh(self) -> None:
        self.refresh_runs()

    def action_new_run(self) -> None:
        """Open the new-run form over the saved mixture versions (loaded in a worker first)."""
        store = self.store
        if store is None:
            return

        def load():
            from dataclasses import asdict

            from engine.mixtures import list_versions
            from engine.training import PACKING, LoraSettings, TrainSettings
            from engine.training.runs import DEFAULT_BASE_MODEL

            versions = [
                {
                    "id": mv.id,
                    "label": mv.label,
                    "n_items": mv.n_items,
                    "domains": sorted(mv.per_domain),
                    "stages": [(st.name, list(st.domains)) for st in mv.recipe.stages] if mv.recipe.stages else None,
                }
                for mv in list_versions(store)
            ]
            return versions, asdict(LoraSettings()), asdict(TrainSettings()), PACKING, DEFAULT_BASE_MODEL

        def opened(res) -> None:
            versions, lora, train, packing, default_model = res
            if not versions:
                self.app.notify(
                    "no saved mixture yet: save one in the Mixtures screen (5) or with `workbench mix save`",
                    title="Runs",
                    severity="warning",
                )
                return

            def create(spec: dict):
                from engine.training.runs import create_run

                return create_run(
                    store,
                    spec["mixture_id"],
                    base_model=spec["base_model"],
                    protocol=spec["protocol"],
                    order=spec["order"],
                    lora=spec["lora"],
                    train=spec["train"],
                    name=spec["name"],
                )

            self.app.push_screen(NewRunDialog(versions, lora, train, packing, create, default_model), self._queued)

        self.run_engine(load, opened, group="runs-action")

    def _queued(self, run) -> None:
        if run is None:
            return
        self.selected = run.id
        self.app.notify(f"run {run.id} queued: {run.name}", title="Runs")
        self.refresh_runs()


# -- the new-run form --------------------------------------------------------------------------------------

TARGETS = [("q_proj,v_proj", "q_proj,v_proj"), ("all-linear", "all-linear"), ("custom (type below)", "custom")]
PROTOCOL_CHOICES = [
    ("multi_task (all domains at once)", "multi_task"),
    ("sequential (one domain after another)", "sequential"),
    ("multi_stage (the version's stages)", "multi_stage"),
]


class NewRunDialog(EngineCaller, FormDialog):
    """The new-run form: a saved mixture version, protocol (with order / stages), base model, LoRA and training
    settings, prefilled with the engine's defaults. OK validates (numbers, order against the version's domains,
    then the engine's own settings checks) and calls `create(spec)` in a worker; an error from it (an unknown
    base model, say) is shown in the form, which stays open. Dismisses with the created run (or None).

    versions: [{"id", "label", "n_items", "domains": [..], "stages": [(name, [domains]), ..] or None}];
    lora / train: the default settings as dicts (asdict of LoraSettings() / TrainSettings());
    packing: the packing choices; spec given to create: {"mixture_id", "protocol", "order", "base_model",
    "name", "lora": {..}, "train": {..}}."""

    DEFAULT_CSS = """
    NewRunDialog > Vertical { width: 104; }
    NewRunDialog > Vertical { padding: 0 2; }
    NewRunDialog .title { margin-bottom: 0; }
    NewRunDialog #nr-body { height: auto; max-height: 24; }
    NewRunDialog .row { height: 1; margin-top: 1; }
    NewRunDialog .head { text-style: bold; color: $text-muted; height: 1; margin-top: 1; }
    NewRunDialog .row Label { width: 14; padding-left: 1; }
    NewRunDialog .row Input { width: 1fr; }
    NewRunDialog .row Select { width: 1fr; }
    NewRunDialog .row Checkbox { width: 1fr; }
    NewRunDialog .info { color: $text-muted; height: auto; padding-left: 1; }
    NewRunDialog #error { height: auto; margin-top: 1; }
    """

    def __init__(
        self,
        versions: list[dict],
        lora: dict,
        train: dict,
        packing: Sequence[str],
        create: Callable[[dict], Any],
        default_model: str = "",
    ) -> None:
        super().__init__()
        if not versions:
            raise ValueError("no saved mixture versions to train")
        self.versions = {v["id"]: v for v in versions}
        self.lora, self.train = lora, train
        self.packing = list(packing)
        self.create = create
        self.default_model = default_model
        self._busy = False

    def compose(self) -> ComposeResult:
        lo, tr = self.lora, self.train
        tm = lo["target_modules"]
        tm_text = tm if isinstance(tm, str) else ",".join(tm)
        tm_choice = tm_text if tm_text in ("q_proj,v_proj", "all-linear") else "custom"
        latest = max(self.versions)

        def row(*pairs):
            with Horizontal(classes="row"):
                for label, widget in pairs:
                    yield Label(label)
                    yield widget

        def inp(key: str, value: Any, placeholder: str = "") -> Input:
            return Input(
                value="" if value is None else str(value), placeholder=placeholder, id=f"nr-{key}", compact=True
            )

        with Vertical():
            yield Label("New training run", classes="title")
            with VerticalScroll(id="nr-body"):
                yield from row(
                    (
                        "mixture",
                        Select(
                            [(f"{v['label']} · {v['n_items']:,} items", k) for k, v in self.versions.items()],
                            value=latest,
                            allow_blank=False,
                            id="nr-version",
                            compact=True,
                        ),
                    )
                )
                yield Static("", id="nr-info", classes="info")
                yield from row(
                    (
                        "protocol",
                        Select(PROTOCOL_CHOICES, value="multi_task", allow_blank=False, id="nr-protocol", compact=True),
                    ),
                    ("order", inp("order", "", "domains, comma-separated (sequential)")),
                )
                yield from row(
                    ("base model", inp("base", "", f"empty = {self.default_model}; folder or hub id")),
                    ("name", inp("name", "", "empty = MIXTURE@V-PROTOCOL")),
                )
                yield Static("LoRA", classes="head")
                yield from row(
                    ("r", inp("r", lo["r"])),
                    ("alpha", inp("alpha", lo["alpha"])),
                    ("dropout", inp("dropout", lo["dropout"])),
                )
                yield from row(
                    ("targets", Select(TARGETS, value=tm_choice, allow_blank=False, id="nr-targets", compact=True)),
                    (
                        "custom",
                        inp("modules", tm_text if tm_choice == "custom" else "", "module names, comma-separated"),
                    ),
                )
                yield Static("Training", classes="head")
                yield from row(
                    ("max steps", inp("max_steps", tr["max_steps"], "empty = by epochs")),
                    ("epochs", inp("epochs", tr["epochs"])),
                    ("lr", inp("lr", tr["lr"])),
                )
                yield from row(
                    ("max_len", inp("max_len", tr["max_len"])),
                    (
                        "packing",
                        Select(
                            [(p, p) for p in self.packing],
                            value=tr["packing"],
                            allow_blank=False,
                            id="nr-packing",
                            compact=True,
                        ),
                    ),
                    ("conflict every", inp("conflict", tr["grad_conflict_every"], "steps, 0 = never")),
                )
                yield from row(
                    (
                        "",
                        Checkbox(
                            "gradient checkpointing (less memory, slower)",
                            value=bool(tr["gradient_checkpointing"]),
                            id="nr-ckpt",
                            compact=True,
                        ),
                    )
                )
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Queue", id="ok", variant="primary")

    def on_mount(self) -> None:
        self._sync()
        self.query_one("#nr-version", Select).focus()

    @on(Select.Changed)
    def _changed(self, event: Select.Changed) -> None:
        self._sync()

    def _version(self) -> dict:
        return self.versions[self.query_one("#nr-version", Select).value]

    def _sync(self) -> None:
        """Show the version's domains and stages; enable the order / custom inputs only where they count."""
        v = self._version()
        proto = self.query_one("#nr-protocol", Select).value
        self.query_one("#nr-order", Input).disabled = proto != "sequential"
        self.query_one("#nr-modules", Input).disabled = self.query_one("#nr-targets", Select).value != "custom"
        doms = ", ".join(v["domains"]) or "none"
        if v["stages"]:
            stages = "; ".join(f"{n}: {', '.join(d)}" for n, d in v["stages"])
            st = f"{len(v['stages'])} stage(s): {stages}"
        else:
            st = "no stages (multi_stage needs a version saved with stages)"
        hint = {
            "sequential": "sequential trains the domains in the order given (every domain must be named "
            "or comes after, in data order)",
            "multi_stage": "multi_stage trains stage after stage",
            "multi_task": "multi_task trains all domains at once",
        }[str(proto)]
        self.query_one("#nr-info", Static).update(f"domains: {doms} · {st}\n{hint}")

    def values(self) -> dict:
        """The run spec from the form; ValueError naming the bad field (the engine's checks included)."""
        from engine.training import LoraSettings, TrainingError, TrainSettings

        def text(key: str) -> str:
            return self.query_one(f"#nr-{key}", Input).value.strip()

        def num(key: str, label: str, cast, *, empty=False):
            s = text(key)
            if not s and empty:
                return None
            try:
                return cast(s)
            except ValueError:
                kind = "a whole number" if cast is int else "a number"
                raise ValueError(f"{label} must be {kind} (got {s!r})") from None

        v = self._version()
        proto = str(self.query_one("#nr-protocol", Select).value)
        order = None
        if proto == "sequential":
            order = [d.strip() for d in text("order").split(",") if d.strip()]
            if not order:
                raise ValueError(
                    f"sequential needs an order: the domains of {v['label']} comma-separated, "
                    f"e.g. {','.join(v['domains'])}"
                )
            unknown = [d for d in order if d not in v["domains"]]
            if unknown:
                raise ValueError(
                    f"order: unknown domain(s) {', '.join(unknown)} ({v['label']} has {', '.join(v['domains'])})"
                )
            if len(set(order)) != len(order):
                raise ValueError("order names a domain twice")
        if proto == "multi_stage" and not v["stages"]:
            raise ValueError(
                f"{v['label']} has no stages: multi_stage needs a version saved with stages "
                "(Mixtures screen, s; or workbench mix save --stage/--dmt); pick multi_task or sequential"
            )
        targets = str(self.query_one("#nr-targets", Select).value)
        if targets == "custom":
            targets = text("modules")
            if not targets:
                raise ValueError("custom targets: write module names, comma-separated (e.g. q_proj,k_proj,v_proj)")
        lora = {
            "r": num("r", "LoRA r", int),
            "alpha": num("alpha", "LoRA alpha", int),
            "dropout": num("dropout", "LoRA dropout", float),
            "target_modules": targets
            if targets == "all-linear"
            else [m.strip() for m in targets.split(",") if m.strip()],
        }
        train = {
            "max_steps": num("max_steps", "max steps", int, empty=True),
            "epochs": num("epochs", "epochs", float),
            "lr": num("lr", "learning rate", float),
            "max_len": num("max_len", "max_len", int),
            "packing": str(self.query_one("#nr-packing", Select).value),
            "grad_conflict_every": num("conflict", "conflict every", int),
            "gradient_checkpointing": self.query_one("#nr-ckpt", Checkbox).value,
        }
        try:
            LoraSettings(**lora).validate()
            TrainSettings(**(self.train | train)).validate()
        except TrainingError as e:
            raise ValueError(str(e)) from None
        return {
            "mixture_id": v["id"],
            "protocol": proto,
            "order": order,
            "base_model": text("base") or None,
            "name": text("name") or None,
            "lora": lora,
            "train": train,
        }

    def _error(self, msg: str) -> None:
        self.query_one("#error", Static).update(msg)

    def _submit(self) -> None:
        if self._busy:
            return
        try:
            spec = self.values()
        except ValueError as e:
            self._error(str(e))
            return
        self._busy = True
        self._error("")
        self.query_one("#ok", Button).disabled = True

        def failed(error: BaseException) -> None:
            self._busy = False
            self.query_one("#ok", Button).disabled = False
            self._error(str(error))

        self.run_engine(lambda: self.create(spec), self.dismiss, failed, group="new-run")
