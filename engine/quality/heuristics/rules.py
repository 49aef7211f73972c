"""Keep/drop rules over stored heuristic values: `Rule`, the defaults, `keep_mask` and `explain_filters`.

Thresholds are Workbench's own defaults, not taken from any paper; the seed paper (Gu et al. 2025) only
reports that explicit filters can induce capability conflicts while SuperFiltering (IFD) balances better,
so these rules are for inspection and cleaning of broken records, not a claim about what the paper filtered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.quality.heuristics.registry import OPERATORS

if TYPE_CHECKING:
    from engine.core.store import Store

_OPS = {">": ">", ">=": ">=", "<": "<", "<=": "<=", "==": "=", "!=": "<>"}


@dataclass(frozen=True)
class Rule:
    """Drop a sample when `metric <op> threshold` holds for its stored value.

    A NULL value (operator does not apply) never drops; a sample without a stored row for the metric
    is kept and counted as `missing`. `domains` limits the rule to those sample domains. For an `h_*`
    operator the rule reads that operator's current metric key and version; for any other metric name
    it reads the most recent stored row (optionally of `model`).
    """

    name: str
    metric: str
    op: str
    threshold: float
    domains: tuple[str, ...] | None = None
    description: str = ""
    model: str | None = None

    def __post_init__(self):
        if self.op not in _OPS:
            raise ValueError(f"rule {self.name}: unknown comparison {self.op!r}; use one of {list(_OPS)}")

    def drops(self, value: float | None, domain: str | None = None) -> bool:
        """The rule applied to one value in Python (same semantics as the SQL)."""
        if value is None or (self.domains is not None and domain not in self.domains):
            return False
        t = self.threshold
        return {">": value > t, ">=": value >= t, "<": value < t, "<=": value <= t, "==": value == t, "!=": value != t}[
            self.op
        ]


# Workbench's own defaults (not from any paper): drop only records that are broken on their face.
h_filter_defaults: list[Rule] = [
    Rule("empty", "h_empty_answer", "==", 1, description="answer is empty"),
    Rule("refusal", "h_refusal", "==", 1, description="answer is a refusal or 'As an AI' disclaimer"),
    Rule(
        "repetitive",
        "h_ngram_repetition",
        ">",
        0.5,
        description="more than half of the answer's word 3-grams repeat earlier ones",
    ),
    Rule("code_unparsable", "h_code_parses", "==", 0, description="a Python code block does not parse"),
    Rule(
        "tool_call_invalid",
        "h_tool_call_valid",
        "==",
        0,
        description="a tool call is undeclared, not JSON, or fails the tool's schema",
    ),
    Rule(
        "math_no_final_number",
        "h_math_final_number",
        "==",
        0,
        domains=("math",),
        description="math answer without a final number",
    ),
]


def _rules_query(con, rules: Sequence[Rule], pool, include_excluded: bool) -> tuple[str, list]:
    """SQL (with ? params) giving id, domain, and per rule r{i} (drops) and m{i} (missing)."""
    if not rules:
        raise ValueError("no rules given")
    aggs, params = [], []
    metrics = []
    for i, r in enumerate(rules):
        op = OPERATORS.get(r.metric)
        if op is not None and r.model in (None, ""):
            m = op.metric
            cond = "metric = ? AND model = ? AND params_hash = ? AND version = ?"
            cp = [m.metric, m.model, m.params_hash, m.version]
            aggs.append(f"max(value) FILTER (WHERE {cond}) AS v{i}, count(*) FILTER (WHERE {cond}) AS c{i}")
            params += cp + cp
        else:
            cond = "metric = ?" + (" AND model = ?" if r.model is not None else "")
            cp = [r.metric] + ([r.model] if r.model is not None else [])
            aggs.append(
                f"arg_max(value, created_at) FILTER (WHERE {cond}) AS v{i}, count(*) FILTER (WHERE {cond}) AS c{i}"
            )
            params += cp + cp
        metrics.append(r.metric)
    ph = ", ".join("?" for _ in set(metrics))
    params += sorted(set(metrics))
    sel = []
    for i, r in enumerate(rules):
        dom = ""
        if r.domains is not None:
            dom = " AND s.domain IN (" + ", ".join("?" for _ in r.domains) + ")"
        sel.append(
            (f"coalesce(sc.v{i} {_OPS[r.op]} ?{dom}, false) AS r{i}", [float(r.threshold)] + list(r.domains or []))
        )
        sel.append((f"(coalesce(sc.c{i}, 0) = 0{dom}) AS m{i}", list(r.domains or [])))
    where = []
    pids = _pool_ids(con, pool)
    if pids is not None:
        where.append("s.pool_id IN (" + ", ".join("?" for _ in pids) + ")")
    if not include_excluded:
        where.append("NOT s.excluded")
    sql = (
        f"WITH sc AS (SELECT sample_id, {', '.join(aggs)} FROM scores WHERE metric IN ({ph}) "
        f"GROUP BY sample_id) SELECT s.id, s.domain, {', '.join(x for x, _ in sel)} "
        f"FROM samples s LEFT JOIN sc ON sc.sample_id = s.id" + (" WHERE " + " AND ".join(where) if where else "")
    )
    for _, p in sel:
        params += p
    params += list(pids or [])
    return sql, params


def keep_mask(store: Store, rules: Sequence[Rule] = h_filter_defaults, *, pool=None, include_excluded: bool = True):
    """A pyarrow table (id, domain, keep, one boolean column per rule name = 'this rule drops it'),
    ordered by id. `pool` is a pool id, a pool name or a list of either (None: all)."""
    con = store.cursor()
    try:
        sql, params = _rules_query(con, rules, pool, include_excluded)
        drop_any = " OR ".join(f"r{i}" for i in range(len(rules)))
        cols = ", ".join(f'r{i} AS "{r.name}"' for i, r in enumerate(rules))
        rel = con.sql(f"SELECT id, domain, NOT ({drop_any}) AS keep, {cols} FROM ({sql}) ORDER BY id", params=params)
        return rel.to_arrow_table()
    finally:
        con.close()


@dataclass
class RuleCount:
    rule: str
    dropped: int  # samples this rule drops (a sample can be dropped by several rules)
    only: int  # samples dropped by this rule and no other
    missing: int  # samples the rule applies to that have no stored score for its metric


@dataclass
class DomainCounts:
    domain: str
    total: int
    kept: int
    dropped: int
    rules: dict[str, RuleCount]


def explain_filters(
    store: Store, rules: Sequence[Rule] = h_filter_defaults, pool=None, *, include_excluded: bool = True
) -> dict[str, DomainCounts]:
    """Per domain: how many samples the rules keep and drop, and what each rule drops.

    Returns {domain: DomainCounts}; sum over domains for the total. `missing` counts samples a rule
    could not judge because its metric was never computed for them (they are kept).
    """
    con = store.cursor()
    try:
        sql, params = _rules_query(con, rules, pool, include_excluded)
        n = len(rules)
        drop_any = " OR ".join(f"r{i}" for i in range(n))
        per = []
        for i in range(n):
            others = " OR ".join(f"r{j}" for j in range(n) if j != i) or "false"
            per.append(
                f"count(*) FILTER (WHERE r{i}), count(*) FILTER (WHERE r{i} AND NOT ({others})), "
                f"count(*) FILTER (WHERE m{i})"
            )
        q = (
            f"SELECT domain, count(*), count(*) FILTER (WHERE {drop_any}), {', '.join(per)} "
            f"FROM ({sql}) GROUP BY domain ORDER BY domain"
        )
        out: dict[str, DomainCounts] = {}
        for row in con.execute(q, params).fetchall():
            dom, total, dropped = row[0], int(row[1]), int(row[2])
            rc = {}
            for i, r in enumerate(rules):
                d, o, m = row[3 + 3 * i : 6 + 3 * i]
                rc[r.name] = RuleCount(r.name, int(d), int(o), int(m))
            out[dom] = DomainCounts(dom, total, total - dropped, dropped, rc)
        return out
    finally:
        con.close()


def format_explain(counts: dict[str, DomainCounts]) -> str:
    """Plain-text table of `explain_filters` output (one row per domain and rule)."""
    lines = [f"{'domain':<12} {'total':>9} {'kept':>9} {'dropped':>9}  per rule: dropped (only / missing)"]
    for d in counts.values():
        per = "; ".join(f"{r.rule} {r.dropped} ({r.only}/{r.missing})" for r in d.rules.values())
        lines.append(f"{d.domain:<12} {d.total:>9,} {d.kept:>9,} {d.dropped:>9,}  {per}")
    return "\n".join(lines)


def _pool_ids(con, pool) -> list[int] | None:
    """None (all pools) or a list of pool ids from an id, a name, or a list of either."""
    if pool is None:
        return None
    items = pool if isinstance(pool, (list, tuple, set)) else [pool]
    out = []
    for p in items:
        if isinstance(p, str) and not p.isdigit():
            row = con.execute("SELECT id FROM pools WHERE name = ?", [p]).fetchall()
            if not row:
                raise KeyError(f"no pool named {p!r}")
            out.append(int(row[0][0]))
        else:
            out.append(int(p))
    return out
