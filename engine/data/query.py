"""Browse: filtered, sorted, paged views over the samples, sample detail and bulk actions.

Paging strategy (measured on 1M synthetic samples, 2 cores; see the Browser docstring): a Browser builds,
once per (filter, sort), the ordered array of matching sample ids with one `SELECT s.id ... ORDER BY ...`
query fetched as numpy, and every page is then a slice of that array plus one fetch of the display
columns for exactly those ids (`s.id BETWEEN lo AND hi AND s.id = ANY(?)`, so zone maps prune when the
ids are clustered). The count is the array's length. Plain `LIMIT/OFFSET` over the display columns took
0.4-3.8 s per page at 1M rows (DuckDB materialises the long text before the top-N), and an ids-only
`ORDER BY ... LIMIT/OFFSET` still cost 40 ms (n_tokens) to 200 ms (score) to 500 ms (text search) per
page because the filter and sort run again each time; the cached array costs that once (20 ms by id,
50 ms by n_tokens, 200 ms by a score, 500 ms by instruction, CPU time), then a page takes 10-25 ms CPU
whatever the offset (more when a sort scatters the page's ids over the table). A Python-side array rather than a TEMP table because temp tables belong to
one DuckDB connection, and the app calls the Browser from worker threads that each use their own cursor.

The first TOP_ROWS rows of a view come from a top-N query instead (`ORDER BY ... LIMIT`, 13 ms at 1M rows for a
new sort against 270 ms to order every id); a page past them builds the whole array. A text search or an
expression builds the array in `count()` instead, whatever the sort: that scan is the cost, and its result serves
the count and every page. Text search is a scan of instruction, response and system (`contains(lower(...))`, the
semantics the filter language documents); no index: the ones that would answer a common word in well under a
scan (postings per word, n-grams) cost more to build at import than the import itself on a 2-core machine (see
docs/benchmarks.md).

Score values shown and sorted on are the latest per (sample, metric): the most recently written row
across models, i.e. `ifd` means the ifd of the most recent scoring run (see engine.data.filters.SCORE_VALUE_SQL).
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.core.errors import InputError
from engine.core.names import check_name
from engine.data.filters import SCORE_VALUE_SQL, compile_expression

if TYPE_CHECKING:
    from engine.core.store import Store

TEXT_WIDTH = 160  # characters of instruction/response kept in page rows (newlines become spaces)
TOP_ROWS = 2000  # rows of a view served by a top-N query until a page beyond them needs every id in order


@dataclass
class Filter:
    """What Browse shows. Every set part must hold (AND); a list means "any of" (an empty list matches
    nothing, None means no constraint); score ranges are inclusive, a None bound is open, and a sample
    without a value for the metric fails a range."""

    pool_ids: list[int] | None = None
    domains: list[str] | None = None
    tags: list[str] | None = None  # has any of these tags
    text: str | None = None  # case-insensitive substring of instruction, response or system
    score_ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)  # inclusive
    expression: str | None = None  # the filter language of engine.data.filters
    include_excluded: bool = True


@dataclass(frozen=True)
class ColumnSpec:
    """A Browse table column: `key` in page rows, a title, kind ("int", "text", "bool", "tags", "float")."""

    key: str
    title: str
    kind: str
    width: int
    sortable: bool = True


COLUMNS: list[ColumnSpec] = [
    ColumnSpec("id", "id", "int", 8),
    ColumnSpec("pool", "pool", "text", 12),
    ColumnSpec("domain", "domain", "text", 9),
    ColumnSpec("instruction", "instruction", "text", 48),
    ColumnSpec("response", "response", "text", 40),
    ColumnSpec("n_chars", "chars", "int", 7),
    ColumnSpec("n_tokens", "tokens", "int", 7),
    ColumnSpec("n_turns", "turns", "int", 5),
    ColumnSpec("tags", "tags", "tags", 16, sortable=False),
    ColumnSpec("excluded", "excl", "bool", 4),
    ColumnSpec("source", "source", "text", 18),
]

_SORT_SQL: dict[str, list[str]] = {
    "id": ["s.id"],
    "pool": ["(SELECT p.name FROM pools p WHERE p.id = s.pool_id)"],
    "domain": ["s.domain"],
    "instruction": ["s.instruction"],
    "response": ["s.response"],
    "n_chars": ["s.n_chars"],
    "n_tokens": ["s.n_tokens"],
    "n_turns": ["s.n_turns"],
    "excluded": ["s.excluded"],
    "source": ["s.source_file", "s.source_line", "s.record_index"],
}


def _clean(text: str) -> str:
    return f"translate(left({text}, {TEXT_WIDTH}), chr(10) || chr(13) || chr(9), '   ')"


_PAGE_SELECT = f"""SELECT s.id, p.name AS pool, s.domain, {_clean("s.instruction")} AS instruction,
    {_clean("s.response")} AS response, s.n_chars, s.n_tokens, s.n_turns, s.excluded,
    CASE WHEN s.source_file IS NULL THEN NULL
         WHEN s.source_line IS NOT NULL THEN regexp_extract(s.source_file, '[^/\\\\]*$') || ':' || s.source_line
         ELSE regexp_extract(s.source_file, '[^/\\\\]*$') || '#' || coalesce(s.record_index::VARCHAR, '?')
    END AS source
FROM samples s LEFT JOIN pools p ON p.id = s.pool_id
WHERE s.id BETWEEN ? AND ? AND s.id = ANY(?)"""


# -- where -------------------------------------------------------------------------------------------


def score_metrics(store: Store) -> list[str]:
    """Names of the metrics that have at least one score row, sorted."""
    con = store.cursor()
    try:
        return [r[0] for r in con.execute("SELECT DISTINCT metric FROM scores ORDER BY metric").fetchall()]
    finally:
        con.close()


def clustering_names(store: Store) -> list[str]:
    """Names of the saved clusterings (for `cluster.NAME` and `map.NAME.x|y` in filter expressions)."""
    con = store.cursor()
    try:
        return [r[0] for r in con.execute("SELECT name FROM clusterings ORDER BY id").fetchall()]
    finally:
        con.close()


def selection_names(store: Store) -> list[str]:
    """Names of the saved selections (for `selection.NAME` in filter expressions)."""
    con = store.cursor()
    try:
        return [r[0] for r in con.execute("SELECT name FROM selections ORDER BY id").fetchall()]
    finally:
        con.close()


def columns(store: Store, metrics: list[str] | None = None) -> list[ColumnSpec]:
    """COLUMNS plus one `score.NAME` column per metric with scores."""
    metrics = score_metrics(store) if metrics is None else metrics
    return COLUMNS + [ColumnSpec(f"score.{m}", m, "float", 8) for m in metrics]


def _text_sql(text: str) -> tuple[str, list]:
    parts = [f"contains(lower({c}), lower(?))" for c in ("s.instruction", "s.response", "s.system")]
    return "(" + " OR ".join(parts) + ")", [text] * 3


def _check_range(metric: str, lo, hi) -> None:
    """A score range's bounds are finite numbers with min <= max (InputError): NaN compares true against
    everything in DuckDB, and min > max would quietly match nothing."""
    for what, b in (("minimum", lo), ("maximum", hi)):
        if b is None:
            continue
        try:
            ok = math.isfinite(float(b))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise InputError(
                f"score range {metric}: {what} {b!r} is not a finite number; leave a bound empty for an open range"
            )
    if lo is not None and hi is not None and float(lo) > float(hi):
        raise InputError(f"score range {metric}: minimum {lo} is above maximum {hi}; nothing could match")


def where_sql(store: Store, f: Filter, *, metrics: list[str] | None = None) -> tuple[str, list]:
    """SQL condition over alias `s` (samples) for a Filter, with `?` params. Raises FilterError."""
    f = f or Filter()
    parts: list[str] = []
    params: list = []
    for values, cast, sql in (
        (f.pool_ids, int, "s.pool_id IN ({})"),
        (f.domains, str, "s.domain IN ({})"),
        (f.tags, str, "EXISTS (SELECT 1 FROM sample_tags ft WHERE ft.sample_id = s.id AND ft.tag IN ({}))"),
    ):
        if values is None:
            continue
        if not values:
            parts.append("FALSE")
        else:
            parts.append(sql.format(", ".join("?" * len(values))))
            params += [cast(x) for x in values]
    if f.text:
        sql, p = _text_sql(f.text)
        parts.append(sql)
        params += p
    if f.score_ranges:
        known = score_metrics(store) if metrics is None else metrics
        for metric in f.score_ranges:
            if metric not in known:
                have = f"metrics with scores: {', '.join(known)}" if known else "nothing is scored yet"
                raise InputError(f"score range: no metric {metric!r}; {have}")
    for metric, (lo, hi) in (f.score_ranges or {}).items():
        _check_range(metric, lo, hi)
        if lo is None and hi is None:
            continue
        if lo is not None and hi is not None:
            parts.append(f"{SCORE_VALUE_SQL} BETWEEN ? AND ?")
            params += [metric, float(lo), float(hi)]
        elif lo is not None:
            parts.append(f"{SCORE_VALUE_SQL} >= ?")
            params += [metric, float(lo)]
        else:
            parts.append(f"{SCORE_VALUE_SQL} <= ?")
            params += [metric, float(hi)]
    if f.expression and f.expression.strip():
        sql, p = compile_expression(
            f.expression,
            score_metrics=score_metrics(store) if metrics is None else metrics,
            clusterings=clustering_names(store)
            if ("cluster" in f.expression.lower() or "map" in f.expression.lower())
            else (),
            selections=selection_names(store) if "selection" in f.expression.lower() else (),
        )
        parts.append(sql)
        params += p
    if not f.include_excluded:
        parts.append("NOT s.excluded")
    if not parts:
        return "TRUE", []
    return " AND ".join(f"({p})" for p in parts), params


# -- browse ------------------------------------------------------------------------------------------


def sortable_keys(metrics: list[str]) -> list[str]:
    """The keys a Browser sorts by: the sortable COLUMNS and `score.NAME` of each metric with scores."""
    return [c.key for c in COLUMNS if c.sortable] + [f"score.{m}" for m in metrics]


def parse_sort(specs: list[str], metrics: list[str]) -> list[tuple[str, bool]]:
    """`KEY[:asc|desc]` items (as `query --sort` takes them) as Browser sort pairs; an unknown key or direction
    is an InputError naming what is allowed. `metrics`: the metrics with scores (score_metrics)."""
    out = []
    for spec in specs:
        key, sep, direction = spec.partition(":")
        key, direction = key.strip(), direction.strip().lower()
        if key not in sortable_keys(metrics) and key not in metrics:
            raise InputError(f"sort {spec!r}: no key {key!r}; sortable columns: {', '.join(sortable_keys(metrics))}")
        if sep and direction not in ("asc", "desc"):
            raise InputError(f"sort {spec!r}: direction {direction!r}; a direction is asc or desc (KEY:desc)")
        out.append((key, direction == "desc"))
    return out


class Browser:
    """A filtered, sorted view of the samples, paged from a cached ordered id list.

    `sort` is a list of (column key, descending); ties are broken by id ascending; NULLs sort last.
    Sortable keys: the sortable COLUMNS and `score.NAME`. The first pages (up to TOP_ROWS rows) come from one
    top-N query, a later page from the whole ordered id list, each built once; a text search or an expression
    builds that list in `count()`. The view is a snapshot: call `refresh()` (or make a new Browser) after
    imports or bulk actions. Safe to call from several threads (each call uses its own cursor).
    """

    def __init__(self, store, filter: Filter | None = None, sort: list[tuple[str, bool]] | None = None):
        self.store = store
        self.filter = filter if filter is not None else Filter()
        self.sort = list(sort) if sort else [("id", False)]
        self._lock = threading.Lock()
        self._prepare()

    def _prepare(self) -> None:
        self.metrics = score_metrics(self.store)
        self.where, self.params = where_sql(self.store, self.filter, metrics=self.metrics)
        order, joins, jparams = [], [], []
        for key, desc in self.sort:
            direction = "DESC" if desc else "ASC"
            if key in _SORT_SQL:
                exprs = _SORT_SQL[key]
            elif (key.startswith("score.") and key[6:] in self.metrics) or key in self.metrics:
                metric = key[6:] if key.startswith("score.") and key[6:] in self.metrics else key
                # a join on the per-sample latest value: half the cost of the correlated SCORE_VALUE_SQL
                alias = f"sk{len(joins)}"
                joins.append(
                    f"LEFT JOIN (SELECT sample_id, arg_max_null(value, created_at) AS v FROM scores"
                    f" WHERE metric = ? GROUP BY sample_id) {alias} ON {alias}.sample_id = s.id"
                )
                jparams.append(metric)
                exprs = [f"{alias}.v"]
            else:
                raise InputError(
                    f"sort: cannot sort by {key!r}; sortable columns: {', '.join(sortable_keys(self.metrics))}"
                )
            order += [f"{e} {direction} NULLS LAST" for e in exprs]
        if not any(k == "id" for k, _ in self.sort):
            order.append("s.id ASC")
        self.order_sql = ", ".join(order)
        self.join_sql = " ".join(joins)
        self.join_params = jparams
        self._ids: np.ndarray | None = None  # every matching id in view order
        self._top: np.ndarray | None = None  # the first TOP_ROWS of them (a top-N query), until _ids exists
        self._count: int | None = None

    @property
    def columns(self) -> list[ColumnSpec]:
        """The columns of page rows (COLUMNS plus score columns)."""
        return columns(self.store, self.metrics)

    def refresh(self) -> None:
        """Forget the cached count and ids (after the data changed)."""
        with self._lock:
            self._prepare()

    def _select_ids(self, limit: int | None = None) -> np.ndarray:
        con = self.store.cursor()
        try:
            q = f"SELECT s.id FROM samples s {self.join_sql} WHERE {self.where} ORDER BY {self.order_sql}"
            if limit is not None:
                q += f" LIMIT {int(limit)}"
            res = con.execute(q, self.join_params + self.params).fetchnumpy()
            return np.asarray(res["id"], dtype=np.int64)
        finally:
            con.close()

    def _ordered_ids(self) -> np.ndarray:
        with self._lock:
            if self._ids is None:
                self._ids = self._select_ids()
                self._count = len(self._ids)
                self._top = None
            return self._ids

    def _first_ids(self) -> np.ndarray:
        """The view's first TOP_ROWS ids (all of them when there are fewer), from a top-N query: a new sort shows
        its first pages without ordering every match (13 ms instead of 270 ms for 1M samples)."""
        with self._lock:
            if self._ids is not None:
                return self._ids
            if self._top is None:
                top = self._select_ids(TOP_ROWS)
                if len(top) < TOP_ROWS:  # that was every match
                    self._ids, self._count = top, len(top)
                    return top
                self._top = top
            return self._top

    def count(self) -> int:
        """Number of matching samples (cached).

        With a text search or an expression, this builds the ordered id list at once: the scan is the expensive
        part, so the first page then costs no second scan. Otherwise a count(*), and the first pages come from a
        top-N query.
        """
        if self.filter.text or self.filter.expression:
            return len(self._ordered_ids())
        with self._lock:
            if self._count is not None:
                return self._count
            con = self.store.cursor()
            try:
                n = con.execute(f"SELECT count(*) FROM samples s WHERE {self.where}", self.params).fetchone()[0]
            finally:
                con.close()
            self._count = int(n)
            return self._count

    def ids(self, offset: int = 0, limit: int | None = None) -> list[int]:
        """Sample ids of rows [offset, offset+limit) in view order (limit None: to the end)."""
        offset = max(0, int(offset))
        if limit is not None and offset + max(0, int(limit)) <= TOP_ROWS:
            return self._first_ids()[offset : offset + max(0, int(limit))].tolist()
        arr = self._ordered_ids()
        end = len(arr) if limit is None else offset + max(0, int(limit))
        return arr[offset:end].tolist()

    def page(self, offset: int, limit: int) -> list[dict]:
        """Display rows [offset, offset+limit): COLUMNS keys plus `score.NAME`; text truncated in SQL."""
        page_ids = self.ids(offset, limit)
        return fetch_rows(self.store, page_ids, self.metrics)


def fetch_rows(store: Store, ids: list[int], metrics: list[str] | None = None) -> list[dict]:
    """Display rows for these sample ids, in the given order (missing ids are skipped)."""
    if not ids:
        return []
    lo, hi = min(ids), max(ids)
    con = store.cursor()
    try:
        cur = con.execute(_PAGE_SELECT, [lo, hi, ids])
        names = [d[0] for d in cur.description]
        rows = {r[0]: dict(zip(names, r)) for r in cur.fetchall()}
        for sid, tags in con.execute(
            "SELECT sample_id, list(DISTINCT tag ORDER BY tag) FROM sample_tags"
            " WHERE sample_id BETWEEN ? AND ? AND sample_id = ANY(?) GROUP BY sample_id",
            [lo, hi, ids],
        ).fetchall():
            if sid in rows:
                rows[sid]["tags"] = tags
        if metrics is None:
            metrics = [r[0] for r in con.execute("SELECT DISTINCT metric FROM scores").fetchall()]
        if metrics:
            for sid, metric, value in con.execute(
                "SELECT sample_id, metric, arg_max_null(value, created_at) FROM scores"
                " WHERE sample_id BETWEEN ? AND ? AND sample_id = ANY(?) GROUP BY sample_id, metric",
                [lo, hi, ids],
            ).fetchall():
                if sid in rows:
                    rows[sid][f"score.{metric}"] = value
    finally:
        con.close()
    keys = [c.key for c in COLUMNS] + [f"score.{m}" for m in metrics]
    out = []
    for sid in ids:
        row = rows.get(sid)
        if row is None:
            continue
        row.setdefault("tags", [])
        out.append({k: row.get(k) for k in keys})
    return out


# -- detail ------------------------------------------------------------------------------------------


@dataclass
class SampleDetail:
    """Everything about one sample, for the detail view."""

    id: int
    pool: str | None
    domain: str
    messages: list[dict]
    system: str | None
    tools: list | None
    tags: list[str]
    scores: dict[str, float | None]  # latest value per metric
    meta: dict | None
    source_file: str | None
    source_line: int | None
    excluded: bool
    pool_id: int | None = None
    domain_source: str | None = None
    record_index: int | None = None
    n_chars: int | None = None
    n_tokens: int | None = None
    n_turns: int | None = None


def _json(v: Any) -> Any:
    if v is None or not isinstance(v, str):
        return v
    return json.loads(v)


def get_sample(store: Store, sample_id: int) -> SampleDetail:
    """The full sample; raises KeyError when no sample has this id."""
    con = store.cursor()
    try:
        row = con.execute(
            "SELECT s.id, p.name, s.domain, s.messages, s.system, s.tools, s.meta, s.source_file,"
            " s.source_line, s.excluded, s.pool_id, s.domain_source, s.record_index, s.n_chars, s.n_tokens,"
            " s.n_turns FROM samples s LEFT JOIN pools p ON p.id = s.pool_id WHERE s.id = ?",
            [int(sample_id)],
        ).fetchone()
        if row is None:
            raise KeyError(f"no sample with id {sample_id}")
        tags = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT tag FROM sample_tags WHERE sample_id = ? ORDER BY tag", [int(sample_id)]
            ).fetchall()
        ]
        scores = dict(
            con.execute(
                "SELECT metric, arg_max_null(value, created_at) FROM scores WHERE sample_id = ?"
                " GROUP BY metric ORDER BY metric",
                [int(sample_id)],
            ).fetchall()
        )
    finally:
        con.close()
    return SampleDetail(
        id=row[0],
        pool=row[1],
        domain=row[2],
        messages=_json(row[3]) or [],
        system=row[4],
        tools=_json(row[5]),
        tags=tags,
        scores=scores,
        meta=_json(row[6]),
        source_file=row[7],
        source_line=row[8],
        excluded=bool(row[9]),
        pool_id=row[10],
        domain_source=row[11],
        record_index=row[12],
        n_chars=row[13],
        n_tokens=row[14],
        n_turns=row[15],
    )


# -- bulk actions ------------------------------------------------------------------------------------


def _write(
    store, select: tuple[str, list], statements: list[tuple[str, list]], undo: tuple[str, str | None] | None = None
) -> int:
    """In one transaction: collect the ids the `select` query returns into TEMP table _bulk_ids (so the
    filter runs once), run `statements` (which refer to _bulk_ids), and return how many ids there were.
    `undo` = (kind, arg): first keep what those samples held, as the one undoable last bulk action."""
    with store.write_lock:
        con = store.cursor()
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(f"CREATE OR REPLACE TEMP TABLE _bulk_ids AS {select[0]}", select[1]).fetchall()
                n = int(con.execute("SELECT count(*) FROM _bulk_ids").fetchone()[0])
                if n:
                    if undo is not None:
                        con.execute("DELETE FROM bulk_undo")
                        con.execute("DELETE FROM bulk_undo_items")
                        con.execute("INSERT INTO bulk_undo (kind, arg, n) VALUES (?, ?, ?)", [undo[0], undo[1], n])
                        con.execute(
                            "INSERT INTO bulk_undo_items SELECT s.id, s.domain, s.domain_source, s.excluded "
                            "FROM samples s WHERE s.id IN (SELECT id FROM _bulk_ids)"
                        )
                    for sql, params in statements:
                        con.execute(sql, params).fetchall()
                con.execute("DROP TABLE _bulk_ids")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        finally:
            con.close()
    return n


def _removed_tag(tag) -> str:
    """A tag to remove: any non-blank text (a tag stored before names were checked can still be removed)."""
    if not isinstance(tag, str) or not tag.strip():
        raise InputError("tag: empty; name the tag to remove")
    return tag.strip()


def bulk_tag(store: Store, f: Filter, tag: str, *, remove: bool = False) -> int:
    """Add (or remove) `tag` on every sample of the filter; returns how many samples changed.

    Adding skips samples that already have the tag (no duplicate rows)."""
    tag = check_name(tag, "tag") if not remove else _removed_tag(tag)
    where, params = where_sql(store, f)
    if remove:
        return _write(
            store,
            (
                f"SELECT DISTINCT sample_id AS id FROM sample_tags WHERE tag = ? AND sample_id IN"
                f" (SELECT s.id FROM samples s WHERE ({where}))",
                [tag] + params,
            ),
            [("DELETE FROM sample_tags WHERE tag = ? AND sample_id IN (SELECT id FROM _bulk_ids)", [tag])],
            undo=("untag", tag),
        )
    return _write(
        store,
        (
            f"SELECT s.id FROM samples s WHERE ({where}) AND NOT EXISTS"
            " (SELECT 1 FROM sample_tags bt WHERE bt.sample_id = s.id AND bt.tag = ?)",
            params + [tag],
        ),
        [("INSERT INTO sample_tags (sample_id, tag) SELECT id, ? FROM _bulk_ids", [tag])],
        undo=("tag", tag),
    )


def bulk_set_domain(store: Store, f: Filter, domain: str) -> int:
    """Set the domain of every sample of the filter (domain_source='manual'); returns how many changed."""
    domain = check_name(domain, "domain")
    where, params = where_sql(store, f)
    return _write(
        store,
        (
            f"SELECT s.id FROM samples s WHERE ({where}) AND (s.domain != ? OR s.domain_source != 'manual')",
            params + [domain],
        ),
        [("UPDATE samples SET domain = ?, domain_source = 'manual' WHERE id IN (SELECT id FROM _bulk_ids)", [domain])],
        undo=("domain", domain),
    )


def bulk_exclude(store: Store, f: Filter, excluded: bool = True) -> int:
    """Mark every sample of the filter excluded (or not); returns how many changed."""
    excluded = bool(excluded)
    where, params = where_sql(store, f)
    return _write(
        store,
        (f"SELECT s.id FROM samples s WHERE ({where}) AND s.excluded != ?", params + [excluded]),
        [("UPDATE samples SET excluded = ? WHERE id IN (SELECT id FROM _bulk_ids)", [excluded])],
        undo=("exclude" if excluded else "include", None),
    )


_UNDO_WORDS = {
    "tag": "tagged {arg!r}",
    "untag": "removed tag {arg!r} from",
    "domain": "set the domain to {arg!r} of",
    "exclude": "excluded",
    "include": "included again",
}


def last_bulk(store: Store) -> str | None:
    """The bulk action `undo_last_bulk` would undo, in words ("tagged 'keep' on 120 samples"); None if none."""
    rows = store.fetchall("SELECT kind, arg, n FROM bulk_undo")
    if not rows:
        return None
    kind, arg, n = rows[0]
    return f"{_UNDO_WORDS[kind].format(arg=arg)} {n:,} sample{'s' if n != 1 else ''}"


def undo_last_bulk(store: Store) -> str:
    """Undo the last bulk action (tag, untag, set domain, exclude / include): its samples get back what they
    held before it. Returns what was undone in words; InputError when there is nothing to undo."""
    what = last_bulk(store)
    if what is None:
        raise InputError("nothing to undo: no bulk action (tag, exclude, set domain) since the last undo")
    with store.transaction() as con:
        kind, arg, _n = con.execute("SELECT kind, arg, n FROM bulk_undo").fetchall()[0]
        if kind == "tag":
            con.execute(
                "DELETE FROM sample_tags WHERE tag = ? AND sample_id IN (SELECT sample_id FROM bulk_undo_items)", [arg]
            )
        elif kind == "untag":
            con.execute("INSERT INTO sample_tags (sample_id, tag) SELECT sample_id, ? FROM bulk_undo_items", [arg])
        elif kind == "domain":
            con.execute(
                "UPDATE samples SET domain = u.old_domain, domain_source = u.old_domain_source "
                "FROM bulk_undo_items u WHERE samples.id = u.sample_id"
            )
        else:
            con.execute(
                "UPDATE samples SET excluded = u.old_excluded FROM bulk_undo_items u WHERE samples.id = u.sample_id"
            )
        con.execute("DELETE FROM bulk_undo")
        con.execute("DELETE FROM bulk_undo_items")
    return what


def domain_counts(store: Store, f: Filter | None = None) -> dict[str, int]:
    """Samples per domain among the filter's samples, largest first."""
    where, params = where_sql(store, f or Filter())
    rows = store.fetchall(
        f"SELECT s.domain, count(*) FROM samples s WHERE {where} GROUP BY s.domain ORDER BY 2 DESC, 1", params
    )
    return {d: int(n) for d, n in rows}
