"""The Targeted area: targeted instruction selection (engine/targeting, docs/targeting.md). The targeted
selections of the store, the highlighted one's request, its picks with the query item that pulled each in,
a histogram of their similarities, the picks per query item and the subset-to-query distances against a
random subset; a job that makes a new one (start, cancel, resume) and jumps to Browse on the picks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.suggester import SuggestFromList
from textual.widgets import DataTable, Input, Label, Markdown, RadioButton, RadioSet, Select, Static
from textual_plotext import PlotextPlot

from engine.core.errors import Cancelled
from screens.clusters_common import _name_ref
from screens.job_panel import JobPanel, JobScreen
from screens.scope_dialog import BROWSE, current_filter, load_choices
from screens.widgets import FormDialog, NavTable, WorkbenchScreen, dialog_buttons

# Encoder used for the EMBED representation instead of loading the sentence-transformers model (tests set a
# deterministic fake; None: the model named in the form, default all-MiniLM-L6-v2).
ENCODER: Callable[[list[str]], Any] | None = None

MAX_PICKS = 200  # picks listed in the table (every pick is in the histogram and in Browse)

REPS = [
    ("EMBED: sentence-transformers (default all-MiniLM-L6-v2)", "embed"),
    ("RDS+: the proxy LM's hidden states (default SmolLM2)", "rds"),
    ("LESS: LoRA gradients after a warm-up (reference settings; a GPU)", "less"),
]
ALGOS = [
    ("rr: round-robin over the query items", "rr"),
    ("dg: doubly greedy (largest similarity to any item)", "dg"),
    ("uot: unbalanced optimal transport", "uot"),
    ("knn-uniform: TSDS KNN-Uniform", "knn-uniform"),
    ("knn-kde: TSDS KNN-KDE", "knn-kde"),
]
ALGO_NAMES = {"rr": "round-robin", "dg": "doubly greedy", "uot": "unbalanced OT"}

EMPTY_TEXT = """\
## No targeted selection yet

A targeted selection picks the samples of a pool that serve a **query set** (a benchmark's dev items, an eval
pool, fifty examples of your own in a file): a **representation** turns query items and candidates into
vectors, an **algorithm** turns their similarity into an ordering, and the first *budget* samples are saved as a
selection, each with the query item that pulled it in.

**Here:** press `n`, name the query set (any pool, eval pools too, or a file path), the representation, the
algorithm, the budget and a name. `c` cancels, `r` resumes a cancelled job (the vectors already computed are
cached; the algorithm reruns). **CLI:** `workbench target --query eval_math --budget 500 --name math500`.
"""


def selection_expression(name: str) -> str:
    """The Browse filter for every sample of a selection: `selection.NAME IS NOT NULL` (quoted when needed)."""
    return f"selection.{_name_ref(name)} IS NOT NULL"


def _f(v: Any, nd: int = 4) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


class TargetDialog(FormDialog):
    """New targeted selection (`workbench target` is the CLI twin).

    - **query set**: any pool of the store, eval pools too (its non-excluded samples are the query items), or a
      path to a file in any format `workbench import` reads. Each item is a prompt and a label (its last
      assistant reply).
    - **representation**: EMBED (a sentence-transformers model), RDS+ (the proxy LM's position-weighted last
      hidden states) or LESS (LoRA gradients after a short warm-up; the reference settings, practical on a GPU;
      small settings with `workbench target --rep less --lora-r 8 --proj-dim 1024`).
    - **model**: blank = the default of the representation (all-MiniLM-L6-v2, SmolLM2-135M); a folder, a
      cached id or a .gguf otherwise.
    - **algorithm**: round-robin (best at small budgets in the paper), doubly greedy, unbalanced OT, KNN-Uniform
      or KNN-KDE (docs/targeting.md has each one's parameters).
    - **budget**: how many samples to select (a smaller budget is always a prefix of a larger one).
    - **name**: the selection's name (mixtures use it as `selection:NAME`).
    - **quantiles**: blank, or N for the distance-quantile experiment: the whole pool ordered and cut into N
      parts, the first *budget* of each saved as NAME-q0 (nearest) .. NAME-q{N-1}.
    - **candidates**: the samples of the last Browse filter, or every training sample (eval pools and excluded
      samples left out unless the filter names the pool), less the query items themselves.

    Candidate vectors are cached per model and text, so a second selection with the same representation (or a
    resumed one) encodes nothing again."""

    DEFAULT_CSS = """
    TargetDialog > Vertical { width: 96; }
    TargetDialog #t-note { color: $text-muted; margin-bottom: 1; }
    TargetDialog .row { height: 1; margin-bottom: 1; }
    TargetDialog .row Label { width: 16; }
    TargetDialog .row Input { width: 1fr; }
    TargetDialog .row Select { width: 1fr; }
    TargetDialog RadioSet { width: 1fr; }
    """

    # Dismisses with the request: query, rep, model, algo, budget, name, quantiles, scope, words (or None).

    def __init__(
        self,
        pools: list[tuple[str, str]],
        taken: set[str],
        choices: list[tuple[str, Any, str]],
        defaults: dict | None = None,
    ) -> None:
        super().__init__()
        self.pools = list(pools)  # (name, role)
        self.taken = set(taken)
        self.choices = list(choices)
        self.d = {"query": "", "rep": "embed", "model": "", "algo": "rr", "budget": "100", "name": "", "quantiles": ""}
        self.d.update(defaults or {})

    def compose(self) -> ComposeResult:
        names = [n for n, _r in self.pools]
        listed = ", ".join(f"{n} (eval)" if r == "eval" else n for n, r in self.pools[:15]) or "none yet"
        if len(self.pools) > 15:
            listed += f" and {len(self.pools) - 15} more"
        with Vertical():
            yield Label("New targeted selection", classes="title")
            yield Static(Text(f"pools: {listed}; or a file path. F1 explains every field."), id="t-note")
            with Horizontal(classes="row"):
                yield Label("query set")
                yield Input(
                    value=self.d["query"],
                    placeholder="required: a pool (eval pools too) or a file",
                    suggester=SuggestFromList(names, case_sensitive=True),
                    id="t-query",
                    compact=True,
                )
            with Horizontal(classes="row"):
                yield Label("representation")
                yield Select(REPS, value=self.d["rep"], allow_blank=False, id="t-rep", compact=True)
            with Horizontal(classes="row"):
                yield Label("model")
                yield Input(value=self.d["model"], placeholder="blank = the default", id="t-model", compact=True)
            with Horizontal(classes="row"):
                yield Label("algorithm")
                yield Select(ALGOS, value=self.d["algo"], allow_blank=False, id="t-algo", compact=True)
            with Horizontal(classes="row"):
                yield Label("budget")
                yield Input(
                    value=self.d["budget"], placeholder="required: samples to select", id="t-budget", compact=True
                )
            with Horizontal(classes="row"):
                yield Label("name")
                yield Input(
                    value=self.d["name"], placeholder="required: the selection's name", id="t-name", compact=True
                )
            with Horizontal(classes="row"):
                yield Label("quantiles")
                yield Input(
                    value=self.d["quantiles"],
                    placeholder="blank, or N: the distance-quantile experiment",
                    id="t-quantiles",
                    compact=True,
                )
            yield Label("candidates:")
            with RadioSet(id="t-scope"):
                for i, (key, _scope, words) in enumerate(self.choices):
                    prefix = "the Browse filter: " if key == BROWSE else ""
                    yield RadioButton(Text(prefix + words), value=i == 0, id=f"t-scope-{key}")
            yield from dialog_buttons("Start")

    def on_mount(self) -> None:
        self.query_one("#t-query", Input).focus()

    def _values(self) -> dict | str:
        v = {
            k: self.query_one(f"#t-{k}", Input).value.strip() for k in ("query", "model", "budget", "name", "quantiles")
        }
        if not v["query"]:
            return "write the query set: a pool name or a file path"
        try:
            budget = int(v["budget"])
            if budget < 1:
                raise ValueError
        except ValueError:
            return f"budget is a whole number of samples, 1 or more (got {v['budget']!r})"
        if not v["name"]:
            return "write a name for the selection"
        quantiles = None
        if v["quantiles"]:
            try:
                quantiles = int(v["quantiles"])
                if quantiles < 2:
                    raise ValueError
            except ValueError:
                return f"quantiles is blank or a whole number, 2 or more (got {v['quantiles']!r})"
        names = [f"{v['name']}-q{q}" for q in range(quantiles)] if quantiles else [v["name"]]
        clash = [n for n in names if n in self.taken]
        if clash:
            return f"a selection named {clash[0]!r} exists; choose another name"
        i = self.query_one("#t-scope", RadioSet).pressed_index
        _key, scope, words = self.choices[i if 0 <= i < len(self.choices) else 0] if self.choices else ("", None, "")
        return {
            "query": v["query"],
            "rep": str(self.query_one("#t-rep", Select).value),
            "model": v["model"] or None,
            "algo": str(self.query_one("#t-algo", Select).value),
            "budget": budget,
            "name": v["name"],
            "quantiles": quantiles,
            "scope": scope,
            "words": words,
        }

    def _submit(self) -> None:
        v = self._values()
        if isinstance(v, str):
            self.query_one("#error", Static).update(v)
            return
        self.dismiss(v)


def _load_form(store: Any, f: Any) -> tuple[list, set, list]:
    """(pools as (name, role), selection names, scope choices) for the form (worker)."""
    from engine.data.pools import list_pools
    from engine.data.scope import eval_pools
    from engine.quality.selection import list_selections

    evals = eval_pools(store)
    pools = [(p.name, "eval" if p.id in evals else "train") for p in list_pools(store)]
    return pools, {s.name for s in list_selections(store)}, load_choices(store, f)


def run_target(store: Any, req: dict, progress: Any, token: Any) -> Any:
    """engine.targeting.target.target for a request of the form (worker)."""
    from engine.targeting.target import target

    trainer = None
    if req["rep"] == "less":
        from workbench.cli.target import trainer_kit

        trainer = trainer_kit()
    return target(
        store,
        query=req["query"],
        name=req["name"],
        budget=req["budget"],
        rep=req["rep"],
        algo=req["algo"],
        model=req["model"],
        scope=req["scope"],
        quantiles=req["quantiles"],
        encoder=ENCODER if req["rep"] == "embed" else None,
        trainer=trainer,
        progress=progress,
        cancel=token,
    )


def _load_detail(store: Any, name: str) -> tuple[Any, str]:
    """A selection's detail and the words of its candidates' scope (worker)."""
    from engine.data.scope import describe_scope, scope_from_params
    from engine.targeting.listing import targeted_detail

    det = targeted_detail(store, name, limit=MAX_PICKS)
    words = describe_scope(store, scope_from_params(det.info.params.get("scope")), n=0).split(": ", 1)[-1]
    return det, words


class TargetedScreen(JobScreen, WorkbenchScreen, mode="targeted"):
    """Targeted: targeted instruction selection (docs/targeting.md). The top table lists the targeted selections
    of the store (query set, representation, algorithm, budget, candidates); the line under it is the
    highlighted one's request. The picks table shows its first picks in order with the query item that pulled
    each in and their similarity (`enter` on a pick opens it in Browse); beside it a histogram of every pick's
    similarity and the picks per query item; below, the subset-to-query distances (1 - cosine; Chamfer and
    OT) at budgets k/8 .. k against a random subset of the same size (the baseline the paper insists on).

    `n` makes a new one: query set (any pool, eval pools too, or a file), representation, model, algorithm,
    budget, name, optional distance quantiles, and the candidates (the last Browse filter or every training
    sample). The job shows its phase, progress and ETA; `c` cancels it; `r` resumes a cancelled (or failed)
    job: the candidate vectors it had computed are cached per model and text, so only the rest is encoded,
    and the similarity and the algorithm run again from the start (they are not saved half-way). `b` (or
    `enter` on the top table) opens Browse on every pick (`selection.NAME IS NOT NULL`). `t` studies the
    highlighted selection: the Studies area's new-study form, prefilled with template targeted and this
    selection as its base (quantiles for a distance-quantile experiment), so that its budgets are trained
    and evaluated beside a random selection of the same size and the untouched base model. `workbench
    target` is the CLI twin (`--format json`)."""

    JOB_PANEL = "t-jobbar"

    DEFAULT_CSS = """
    #t-list { height: 7; margin-top: 1; }
    #t-info { height: 2; padding: 0 1; color: $text-muted; }
    #t-empty { height: 1fr; padding: 0 2; }
    #t-main { height: 1fr; }
    #t-picks { width: 1fr; height: 1fr; }
    #t-side { width: 40; height: 1fr; }
    #t-hist { height: 1fr; }
    #t-queries { height: auto; max-height: 8; padding: 0 1; }
    #t-dist { height: auto; max-height: 6; padding: 0 1; border-top: solid $panel; }
    #t-jobbar { height: 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.infos: list[Any] = []  # engine.quality.selection.SelectionInfo, newest first
        self.selected: str | None = None
        self.detail: Any = None  # engine.targeting.listing.TargetedDetail of `selected`
        self.resumable: dict | None = None  # the request of the last cancelled or failed job

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield NavTable(id="t-list", cursor_type="row", zebra_stripes=True)
        yield Static("", id="t-info")
        yield Markdown(EMPTY_TEXT, id="t-empty")
        with Horizontal(id="t-main"):
            yield NavTable(id="t-picks", cursor_type="row", zebra_stripes=True)
            with Vertical(id="t-side"):
                yield PlotextPlot(id="t-hist")
                yield Static("", id="t-queries")
        yield Static("", id="t-dist")
        yield JobPanel(
            "n: new targeted selection · b: browse the picks · t: study vs random and base · c: cancel · r: resume",
            status_id="t-job",
            progress_id="t-progress",
            id="t-jobbar",
        )
        yield from self.compose_footer()

    def on_mount(self) -> None:
        super().on_mount()
        t = self.query_one("#t-list", DataTable)
        for key, label, width in (
            ("name", "selection", 18),
            ("query", "query set", 22),
            ("rep", "representation", 26),
            ("algo", "algorithm", 14),
            ("k", "budget", 7),
            ("n", "candidates", 10),
        ):
            t.add_column(label, key=key, width=width)
        p = self.query_one("#t-picks", DataTable)
        for key, label, width in (
            ("rank", "rank", 4),
            ("id", "sample", 6),
            ("domain", "domain", 7),
            ("sim", "sim", 5),
            ("query", "pulled in by", 20),
            ("instruction", "instruction", 24),
        ):
            p.add_column(label, key=key, width=width)
        self._show_empty(True)
        t.focus()

    # -- loading -----------------------------------------------------------------------------------------
    def on_data_changed(self, what: str) -> None:
        from engine.targeting.listing import list_targeted

        self.load_from_store(what, list_targeted, self._listed, "t-list")

    def _show_empty(self, empty: bool) -> None:
        self.query_one("#t-empty").display = empty
        for wid in ("#t-list", "#t-main", "#t-dist"):
            self.query_one(wid).display = not empty

    def _listed(self, infos: list[Any]) -> None:
        self.infos = list(infos)
        names = [s.name for s in infos]
        self._show_empty(not names)
        t = self.query_one("#t-list", DataTable)
        t.clear()
        for s in infos:
            p = s.params
            rep = f"{p.get('rep', '?')} · {p.get('model', '?')}"
            q = f"{p.get('query', '?')} ({p.get('n_query', '?')})"
            algo = ALGO_NAMES.get(p.get("algo"), p.get("algo", "?"))
            if p.get("quantile") is not None:
                algo += f" · q{p['quantile']}/{p.get('n_quantiles', '?')}"
            t.add_row(s.name, q, rep, algo, f"{s.n:,}", f"{p.get('n_candidates', 0):,}", key=s.name)
        if self.selected not in names:
            self.selected = names[0] if names else None
        if self.selected is None:
            self.detail = None
            self.query_one("#t-info", Static).update("")
            return
        t.move_cursor(row=names.index(self.selected))
        self.load_detail()

    def load_detail(self) -> None:
        store, name = self.store, self.selected
        if store is None or name is None:
            return
        self.run_engine(lambda: _load_detail(store, name), self._show_detail, group="t-detail", exclusive=True)

    def _show_detail(self, res: tuple) -> None:
        det, words = res
        if det.info.name != self.selected:
            return
        self.detail = det
        p = det.info.params
        bits = [
            f"{det.info.name}: {det.info.n:,} of {p.get('n_candidates', 0):,} candidates",
            f"query {p.get('query', '?')} ({det.n_query} items)",
            f"{p.get('rep', '?')} ({p.get('model', '?')}, {p.get('text_kind', '?')})",
            ALGO_NAMES.get(p.get("algo"), str(p.get("algo"))),
            f"candidates: {words}",
        ]
        notes = [str(n) for n in p.get("notes") or []]
        line = " · ".join(bits) + ("\nnote: " + "; ".join(notes) if notes else "")
        self.query_one("#t-info", Static).update(Text(line, overflow="ellipsis"))
        t = self.query_one("#t-picks", DataTable)
        t.clear()
        for k in det.picks:
            query = k.label + (f": {k.query_text}" if k.query_text else "")
            t.add_row(
                str(k.rank),
                str(k.sample_id),
                k.domain or "",
                _f(k.similarity, 3),
                query,
                k.instruction,
                key=str(k.sample_id),
            )
        self._draw_histogram()
        self._show_queries()
        self._show_distances()

    def _draw_histogram(self) -> None:
        det = self.detail
        plot = self.query_one("#t-hist", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        if det is None or not det.counts:
            plt.title("similarity: no picks")
            plot.refresh()
            return
        e, c = det.edges, det.counts
        centers = [(e[i] + e[i + 1]) / 2 for i in range(len(c))]
        plt.bar(centers, c, width=0.9)
        ticks = [e[0], (e[0] + e[-1]) / 2, e[-1]]
        plt.xticks(ticks, [f"{x:.3f}" for x in ticks])
        plt.title(f"similarity to the query item · {sum(c):,} picks")
        plot.refresh()

    def _show_queries(self) -> None:
        det = self.detail
        out = Text(no_wrap=True, overflow="ellipsis")
        if det is not None and det.per_query:
            pulled = sum(1 for _i, _l, c in det.per_query if c)
            out.append(f"picks per query item · {pulled}/{det.n_query} pulled some\n", style="bold")
            for _i, label, c in det.per_query[:5]:
                out.append(f"{c:>5,}  {label}\n")
            if len(det.per_query) > 5:
                out.append(f"  … {len(det.per_query) - 5} more items", style="dim")
        self.query_one("#t-queries", Static).update(out)

    def _show_distances(self) -> None:
        det = self.detail
        out = Text(no_wrap=True, overflow="ellipsis")
        p = det.info.params if det is not None else {}
        if p.get("distance"):
            d = p["distance"]
            out.append(
                f"quantile {p.get('quantile')} of {p.get('n_quantiles')} (from position {p.get('quantile_start', 0):,}"
                f" of the ordering): Chamfer {_f(d.get('chamfer'))} · OT {_f(d.get('ot'))} (1 - cosine)",
            )
        elif p.get("distances"):
            out.append("subset-to-query distance (1 - cosine; lower is closer) against a random subset\n", style="bold")
            for d in p["distances"]:
                ot = "" if d.get("ot") is None else f" · OT {_f(d['ot'])} (random {_f(d.get('random_ot'))})"
                out.append(
                    f"budget {d['budget']:>6,}: Chamfer {_f(d['chamfer'])} (random {_f(d.get('random_chamfer'))}){ot}\n"
                )
        self.query_one("#t-dist", Static).update(out)

    # -- events ------------------------------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#t-list")
    def _row(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is None or event.row_key.value is None:
            return
        name = str(event.row_key.value)
        if name != self.selected:
            self.selected = name
            self.load_detail()

    @on(DataTable.RowSelected, "#t-list")
    def _list_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_browse_picks()

    @on(DataTable.RowSelected, "#t-picks")
    def _pick_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            self.app.open_browse(expression=f"id = {int(event.row_key.value)}")  # type: ignore[attr-defined]

    # -- actions -----------------------------------------------------------------------------------------
    def action_browse_picks(self) -> None:
        if self.selected is None:
            self.app.notify("no targeted selection to browse: n makes one", severity="warning")
            return
        self.app.open_browse(expression=selection_expression(self.selected))  # type: ignore[attr-defined]

    def action_refresh(self) -> None:
        self.on_data_changed("samples")

    async def action_new_study(self) -> None:
        """t: the Studies area's new-study form, prefilled with the highlighted selection as the base of a
        targeted study (a quantile experiment's selection: a quantiles study of the whole experiment), so that
        random-k and the untouched base model are trained and evaluated beside it."""
        if self.selected is None:
            self.app.notify("no targeted selection to study: n makes one", severity="warning")
            return
        info = next((s for s in self.infos if s.name == self.selected), None)
        p = info.params if info is not None else {}
        if p.get("quantile") is not None and self.selected.endswith(f"-q{p['quantile']}"):
            defaults = {"template": "quantiles", "base": self.selected[: -len(f"-q{p['quantile']}")]}
        else:
            defaults = {"template": "targeted", "base": self.selected}
        await self.app.switch_mode("studies")
        self.app.screen.open_new_study(defaults)  # type: ignore[attr-defined]

    def action_new_target(self) -> None:
        """The form (query set, representation, model, algorithm, budget, name, quantiles, candidates), then the
        job. After a cancelled or failed job the form starts from its request."""
        if self._busy():
            return
        last = self.resumable  # after a cancel or a failure the form starts from that request
        defaults = None
        if last is not None:
            defaults = {
                k: "" if last[k] is None else str(last[k]) for k in ("query", "model", "budget", "name", "quantiles")
            }
            defaults.update(rep=last["rep"], algo=last["algo"])
        self._ask(defaults)

    def _ask(self, defaults: dict | None) -> None:
        store, f = self.store, current_filter(self.app)

        def show(res: tuple) -> None:
            pools, taken, choices = res

            def done(req: dict | None) -> None:
                if req:
                    self._start(req)

            self.app.push_screen(TargetDialog(pools, taken, choices, defaults), done)

        self.run_engine(lambda: _load_form(store, f), show, group="t-form", exclusive=True)

    def _start(self, req: dict, *, resumed: bool = False) -> None:
        if self._busy():
            return
        store = self.store
        self.resumable = None
        what = "resuming" if resumed else "starting"

        def done(res: Any) -> None:
            if res.quantiles:
                names = [q["selection"] for q in res.quantiles]
                msg = f"{len(names)} quantile selections {names[0]} .. {names[-1]} of {res.n_candidates:,} candidates"
            else:
                doms = ", ".join(f"{d} {n}" for d, n in list(res.domains.items())[:3])
                msg = (
                    f"selection {res.selection}: {res.budget:,} of {res.n_candidates:,} candidates for {res.n_query} "
                    f"query items ({doms})"
                )
            embedded = f"{res.n_embedded_now:,} vectors computed now" if res.rep != "less" else "LESS"
            self.panel.finish(f"{msg} · {embedded} · {res.seconds:.1f}s")
            self.selected = res.selection
            self.app.data_changed("selections")  # type: ignore[attr-defined]

        self.panel.run(
            "target",
            lambda progress, token: run_target(store, req, progress, token),
            done,
            lambda e: self._failed(req, e),
            text=f"target {req['name']}: {what} · {req['rep']} · {req['algo']} · of {req['words']}",
            label=f"target {req['name']}",
            suffix=" · c cancels",
            group="t-job",
        )

    def _failed(self, req: dict, error: BaseException) -> None:
        self.resumable = req
        if isinstance(error, Cancelled):
            kept = ""
            if hasattr(error, "n_kept"):
                kept = f"; {error.n_kept:,} of {error.n_todo:,} candidate vectors were computed and are cached"
            self.panel.finish(
                f"target {req['name']} cancelled{kept}; r resumes (cached vectors are reused, the algorithm reruns)",
                "cancelled",
            )
            return
        self.app.notify(f"{type(error).__name__}: {error}", title="Targeted", severity="error", timeout=15)
        self.panel.finish(f"target {req['name']} failed: {error} · r retries, n changes the request", "failed")

    def action_cancel_job(self) -> None:
        if self.job is None:
            self.app.notify("no job is running")
            return
        self.panel.cancel("target: cancelling at the next checkpoint (finished vectors stay cached)…")

    def action_resume(self) -> None:
        """Run the last cancelled (or failed) request again: cached candidate vectors are reused, the similarity
        and the algorithm run from the start."""
        if self._busy():
            return
        if self.resumable is None:
            self.app.notify("nothing to resume: no targeted job was cancelled or failed here", severity="warning")
            return
        self._start(self.resumable, resumed=True)

    def palette_commands(self):
        for s in self.infos:
            yield (
                f"Targeted: show {s.name}",
                f"{s.n:,} samples for {s.params.get('query', '?')}",
                lambda n=s.name: self._pick(n),
            )

    def _pick(self, name: str) -> None:
        names = [s.name for s in self.infos]
        if name in names:
            self.query_one("#t-list", DataTable).move_cursor(row=names.index(name))
