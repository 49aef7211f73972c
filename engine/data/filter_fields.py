"""The filter language's whitelist: the fields (`FIELDS`, plus score, cluster and map fields made per name),
the fixed SQL templates they compile to, the size limits and `FilterError`."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from engine.core.errors import InputError

MAX_LENGTH = 4000  # characters in one expression
MAX_DEPTH = 32  # nested parentheses / NOTs
MAX_PREDICATES = 200  # comparisons in one expression
MAX_IN_ITEMS = 1000  # values in one IN list


class FilterError(InputError):
    """A filter expression that cannot be compiled; `.position` is the 0-based character offset."""

    def __init__(self, message: str, position: int | None = None):
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass(frozen=True)
class FieldSpec:
    """One field of the filter language.

    type: "text" | "number" | "bool" (what literals it compares with).
    kind: "column" (sql is a column expression over alias `s`), "pool" (pool name via pools),
          "tag" (membership in sample_tags), "text" (any of `columns`), "score" (a metric's latest value),
          "cluster" (membership of a named set with a value per sample: `sql` is the template with {test},
          `columns[0]` the value tested; the cluster id or map coordinate in a clustering via
          cluster_assignments, the rank in a saved selection via selection_items).
    """

    name: str
    type: str
    kind: str
    sql: str | None = None
    nullable: bool = True
    columns: tuple[str, ...] = ()
    help: str = ""


def _col(name: str, type_: str, sql: str, help_: str, nullable: bool = True) -> FieldSpec:
    return FieldSpec(name, type_, "column", sql, nullable, (), help_)


_TEXT_COLUMNS = ("s.instruction", "s.response", "s.system")

FIELDS: dict[str, FieldSpec] = {
    "id": _col("id", "number", "s.id", "sample id", nullable=False),
    "pool": FieldSpec("pool", "text", "pool", None, False, (), "pool name"),
    "pool_id": _col("pool_id", "number", "s.pool_id", "pool id", nullable=False),
    "provenance": _col(
        "provenance",
        "text",
        "(SELECT coalesce(pp.provenance, 'unknown') FROM pools pp WHERE pp.id = s.pool_id)",
        "the pool's provenance: human, synthetic, mixed or unknown",
        nullable=False,
    ),
    "domain": _col("domain", "text", "s.domain", "domain (general, math, code, tool_use, ...)", nullable=False),
    "domain_source": _col(
        "domain_source", "text", "s.domain_source", "where the domain came from: pool, rule or manual", nullable=False
    ),
    "instruction": _col("instruction", "text", "s.instruction", "first user turn"),
    "response": _col("response", "text", "s.response", "last assistant turn"),
    "system": _col("system", "text", "s.system", "system prompt"),
    "text": FieldSpec("text", "text", "text", None, True, _TEXT_COLUMNS, "instruction, response or system"),
    "n_chars": _col("n_chars", "number", "s.n_chars", "characters"),
    "n_tokens": _col("n_tokens", "number", "s.n_tokens", "tokens"),
    "n_turns": _col("n_turns", "number", "s.n_turns", "conversation turns"),
    "tag": FieldSpec("tag", "text", "tag", None, False, (), "has tag"),
    "tags": FieldSpec("tags", "text", "tag", None, False, (), "has tag (same as tag)"),
    "excluded": _col("excluded", "bool", "s.excluded", "excluded from exports", nullable=False),
    "source_file": _col("source_file", "text", "s.source_file", "imported file"),
    "record_index": _col("record_index", "number", "s.record_index", "record number in the imported file"),
    "has_tools": _col(
        "has_tools", "bool", "(coalesce(json_array_length(s.tools), 0) > 0)", "declares tools", nullable=False
    ),
}


# The latest value of one metric for the sample `s` (NULL when it has none). "Latest" is the most recently
# written score row across models, so `ifd` means the most recent model's ifd. Rows written in the same
# transaction share created_at; between such rows the pick is arbitrary (a (created_at, model) key made
# score filters and sorts 4x slower at 1M rows).
SCORE_VALUE_SQL = (
    "(SELECT arg_max_null(sc.value, sc.created_at) FROM scores sc WHERE sc.sample_id = s.id AND sc.metric = ?)"
)


# The samples of one named clustering whose cluster passes a test: {test} is a fixed template over ca.cluster,
# the clustering name is the first parameter.
CLUSTER_IN_SQL = (
    "s.id IN (SELECT ca.sample_id FROM cluster_assignments ca JOIN clusterings cg ON cg.id = ca.clustering_id"
    " WHERE cg.name = ? AND {test})"
)


def score_value_sql() -> str:
    """SQL (over alias `s`, one `?` for the metric name) giving a sample's latest value of a metric."""
    return SCORE_VALUE_SQL


def _score_spec(metric: str) -> FieldSpec:
    return FieldSpec(f"score.{metric}", "number", "score", SCORE_VALUE_SQL, True, (), f"score metric {metric}")


def _cluster_spec(name: str) -> FieldSpec:
    return FieldSpec(
        f"cluster.{name}",
        "number",
        "cluster",
        CLUSTER_IN_SQL,
        True,
        (),
        f"cluster id in clustering {name} (-1 = noise)",
    )


# The samples of one saved selection whose rank passes a test (same shape as CLUSTER_IN_SQL): the selection
# name is the first parameter.
SELECTION_IN_SQL = (
    "s.id IN (SELECT si.sample_id FROM selection_items si JOIN selections sl ON sl.id = si.selection_id"
    " WHERE sl.name = ? AND {test})"
)


def _selection_spec(name: str) -> FieldSpec:
    return FieldSpec(
        f"selection.{name}", "number", "cluster", SELECTION_IN_SQL, True, ("si.rank",), f"rank in selection {name}"
    )


# map.NAME.<axis>: the only column names a map field can test (fixed here, never taken from the input).
_MAP_AXES = {"x": "ca.x", "y": "ca.y"}


def _map_spec(name: str, axis: str) -> FieldSpec:
    return FieldSpec(
        f"map.{name}.{axis}",
        "number",
        "cluster",
        CLUSTER_IN_SQL,
        True,
        (_MAP_AXES[axis],),
        f"{axis} coordinate on the 2-D map of clustering {name}",
    )


def field_names(
    score_metrics: Collection[str] = (), clusterings: Collection[str] = (), selections: Collection[str] = ()
) -> list[str]:
    """Every name the language accepts (for completion and help): fields, `score.NAME` per metric, then
    `cluster.NAME` per clustering, then `map.NAME.x` and `map.NAME.y` per clustering, then `selection.NAME`."""
    return (
        list(FIELDS)
        + [f"score.{m}" for m in score_metrics]
        + [f"cluster.{c}" for c in clusterings]
        + [f"map.{c}.{a}" for c in clusterings for a in _MAP_AXES]
        + [f"selection.{n}" for n in selections]
    )
