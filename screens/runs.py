"""The Runs area: every training run (finished, failed and cancelled ones stay), the queue, the selected run's
progress with ETA, loss curves per domain, GPU memory, and cancel / resume / new run. The app ticks the queue
(`engine.training.runs.tick`: ingest the workers' metrics, mark dead workers failed, start the next queued run) on every
screen; this screen reloads what the ticks stored about once a second."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from screens.job_panel import JobPanel, JobState
from screens.run_form import NewRunDialog
from screens.widgets import NavTable, WorkbenchScreen

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


# A run's status as a job state (queued runs wait: idle).
RUN_STATE: dict[str, JobState] = {
    "queued": "idle",
    "running": "running",
    "done": "done",
    "failed": "failed",
    "cancelled": "cancelled",
}


def run_status_line(r: Any) -> str:
    """The job panel's line for a run: status, steps, ETA, and the keys that apply."""
    p = r.progress
    line = f"#{r.id} {r.status}"
    if r.status == "running":
        if p.get("activity"):  # a phase without steps (loading, tokenising, held-out loss, saving)
            line += f" · {p['activity']} · step {p.get('step', 0)}/{p.get('total') or '?'} · c cancels"
        else:
            line += f" · step {p.get('step', 0)}/{p.get('total') or '?'} · ETA {fmt_eta(p.get('eta_s'))} · c cancels"
    elif r.status == "queued":
        line += " · waits in the queue · c cancels"
    elif r.status in ("failed", "cancelled"):
        line += " · r resumes from the last checkpoint"
    return line


def thin(points: list[tuple[int, float]], n: int = MAX_POINTS) -> list[tuple[int, float]]:
    """At most n points, evenly spread, the last one kept."""
    if len(points) <= n:
        return points
    step = len(points) / n
    out = [points[int(i * step)] for i in range(n)]
    if out[-1] != points[-1]:
        out.append(points[-1])
    return out


class RunsScreen(WorkbenchScreen, mode="runs"):
    """Runs: the table lists every run with its status, progress and ETA; the right side shows the highlighted
    run (recipe, LoRA and training settings, error, GPU memory, gradient conflict), a progress bar and its loss
    curves (training loss and the eval loss of each domain). c cancels the highlighted run (a running one
    saves a checkpoint first), r resumes a failed or cancelled run from its last checkpoint (it joins the
    queue), n opens the new-run form (mixture version, protocol, base model, LoRA and training settings).
    Runs start one after another: the queue line says what runs and what waits."""

    DEFAULT_CSS = """
    #r-main { height: 1fr; }
    #r-left { width: 3fr; height: 1fr; }
    #r-runs { height: 1fr; }
    #r-queue { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    #r-right { width: 2fr; height: 1fr; }
    #r-detail { height: auto; max-height: 12; padding: 0 1; }
    #r-jobbar { height: 2; layout: vertical; }
    #r-job { height: 1; }
    #r-progress { height: 1; width: auto; }
    #r-loss { height: 1fr; min-height: 8; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[Any] = []  # engine.training.runs.RunInfo
        self.selected: int | None = None
        self.series: dict[str, list[tuple[int, float]]] = {}
        self.eval_sources: dict[str, str] = {}  # domain -> "8 held out" | "3 from the training data"
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
                yield NavTable(id="r-runs", cursor_type="row", zebra_stripes=True)
                yield Static("", id="r-queue")
            with Vertical(id="r-right"):
                yield Static(EMPTY, id="r-detail")
                yield JobPanel(
                    "", status_id="r-job", progress_id="r-progress", show_eta=False, hide_idle_bar=False, id="r-jobbar"
                )
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
        panel = self.query_one("#r-jobbar", JobPanel)
        if r is None:
            detail.update(EMPTY)
            panel.show("idle", 0, None, "")
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
            done, total = 1, 1
        elif total:
            done = p.get("step", 0)
        else:
            done, total = 0, None
        panel.show(RUN_STATE.get(r.status, "idle"), done, total, run_status_line(r))
        self.eval_sources = (r.progress or {}).get("eval_sources") or {}
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
            dom = name.split("/", 1)[-1]
            src = self.eval_sources.get(dom, "")
            held = "held out" in src
            label = "train" if name == "loss" else f"{dom} ({'held-out' if held else 'train items'})" if src else dom
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

    def action_open_raise(self) -> None:
        """R: the RAISE panel (policy training, curves, picks per step, deploy)."""
        from screens.raise_screen import RaiseScreen

        self.app.push_screen(RaiseScreen(), lambda _r: self.refresh_runs())

    async def action_evaluate_run(self) -> None:
        """e: evaluate the highlighted run: the Results area's evaluate form, its job shown there."""
        rid = self.selected
        await self.app.switch_mode("results")
        self.app.screen.open_evaluate(rid)

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
