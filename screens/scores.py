"""The Scores area: per-domain summaries and histograms of a metric, a live keep/lose threshold, top and
bottom examples, jumps to Browse, and scoring jobs (IFD in a child process, heuristics in a worker)."""

from __future__ import annotations

import math
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import DataTable, Input, Label, Select, Static
from textual_plotext import PlotextPlot

from engine.core.errors import Cancelled
from screens.job_panel import Job, JobPanel, JobScreen
from screens.scope_dialog import ask_scope
from screens.widgets import NavTable, WorkbenchScreen

ALL = "__all__"
OPS = ["<", "<=", ">", ">="]
# Sensible keep-rules per metric (what SuperFiltering / the heuristics keep); anything else: "<" p50.
DEFAULT_RULES = {
    "ifd": ("<", 1.0),
    "cherry_ifd": ("<", 1.0),
    "h_empty_answer": ("<", 0.5),
    "h_refusal": ("<", 0.5),
    "h_ngram_repetition": ("<=", 0.5),
    "h_code_parses": (">=", 0.5),
    "h_tool_call_valid": (">=", 0.5),
    "h_math_final_number": (">=", 0.5),
    "h_truncated_answer": ("<", 0.5),
}


def _f(v: Any, nd: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.{nd}f}"
    return f"{v:,}"


def _list_metrics(store) -> list[Any]:
    from engine.quality.scores import list_metrics

    return list_metrics(store)


# the per-domain table, what the decision rests on first: a narrow screen cuts the right end
DOMAIN_COLUMNS = {
    "domain": ("domain", 12),
    "keep": ("keep", 7),
    "lose": ("lose", 7),
    "n": ("samples", 8),
    "p50": ("median", 6),
    "mean": ("mean", 6),
    "n_scored": ("scored", 8),
    "n_null": ("NULL", 5),
}


class ScoresScreen(JobScreen, WorkbenchScreen, mode="scores"):
    """Scores: pick a metric; the table shows it per domain (samples, scored, NULL, mean, quantiles) and how
    many samples the keep-rule (operator + threshold) keeps and loses in each domain, live as you type. The
    counts are of the training pools, excluded samples left out (the note under the controls says what was left
    out: eval pools are counted apart).
    The histogram and the examples follow the highlighted domain row. `b` / `l` open Browse on what the
    rule keeps / loses in that domain. `s` scores IFD and perplexity with the proxy LM in a child process
    (resumable: press `s` again after a cancel or a crash), `h` runs the heuristic filters, `c` cancels. Both jobs
    work on the last Browse filter, said in words before they start, or on every training sample."""

    JOB_PANEL = "s-jobbar"

    DEFAULT_CSS = """
    #s-controls { height: 1; padding: 0 1; margin: 1 0 0 0; }
    #s-controls Select { width: 32; }
    #s-controls #s-op { width: 10; }
    #s-controls #s-thr { width: 14; }
    #s-controls Label { padding: 0 1; }
    #s-main { height: 1fr; }
    #s-domains { width: 1fr; height: 1fr; }
    #s-hist { width: 44; height: 1fr; }
    #s-examples { height: 12; }
    #s-jobbar { height: 2; }
    #s-def { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.metrics: list[Any] = []  # engine.quality.scores.MetricInfo
        self.metric: str | None = None
        self.summary: list[dict] = []
        self.domain: str | None = None  # highlighted row (None: all domains)
        self._thr_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with Horizontal(id="s-controls"):
            yield Label("metric")
            yield Select([], prompt="no scores yet", allow_blank=True, id="s-metric", compact=True)
            yield Label("keep if")
            yield Select([(o, o) for o in OPS], value="<", allow_blank=False, id="s-op", compact=True)
            yield Input(placeholder="threshold", id="s-thr", compact=True)
        yield Static("", id="s-def")
        with Horizontal(id="s-main"):
            t = NavTable(id="s-domains", cursor_type="row", zebra_stripes=True)
            yield t
            yield PlotextPlot(id="s-hist")
        yield NavTable(id="s-examples", cursor_type="row")
        yield JobPanel(
            "no job running · s: score IFD/perplexity · h: heuristics",
            status_id="s-job",
            progress_id="s-progress",
            id="s-jobbar",
        )
        yield from self.compose_footer()

    def on_mount(self) -> None:
        super().on_mount()
        t = self.query_one("#s-domains", DataTable)
        for key, (label, width) in DOMAIN_COLUMNS.items():
            t.add_column(label, key=key, width=width)
        e = self.query_one("#s-examples", DataTable)
        for key, width in (
            ("which", 6),
            ("id", 8),
            ("value", 8),
            ("domain", 10),
            ("instruction", 46),
            ("response", 30),
        ):
            e.add_column(key, key=key, width=width)
        self.query_one("#s-domains").focus()

    # -- loading -----------------------------------------------------------------------------------------
    def on_data_changed(self, what: str) -> None:
        self.load_from_store(what, _list_metrics, self._metrics_loaded, "s-metrics")

    def _metrics_loaded(self, infos: list[Any]) -> None:
        self.metrics = list(infos)
        names = list(dict.fromkeys(m.metric for m in infos))
        sel = self.query_one("#s-metric", Select)
        with self.prevent(Select.Changed):
            sel.set_options([(n, n) for n in names])
            if self.metric in names:
                sel.value = self.metric
            elif names:
                preferred = [m for m in ("ifd", "cherry_ifd", "h_empty_answer", "h_refusal") if m in names]
                self.metric = (preferred or names)[0]
                sel.value = self.metric
                self._default_rule()
        self.refresh_views()

    def _default_rule(self) -> None:
        op, thr = DEFAULT_RULES.get(self.metric or "", ("<", None))
        with self.prevent(Select.Changed, Input.Changed):
            self.query_one("#s-op", Select).value = op
            self.query_one("#s-thr", Input).value = "" if thr is None else str(thr)

    def _rule(self) -> tuple[str, float | None]:
        op = str(self.query_one("#s-op", Select).value)
        raw = self.query_one("#s-thr", Input).value.strip()
        try:
            return op, float(raw) if raw else None
        except ValueError:
            return op, None

    def refresh_views(self) -> None:
        """Summary + keep/lose per domain, then the histogram and examples of the highlighted domain."""
        store, metric = self.store, self.metric
        if store is None or metric is None:
            return
        op, thr = self._rule()
        info = [m for m in self.metrics if m.metric == metric]
        self._definition = (
            f"{metric}: {info[0].definition or ''}" + (f"  [{len(info)} models]" if len(info) > 1 else "")
            if info
            else ""
        )
        self._show_definition()

        def load():
            from engine.data.scope import left_out_words
            from engine.quality.scores import domain_summary, threshold_counts

            summ = domain_summary(store, metric)
            tc = threshold_counts(store, metric, op, thr) if thr is not None else []
            return summ, {r["domain"]: r for r in tc}, left_out_words(store)

        self.run_engine(load, self._show_summary, group="s-summary", exclusive=True)

    _definition = ""
    _left_out = ""

    def _show_definition(self) -> None:
        """The metric's definition, then (when anything is) what the counts leave out."""
        text = self._definition + (f"\ncounts of training pools; {self._left_out}" if self._left_out else "")
        self.query_one("#s-def", Static).update(Text(text))

    def _show_summary(self, res: tuple) -> None:
        summ, tc, self._left_out = res
        self._show_definition()
        thr_missing = not tc
        self.summary = summ
        t = self.query_one("#s-domains", DataTable)
        row_before = t.cursor_row
        t.clear()
        tot = {k: 0 for k in ("n", "n_scored", "n_null", "keep", "lose")}
        for r in summ:
            c = tc.get(r["domain"], {})
            for k in ("n", "n_scored", "n_null"):
                tot[k] += r[k] or 0
            tot["keep"] += c.get("keep") or 0
            tot["lose"] += c.get("lose") or 0
            cells = {
                "domain": r["domain"],
                **{k: _f(r[k]) for k in ("n", "n_scored", "n_null", "mean", "p50")},
                **{k: "-" if thr_missing else _f(c.get(k, 0)) for k in ("keep", "lose")},
            }
            t.add_row(*(cells[k] for k in DOMAIN_COLUMNS), key=r["domain"])
        cells = {
            "domain": Text("all domains", style="bold"),
            **{k: _f(tot[k]) for k in ("n", "n_scored", "n_null")},
            "mean": "",
            "p50": "",
            **{k: "-" if thr_missing else _f(tot[k]) for k in ("keep", "lose")},
        }
        t.add_row(*(cells[k] for k in DOMAIN_COLUMNS), key=ALL)
        if 0 <= row_before < t.row_count:
            t.move_cursor(row=row_before)
        self._domain_views()

    def _domain_views(self) -> None:
        store, metric = self.store, self.metric
        if store is None or metric is None:
            return
        domain = self.domain
        rows = [r for r in self.summary if domain is None or r["domain"] == domain]
        p10 = min((r["p10"] for r in rows if r["p10"] is not None), default=None)
        p90 = max((r["p90"] for r in rows if r["p90"] is not None), default=None)
        lo = min((r["min"] for r in rows if r["min"] is not None), default=None)
        hi = max((r["max"] for r in rows if r["max"] is not None), default=None)
        if None not in (p10, p90, lo, hi) and math.isfinite(hi):
            hi = min(hi, p90 + 2 * (p90 - p10)) if p90 > p10 else hi  # long tails would squash the plot

        def load():
            from engine.quality.scores import extremes, histogram

            if lo is None:
                return [], [], {"top": [], "bottom": []}
            edges, counts = histogram(store, metric, domain=domain, bins=30, lo=lo, hi=hi)
            return edges, counts, extremes(store, metric, k=5, domain=domain)

        self.run_engine(load, self._show_domain, group="s-domain", exclusive=True)

    def _show_domain(self, res: tuple) -> None:
        edges, counts, ex = res
        plot = self.query_one("#s-hist", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        title = f"{self.metric} · {self.domain or 'all domains'}"
        if counts:
            centers = [(edges[i] + edges[i + 1]) / 2 for i in range(len(counts))]
            plt.bar(centers, counts, width=0.9)
            ticks = [edges[0], (edges[0] + edges[-1]) / 2, edges[-1]]
            plt.xticks(ticks, [f"{x:.3g}" for x in ticks])
            _op, thr = self._rule()
            if thr is not None and edges[0] <= thr <= edges[-1]:
                plt.vline(thr, "red")
            title += f" · {sum(counts):,} in [{edges[0]:.3g}, {edges[-1]:.3g}]"
        plt.title(title)
        plot.refresh()
        e = self.query_one("#s-examples", DataTable)
        e.clear()
        for which in ("top", "bottom"):
            for r in ex[which]:
                e.add_row(
                    which,
                    str(r["id"]),
                    _f(r["value"], 4),
                    r["domain"],
                    (r["instruction"] or "").replace("\n", " "),
                    (r["response"] or "").replace("\n", " "),
                    key=f"{which}-{r['id']}",
                )

    # -- events ------------------------------------------------------------------------------------------
    @on(Select.Changed, "#s-metric")
    def _metric_changed(self, event: Select.Changed) -> None:
        if event.value in (Select.NULL, None):
            return
        self.metric = str(event.value)
        self._default_rule()
        self.refresh_views()

    @on(Select.Changed, "#s-op")
    def _op_changed(self, _event: Select.Changed) -> None:
        self.refresh_views()

    @on(Input.Changed, "#s-thr")
    def _thr_changed(self, _event: Input.Changed) -> None:
        if self._thr_timer is not None:
            self._thr_timer.stop()
        self._thr_timer = self.set_timer(0.25, self.refresh_views)

    @on(DataTable.RowHighlighted, "#s-domains")
    def _row(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key is not None else None
        domain = None if key in (None, ALL) else str(key)
        if domain != self.domain:
            self.domain = domain
            self._domain_views()

    @on(DataTable.RowSelected, "#s-examples")
    def _example(self, event: DataTable.RowSelected) -> None:
        sid = str(event.row_key.value).split("-", 1)[1]
        self.app.open_browse(expression=f"id = {int(sid)}")  # type: ignore[attr-defined]

    # -- actions -----------------------------------------------------------------------------------------
    def _browse_rule(self, keep: bool) -> None:
        op, thr = self._rule()
        if self.metric is None or thr is None:
            self.app.notify("pick a metric and a threshold first", severity="warning")
            return
        expr = f"score.{self.metric} {op} {thr!r}"
        if not keep:
            expr = f"not ({expr})"
        self.app.open_browse(domain=self.domain, expression=expr)  # type: ignore[attr-defined]

    def action_browse_keep(self) -> None:
        self._browse_rule(True)

    def action_browse_lose(self) -> None:
        self._browse_rule(False)

    def action_nudge(self, direction: int) -> None:
        op, thr = self._rule()
        rows = [r for r in self.summary if r.get("p10") is not None]
        if thr is None or not rows:
            return
        spread = max(r["p90"] for r in rows) - min(r["p10"] for r in rows)
        step = float(f"{max(spread / 50, 1e-6):.1g}")
        self.query_one("#s-thr", Input).value = f"{thr + direction * step:.6g}"

    def action_superfilter(self) -> None:
        """Save a SuperFiltering selection: metric < threshold, then the top rate of each domain by the metric,
        among the samples of the scope (the Browse filter, or every training sample: asked first)."""
        op, thr = self._rule()
        if self.metric not in ("ifd", "cherry_ifd") or op != "<" or thr is None:
            self.app.notify(
                "SuperFiltering selects on ifd (or cherry_ifd) with a '<' rule: pick them first", severity="warning"
            )
            return
        if self.store is None:
            return
        ask_scope(
            self,
            "SuperFiltering selection: among which samples?",
            lambda choice: self._superfilter_form(choice, thr),
            note="the selection keeps the best of each domain among these; eval pools and excluded samples are "
            "left out unless the Browse filter names the pool",
            ok="Next",
        )

    def _superfilter_form(self, choice: dict, thr: float) -> None:
        from screens.widgets import FieldsDialog

        metric, store, scope, words = self.metric, self.store, choice["scope"], choice["words"]

        def parse(v: dict) -> tuple[str, float]:
            rate = float(v["rate"])
            if not v["name"] or not (0 < rate <= 1):
                raise ValueError
            return v["name"], rate

        def validate(v: dict) -> str | None:
            if not v["name"]:
                return "write a name for the selection"
            try:
                parse(v)
            except ValueError:
                return f"rate is the share of each domain to keep, in (0, 1]: e.g. 0.1 (got {v['rate']!r})"
            return None

        def done(v: dict | None) -> None:
            if not v:
                return
            name, rate = parse(v)

            def run():
                from engine.quality.selection import superfiltering_select

                return superfiltering_select(
                    store, name, rate=rate, per="domain", threshold=thr, metric=metric, filter=scope
                )

            self.run_engine(
                run,
                lambda sel: self.app.notify(
                    f"selection {sel.name!r}: {sel.n:,} samples ({metric} < {thr}, top {rate:.0%} per domain)",
                    title="SuperFiltering",
                ),
                group="s-select",
            )

        self.app.push_screen(
            FieldsDialog(
                "SuperFiltering selection",
                [
                    ("name", "name", "", "required: the selection's name"),
                    ("rate", "rate", "0.1", "share of each domain"),
                ],
                note=f"among {escape(words)}: keeps {metric} < {thr}, then the highest {metric} first, int(N × rate) per "
                "domain; saved with its parameters (workbench select is the CLI twin)",
                validate=validate,
                ok="Save",
            ),
            done,
        )

    def action_refresh(self) -> None:
        self.on_data_changed("samples")

    # -- jobs --------------------------------------------------------------------------------------------

    def action_score_ifd(self) -> None:
        """Start (or resume) the IFD/perplexity job, in a child process, for the samples of the scope (the Browse
        filter, or every training sample: asked first) not scored yet."""
        if self._busy():
            return
        ask_scope(
            self,
            "Score IFD and perplexity",
            self._start_ifd,
            note="the proxy LM (SmolLM2) in a child process; samples already scored are skipped, c cancels and "
            "s resumes. Eval pools and excluded samples are left out unless the Browse filter names the pool "
            "(workbench score --include-eval / --include-excluded asks for them).",
            ok="Score",
            places=True,
        )

    def _start_ifd(self, choice: dict) -> None:
        if self._busy():
            return
        store, scope, words = self.store, choice["scope"], choice["words"]
        ray = choice.get("ray")  # a RaySetup: the child process runs the chunks on Ray (docs/ray.md)
        if ray is not None:
            words += " · on Ray"

        def start(_progress, _token):
            import os

            from engine.core.jobs import spawn
            from engine.core.models import resolve
            from engine.core.ray_jobs import RAY_ENV, setup_env
            from engine.quality.scoring import WORKER, create_job, ingest_job, jobs_root

            src = resolve(None)
            job_dir = jobs_root(store) / f"score-{src.name}-superfiltering"
            if (job_dir / "spec.json").exists():
                ingest_job(store, job_dir)  # whatever a killed run finished
            n = create_job(store, job_dir, model=None, variants=("superfiltering",), model_name=src.name, scope=scope)
            env = {k: v for k, v in os.environ.items() if k != RAY_ENV} | setup_env(ray)
            return job_dir, (spawn(WORKER, job_dir, env=env) if n else None), n, words

        self.panel.run(
            "IFD", start, self._ifd_started, self._job_failed, text=f"IFD: preparing the job · {words}", group="s-job"
        )

    def _ifd_started(self, res: tuple) -> None:
        job_dir, proc, n, words = res
        if proc is None:
            self.panel.finish(f"IFD: every sample is already scored (cached) · {words}")
            return
        self.panel.start(
            "IFD",
            f"IFD: {n:,} to score · loading the model… · {words}",
            total=n,
            proc=proc,
            job_dir=job_dir,
            ingesting=False,
            words=words,
        )
        self.panel.poll(0.5, self._poll_ifd)

    def _poll_ifd(self) -> None:
        job = self.job
        if job is None or job.proc is None:
            return
        from engine.quality.scoring import read_progress

        p = read_progress(job.data["job_dir"])
        if p.get("total") and job.state == "running":
            rate = p.get("rate") or 0
            eta = p.get("eta_s")
            job.rate, job.eta_s = rate, eta
            self.panel.progress(
                p.get("done", 0),
                p["total"],
                f"IFD: {p.get('phase') or p.get('state')} · {p.get('done', 0):,}/{p['total']:,}"
                + (f" · {rate:.2f} samples/s" if rate else "")
                + (f" · ETA {eta:.0f}s" if eta else "")
                + " · c cancels",
            )
        if p.get("ray"):  # a job on Ray: its workers and their throughput
            from engine.core.ray_jobs import describe_pool

            self.panel.set_workers(describe_pool(p["ray"], "samples"))
        finished = job.proc.poll() is not None
        if not job.data["ingesting"]:
            job.data["ingesting"] = True
            store, job_dir = self.store, job.data["job_dir"]

            def ingest():
                from engine.quality.scoring import ingest_job

                return ingest_job(store, job_dir)

            self.run_engine(ingest, lambda n: self._ingested(job, n, finished), self._job_failed, group="s-ingest")

    def _ingested(self, job: Job, n: int, finished: bool) -> None:
        if job is not self.job:
            return
        job.data["ingesting"] = False
        if n:
            self.app.data_changed("samples")  # type: ignore[attr-defined]
        if finished:
            from engine.quality.scoring import read_progress

            state = read_progress(job.data["job_dir"]).get("state", "stopped")
            rc = job.proc.returncode
            msg = f"IFD job {state}"
            if state not in ("done", "cancelled"):
                err = job.data["job_dir"] / "worker.stderr"
                tail = err.read_text(errors="replace").strip().splitlines()[-1:] if err.exists() else []
                msg += f" (exit {rc}): {' '.join(tail)}"
                self.app.notify(msg, title="Scoring", severity="error", timeout=15)
            end = "done" if state == "done" else "cancelled" if state == "cancelled" else "failed"
            self.panel.finish(msg + (" · s resumes" if state != "done" else "") + f" · {job.data['words']}", end)

    def action_heuristics(self) -> None:
        """Run every heuristic filter on the samples of the scope (the Browse filter, or every training sample:
        asked first) that do not have it yet (thread worker)."""
        if self._busy():
            return
        ask_scope(
            self,
            "Run the heuristic filters",
            self._start_heuristics,
            note="every explicit heuristic on the samples that do not have it yet; c cancels (finished chunks "
            "stay). Eval pools and excluded samples are left out unless the Browse filter names the pool.",
            ok="Run",
        )

    def _start_heuristics(self, choice: dict) -> None:
        if self._busy():
            return
        store, scope, words = self.store, choice["scope"], choice["words"]

        def run(progress, token):
            from engine.quality.heuristics import run_heuristics

            return run_heuristics(store, progress=progress, cancel=token, scope=scope)

        self.panel.run(
            "heuristics",
            run,
            lambda out: self._heur_done(out, words),
            self._job_failed,
            text=f"heuristics: starting · {words}",
            suffix=" · c cancels",
            group="s-job",
        )

    def _heur_done(self, out: dict, words: str = "") -> None:
        self.panel.finish(f"heuristics done: {sum(out.values()):,} scores written · {words}")
        self.app.data_changed("samples")  # type: ignore[attr-defined]

    def action_cancel_job(self) -> None:
        job = self.job
        if job is not None and job.proc is not None:
            # the worker cancels at its next batch; finished chunks stay
            self.panel.cancel("IFD: cancelling after the current batch…")
        elif job is not None and job.kind == "heuristics":
            self.panel.cancel("heuristics: cancelling after the current chunk…")
        elif job is None:
            self.app.notify("no job is running")

    def _job_failed(self, error: BaseException) -> None:
        if isinstance(error, Cancelled):
            self.panel.finish(
                f"{self.job.kind if self.job else 'job'} cancelled; finished chunks are kept", "cancelled"
            )
            self.app.data_changed("samples")  # type: ignore[attr-defined]
            return
        self.app.notify(f"{type(error).__name__}: {error}", title="Scoring", severity="error", timeout=15)
        self.panel.finish(f"failed: {error}", "failed")

    def palette_commands(self):
        for m in dict.fromkeys(i.metric for i in self.metrics):
            yield (f"Scores: show {m}", "pick this metric", lambda m=m: self._pick(m))

    def _pick(self, m: str) -> None:
        self.query_one("#s-metric", Select).value = m
