"""What a job works on (its scope): the Browse filter, with two defaults every job shares.

Every job that picks samples (IFD / perplexity scoring, heuristics, embeddings, clustering, dedup, selections,
interpolation sources and nearest neighbours) turns its scope into SQL here, so they all agree on what counts:

- excluded samples are left out, unless the scope asks for them (`include_excluded`);
- samples of eval pools (`pools.role = 'eval'`) are left out, unless the filter names the eval pool (its
  `pool_ids`) or the scope asks for them (`include_eval`): evaluation data stays out of everything that builds
  training data or its geometry.

A `Filter` given where a scope is expected is the Browse filter with both defaults. (`Filter.include_excluded`,
which Browse keeps True to show everything, never brings excluded samples into a job; False still leaves them
out.) `describe_scope` says a scope in words for a confirmation or a status line; `scope_params` /
`scope_from_params` keep one with what a job saved (a clustering's later assignments use the same scope).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.data.query import Filter, where_sql

if TYPE_CHECKING:
    from engine.core.store import Store

# A pool is evaluation data when its role says so (engine.data.pools.ROLES); NULL is an older 'train' pool.
EVAL_ROLE_SQL = "coalesce(role, 'train') = 'eval'"


@dataclass(frozen=True)
class Scope:
    """The samples a job works on: those of `filter` (None: every sample), less excluded samples and samples
    of eval pools unless asked for (an eval pool named in `filter.pool_ids` counts as asked for)."""

    filter: Filter | None = None
    include_excluded: bool = False
    include_eval: bool = False
    # what the scope is called in words when it is the whole store ("every training sample")
    label: str | None = field(default=None, compare=False)


ScopeLike = Scope | Filter | dict | None


def as_scope(
    scope: ScopeLike = None,
    *,
    pool_ids=None,
    include_excluded: bool | None = None,
    include_eval: bool | None = None,
) -> Scope:
    """A Scope from a Scope, a Filter (the Browse filter: both defaults), saved `scope_params`, or None (every
    training sample). `pool_ids` (the older per-job argument) narrows the filter's pools; the flags, when
    given, replace the scope's."""
    if scope is None:
        sc = Scope()
    elif isinstance(scope, Scope):
        sc = scope
    elif isinstance(scope, Filter):
        sc = Scope(filter=scope)
    elif isinstance(scope, dict):
        sc = scope_from_params(scope)
    else:
        raise TypeError(f"a scope is a Scope, a Filter or None, not {type(scope).__name__}")
    if pool_ids is not None:
        ids = [int(p) for p in pool_ids]
        f = sc.filter or Filter()
        if f.pool_ids is not None:
            ids = [p for p in f.pool_ids if p in set(ids)]
        sc = replace(sc, filter=replace(f, pool_ids=ids))
    if include_excluded is not None:
        sc = replace(sc, include_excluded=bool(include_excluded))
    if include_eval is not None:
        sc = replace(sc, include_eval=bool(include_eval))
    return sc


def filter_is_empty(f: Filter | None) -> bool:
    """Whether a filter leaves every sample in (no pool, domain, tag, text, score range or expression)."""
    if f is None:
        return True
    return (
        f.pool_ids is None
        and f.domains is None
        and f.tags is None
        and not f.text
        and not any(lo is not None or hi is not None for lo, hi in (f.score_ranges or {}).values())
        and not (f.expression and f.expression.strip())
        and f.include_excluded
    )


def eval_pools(store: Store) -> dict[int, str]:
    """{pool id: name} of the eval pools."""
    return {int(i): n for i, n in store.fetchall(f"SELECT id, name FROM pools WHERE {EVAL_ROLE_SQL} ORDER BY id")}


def _left_out_eval(store: Store, sc: Scope) -> dict[int, str]:
    """The eval pools a scope leaves out: all of them, less those its filter names; none with include_eval."""
    if sc.include_eval:
        return {}
    named = set(sc.filter.pool_ids or []) if sc.filter is not None else set()
    return {i: n for i, n in eval_pools(store).items() if i not in named}


def scope_sql(store: Store, scope: ScopeLike = None, *, metrics: list[str] | None = None) -> tuple[str, list]:
    """SQL condition over alias `s` (samples) for a scope, with `?` params: the filter's condition
    (engine.data.query.where_sql), then NOT excluded and not in an eval pool unless asked. Raises what
    where_sql raises (FilterError, InputError) for a bad filter."""
    sc = as_scope(scope)
    parts: list[str] = []
    params: list = []
    if sc.filter is not None:
        w, p = where_sql(store, sc.filter, metrics=metrics)
        if w.strip() and w != "TRUE":
            parts.append(f"({w})")
            params += p
    if not sc.include_excluded:
        parts.append("NOT s.excluded")
    out = sorted(_left_out_eval(store, sc))
    if out:
        parts.append(f"s.pool_id NOT IN ({', '.join('?' * len(out))})")
        params += out
    return (" AND ".join(parts) or "TRUE"), params


def scope_ids(store: Store, scope: ScopeLike = None) -> np.ndarray:
    """The sample ids of a scope, sorted (int64)."""
    w, p = scope_sql(store, scope)
    c = store.cursor()
    try:
        res = c.execute(f"SELECT s.id FROM samples s WHERE {w} ORDER BY s.id", p).fetchnumpy()
    finally:
        c.close()
    return np.asarray(res["id"], dtype=np.int64)


def scope_count(store: Store, scope: ScopeLike = None) -> int:
    """How many samples a scope holds."""
    w, p = scope_sql(store, scope)
    return int(store.fetchall(f"SELECT count(*) FROM samples s WHERE {w}", p)[0][0])


def _bound(x: float) -> str:
    return f"{x:g}"


def _filter_words(store: Store, f: Filter | None, eval_names: dict[int, str]) -> list[str]:
    if f is None:
        return []
    out: list[str] = []
    if f.pool_ids is not None:
        if not f.pool_ids:
            out.append("no pool")
        else:
            names = dict(store.fetchall("SELECT id, name FROM pools WHERE id = ANY(?)", [list(map(int, f.pool_ids))]))
            shown = [f"{names.get(int(p), f'#{p}')}{' (eval)' if int(p) in eval_names else ''}" for p in f.pool_ids]
            out.append(("pool " if len(shown) == 1 else "pools ") + ", ".join(shown))
    if f.domains is not None:
        out.append(
            ("domain " if len(f.domains) == 1 else "domains ") + ", ".join(f.domains) if f.domains else "no domain"
        )
    if f.tags is not None:
        out.append(("tag " if len(f.tags) == 1 else "tags ") + ", ".join(f.tags) if f.tags else "no tag")
    if f.text:
        out.append(f"text {f.text!r}")
    for metric, (lo, hi) in (f.score_ranges or {}).items():
        if lo is not None and hi is not None:
            out.append(f"{metric} {_bound(lo)}..{_bound(hi)}")
        elif lo is not None:
            out.append(f"{metric} >= {_bound(lo)}")
        elif hi is not None:
            out.append(f"{metric} <= {_bound(hi)}")
    if f.expression and f.expression.strip():
        out.append(f"where {f.expression.strip()}")
    return out


def describe_scope(store: Store, scope: ScopeLike = None, n: int | None = None) -> str:
    """A scope in words, e.g. "412 samples: pool gsm8k, domain math, not excluded; eval pools left out"
    (`n`: the count when known, else counted here). The eval part is said only when the store has eval pools."""
    sc = as_scope(scope)
    n = scope_count(store, sc) if n is None else int(n)
    evals = eval_pools(store)
    words = _filter_words(store, sc.filter, evals)
    if not words:
        words = [sc.label or ("every sample" if sc.include_eval else "every training sample")]
    excluded_left_out = not sc.include_excluded or (sc.filter is not None and not sc.filter.include_excluded)
    words.append("not excluded" if excluded_left_out else "excluded included")
    text = f"{n:,} sample{'' if n == 1 else 's'}: {', '.join(words)}"
    if evals:
        out = _left_out_eval(store, sc)
        if sc.include_eval:
            text += "; eval pools included"
        elif out:
            text += "; eval pools left out" if len(out) == len(evals) else "; other eval pools left out"
    return text


def scope_params(scope: ScopeLike) -> dict[str, Any]:
    """A scope as JSON-ready data (saved with a clustering, a selection, an interpolation set)."""
    sc = as_scope(scope)
    f = None
    if sc.filter is not None:
        f = asdict(sc.filter)
        f["score_ranges"] = {k: list(v) for k, v in (f.get("score_ranges") or {}).items()}
    return {"filter": f, "include_excluded": sc.include_excluded, "include_eval": sc.include_eval}


def scope_from_params(d: dict | None) -> Scope:
    """The Scope of `scope_params` data (unknown filter keys are ignored)."""
    if not d:
        return Scope()
    f = d.get("filter")
    flt = None
    if isinstance(f, dict):
        known = set(Filter.__dataclass_fields__)
        kw = {k: v for k, v in f.items() if k in known}
        kw["score_ranges"] = {k: tuple(v) for k, v in (kw.get("score_ranges") or {}).items()}
        flt = Filter(**kw)
    return Scope(
        filter=flt, include_excluded=bool(d.get("include_excluded", False)), include_eval=bool(d.get("include_eval"))
    )


def domain_counts(store: Store, scope: ScopeLike = None) -> dict[str, int]:
    """Samples per domain in a scope (default: every training sample, not excluded), largest first."""
    w, p = scope_sql(store, scope)
    rows = store.fetchall(f"SELECT s.domain, count(*) FROM samples s WHERE {w} GROUP BY 1 ORDER BY 2 DESC, 1", p)
    return {d: int(k) for d, k in rows}


def eval_domain_counts(store: Store, *, include_excluded: bool = False) -> dict[str, int]:
    """Samples per domain in the eval pools (shown apart from the training counts), largest first."""
    ex = "" if include_excluded else " AND NOT s.excluded"
    rows = store.fetchall(
        f"SELECT s.domain, count(*) FROM samples s WHERE s.pool_id IN (SELECT id FROM pools WHERE {EVAL_ROLE_SQL})"
        f"{ex} GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    return {d: int(k) for d, k in rows}


def scope_choices(store: Store, f: Filter | None) -> list[tuple[str, Scope, str]]:
    """What a job started from a screen can work on, each said in words: ("browse", the Browse filter `f`,
    text) when `f` narrows anything, then ("all", every training sample, text). For a job's confirmation."""
    out = []
    if not filter_is_empty(f):
        sc = Scope(filter=f)
        out.append(("browse", sc, describe_scope(store, sc)))
    everything = Scope()
    out.append(("all", everything, describe_scope(store, everything)))
    return out


def left_out(store: Store) -> tuple[int, dict[str, int]]:
    """What every training sample (the default scope) leaves out: (excluded samples of training pools, samples
    of eval pools per domain). For a screen's note beside counts of the default scope."""
    n_ex = scope_count(store, Scope(include_excluded=True)) - scope_count(store, Scope())
    return n_ex, eval_domain_counts(store, include_excluded=True)


def left_out_words(store: Store) -> str:
    """`left_out` in words ("" when nothing is left out): "12 excluded samples left out; eval pools apart:
    math 30, code 20"."""
    n_ex, evals = left_out(store)
    parts = []
    if n_ex:
        parts.append(f"{n_ex:,} excluded sample{'' if n_ex == 1 else 's'} left out")
    if evals:
        parts.append("eval pools apart: " + ", ".join(f"{d} {n:,}" for d, n in evals.items()))
    return "; ".join(parts)
