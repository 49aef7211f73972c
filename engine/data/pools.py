"""Pools (named sets of imported samples) and rules that assign domains and tags by filter expression.

Domain precedence on a sample, from weakest to strongest: 'pool' (the pool's domain, set at import and
by set_pool_domain), 'rule' (apply_rules), 'manual' (bulk_set_domain). Neither rules nor pool changes
ever override a manual domain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from engine.core.errors import InputError, WorkbenchError
from engine.core.names import check_name, shown
from engine.data.filters import FilterError, compile_expression
from engine.data.query import score_metrics

if TYPE_CHECKING:
    from engine.core.store import Store

REVERTED = "<reverted>"  # apply_rules key: rule-set samples no rule matches any more, back to the pool domain


ROLES = ("train", "eval")


class PoolError(InputError):
    """A pool operation that cannot be done (e.g. an unknown role)."""


class PoolInMixtures(PoolError):
    """Marking a pool 'eval' that saved mixtures drew from (set_role's force marks it anyway)."""


class PoolNotFound(WorkbenchError, KeyError):
    """No such pool; the message names the pools there are."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "pool not found"


class RuleNotFound(WorkbenchError, KeyError):
    """No such rule."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "rule not found"


@dataclass
class PoolInfo:
    """A pool with its sample counts; `domains` maps domain -> samples (a pool can hold several)."""

    id: int
    name: str
    domain: str
    format: str | None
    source: str | None
    created_at: datetime | None
    n_samples: int
    n_excluded: int
    domains: dict[str, int] = field(default_factory=dict)
    description: str | None = None
    role: str = "train"  # 'eval': an evaluation set, never trained on (set_role)


@dataclass
class Rule:
    """A domain/tag rule: samples matching `expression` get `domain` (if set) and `tag` (if set)."""

    id: int
    name: str
    expression: str
    domain: str | None
    tag: str | None
    created_at: datetime | None = None


_POOLS_SQL = """
WITH c AS (
    SELECT pool_id, domain, count(*) AS n, count(*) FILTER (WHERE excluded) AS nx
    FROM samples GROUP BY pool_id, domain
)
SELECT p.id, p.name, p.domain, p.format, p.source, p.created_at,
       coalesce(sum(c.n), 0) AS n, coalesce(sum(c.nx), 0) AS nx,
       list(c.domain ORDER BY c.n DESC, c.domain) FILTER (WHERE c.domain IS NOT NULL) AS doms,
       list(c.n ORDER BY c.n DESC, c.domain) FILTER (WHERE c.domain IS NOT NULL) AS ns,
       p.description, coalesce(p.role, 'train') AS role
FROM pools p LEFT JOIN c ON c.pool_id = p.id
{where}
GROUP BY p.id, p.name, p.domain, p.format, p.source, p.created_at, p.description, p.role
ORDER BY p.id
"""


def _info(r) -> PoolInfo:
    doms = dict(zip(r[8] or [], (int(x) for x in (r[9] or []))))
    return PoolInfo(r[0], r[1], r[2], r[3], r[4], r[5], int(r[6]), int(r[7]), doms, r[10], r[11])


def list_pools(store: Store) -> list[PoolInfo]:
    """All pools in id order with sample, excluded and per-domain counts (one query)."""
    con = store.cursor()
    try:
        rows = con.execute(_POOLS_SQL.format(where="")).fetchall()
    finally:
        con.close()
    return [_info(r) for r in rows]


def _resolve(con, pool) -> tuple[int, str]:
    """(id, name) of a pool given by name or id; raises PoolNotFound."""
    if isinstance(pool, PoolInfo):
        pool = pool.id
    row = None
    if isinstance(pool, str):
        row = con.execute("SELECT id, name FROM pools WHERE name = ?", [pool]).fetchone()
        if row is None and pool.strip().isdigit():
            row = con.execute("SELECT id, name FROM pools WHERE id = ?", [int(pool)]).fetchone()
    elif isinstance(pool, int) and not isinstance(pool, bool):
        row = con.execute("SELECT id, name FROM pools WHERE id = ?", [pool]).fetchone()
    else:
        raise TypeError(f"a pool is given by name or id, not {type(pool).__name__}")
    if row is None:
        names = [r[0] for r in con.execute("SELECT name FROM pools ORDER BY id").fetchall()]
        what = f"named {shown(pool)}" if isinstance(pool, str) else f"with id {pool}"
        have = f"pools are: {', '.join(names)}" if names else "the store has no pools yet"
        raise PoolNotFound(f"no pool {what}; {have}")
    return int(row[0]), row[1]


def get_pool(store: Store, name_or_id) -> PoolInfo:
    """One pool by name (or id); raises KeyError (PoolNotFound) naming the available pools."""
    con = store.cursor()
    try:
        pid, _ = _resolve(con, name_or_id)
        row = con.execute(_POOLS_SQL.format(where="WHERE p.id = ?"), [pid]).fetchone()
    finally:
        con.close()
    return _info(row)


def _Tx(store):
    """`with _Tx(store) as con:` the store's write transaction (Store.transaction)."""
    return store.transaction()


def _insert_named(store, table: str, what: str, row: dict) -> int:
    """Insert `row` (column -> value) with the table's next id; refuses a taken name (PoolError, an InputError)."""
    with _Tx(store) as con:
        if con.execute(f"SELECT 1 FROM {table} WHERE name = ?", [row["name"]]).fetchone():
            raise PoolError(f"{what} name: a {what} named {row['name']!r} already exists; choose another name")
        new_id = store.next_id(table, con)
        cols = ["id", *row]
        con.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", [new_id, *row.values()]
        )
    return new_id


def create_pool(
    store,
    name: str,
    domain: str = "general",
    *,
    format: str | None = None,
    source: str | None = None,
    description: str | None = None,
    meta: dict | None = None,
) -> int:
    """Create an empty pool and return its id; refuses a name that is taken or breaks the name rule
    (engine.core.names; InputError)."""
    name = check_name(name, "pool name")
    domain = check_name(domain, "domain")
    meta_json = json.dumps(meta) if meta is not None else None
    row = dict(name=name, domain=domain, format=format, source=source, description=description, meta=meta_json)
    return _insert_named(store, "pools", "pool", row)


def rename_pool(store: Store, pool, new_name: str) -> None:
    """Rename a pool (by name or id); refuses a name another pool has, or one that breaks the name rule
    (engine.core.names): InputErrors naming the field."""
    new_name = check_name(new_name, "pool name")
    with _Tx(store) as con:
        pid, old = _resolve(con, pool)
        if new_name == old:
            return
        if con.execute("SELECT 1 FROM pools WHERE name = ? AND id != ?", [new_name, pid]).fetchone():
            raise PoolError(f"pool name: a pool named {new_name!r} already exists; choose another name")
        con.execute("UPDATE pools SET name = ? WHERE id = ?", [new_name, pid])


def delete_pool(store: Store, pool) -> int:
    """Delete a pool with its samples, their tags, scores, embeddings, cluster assignments, saved-selection items and its import
    records, in one transaction; returns the number of samples removed. Embedding parquet files stay."""
    with _Tx(store) as con:
        pid, _ = _resolve(con, pool)
        n = int(con.execute("SELECT count(*) FROM samples WHERE pool_id = ?", [pid]).fetchone()[0])
        ids = "SELECT id FROM samples WHERE pool_id = ?"
        for table in ("sample_tags", "scores", "embeddings", "cluster_assignments", "selection_items"):
            con.execute(f"DELETE FROM {table} WHERE sample_id IN ({ids})", [pid]).fetchall()
        con.execute("DELETE FROM samples WHERE pool_id = ?", [pid]).fetchall()
        con.execute(
            "UPDATE selections SET n = (SELECT count(*) FROM selection_items i WHERE i.selection_id = selections.id)"
        ).fetchall()
        con.execute("DELETE FROM imports WHERE pool_id = ?", [pid]).fetchall()
        con.execute("DELETE FROM pools WHERE id = ?", [pid]).fetchall()
    return n


def set_pool_domain(store: Store, pool, domain: str) -> int:
    """Set a pool's domain and that of its samples still on the pool's domain (domain_source='pool');
    returns how many samples changed."""
    domain = check_name(domain, "domain")
    with _Tx(store) as con:
        pid, _ = _resolve(con, pool)
        con.execute("UPDATE pools SET domain = ? WHERE id = ?", [domain, pid])
        cond = "pool_id = ? AND domain_source = 'pool' AND domain != ?"
        n = int(con.execute(f"SELECT count(*) FROM samples WHERE {cond}", [pid, domain]).fetchone()[0])
        con.execute(f"UPDATE samples SET domain = ? WHERE {cond}", [domain, pid, domain]).fetchall()
    return n


# -- rules -------------------------------------------------------------------------------------------


def add_rule(store: Store, name: str, expression: str, *, domain: str | None = None, tag: str | None = None) -> int:
    """Store a rule; its expression must compile (FilterError otherwise) and it must set a domain, a tag or
    both. Rule names are unique and keep the name rule (InputError). Returns the rule id. Use apply_rules to run the rules."""
    name = check_name(name, "rule name", forbid={"<": "names in <> are reserved"})
    domain = check_name(domain, "domain") if domain is not None else None
    tag = check_name(tag, "tag") if tag is not None else None
    if domain is None and tag is None:
        raise InputError("a rule must set a domain, a tag or both")
    if not expression or not expression.strip():
        raise FilterError("a rule needs a filter expression", 0)
    compile_expression(expression, score_metrics=score_metrics(store))
    return _insert_named(
        store, "domain_rules", "rule", dict(name=name, expression=expression.strip(), domain=domain, tag=tag)
    )


def list_rules(store: Store) -> list[Rule]:
    """All rules in the order they apply (id order)."""
    rows = store.fetchall("SELECT id, name, expression, domain, tag, created_at FROM domain_rules ORDER BY id")
    return [Rule(*r) for r in rows]


def delete_rule(store: Store, rule) -> None:
    """Delete a rule by name or id (RuleNotFound, a KeyError, when missing). Samples keep what it set
    until apply_rules runs again."""
    with _Tx(store) as con:
        if isinstance(rule, int):
            row = con.execute("SELECT id FROM domain_rules WHERE id = ?", [rule]).fetchone()
        else:
            row = con.execute("SELECT id FROM domain_rules WHERE name = ?", [str(rule)]).fetchone()
        if row is None:
            names = [r[0] for r in con.execute("SELECT name FROM domain_rules ORDER BY id").fetchall()]
            raise RuleNotFound(f"no rule {rule!r}; rules are: {', '.join(names) or '(none)'}")
        con.execute("DELETE FROM domain_rules WHERE id = ?", [row[0]])


def apply_rules(store: Store, *, pool=None) -> dict[str, int]:
    """Run every rule over the samples (of `pool` only, when given); returns samples changed per rule name.

    Domain rules: the first rule (in id order) whose expression matches decides the domain, with
    domain_source='rule'; samples with a manual domain are never touched. Samples a rule set earlier that
    no rule matches any more go back to their pool's domain (counted under REVERTED). Tag rules add their
    tag to every matching sample that lacks it (tags are never removed). One transaction.
    """
    rules = list_rules(store)
    metrics = score_metrics(store)
    compiled = []
    for r in rules:
        try:
            compiled.append((r, *compile_expression(r.expression, score_metrics=metrics)))
        except FilterError as e:
            raise FilterError(f"rule {r.name!r}: {e.message}", e.position) from e
    with _Tx(store) as con:
        scope_sql, scope_params = "TRUE", []
        if pool is not None:
            pid, _ = _resolve(con, pool)
            scope_sql, scope_params = "s.pool_id = ?", [pid]
        con.execute("CREATE OR REPLACE TEMP TABLE _rule_changes (rule_id INTEGER, sample_id BIGINT)").fetchall()
        con.execute("CREATE OR REPLACE TEMP TABLE _rule_domains (rule_id INTEGER, domain VARCHAR)").fetchall()
        # 1. domains: the first matching domain rule decides, for every non-manual sample in scope;
        #    rule-set samples that no rule matches go back to their pool's domain (rule_id -1).
        dom_rules = [(r, sql, params) for r, sql, params in compiled if r.domain is not None]
        for r, _, _ in dom_rules:
            con.execute("INSERT INTO _rule_domains VALUES (?, ?)", [r.id, r.domain]).fetchall()
        if dom_rules:
            case_sql = " ".join(f"WHEN coalesce({sql}, false) THEN {int(r.id)}" for r, sql, _ in dom_rules)
            case_params = [p for _, _, params in dom_rules for p in params]
            decide = (
                f"SELECT s.id, s.domain, s.domain_source, s.pool_id, CASE {case_sql} ELSE NULL END AS rule_id"
                f" FROM samples s WHERE ({scope_sql}) AND s.domain_source != 'manual'"
            )
        else:
            case_params = []
            decide = (
                f"SELECT s.id, s.domain, s.domain_source, s.pool_id, NULL::INTEGER AS rule_id"
                f" FROM samples s WHERE ({scope_sql}) AND s.domain_source = 'rule'"
            )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _rule_new AS SELECT * FROM ("
            " SELECT d.id, d.domain, d.domain_source, coalesce(d.rule_id, -1) AS rule_id,"
            "  CASE WHEN d.rule_id IS NULL THEN p.domain ELSE r.domain END AS new_domain,"
            "  CASE WHEN d.rule_id IS NULL THEN 'pool' ELSE 'rule' END AS new_source"
            f" FROM ({decide}) d LEFT JOIN _rule_domains r ON r.rule_id = d.rule_id"
            "  LEFT JOIN pools p ON p.id = d.pool_id"
            "  WHERE d.rule_id IS NOT NULL OR d.domain_source = 'rule'"
            ") x WHERE x.new_domain IS NOT NULL AND (x.domain != x.new_domain OR x.domain_source != x.new_source)",
            case_params + scope_params,
        ).fetchall()
        con.execute("INSERT INTO _rule_changes SELECT rule_id, id FROM _rule_new").fetchall()
        con.execute(
            "UPDATE samples SET domain = n.new_domain, domain_source = n.new_source FROM _rule_new n"
            " WHERE samples.id = n.id"
        ).fetchall()
        # 2. tags: every matching tag rule adds its tag where missing.
        for r, sql, params in compiled:
            if r.tag is None:
                continue
            missing = (
                f"FROM samples s WHERE ({scope_sql}) AND coalesce({sql}, false) AND NOT EXISTS"
                " (SELECT 1 FROM sample_tags rt WHERE rt.sample_id = s.id AND rt.tag = ?)"
            )
            con.execute(
                f"INSERT INTO _rule_changes SELECT ?, s.id {missing}", [r.id] + scope_params + params + [r.tag]
            ).fetchall()
            con.execute(
                f"INSERT INTO sample_tags (sample_id, tag) SELECT s.id, ? {missing}",
                [r.tag] + scope_params + params + [r.tag],
            ).fetchall()
        counts = dict(
            con.execute("SELECT rule_id, count(DISTINCT sample_id) FROM _rule_changes GROUP BY rule_id").fetchall()
        )
        con.execute("DROP TABLE IF EXISTS _rule_new").fetchall()
        con.execute("DROP TABLE IF EXISTS _rule_domains").fetchall()
        con.execute("DROP TABLE IF EXISTS _rule_changes").fetchall()
    result = {r.name: int(counts.get(r.id, 0)) for r in rules}
    if counts.get(-1):
        result[REVERTED] = int(counts[-1])
    return result


def set_role(store: Store, pool, role: str, *, force: bool = False) -> str:
    """Mark a pool as evaluation data ('eval') or training data ('train'); returns the pool name.

    Marking a pool 'eval' that saved mixtures already drew from is refused (name the mixtures) unless
    `force`: those mixtures keep their items, new resolutions leave the pool out."""
    if role not in ROLES:
        raise PoolError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    try:
        p = get_pool(store, pool)
    except KeyError as e:
        raise PoolError(str(e.args[0] if e.args else e)) from e
    with store.transaction() as con:
        if role == "eval" and not force:
            used = con.execute(
                "SELECT DISTINCT m.name, m.version FROM mixture_items mi JOIN samples s ON s.id = mi.sample_id "
                "JOIN mixtures m ON m.id = mi.mixture_id WHERE s.pool_id = ? ORDER BY 1, 2",
                [p.id],
            ).fetchall()
            if used:
                names = ", ".join(f"{n} v{v}" for n, v in used[:5])
                raise PoolInMixtures(
                    f"pool {p.name!r} is drawn into saved mixtures ({names}); "
                    "use force to mark it as an eval set anyway"
                )
        con.execute("UPDATE pools SET role = ? WHERE id = ?", [role, p.id])
    return p.name
