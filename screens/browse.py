"""Browse: a virtual, paged table over one pool or all pools, a filter bar, a detail pane, bulk actions."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.rule import Rule
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widgets import Input, Label, Select, Static

from engine.data.filters import FilterError
from screens.sample_table import Col, SampleTable
from screens.widgets import DEFAULT_DOMAINS, ChoiceDialog, ConfirmDialog, InputDialog, WorkbenchScreen

ALL = "__all__"
# The detail pane shows at most this many characters of each text (a turn, the system prompt, tools, meta):
# laying out a 1 MB turn froze the app for most of a minute. The rest is named, with where to read it all.
DETAIL_CHARS = 20_000

# Display columns, by the keys of engine.data.query.Browser.page() rows (engine.data.query.COLUMNS); widths are ours
# (narrower than the engine's hints so that instruction and response keep most of a 120-cell terminal).
# The engine's `source` column is left to the detail pane.
BASE_COLUMNS: list[Col] = [
    Col("id", "id", 7, align="right", priority=9, fmt=lambda v: "" if v is None else str(v)),
    Col("pool", "pool", 12, priority=6),
    Col("domain", "domain", 9, priority=7),
    Col("instruction", "instruction", 16, flex=3, priority=9),
    Col("response", "response", 12, flex=2, priority=8),
    Col("n_chars", "chars", 6, align="right", priority=2),
    Col("n_tokens", "tokens", 6, align="right", priority=5),
    Col("n_turns", "turns", 5, align="right", priority=1),
    Col("tags", "tags", 12, sortable=False, priority=3),
    Col("excluded", "excl", 4, priority=8),  # carries the decision: kept when narrow
]


def score_column(metric: str) -> Col:
    """Score columns: row key `score.NAME` (engine.data.query.columns)."""
    return Col(f"score.{metric}", metric[:8], 8, align="right", priority=2)


def decision_columns(columns: list[Col], sort_key: str, score_filters) -> list[Col]:
    """The columns with the ones the user decides by (the sort column, the scores filtered on) raised above the
    other score columns, so a narrow table hides those first."""
    keep = {sort_key} | {f"score.{m}" for m in score_filters or ()}
    return [replace(c, priority=6) if c.key in keep and c.priority < 6 else c for c in columns]


class FilterBar(Vertical):
    """The filter of the Browse table. Every part given must hold.

    - **pool** / **domain**: pick one (or all)
    - **tags**: comma-separated; a sample with any of them matches
    - **text**: case-insensitive substring of the instruction, response or system prompt (applied as you type)
    - **where**: an expression, e.g. `n_tokens > 200 and domain = 'math' and not excluded`,
      `tag = 'keep' or text ~ 'python'`, `score.ifd between 0.2 and 0.9`
      (fields: id, pool, domain, instruction, response, text, system, n_chars, n_tokens, n_turns,
      tag, excluded, has_tools, source_file, record_index, score.METRIC; see docs/filters.md);
      enter applies it, errors show below with their position
    - **score**: a metric with min and/or max (only when scores exist)

    **enter** applies, **escape** goes back to the table.
    """

    HELP = __doc__
    DEFAULT_CSS = """
    FilterBar { height: auto; padding: 0 1; background: $boost; }
    FilterBar Horizontal { height: 1; }
    FilterBar Label { padding: 0 1 0 0; color: $text-muted; }
    FilterBar Select { width: 22; margin-right: 1; }
    FilterBar #f-domain { width: 20; }
    FilterBar #f-tags { width: 20; margin-right: 1; }
    FilterBar #f-text { width: 1fr; }
    FilterBar #f-expr { width: 1fr; margin-right: 1; }
    FilterBar #f-metric { width: 18; }
    FilterBar #f-min, FilterBar #f-max { width: 10; margin-right: 1; }
    FilterBar #f-score { width: auto; height: 1; }
    FilterBar #f-error { color: $error; height: auto; display: none; }
    FilterBar #f-error.-show { display: block; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label("pool")
            yield Select([("all pools", ALL)], value=ALL, allow_blank=False, compact=True, id="f-pool")
            yield Label("domain")
            yield Select(
                [("all", ALL)] + [(d, d) for d in DEFAULT_DOMAINS],
                value=ALL,
                allow_blank=False,
                compact=True,
                id="f-domain",
            )
            yield Label("tags")
            yield Input(placeholder="tag1, tag2", compact=True, id="f-tags")
            yield Label("text")
            yield Input(placeholder="search instruction / response / system", compact=True, id="f-text")
        with Horizontal():
            yield Label("where")
            yield Input(placeholder="e.g. n_tokens > 200 and domain = 'math'", compact=True, id="f-expr")
            with Horizontal(id="f-score"):
                yield Label("score")
                yield Select([], prompt="metric", compact=True, id="f-metric")
                yield Input(placeholder="min", compact=True, id="f-min")
                yield Input(placeholder="max", compact=True, id="f-max")
        yield Static("", id="f-error")


class DetailPane(VerticalScroll):
    """The sample under the cursor in full: the conversation with role headers (markdown and code
    rendered), the system prompt, tool declarations as JSON, tags, scores and the source file:line.
    Tab here and scroll with the arrow keys; enter on the table hides it."""

    HELP = __doc__
    DEFAULT_CSS = """
    DetailPane { width: 45%; border-left: vkey $panel-lighten-2; padding: 0 1; display: none; }
    DetailPane.-show { display: block; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="detail-body")


def _clip_note(text: str, sample_id: Any) -> Text | None:
    """The line under a text the pane cut (None when it shows all of it)."""
    if len(text) <= DETAIL_CHARS:
        return None
    return Text(
        f"… {len(text) - DETAIL_CHARS:,} more characters not shown ({len(text):,} in all); "
        f"`workbench show {sample_id}` prints all of it",
        style="dim italic",
    )


def render_sample(d: Any) -> RenderableType:
    """A readable view of an engine.data.query.SampleDetail; each text at most DETAIL_CHARS characters."""
    from rich.markdown import Markdown as RichMarkdown  # imported here: pulls markdown-it
    from rich.syntax import Syntax  # and pygments

    parts: list[RenderableType] = []

    def add(text: str, make) -> None:
        parts.append(make(text[:DETAIL_CHARS]))
        note = _clip_note(text, d.id)
        if note is not None:
            parts.append(note)

    def json_block(text: str) -> Any:
        return Syntax(text, "json", word_wrap=True, background_color="default")

    head = Text.assemble((f"#{d.id}", "bold"), "  pool ", (str(d.pool), "bold"), "  domain ", (str(d.domain), "bold"))
    if d.excluded:
        head.append("  EXCLUDED", style="bold red")
    parts.append(head)
    src = display_path(d.source_file) if d.source_file else "?"
    if d.source_line is not None:
        src += f":{d.source_line}"
    elif d.record_index is not None:
        src += f" record {d.record_index}"
    parts.append(Text.assemble(("source ", "dim"), src))
    parts.append(Text.assemble(("tags ", "dim"), ", ".join(d.tags) if d.tags else "—"))
    if d.scores:
        parts.append(
            Text.assemble(("scores ", "dim"), "  ".join(f"{k}={_fmt_score(v)}" for k, v in sorted(d.scores.items())))
        )
    if d.system:
        parts.append(Rule("system", style="magenta", align="left"))
        add(d.system, RichMarkdown)
    if d.tools:
        parts.append(Rule("tools", style="yellow", align="left"))
        add(json.dumps(d.tools, indent=2, ensure_ascii=False), json_block)
    for m in d.messages:
        role = m.get("role", "?")
        if role == "system" and d.system:
            continue
        title = role if not m.get("name") else f"{role} ({m['name']})"
        parts.append(
            Rule(title, style={"user": "cyan", "assistant": "green", "tool": "yellow"}.get(role, "white"), align="left")
        )
        content = m.get("content")
        if isinstance(content, (list, dict)):
            add(json.dumps(content, indent=2, ensure_ascii=False), json_block)
        elif content:
            add(str(content), RichMarkdown)
        if m.get("tool_calls"):
            add(json.dumps(m["tool_calls"], indent=2, ensure_ascii=False), json_block)
    if d.meta:
        parts.append(Rule("meta", style="dim", align="left"))
        add(json.dumps(d.meta, indent=2, ensure_ascii=False, default=str), json_block)
    return Group(*parts)


def display_path(path: str) -> str:
    """A path as short as it stays unambiguous: relative to the working folder, else to ~, else absolute."""
    p = Path(path)
    for base, prefix in ((Path.cwd(), ""), (Path.home(), "~/")):
        try:
            return prefix + str(p.relative_to(base))
        except ValueError:
            continue
    return str(p)


def _fmt_score(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _caret(expr: str, pos: int | None) -> str:
    if pos is None:
        return ""
    return f"\n  {expr}\n  {' ' * max(pos, 0)}^"


class BrowseScreen(WorkbenchScreen, mode="browse"):
    """The Browse area: every sample of a pool (or all pools) matching a filter, in a virtual table."""

    HELP = SampleTable.HELP

    def __init__(self) -> None:
        super().__init__()
        self.filter: Any = None  # engine.data.query.Filter last applied without error
        self.sort: list[tuple[str, bool]] = [("id", False)]
        self._row_id: int | None = None  # set while T / X / M act on the row under the cursor
        self.count = 0
        self.scope_count = 0
        self.metrics: list[str] = []
        self.pools: list[Any] = []
        self.columns: list[Col] = list(BASE_COLUMNS)
        self._pending_pool: int | None | str = ALL
        self._pending_show: tuple | None = None
        self._options_loaded = False
        self._text_timer: Timer | None = None
        self._detail_timer: Timer | None = None
        self._query_gen = 0
        self.querying = False

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield FilterBar(id="filter-bar")
        with Horizontal(id="browse-main"):
            yield SampleTable(self.columns, id="table")
            yield DetailPane(id="detail")
        yield Static("", id="browse-status")
        yield from self.compose_footer()

    @property
    def table(self) -> SampleTable:
        return self.query_one(SampleTable)

    def on_mount(self) -> None:
        self.query_one("#f-score").display = False
        self.table.focus()
        self._status()

    # -- loading --------------------------------------------------------------------------------------------
    def on_data_changed(self, what: str) -> None:
        if what == "error":
            return
        # After a bulk action ("samples") keep the cursor where it is; domains and counts may have changed.
        self.load_options(keep_cursor=what == "samples" and self._options_loaded)

    def load_options(self, keep_cursor: bool = False) -> None:
        """Pools, domains and score metrics for the filter bar (worker), then the query."""
        store = self.store
        if store is None:
            return

        def load():
            from engine.data.pools import list_pools
            from engine.data.query import Filter, domain_counts, score_metrics

            pools = list_pools(store)
            domains = domain_counts(store, Filter())
            return pools, domains, score_metrics(store)

        self.run_engine(load, lambda r: self._options(r, keep_cursor), group="options", exclusive=True)

    def _options(self, res: tuple, keep_cursor: bool = False) -> None:
        pools, domains, metrics = res
        self.pools = list(pools)
        self.metrics = list(metrics)
        with self.prevent(Select.Changed):
            psel = self.query_one("#f-pool", Select)
            current = psel.value if self._pending_pool is None else self._pending_pool
            psel.set_options([("all pools", ALL)] + [(p.name, p.id) for p in self.pools])
            psel.value = current if current in {ALL, *[p.id for p in self.pools]} else ALL
            dsel = self.query_one("#f-domain", Select)
            dcur = dsel.value
            names = list(dict.fromkeys(DEFAULT_DOMAINS + sorted(domains)))
            dsel.set_options([("all", ALL)] + [(f"{d} ({domains.get(d, 0):,})", d) for d in names])
            dsel.value = dcur if dcur in {ALL, *names} else ALL
            msel = self.query_one("#f-metric", Select)
            mcur = msel.value
            msel.set_options([(m, m) for m in self.metrics])
            if mcur in self.metrics:
                msel.value = mcur
        self.query_one("#f-score").display = bool(self.metrics)
        self.columns = list(BASE_COLUMNS) + [score_column(m) for m in self.metrics]
        self._pending_pool = None
        self._options_loaded = True
        if self._pending_show is not None:
            self.show(*self._pending_show)
            return
        self.run_query(keep_cursor=keep_cursor)

    def show_pool(self, pool_id: int | None) -> None:
        """Browse one pool (None: all pools); used by Pools' enter."""
        self.show(pool_id)

    def show(self, pool_id: int | None = None, domain: str | None = None, expression: str | None = None) -> None:
        """Browse this scope: a pool (None: all), a domain (None: all) and a filter expression; the other
        parts of the filter bar are cleared. Used by Pools' enter and the Scores screen's jumps."""
        if not self._options_loaded:
            self._pending_pool = ALL if pool_id is None else pool_id
            self._pending_show = (pool_id, domain, expression)
            return
        self._pending_show = None
        with self.prevent(Select.Changed, Input.Changed):
            self.query_one("#f-pool", Select).value = ALL if pool_id is None else pool_id
            self.query_one("#f-domain", Select).value = ALL if domain is None else domain
            for wid in ("#f-tags", "#f-text", "#f-min", "#f-max"):
                self.query_one(wid, Input).value = ""
            self.query_one("#f-expr", Input).value = expression or ""
        self.run_query()
        self.table.focus()

    # -- filter ---------------------------------------------------------------------------------------------
    def _filter_from_bar(self) -> Any:
        """An engine.data.query.Filter from the bar; raises ValueError for a malformed score bound."""
        from engine.data.query import Filter

        pool = self.query_one("#f-pool", Select).value
        domain = self.query_one("#f-domain", Select).value
        tags = [t.strip() for t in self.query_one("#f-tags", Input).value.split(",") if t.strip()]
        text = self.query_one("#f-text", Input).value.strip()
        expr = self.query_one("#f-expr", Input).value.strip()
        ranges: dict[str, tuple[float | None, float | None]] = {}
        metric = self.query_one("#f-metric", Select).value
        if self.metrics and metric not in (Select.NULL, None):
            lo_s = self.query_one("#f-min", Input).value.strip()
            hi_s = self.query_one("#f-max", Input).value.strip()
            try:
                lo = float(lo_s) if lo_s else None
                hi = float(hi_s) if hi_s else None
            except ValueError:
                raise ValueError(f"score bounds must be numbers (min {lo_s!r}, max {hi_s!r})") from None
            if lo is not None or hi is not None:
                ranges[str(metric)] = (lo, hi)
        return Filter(
            pool_ids=None if pool in (ALL, Select.NULL) else [int(pool)],
            domains=None if domain in (ALL, Select.NULL) else [str(domain)],
            tags=tags or None,
            text=text or None,
            score_ranges=ranges,
            expression=expr or None,
        )

    def run_query(self, keep_cursor: bool = False) -> bool:
        """Count the filter's matches and hand the table a fresh Browser (all in a worker).

        False when the filter bar cannot even be read (a bound that is not a number): shown inline.
        """
        store = self.store
        if store is None or not self._options_loaded:
            return False
        try:
            f = self._filter_from_bar()
        except ValueError as e:
            self._show_error(str(e))
            self._status()
            return False
        sort = list(self.sort)
        self._query_gen += 1
        gen = self._query_gen
        self.querying = True
        self._status()

        def run():
            from engine.data.query import Browser, Filter

            browser = Browser(store, f, sort)
            n = browser.count()
            scope = Browser(store, Filter(pool_ids=f.pool_ids)).count() if _narrowed(f) else n
            return browser, n, scope

        self.run_engine(
            run,
            lambda r: self._query_done(gen, f, r, keep_cursor),
            lambda e: self._query_failed(gen, f, e),
            group="query",
            exclusive=True,
        )
        return True

    def _query_done(self, gen: int, f: Any, res: tuple, keep_cursor: bool) -> None:
        if gen != self._query_gen:
            return
        browser, n, scope = res
        self.querying = False
        self.filter = f
        # the scope every job started elsewhere defaults to (screens.scope_dialog)
        self.app.current_filter = f  # type: ignore[attr-defined]
        self.count, self.scope_count = n, scope
        self._show_error("")
        t = self.table
        key, desc = self.sort[0]
        cols = decision_columns(self.columns, key, getattr(f, "score_ranges", None))
        t.set_source(browser, n, cols, keep_cursor=keep_cursor)
        t.set_sort(key, desc)
        self._status()

    def _query_failed(self, gen: int, f: Any, error: BaseException) -> None:
        if gen != self._query_gen:
            return
        self.querying = False
        pos = getattr(error, "position", None)
        if isinstance(error, FilterError):
            self._show_error(f"filter error: {error}" + _caret(f.expression or "", pos))
        else:
            self._show_error(f"{type(error).__name__}: {error}")
        self._status()

    def _show_error(self, text: str) -> None:
        err = self.query_one("#f-error", Static)
        err.update(Text(text))
        err.set_class(bool(text), "-show")
        self.filter_error = text

    filter_error = ""

    @on(Input.Submitted, "FilterBar Input")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._text_timer is not None:
            self._text_timer.stop()
        # Back to the table after a text/tags/score search; an expression keeps the focus to be refined.
        if self.run_query() and event.input.id != "f-expr":
            self.table.focus()

    @on(Input.Changed, "#f-text, #f-tags")
    def _text_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._text_timer is not None:
            self._text_timer.stop()
        self._text_timer = self.set_timer(0.4, self.run_query)

    @on(Select.Changed, "FilterBar Select")
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.id == "f-metric" and not (
            self.query_one("#f-min", Input).value or self.query_one("#f-max", Input).value
        ):
            return
        self.run_query()

    def action_focus_filter(self) -> None:
        self.query_one("#f-text", Input).focus()

    def action_focus_table(self) -> None:
        self.table.focus()

    def action_clear_filter(self) -> None:
        with self.prevent(Select.Changed, Input.Changed):
            self.query_one("#f-pool", Select).value = ALL
            self.query_one("#f-domain", Select).value = ALL
            for i in ("#f-tags", "#f-text", "#f-expr", "#f-min", "#f-max"):
                self.query_one(i, Input).value = ""
        self.run_query()

    def action_refresh(self) -> None:
        self.load_options()

    # -- sort ----------------------------------------------------------------------------------------------
    def _sort_to(self, key: str, desc: bool | None = None) -> None:
        cur_key, cur_desc = self.sort[0]
        self.sort = [(key, cur_desc if desc is None and key == cur_key else bool(desc))]
        self.run_query()

    def action_pick_sort(self) -> None:
        cur = self.sort[0][0]

        def done(key: str | None) -> None:
            if key:
                self._sort_to(key, False if key != cur else None)

        choices = [(c.key, c.title) for c in self.columns if c.sortable]
        self.app.push_screen(ChoiceDialog("Sort by", choices, cur), done)

    def action_cycle_sort(self, step: int) -> None:
        keys = [c.key for c in self.columns if c.sortable]
        cur = self.sort[0][0]
        i = keys.index(cur) if cur in keys else 0
        self._sort_to(keys[(i + step) % len(keys)], False)

    def action_toggle_sort_desc(self) -> None:
        key, desc = self.sort[0]
        self.sort = [(key, not desc)]
        self.run_query()

    # -- detail ---------------------------------------------------------------------------------------------
    @on(SampleTable.DetailToggled)
    def _toggle_detail(self, event: SampleTable.DetailToggled) -> None:
        event.stop()
        pane = self.query_one(DetailPane)
        pane.toggle_class("-show")
        if pane.has_class("-show"):
            self._load_detail()

    @on(SampleTable.CursorMoved)
    def _cursor_moved(self, event: SampleTable.CursorMoved) -> None:
        event.stop()
        self._status()
        if self.query_one(DetailPane).has_class("-show"):
            if self._detail_timer is not None:
                self._detail_timer.stop()
            self._detail_timer = self.set_timer(0.08, self._load_detail)

    def _load_detail(self) -> None:
        row = self.table.cursor_row
        body = self.query_one("#detail-body", Static)
        if row is None:
            body.update(Text("…" if self.count else "no sample", style="dim"))
            return
        sid = row["id"]
        store = self.store

        def run():
            from engine.data.query import get_sample

            return get_sample(store, sid)

        def done(d: Any) -> None:
            cur = self.table.cursor_row
            if cur is None or cur.get("id") != sid:
                return
            body.update(render_sample(d))
            self.query_one(DetailPane).scroll_home(animate=False)

        self.run_engine(run, done, group="detail", exclusive=True)

    # -- bulk actions ----------------------------------------------------------------------------------------
    def _need_filter(self) -> bool:
        if self.filter is None or self.querying:
            self.notify("Wait for the query to finish.", severity="warning")
            return False
        if self.filter_error:
            self.notify("Fix the filter first (or clear it with c).", severity="warning")
            return False
        if self.count == 0:
            self.notify("No sample matches the filter.", severity="warning")
            return False
        return True

    def _scope_text(self) -> str:
        return f"{self.count:,} sample{'s' if self.count != 1 else ''} matching the current filter"

    def _target(self) -> tuple[Any, int, str]:
        """(filter, count, words) a bulk action works on: the row under the cursor for T / X / M, else the
        whole filter."""
        rid = self._row_id
        if rid is not None:
            from engine.data.query import Filter

            return Filter(expression=f"id = {int(rid)}"), 1, f"sample {rid} (the row under the cursor)"
        return self.filter, self.count, f"all {self._scope_text()}"

    def _on_row(self, action) -> None:
        """Run a bulk action on the sample under the cursor only."""
        row = self.table.cursor_row if self.count else None
        if row is None or self.filter_error:
            self.notify("No sample under the cursor.", severity="warning")
            return
        self._row_id = row["id"]
        try:
            action()
        finally:
            self._row_id = None

    def action_row_tag(self) -> None:
        self._on_row(self.action_bulk_tag)

    def action_row_exclude(self) -> None:
        self._on_row(self.action_bulk_exclude)

    def action_row_domain(self) -> None:
        self._on_row(self.action_bulk_domain)

    def action_undo(self) -> None:
        """u: undo the last bulk action (tag, exclude, set domain), after saying what it was."""
        store = self.store

        def ask(what: str | None) -> None:
            if what is None:
                self.notify("Nothing to undo: no tag, exclude or domain change since the last undo.")
                return

            def done(ok) -> None:
                if not ok:
                    return
                from engine.data.query import undo_last_bulk

                def finished(text: str) -> None:
                    self.notify(f"Undone: {text}", title="Undo")
                    self.app.data_changed("samples")  # type: ignore[attr-defined]

                self.run_engine(lambda: undo_last_bulk(store), finished, group="bulk")

            self.app.push_screen(ConfirmDialog("Undo?", f"The last bulk action {what}.", "Undo"), done)

        from engine.data.query import last_bulk

        self.run_engine(lambda: last_bulk(store), ask, group="bulk")

    def _bulk(self, fn, verb: str, f=None) -> None:
        f, store = f if f is not None else self.filter, self.store

        def done(n: int) -> None:
            self.notify(f"{verb}: {n:,} sample{'s' if n != 1 else ''}", title="Done")
            self.app.data_changed("samples")  # type: ignore[attr-defined]

        self.run_engine(lambda: fn(store, f), done, group="bulk")

    def action_bulk_tag(self) -> None:
        if self._row_id is None and not self._need_filter():
            return
        target, n, words = self._target()

        def done(tag: str | None) -> None:
            if not tag:
                return
            from engine.data.query import bulk_tag

            remove = tag.startswith("-")
            name = tag[1:].strip() if remove else tag
            self._bulk(
                lambda s, f: bulk_tag(s, f, name, remove=remove),
                f"{'Removed tag' if remove else 'Tagged'} '{name}'",
                target,
            )

        self.app.push_screen(
            InputDialog(
                "Tag samples",
                "Tag (start with - to remove it):",
                placeholder="e.g. keep, needs-review",
                note=f"Applies to {words} (u undoes it).",
                ok="Apply",
            ),
            done,
        )

    def action_export(self) -> None:
        """o: export the samples matching the filter (the CLI's `workbench export`)."""
        if not self._need_filter():
            return
        from screens.export_dialog import ExportDialog

        f, store = self.filter, self.store

        def chosen(v: dict | None) -> None:
            if not v:
                return

            def run():
                from engine.data.export import export

                return export(
                    store,
                    v["path"],
                    filter=f,
                    style=v["style"],
                    dataset_info=v["dataset_info"],
                    ranking=v["ranking"],
                )

            def done(r) -> None:
                info = f" and its entry in {r.dataset_info_path}" if r.dataset_info_path else ""
                skip = (
                    f"; {r.n_without_reply:,} without a reply (LLaMA-Factory's SFT loader skips them)"
                    if r.n_without_reply and r.dataset_info_path
                    else ""
                )
                self.notify(f"exported {r.n:,} samples to {r.path}{info}{skip}", title="Export", timeout=10)

            def failed(error: BaseException) -> None:
                self.notify(str(error), title="Export failed", severity="error", timeout=15)

            self.notify(f"exporting {self.count:,} samples to {v['path']}…", title="Export")
            self.run_engine(run, done, failed, group="export")

        self.app.push_screen(ExportDialog(self._scope_text().capitalize(), "out/export.jsonl"), chosen)

    def action_bulk_exclude(self) -> None:
        if self._row_id is None and not self._need_filter():
            return
        target, n, words = self._target()

        def done(choice) -> None:
            if choice is None:
                return
            from engine.data.query import bulk_exclude

            excluded = choice is True
            self._bulk(lambda s, f: bulk_exclude(s, f, excluded), "Excluded" if excluded else "Included", target)

        self.app.push_screen(
            ConfirmDialog(
                "Exclude or include?",
                f"Mark {words} as excluded (kept in the store, left out of exports and "
                "mixtures), or include them again. u undoes it.",
                f"Exclude {n:,}",
                extra=(f"Include {n:,}", "include"),
            ),
            done,
        )

    def action_bulk_domain(self) -> None:
        if self._row_id is None and not self._need_filter():
            return
        target, n, words = self._target()

        def done(domain: str | None) -> None:
            if not domain:
                return
            from engine.data.query import bulk_set_domain

            self._bulk(lambda s, f: bulk_set_domain(s, f, domain), f"Domain set to {domain}", target)

        self.app.push_screen(
            InputDialog(
                "Set domain",
                "Domain:",
                choices=DEFAULT_DOMAINS,
                placeholder="custom domain",
                note=f"Applies to {words} (recorded as a manual domain; u undoes it).",
                ok="Set domain",
            ),
            done,
        )

    # -- status ---------------------------------------------------------------------------------------------
    def _status(self) -> None:
        t = self.table
        pool = self.query_one("#f-pool", Select).value
        pool_name = "all pools"
        if pool not in (ALL, Select.NULL):
            pool_name = next((f"pool {p.name}" for p in self.pools if p.id == pool), "pool ?")
        if self.store is None:
            text = "opening the store…"
        elif self.count:
            text = f"row {t.cursor + 1:,} · {self.count:,} of {self.scope_count:,} samples · {pool_name}"
        else:
            text = f"0 of {self.scope_count:,} samples · {pool_name}"
        key, desc = self.sort[0]
        text += f" · sort {key} {'▼' if desc else '▲'}"
        if self.querying:
            text += " · querying…"
        if self.filter_error:
            text += " · the filter has an error: showing the last valid one"
        self.query_one("#browse-status", Static).update(text)

    def palette_commands(self):
        """Context commands: sort by any column, browse a pool."""
        for c in self.columns:
            if not c.sortable:
                continue
            yield (f"Sort by {c.title}", f"sort the table by {c.key}", lambda k=c.key: self._sort_to(k, False))
        yield ("Browse all pools", "show every pool", lambda: self.show_pool(None))
        for p in self.pools:
            yield (f"Browse pool {p.name}", f"{p.n_samples:,} samples", lambda p=p: self.show_pool(p.id))


def _narrowed(f: Any) -> bool:
    return bool(f.domains or f.tags or f.text or f.expression or f.score_ranges)
