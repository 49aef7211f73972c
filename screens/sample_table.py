"""A virtual table over a query: renders only the visible rows (Line API), pages them in from DuckDB.

The table never holds the result set: its virtual height is the query's count, rows come in pages of
`PAGE_SIZE` fetched by thread workers (`source.page(offset, limit)`, e.g. `engine.data.query.Browser`) into an
LRU page cache. A row whose page is not loaded yet renders as a dim "…" placeholder until it arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from screens.widgets import EngineCaller
from workbench.actions import bindings_for

PAGE_SIZE = 200
CACHE_PAGES = 64  # 12,800 rows at most in memory


class RowSource(Protocol):
    def page(self, offset: int, limit: int) -> list[dict]: ...


@dataclass(frozen=True)
class Col:
    """A display column: row key, header title, width in cells (flex columns share the rest)."""

    key: str
    title: str
    width: int = 8
    flex: int = 0  # > 0: share of the remaining width
    align: str = "left"  # "left" | "right"
    sortable: bool = True
    priority: int = 5  # when the table is too narrow, columns with the lowest priority are hidden first
    fmt: Callable[[Any], str] | None = None


def _fmt_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "✗" if v else ""
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v)
    return " ".join(str(v).split())


class SampleTable(EngineCaller, ScrollView, can_focus=True):
    """The sample table: one line per sample of the current filter, in the current sort order.

    Only the rows on screen are rendered and only the pages they fall in are read from the store, so a
    pool of millions scrolls as fast as one of ten.
    """

    CONTEXT = "table"
    BINDINGS = bindings_for("table")
    ALLOW_SELECT = False
    HELP = """
    ### Sample table
    One line per sample matching the filter, paged from the store (only what is on screen is read).

    - **j / k / ↑ / ↓** move, **g / G / home / end** first / last row
    - **ctrl+d / ctrl+u / pgdn / pgup** page down / up
    - **enter** show or hide the detail pane (the whole conversation, tags, scores, source)
    - **/** filter, **s** pick the sort column, **[ ]** previous / next sort column, **S** flip the order
    - **t** tag, **x** exclude / include, **m** set domain: on *every* sample matching the filter

    A "…" row is a page still loading. `excl` marks excluded samples (kept, but left out of exports).
    """

    COMPONENT_CLASSES = {
        "sample-table--header",
        "sample-table--cursor",
        "sample-table--placeholder",
        "sample-table--excluded",
    }
    DEFAULT_CSS = """
    SampleTable {
        height: 1fr;
        overflow-x: auto;
        overflow-y: scroll;
        background: $surface;
        & > .sample-table--header { text-style: bold; background: $panel; color: $text; }
        & > .sample-table--cursor { background: $block-cursor-blurred-background; }
        &:focus > .sample-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
        & > .sample-table--placeholder { color: $text-disabled; }
        & > .sample-table--excluded { color: $text-muted; text-style: strike; }
    }
    """

    cursor = reactive(0, always_update=False, repaint=False)

    class CursorMoved(Message):
        """The cursor moved to `index` (row dict when its page is loaded, else None)."""

        def __init__(self, table: "SampleTable", index: int, row: dict | None) -> None:
            super().__init__()
            self.table = table
            self.index = index
            self.row = row

        @property
        def control(self) -> "SampleTable":
            return self.table

    class DetailToggled(Message):
        """Enter pressed on the table."""

    class PageLoaded(Message, bubble=False):
        def __init__(self, gen: int, page: int, rows: list[dict] | None, error: str | None = None) -> None:
            super().__init__()
            self.gen = gen
            self.page = page
            self.rows = rows
            self.error = error

    def __init__(self, columns: Sequence[Col] = (), *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns: list[Col] = list(columns)
        self.source: RowSource | None = None
        self.count = 0
        self.sort_key: str | None = None
        self.sort_desc = False
        self._gen = 0
        self._pages: LRUCache[int, list[dict]] = LRUCache(CACHE_PAGES)
        self._loading: set[int] = set()
        self._wanted: set[int] = set()
        self._widths: list[int] = []
        self._visible: list[Col] = list(columns)
        self._layout_width = -1
        self.pages_loaded = 0  # total pages fetched (tests, status)
        self.load_error: str | None = None

    # -- data ---------------------------------------------------------------------------------------------
    def set_source(
        self, source: RowSource | None, count: int, columns: Sequence[Col] | None = None, *, keep_cursor: bool = False
    ) -> None:
        """Show a new query result: `count` rows read through `source.page()`."""
        self._gen += 1
        self.source = source
        self.count = max(int(count), 0)
        self._pages.clear()
        self._loading.clear()
        self._wanted.clear()
        self.load_error = None
        if columns is not None:
            self.columns = list(columns)
            self._layout_width = -1
        self._update_virtual_size()
        if keep_cursor:
            self.cursor = min(self.cursor, max(self.count - 1, 0))
        else:
            self.cursor = 0
            self.scroll_to(0, 0, animate=False, immediate=True)
        self._post_cursor()
        self.refresh()

    def set_sort(self, key: str | None, desc: bool) -> None:
        self.sort_key = key
        self.sort_desc = desc
        self.refresh()

    def row_at(self, index: int) -> dict | None:
        """The row at `index` when its page is in the cache (no fetch)."""
        if not (0 <= index < self.count):
            return None
        rows = self._pages.get(index // PAGE_SIZE)
        if rows is None:
            return None
        i = index % PAGE_SIZE
        return rows[i] if i < len(rows) else None

    @property
    def cursor_row(self) -> dict | None:
        return self.row_at(self.cursor)

    def _request(self, page: int) -> None:
        if self.source is None or page in self._loading or self._pages.get(page) is not None:
            return
        if page * PAGE_SIZE >= self.count:
            return
        self._loading.add(page)
        gen, source = self._gen, self.source

        def fetch() -> None:
            try:
                rows = source.page(page * PAGE_SIZE, PAGE_SIZE)
            except Exception as e:  # noqa: BLE001 - shown in the table's status, never crashes the UI
                self.post_message(self.PageLoaded(gen, page, None, f"{type(e).__name__}: {e}"))
                return
            self.post_message(self.PageLoaded(gen, page, list(rows)))

        self.run_worker(fetch, thread=True, group="pages", exit_on_error=False, description=f"page {page}")

    def on_sample_table_page_loaded(self, message: PageLoaded) -> None:
        message.stop()
        if message.gen != self._gen:
            return
        self._loading.discard(message.page)
        if message.rows is None:
            self.load_error = message.error
            self.notify(message.error or "page failed", title="Cannot read rows", severity="error")
            return
        self._pages[message.page] = message.rows
        self.pages_loaded += 1
        self.refresh()
        if message.page == self.cursor // PAGE_SIZE:
            self._post_cursor()

    def _flush_wanted(self) -> None:
        wanted, self._wanted = self._wanted, set()
        for page in sorted(wanted):
            self._request(page)

    def pages_in_view(self) -> list[int]:
        first = int(self.scroll_y)
        last = min(first + max(self.size.height - 1, 1), self.count) - 1
        if last < first:
            return []
        return list(range(first // PAGE_SIZE, last // PAGE_SIZE + 1))

    def all_visible_loaded(self) -> bool:
        return all(self._pages.get(p) is not None for p in self.pages_in_view())

    # -- layout ---------------------------------------------------------------------------------------------
    def _compute_widths(self) -> None:
        width = self.scrollable_content_region.width or self.size.width
        if width == self._layout_width and len(self._widths) == len(self._visible):
            return
        self._layout_width = width

        def need(cols: list[Col]) -> int:
            return sum(c.width for c in cols) + max(len(cols) - 1, 0)

        # Narrow table (small terminal, detail pane open): hide the least important columns first; what
        # still does not fit scrolls horizontally.
        visible = list(self.columns)
        for c in sorted(self.columns, key=lambda c: c.priority):
            if need(visible) <= width or len(visible) <= 3:
                break
            if not c.flex:
                visible.remove(c)
        self._visible = visible
        gaps = max(len(visible) - 1, 0)
        fixed = sum(c.width for c in visible if not c.flex) + gaps
        flex_total = sum(c.flex for c in visible)
        rest = max(width - fixed, 0)
        widths = []
        for c in visible:
            if c.flex:
                widths.append(max(c.width, rest * c.flex // flex_total if flex_total else c.width))
            else:
                widths.append(c.width)
        # Give rounding leftovers to the first flex column.
        used = sum(widths) + gaps
        if used < width and flex_total:
            i = next(i for i, c in enumerate(visible) if c.flex)
            widths[i] += width - used
        self._widths = widths

    @property
    def visible_columns(self) -> list[Col]:
        self._compute_widths()
        return list(self._visible)

    def _update_virtual_size(self) -> None:
        self._compute_widths()
        total = sum(self._widths) + max(len(self._widths) - 1, 0)
        self.virtual_size = Size(total, self.count + 1)  # +1: the header line

    def on_resize(self, event: events.Resize) -> None:
        self._layout_width = -1
        self._update_virtual_size()
        self._keep_cursor_visible()

    # -- rendering --------------------------------------------------------------------------------------
    def _cells(self, values: Sequence[str], style: Style, aligns: Sequence[str]) -> list[Segment]:
        segs: list[Segment] = []
        for i, (text, w) in enumerate(zip(values, self._widths)):
            if i:
                segs.append(Segment(" ", style))
            if cell_len(text) > w:
                text = set_cell_size(text, max(w - 1, 0)) + ("…" if w else "")
            elif aligns[i] == "right":
                text = " " * (w - cell_len(text)) + text
            else:
                text = set_cell_size(text, w)
            segs.append(Segment(text, style))
        return segs

    def render_line(self, y: int) -> Strip:
        self._compute_widths()
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        aligns = [c.align for c in self._visible]
        if y == 0:
            titles = []
            for c in self._visible:
                t = c.title
                if self.sort_key == c.key:
                    t = f"{t} {'▼' if self.sort_desc else '▲'}"
                titles.append(t)
            style = base + self.get_component_rich_style("sample-table--header")
            strip = Strip(self._cells(titles, style, aligns))
            return strip.crop_extend(scroll_x, scroll_x + width, style)
        index = scroll_y + y - 1
        if index >= self.count:
            return Strip.blank(width, base)
        page = index // PAGE_SIZE
        rows = self._pages.get(page)
        if rows is None:
            if page not in self._loading and page not in self._wanted:
                if not self._wanted:
                    self.call_later(self._flush_wanted)
                self._wanted.add(page)
            style = base + self.get_component_rich_style("sample-table--placeholder")
            if index == self.cursor:
                style += self.get_component_rich_style("sample-table--cursor")
            return Strip([Segment("…", style)]).crop_extend(0, width, style)
        i = index % PAGE_SIZE
        row = rows[i] if i < len(rows) else {}
        style = base
        if row.get("excluded"):
            style += self.get_component_rich_style("sample-table--excluded")
        if index == self.cursor:
            style += self.get_component_rich_style("sample-table--cursor")
        values = [(c.fmt or _fmt_value)(row.get(c.key)) for c in self._visible]
        strip = Strip(self._cells(values, style, aligns))
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    # -- cursor -------------------------------------------------------------------------------------------
    @property
    def body_height(self) -> int:
        return max(self.scrollable_content_region.height - 1, 1)

    def watch_cursor(self, old: int, new: int) -> None:
        before = int(self.scroll_y)
        self._keep_cursor_visible()
        if int(self.scroll_y) == before:
            self._refresh_row(old)  # only the two lines that change
            self._refresh_row(new)
        else:
            self.refresh()
        self._post_cursor()

    def _refresh_row(self, index: int) -> None:
        y = index - int(self.scroll_y) + 1
        if 1 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def _post_cursor(self) -> None:
        self.post_message(self.CursorMoved(self, self.cursor, self.cursor_row))
        # Prefetch the next page when the cursor nears the end of its page.
        if self.count and self.cursor % PAGE_SIZE > PAGE_SIZE - 40:
            self._request(self.cursor // PAGE_SIZE + 1)

    def _keep_cursor_visible(self) -> None:
        top = int(self.scroll_y)
        h = self.body_height
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + h:
            self.scroll_to(y=self.cursor - h + 1, animate=False, immediate=True)

    def move_to(self, index: int) -> None:
        self.cursor = max(0, min(index, self.count - 1)) if self.count else 0

    def action_cursor_down(self) -> None:
        self.move_to(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self.move_to(self.cursor - 1)

    def action_cursor_top(self) -> None:
        self.move_to(0)

    def action_cursor_bottom(self) -> None:
        self.move_to(self.count - 1)

    def action_page_down(self) -> None:
        self.move_to(self.cursor + self.body_height)

    def action_page_up(self) -> None:
        self.move_to(self.cursor - self.body_height)

    def action_toggle_detail(self) -> None:
        self.post_message(self.DetailToggled())

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self.move_to(int(self.scroll_y) + event.y - 1)
            if event.chain >= 2:
                self.post_message(self.DetailToggled())
