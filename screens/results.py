"""The Results area: runs x domains (score, delta vs specialist, delta vs base, joint and conditional Conflict
Rate, gain), sortable, with each run's recipe version and protocol; the highlighted run's pooled numbers (partial
when a domain has no specialist), shared items and settings warnings; two runs side by side; the conflicting
items of a run and domain; the domain-pair interference matrix; evaluation and specialist jobs."""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from engine.core.errors import Cancelled
from engine.evaluation.conflict import DEFAULT_TAU
from screens.job_panel import JobPanel, JobScreen
from screens.widgets import ConfirmDialog, InputDialog, NavTable, WorkbenchScreen

# (key, label, width) of the main table; the sort keys are these keys. joint = joint conflict, cond =
# conditional conflict, gain = gain (full names in the line under the table and in the knobs line).
COLUMNS = [
    ("mark", "", 1),
    ("run", "run", 14),
    ("kind", "kind", 5),
    ("recipe", "recipe", 10),
    ("protocol", "protocol", 10),
    ("domain", "domain", 8),
    ("metric", "met", 4),
    ("score", "score", 6),
    ("delta_vs_specialist", "Δ spec", 6),
    ("delta_vs_base", "Δ base", 6),
    ("conflict_rate", "joint", 6),
    ("conditional_conflict_rate", "cond", 6),
    ("gain_rate", "gain", 6),
    ("n_compared", "n", 4),
]
SORTABLE = [k for k, _, _ in COLUMNS if k != "mark"]
KIND_SHORT = {"mixture": "mix", "specialist": "spec", "base": "base"}
METRIC_SHORT = {"accuracy": "acc", "nll": "nll"}
# A domain of a mixture run without a reference to compare with (no run, not evaluated, no shared items).
NO_REFERENCE = ("no_reference", "not_evaluated", "no_shared")


def _f(v: Any, nd: int = 3, signed: bool = False) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:+.{nd}f}" if signed else f"{v:.{nd}f}"
    return str(v)


def _clip(s: Any, n: int) -> str:
    s = "" if s is None else " ".join(str(s).split())
    return s if len(s) <= n else s[: n - 1] + "…"


class ResultsScreen(JobScreen, WorkbenchScreen, mode="results"):
    """Results: one row per evaluated run and domain with its score, the delta against the domain's specialist
    and against the base model, and the Conflict Rate (OUR definition; the paper's formula is not public) over
    the items both the run and the specialist were evaluated on: joint conflict (share of the domain's items the
    specialist gets right and the run gets wrong), conditional conflict (run wrong given specialist right) and
    gain (specialist wrong, run right); loss variant: item NLL worse (better) than the specialist's by more than
    tau (default 0.05 nats/token). A domain without a specialist has no rate ("no ref") and the run's pooled
    rate, in the line under the table, is marked partial. `s`/`S` sort, `enter` lists the conflicting items of the
    highlighted run and domain, `space` marks runs and `v` compares the two marked runs, `m` shows the
    domain-pair interference matrix, `l` switches accuracy/loss variant, `t` sets tau, `b` switches the
    reference (specialist/base), `e` evaluates the highlighted run on every eval set, with its finished
    specialists, its finished pair runs and their specialists, and the base model (one child process,
    resumable; `c` cancels), `p` creates or reuses its specialists and `a` its two-domain pair runs (queued
    runs; trained and evaluated, they fill the matrix's off-diagonal outcome cells). Before any evaluation the
    table is empty: `p` and `a` then work on the newest mixture run, and `e` offers every finished run."""

    JOB_PANEL = "r-jobbar"

    DEFAULT_CSS = """
    #r-knobs { height: 2; padding: 0 1; margin: 1 0 0 0; color: $text-muted; }
    #r-table { height: 1fr; }
    #r-info { height: 2; padding: 0 1; }
    #r-detail-title { height: 1; padding: 0 1; text-style: bold; }
    #r-detail { height: 14; }
    #r-jobbar { height: 2; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict] = []
        self.variant = "accuracy"
        self.tau = DEFAULT_TAU
        self.reference = "specialist"
        self.sort_key = "run"
        self.sort_desc = False
        self.marked: list[int] = []
        self.detail_kind = ""  # "items" | "compare" | "matrix"
        self.eval_settings = None  # engine.evaluation.evaluate.EvalSettings for `e` (None: defaults)
        self.eval_max_items: int | None = None

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield Static("", id="r-knobs")
        yield NavTable(id="r-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="r-info")
        yield Static(
            "enter: conflicting items · space + v: compare two runs · m: interference matrix", id="r-detail-title"
        )
        yield NavTable(id="r-detail", cursor_type="row")
        yield JobPanel(
            "no job running · e: evaluate the highlighted run · p: make specialists · a: make pair runs",
            status_id="r-job",
            progress_id="r-progress",
            id="r-jobbar",
        )
        yield from self.compose_footer()

    def on_mount(self) -> None:
        super().on_mount()
        t = self.query_one("#r-table", DataTable)
        for key, label, width in COLUMNS:
            t.add_column(label, key=key, width=width)
        self._show_knobs()
        t.focus()

    # -- loading -------------------------------------------------------------------------------------------
    def on_data_changed(self, what: str) -> None:
        if what == "error" or self.store is None:
            return
        self.reload()

    def reload(self) -> None:
        store, variant, tau, ref = self.store, self.variant, self.tau, self.reference
        if store is None:
            return

        def load():
            from engine.evaluation.conflict import results_rows

            return results_rows(store, variant=variant, tau=tau, reference=ref)

        self.run_engine(load, self._loaded, group="r-load", exclusive=True)

    def _loaded(self, rows: list[dict]) -> None:
        self.rows = rows
        self._fill()

    def _sorted(self) -> list[dict]:
        key = self.sort_key

        def k(r):
            v = r.get(key)
            return (v is None, v if v is not None else 0)

        rows = sorted(self.rows, key=lambda r: (r["run_id"], r["domain"]))
        rows.sort(key=k, reverse=self.sort_desc)
        if self.sort_desc:  # keep None last when descending too
            rows.sort(key=lambda r: r.get(key) is None)
        return rows

    def _fill(self) -> None:
        t = self.query_one("#r-table", DataTable)
        keep = t.cursor_row
        t.clear()
        for r in self._sorted():
            if r["conflict_rate"] is None and r["kind"] == "mixture" and r.get("missing") in NO_REFERENCE:
                joint = Text("no ref", style="yellow")  # a domain the pooled rate leaves out (partial)
            else:
                joint = Text(_f(r["conflict_rate"]), style="bold red" if (r["conflict_rate"] or 0) > 0 else "")
            t.add_row(
                "*" if r["run_id"] in self.marked else "",
                _clip(f"{r['run_id']} {r['run']}", 14),
                KIND_SHORT.get(r["kind"], _clip(r["kind"], 5)),
                _clip(r["recipe"] or "-", 10),
                _clip(r["protocol"] or "-", 10),
                _clip(r["domain"], 8),
                METRIC_SHORT.get(r["metric"], r["metric"]),
                _f(r["score"]),
                _f(r["delta_vs_specialist"], signed=True),
                _f(r["delta_vs_base"], signed=True),
                joint,
                _f(r.get("conditional_conflict_rate")),
                Text(_f(r.get("gain_rate")), style="green" if (r.get("gain_rate") or 0) > 0 else ""),
                str(r["n_compared"]),
                key=f"{r['run_id']}|{r['domain']}",
            )
        if t.row_count:
            t.move_cursor(row=min(max(keep, 0), t.row_count - 1))
        self._show_knobs()
        self._show_info()

    @on(DataTable.RowHighlighted, "#r-table")
    def _highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_info()

    def info_text(self, row: dict | None) -> Text:
        """The line under the table: the highlighted domain's shared items and the run's pooled rates (partial
        when a domain has no reference), and settings warnings."""
        if row is None:
            return Text("")
        ref = "specialist" if self.reference == "specialist" else "base model"
        t = Text()
        t.append(f"{row['run_id']} {row['domain']}: ", style="bold")
        if row["kind"] != "mixture" and row.get("pooled_conflict_rate") is None:
            t.append(f"a {row['kind']} run: no {ref} to compare it with (the Conflict Rate is a mixture run's)")
            return t
        if row.get("missing_note") and row["conflict_rate"] is None:
            t.append(f"no rate ({row['missing_note']})", style="yellow")
        else:
            t.append(
                f"{row['n_shared']} items shared with the {ref} (left out: {row['dropped_run']} of the run's, "
                f"{row['dropped_reference']} of the {ref}'s)"
            )
        if row.get("pooled_conflict_rate") is not None or row.get("pooled_partial"):
            t.append(
                f" · pooled: joint conflict {_f(row['pooled_conflict_rate'])} · conditional conflict "
                f"{_f(row['pooled_conditional_conflict_rate'])} · gain {_f(row['pooled_gain_rate'])}"
            )
            if row.get("pooled_partial"):
                t.append(" (partial: " + "; ".join(row["pooled_missing"].values()) + ")", style="yellow")
        mism = row.get("settings_mismatches") or []
        if mism:
            names = ", ".join(dict.fromkeys(x["setting"] for x in mism))
            t.append(
                f"\n⚠ evaluations compared differ in {names} (workbench conflict {row['run_id']} lists them; "
                "--strict refuses)",
                style="bold red",
            )
        return t

    def _show_info(self) -> None:
        self.query_one("#r-info", Static).update(self.info_text(self.current()))

    def _show_knobs(self) -> None:
        arrow = "↓" if self.sort_desc else "↑"
        marked = ", ".join(map(str, self.marked)) or "none"
        ref = "spec" if self.reference == "specialist" else "base"
        txt = (
            f"Conflict Rate (our definition) · variant {self.variant} · tau {self.tau:g} · reference "
            f"{self.reference} · sort {self.sort_key} {arrow} · marked runs: {marked}\n"
            f"joint conflict P({ref} ok, run wrong) · cond = conditional conflict P(run wrong | {ref} ok) · "
            f"gain P({ref} wrong, run ok)"
        )
        self.query_one("#r-knobs", Static).update(Text(txt))

    def current(self) -> dict | None:
        """The row under the cursor (None on an empty table)."""
        t = self.query_one("#r-table", DataTable)
        if not t.row_count:
            return None
        key = t.coordinate_to_cell_key((t.cursor_row, 0)).row_key.value
        rid, _, dom = (key or "").partition("|")
        return next((r for r in self.rows if str(r["run_id"]) == rid and r["domain"] == dom), None)

    # -- detail panel ----------------------------------------------------------------------------------------
    def _detail(self, title: str, kind: str, columns: list[tuple[str, int]], rows: list[list]) -> None:
        self.detail_kind = kind
        self.query_one("#r-detail-title", Static).update(Text(title))
        d = self.query_one("#r-detail", DataTable)
        d.clear(columns=True)
        for label, width in columns:
            d.add_column(label, width=width)
        for r in rows:
            d.add_row(*r)

    @on(DataTable.RowSelected, "#r-table")
    def _selected(self, _event: DataTable.RowSelected) -> None:
        self.action_drill()

    def action_drill(self) -> None:
        row = self.current()
        if row is None or self.store is None:
            return
        store, variant, tau, ref = self.store, self.variant, self.tau, self.reference

        def load():
            from engine.evaluation.conflict import conflicting_items

            return conflicting_items(store, row["run_id"], row["domain"], variant=variant, tau=tau, reference=ref)

        def show(items: list[dict]) -> None:
            rows = [
                [
                    str(x["sample_id"]),
                    _clip(x["question"], 44),
                    _clip(x["reference_extracted"] or x["reference_output"], 26),
                    _clip(x["extracted"] or x["output"], 26),
                    _f(x["reference_nll"], 2),
                    _f(x["nll"], 2),
                ]
                for x in items
            ]
            self._detail(
                f"{len(items)} conflicting item(s): run {row['run_id']} {row['run']} · {row['domain']} "
                f"(question, {ref} answer, this run's answer)",
                "items",
                [
                    ("id", 6),
                    ("question", 44),
                    (f"{ref} answer", 26),
                    ("run answer", 26),
                    (f"{ref[:4]} nll", 8),
                    ("nll", 6),
                ],
                rows,
            )

        self.run_engine(load, show, group="r-detail", exclusive=True)

    def action_mark(self) -> None:
        row = self.current()
        if row is None:
            return
        rid = row["run_id"]
        if rid in self.marked:
            self.marked.remove(rid)
        else:
            self.marked.append(rid)
            self.marked = self.marked[-2:]
        self._fill()

    def action_compare(self) -> None:
        if len(self.marked) != 2 or self.store is None:
            self.app.notify("mark two runs with space first", severity="warning")
            return
        store, ids, variant, tau = self.store, list(self.marked), self.variant, self.tau

        def load():
            from engine.evaluation.conflict import compare

            return compare(store, ids, variant=variant, tau=tau)

        def show(res: dict) -> None:
            a, b = res["runs"]
            rows = []
            for d in sorted(set(a["domains"]) | set(b["domains"])):
                xa, xb = a["domains"].get(d, {}), b["domains"].get(d, {})
                agree = res.get("items", {}).get(d, {})
                sh = res.get("shared", {}).get(d, {})
                rows.append(
                    [
                        d,
                        METRIC_SHORT.get(sh.get("metric"), sh.get("metric") or "-"),
                        _f(sh.get("score_a")),
                        _f(sh.get("score_b")),
                        _f(sh.get("delta"), signed=True),
                        _f(xa.get("conflict_rate")),
                        _f(xb.get("conflict_rate")),
                        str(agree.get("only_a", "-")),
                        str(agree.get("only_b", "-")),
                        str(agree.get("both_right", "-")),
                        str(agree.get("both_wrong", "-")),
                        str(sh.get("n_shared", "-")),
                        f"{sh.get('dropped_a', '-')}/{sh.get('dropped_b', '-')}",
                    ]
                )
            la = f"A={a['id']} {a['name']} ({a['recipe'] or a['kind']}, {a['protocol'] or '-'})"
            lb = f"B={b['id']} {b['name']} ({b['recipe'] or b['kind']}, {b['protocol'] or '-'})"
            warn = ""
            if res.get("settings_mismatches"):
                warn = " · ⚠ settings differ: " + ", ".join(
                    dict.fromkeys(x["setting"] for x in res["settings_mismatches"])
                )
            self._detail(
                f"compare {la} vs {lb} · scores on shared items{warn}",
                "compare",
                [
                    ("domain", 9),
                    ("met", 4),
                    ("A score", 7),
                    ("B score", 7),
                    ("B - A", 7),
                    ("A joint", 7),
                    ("B joint", 7),
                    ("only A", 6),
                    ("only B", 6),
                    ("both ok", 7),
                    ("both wrong", 10),
                    ("shared", 6),
                    ("left out A/B", 12),
                ],
                rows,
            )

        self.run_engine(load, show, group="r-detail", exclusive=True)

    def action_matrix(self) -> None:
        row = self.current()
        if row is None or self.store is None:
            return
        store, variant, tau = self.store, self.variant, self.tau

        def load():
            from engine.evaluation.conflict import interference_matrix

            return interference_matrix(store, row["run_id"], variant=variant, tau=tau)

        def show(m: dict) -> None:
            doms = m["domains"]
            rows = []
            for a in doms:
                todo = []  # how to fill this row's empty off-diagonal cells
                for b in doms:
                    c = m["cells"].get(f"{a}|{b}") or m["cells"].get(f"{b}|{a}")
                    if b != a and m["outcome"][a][b] is None and c is not None:
                        todo.append(f"{b}: {c['how']}")
                rows.append(
                    [a]
                    + [f"{_f(m['outcome'][a][b])} / {_f(m['gradient'][a][b], 2)}" for b in doms]
                    + ["; ".join(todo) or "filled"]
                )
            empty = m["n_cells"] - m["filled"]
            fill = f" ({empty} empty: a makes the pair runs, train them, then e here)" if empty else ""
            self._detail(
                f"interference (ours) · outcome {m['filled']}/{m['n_cells']} filled{fill} · row = "
                f"evaluated domain, column = trained alongside; cell = conflict rate from the {{row, "
                f"column}} pair run (diagonal: run {m['run_id']}) / share of steps with negative gradient "
                "cosine",
                "matrix",
                [("domain", 9)] + [(b, 14) for b in doms] + [("to fill", 90)],
                rows,
            )

        self.run_engine(load, show, group="r-detail", exclusive=True)

    # -- knobs and sorting -----------------------------------------------------------------------------------
    def action_sort(self) -> None:
        i = SORTABLE.index(self.sort_key) if self.sort_key in SORTABLE else -1
        self.sort_key = SORTABLE[(i + 1) % len(SORTABLE)]
        self._fill()

    def action_sort_desc(self) -> None:
        self.sort_desc = not self.sort_desc
        self._fill()

    def action_variant(self) -> None:
        self.variant = "loss" if self.variant == "accuracy" else "accuracy"
        self.reload()

    def action_reference(self) -> None:
        self.reference = "base" if self.reference == "specialist" else "specialist"
        self.reload()

    def action_tau(self) -> None:
        def validate(text: str) -> str | None:
            try:
                v = float(text)
            except ValueError:
                return "tau must be a number"
            return None if v >= 0 else "tau must be >= 0"

        def done(text: str | None) -> None:
            if text is not None:
                self.tau = float(text)
                self.reload()

        self.app.push_screen(
            InputDialog(
                "Conflict Rate tau",
                f"NLL margin (loss variant; nats per token; default {DEFAULT_TAU:g}):",
                f"{self.tau:g}",
                validate=validate,
            ),
            done,
        )

    def action_refresh(self) -> None:
        self.reload()

    # -- jobs ------------------------------------------------------------------------------------------------

    def action_evaluate(self) -> None:
        """e: the evaluate form for the highlighted run (or any finished run, when nothing is evaluated yet)."""
        if self.job is not None:
            self.app.notify("a job is already running (c cancels it)", severity="warning")
            return
        row = self.current()
        self.open_evaluate(row["run_id"] if row else None)

    def open_evaluate(self, run_id: int | None = None) -> None:
        """The evaluate form (run, eval sets, items per set, max new tokens); the job starts once it is filled."""
        store = self.store
        if store is None:
            return

        def load():
            from engine.evaluation.evaluate import eval_pools
            from engine.training.runs import list_runs

            done = [r for r in list_runs(store) if r.status == "done"]
            runs = [(r.id, f"{r.id} · {r.name} ({r.kind})") for r in done]
            # nothing highlighted: the newest finished mixture run (the one a Conflict Rate is read for; its
            # specialists come with it), not whichever run finished last (often a specialist)
            first = max((r.id for r in done if r.kind == "mixture"), default=None)
            return runs, [(p["name"], p["n_samples"]) for p in eval_pools(store)], first

        def show(found) -> None:
            from screens.results_dialogs import EvaluateDialog

            runs, sets, first = found
            chosen = run_id if run_id is not None else first
            tokens = self.eval_settings.max_new_tokens if self.eval_settings is not None else 256
            try:
                dlg = EvaluateDialog(runs, sets, run_id=chosen, max_items=self.eval_max_items, max_new_tokens=tokens)
            except ValueError as e:
                self.app.notify(str(e), title="Evaluate", severity="warning", timeout=8)
                return
            self.app.push_screen(dlg, self._evaluate_chosen)

        self.run_engine(load, show, group="r-evalform")

    def _evaluate_chosen(self, v: dict | None) -> None:
        if not v:
            return
        from dataclasses import replace

        from engine.evaluation.evaluate import EvalSettings

        self.eval_settings = replace(self.eval_settings or EvalSettings(), max_new_tokens=v["max_new_tokens"])
        self.eval_max_items = v["max_items"]
        self._evaluate_run(v["run_id"], v["sets"])

    def _evaluate_run(self, run_id: int, pools: list[str] | None = None) -> None:
        """Evaluate a run on the given eval pools (default: every eval set) in a worker thread."""
        store, settings, max_items = self.store, self.eval_settings, self.eval_max_items

        def run(progress, token):
            from engine.evaluation.conflict import base_run_for, pair_runs, specialists
            from engine.evaluation.evaluate import eval_pools, evaluate_many, get_run_row

            sets = pools or [p["name"] for p in eval_pools(store)]
            if not sets:
                raise ValueError(
                    "no eval sets: mark a pool as one with e in Pools (1), or tick 'eval set' when importing it"
                )
            # with its finished specialists and the base model, in one worker (jobs already done are skipped)
            run = get_run_row(store, run_id)
            ids = [run_id]
            extra = list(specialists(store, run_id).values())
            for pr in pair_runs(store, run_id).values():  # finished pair runs, with their own specialists
                if get_run_row(store, pr).status == "done":
                    extra += [pr, *specialists(store, pr).values()]
            for rid in extra + [base_run_for(store, run)]:
                if rid is not None and rid not in ids and get_run_row(store, rid).status == "done":
                    ids.append(rid)
            return evaluate_many(
                store, ids, sets, max_items=max_items, settings=settings, progress=progress, cancel=token
            )

        self.panel.run(
            "evaluation",
            run,
            self._evaluated,
            self._job_failed,
            text=f"evaluating run {run_id}: starting the worker…",
            label=f"evaluating run {run_id}",
            group="r-job",
            run=run_id,
        )

    def _evaluated(self, res: list) -> None:
        self.panel.finish(f"evaluated: {len(res)} result row(s)")
        self.app.data_changed("evaluations")  # type: ignore[attr-defined]

    def _for_mixture_run(self, kind: str, then) -> None:
        """p / a: the highlighted row's run, or (nothing evaluated yet, the table is empty) the newest mixture
        run, so references can be queued before the first evaluation; then `_confirm_plan`."""
        row, store = self.current(), self.store
        if store is None:
            return
        if row is not None:
            self._confirm_plan(kind, row["run_id"], then)
            return

        def newest():
            from engine.training.runs import list_runs

            return max((r.id for r in list_runs(store) if r.kind == "mixture"), default=None)

        def chosen(run_id: int | None) -> None:
            if run_id is None:
                self.app.notify(
                    f"no mixture run to make {kind} for: queue one in Runs (6, then n)", severity="warning", timeout=8
                )
                return
            self._confirm_plan(kind, run_id, then)

        self.run_engine(newest, chosen, group="r-plan")

    def _confirm_plan(self, kind: str, run_id: int, then) -> None:
        """Say how many runs `kind` would queue for run `run_id` and about how long they take; `then(run_id)` once
        confirmed."""
        store = self.store

        def plan():
            from engine.evaluation.conflict import reference_plan
            from engine.training.runs import get_run

            return get_run(store, run_id).name, reference_plan(store, run_id, kind)

        def ask(found) -> None:
            name, p = found
            what = "specialists" if kind == "specialists" else "pair runs"
            if not p.new:
                then(run_id)
                return
            self.app.push_screen(
                ConfirmDialog(f"Make the {what} of run {run_id} ({name})?", p.words(), f"Queue {len(p.new)}"),
                lambda ok: then(run_id) if ok else None,
            )

        def failed(error: BaseException) -> None:
            self.app.notify(f"{error}", title=kind.capitalize(), severity="error", timeout=10)

        self.run_engine(plan, ask, failed, group="r-plan")

    def action_specialists(self) -> None:
        self._for_mixture_run("specialists", self._make_specialists)

    def _make_specialists(self, run_id: int) -> None:
        store = self.store
        if store is None:
            return

        def run():
            from engine.evaluation.conflict import ensure_specialists

            return ensure_specialists(store, run_id)

        def done(m: dict) -> None:
            self.app.notify(
                f"specialists of run {run_id} (queued or reused): " + ", ".join(f"{d} → run {r}" for d, r in m.items()),
                title="Specialists",
                timeout=10,
            )
            self.app.data_changed("runs")  # type: ignore[attr-defined]

        self.run_engine(run, done, group="r-spec")

    def action_pairs(self) -> None:
        self._for_mixture_run("pairs", self._make_pairs)

    def _make_pairs(self, run_id: int) -> None:
        store = self.store
        if store is None:
            return

        def run():
            from engine.evaluation.conflict import ensure_pair_runs

            return ensure_pair_runs(store, run_id)

        def done(made: dict) -> None:
            self.app.notify(
                "pair runs (queued or reused, with their specialists): "
                + ", ".join(f"{a}+{b} → run {r}" for (a, b), r in made.items())
                + " · train them, then e evaluates them with their specialists",
                title="Pair runs",
                timeout=10,
            )
            self.app.data_changed("runs")  # type: ignore[attr-defined]

        def failed(error: BaseException) -> None:
            self.app.notify(f"{error}", title="Pair runs", severity="error", timeout=10)

        self.run_engine(run, done, failed, group="r-pairs")

    def action_cancel_job(self) -> None:
        self.panel.cancel("evaluation: cancelling after the current batch…")

    def _job_failed(self, error: BaseException) -> None:
        if isinstance(error, Cancelled):
            self.panel.finish("evaluation cancelled; finished chunks are kept (e resumes)", "cancelled")
            self.app.data_changed("evaluations")  # type: ignore[attr-defined]
            return
        self.app.notify(f"{type(error).__name__}: {error}", title="Evaluation", severity="error", timeout=15)
        self.panel.finish(f"failed: {error}", "failed")
