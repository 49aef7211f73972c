"""Saved mixture versions: save (content-hash dedup), list, get, items and the diff of two versions."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.core.names import check_name, shown
from engine.mixtures.recipe import MixtureError, Recipe
from engine.mixtures.resolution import Item, Resolution, resolve

if TYPE_CHECKING:
    from engine.core.store import Store


@dataclass
class MixtureVersion:
    """One saved version of a mixture. per_domain: {domain: {"items", "tokens", "samples", "mixup"}}."""

    id: int
    name: str
    version: int
    content_hash: str
    recipe: Recipe
    n_items: int
    n_tokens: int
    per_domain: dict[str, dict]
    created_at: datetime | None
    note: str | None

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["recipe"] = self.recipe.to_dict()
        d["created_at"] = None if self.created_at is None else str(self.created_at)
        return d


_MV_SQL = """SELECT m.id, m.name, m.version, m.content_hash, m.recipe, m.created_at, m.note,
       i.domain, count(i.mixture_id), coalesce(sum(i.n_tokens), 0),
       count(i.mixture_id) FILTER (WHERE i.kind = 'sample'), count(i.mixture_id) FILTER (WHERE i.kind = 'mixup')
FROM mixtures m LEFT JOIN mixture_items i ON i.mixture_id = m.id
{where} GROUP BY ALL ORDER BY m.name, m.version, i.domain"""


def _versions(store: Store, where: str = "", params: list | None = None) -> list[MixtureVersion]:
    con = store.cursor()
    try:
        rows = con.execute(_MV_SQL.format(where=where), params or []).fetchall()
    finally:
        con.close()
    out: dict[int, MixtureVersion] = {}
    for mid, name, ver, h, recipe, created, note, dom, n, nt, ns, nm in rows:
        mv = out.get(mid)
        if mv is None:
            mv = out[mid] = MixtureVersion(
                mid, name, ver, h, Recipe.from_dict(json.loads(recipe)), 0, 0, {}, created, note
            )
        if dom is not None:
            mv.per_domain[dom] = {"items": int(n), "tokens": int(nt), "samples": int(ns), "mixup": int(nm)}
            mv.n_items += int(n)
            mv.n_tokens += int(nt)
    return list(out.values())


def list_mixtures(store: Store) -> list[MixtureVersion]:
    """The latest version of every saved mixture, by name."""
    con = store.cursor()
    try:
        ids = [
            r[0]
            for r in con.execute("SELECT arg_max(id, version) FROM mixtures GROUP BY name ORDER BY name").fetchall()
        ]
    finally:
        con.close()
    if not ids:
        return []
    return _versions(store, "WHERE m.id IN (SELECT unnest(?::INTEGER[]))", [ids])


def list_versions(store: Store) -> list[MixtureVersion]:
    """Every saved version of every mixture, by name then version."""
    return _versions(store)


def versions(store: Store, name: str) -> list[MixtureVersion]:
    """Every saved version of mixture `name`, oldest first (MixtureError when there is none)."""
    out = _versions(store, "WHERE m.name = ?", [name])
    if not out:
        raise MixtureError(_no_mixture(store, name))
    return out


def _no_mixture(store: Store, ref) -> str:
    con = store.cursor()
    try:
        names = [r[0] for r in con.execute("SELECT DISTINCT name FROM mixtures ORDER BY name").fetchall()]
    finally:
        con.close()
    return f"no mixture {shown(ref) if isinstance(ref, str) else repr(ref)}; mixtures: {', '.join(names) or 'none saved yet'}"


def parse_ref(ref: str | int, version: int | None = None) -> tuple[str | int, int | None]:
    """Split "NAME@v" into (NAME, v); an int ref is a mixture id."""
    if isinstance(ref, int):
        return ref, version
    name, sep, v = str(ref).rpartition("@")
    if sep and name and v.isdigit():
        if version is not None and int(v) != int(version):
            raise MixtureError(f"{ref!r} names version {v} but version={version} was also given")
        return name, int(v)
    return str(ref), version


def get_mixture(store: Store, ref: str | int, version: int | None = None) -> MixtureVersion:
    """A saved mixture version: ref = name, "name@v" or mixture id (an id names one version already);
    the latest version by default."""
    ref, version = parse_ref(ref, version)
    if isinstance(ref, int) and not isinstance(ref, bool):
        got = _versions(store, "WHERE m.id = ?", [ref])
        if not got:
            raise MixtureError(f"no mixture version with id {ref}")
        return got[0]
    vs = _versions(store, "WHERE m.name = ?", [ref])
    if not vs and str(ref).isdigit():
        return get_mixture(store, int(ref))
    if not vs:
        raise MixtureError(_no_mixture(store, ref))
    if version is None:
        return vs[-1]
    for v in vs:
        if v.version == int(version):
            return v
    raise MixtureError(f"mixture {ref!r} has no version {version}; versions: {', '.join(str(v.version) for v in vs)}")


def _check_name(name: str) -> str:
    return check_name(name, "mixture name", forbid={"@": "NAME@v names a version"}, error=MixtureError)


def _check_components(recipe: Recipe) -> None:
    """A component's domain and a name given to it keep the name rule (MixtureError): both are shown in tables,
    stored with every item and, for the domain, written into training records. A default name (KIND:REF) is
    made of a reference that was checked where it was named."""
    for c in recipe.components:
        if c.domain is not None:
            check_name(c.domain, "component domain", error=MixtureError)
        if c.name != f"{c.kind}:{c.ref}":
            check_name(c.name, "component name", error=MixtureError)


def _insert_version(con, store: Store, name: str, recipe: Recipe, h: str, items: list[Item], note: str | None) -> int:
    ver = con.execute("SELECT coalesce(max(version), 0) + 1 FROM mixtures WHERE name = ?", [name]).fetchall()[0][0]
    mid = store.next_id("mixtures", con)
    con.execute(
        "INSERT INTO mixtures (id, name, version, recipe, content_hash, note) VALUES (?, ?, ?, ?, ?, ?)",
        [mid, name, int(ver), json.dumps(recipe.to_dict(), sort_keys=True), h, note],
    )
    if items:
        import pyarrow as pa

        tbl = pa.table(
            {
                "stage": pa.array([i.stage for i in items], pa.int32()),
                "position": pa.array([i.position for i in items], pa.int64()),
                "kind": pa.array([i.kind for i in items], pa.string()),
                "sample_id": pa.array([i.sample_id for i in items], pa.int64()),
                "interp_set_id": pa.array([i.set_id for i in items], pa.int32()),
                "pair_index": pa.array([i.pair_index for i in items], pa.int32()),
                "domain": pa.array([i.domain for i in items], pa.string()),
                "component": pa.array([i.component for i in items], pa.string()),
                "n_tokens": pa.array([i.n_tokens for i in items], pa.int32()),
            }
        )
        con.register("_mix_items", tbl)
        try:
            con.execute(
                "INSERT INTO mixture_items SELECT ?, stage, position, kind, sample_id, interp_set_id, "
                "pair_index, domain, component, n_tokens FROM _mix_items",
                [mid],
            )
        finally:
            con.unregister("_mix_items")
    return mid


def save(
    store: Store, name: str, recipe: Recipe | dict, note: str | None = None, resolution: Resolution | None = None
) -> MixtureVersion:
    """Resolve and save `recipe` as mixture `name`: the latest version unchanged when its content hash
    matches (same recipe, same resolved items), else a new version (latest + 1) with its items.
    `resolution` may pass a fresh `resolve(store, recipe)` result to skip resolving twice."""
    name = _check_name(name)
    if isinstance(recipe, dict):
        recipe = Recipe.from_dict(recipe)
    _check_components(recipe)
    res = resolution if resolution is not None and resolution.recipe is recipe else resolve(store, recipe)
    if not res.items:  # a version nothing can train on: a component naming nothing, a budget of 0
        why = "its budget is 0" if recipe.budget == 0 else "no component matches a sample it can use"
        raise MixtureError(
            f"mixture {name!r}: the recipe resolves to no items ({why}"
            f"{'; ' + '; '.join(res.warnings) if res.warnings else ''}); nothing saved"
        )
    with store.transaction() as con:
        rows = con.execute(
            "SELECT id, content_hash FROM mixtures WHERE name = ? ORDER BY version DESC LIMIT 1", [name]
        ).fetchall()
        if rows and rows[0][1] == res.content_hash:
            mid = rows[0][0]
        else:
            mid = _insert_version(con, store, name, recipe, res.content_hash, res.items, note)
    return get_mixture(store, mid)


def _items(store: Store, mixture_id: int) -> list[Item]:
    rows = store.fetchall(
        "SELECT stage, position, kind, domain, component, coalesce(n_tokens, 0), sample_id, "
        "interp_set_id, pair_index FROM mixture_items WHERE mixture_id = ? ORDER BY stage, position",
        [mixture_id],
    )
    return [Item(*r) for r in rows]


def items(store: Store, ref: str | int, version: int | None = None) -> list[Item]:
    """The saved items of a mixture version in training order (stage, position)."""
    return _items(store, get_mixture(store, ref, version).id)


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(d, list) and d and all(isinstance(x, dict) and "name" in x for x in d):
        for x in d:
            out.update(_flat({k: v for k, v in x.items() if k != "name"}, f"{prefix}[{x['name']}]"))
    else:
        out[prefix] = d
    return out


def diff(store: Store, name: str, v1: int, v2: int) -> dict:
    """What changed from version v1 to v2 of mixture `name`: recipe fields ({path: {"old", "new"}}) and,
    per domain, items added / removed / kept (multisets of items, repeats counted)."""
    a, b = get_mixture(store, name, int(v1)), get_mixture(store, name, int(v2))
    fa, fb = _flat(a.recipe.to_dict()), _flat(b.recipe.to_dict())
    recipe = {k: {"old": fa.get(k), "new": fb.get(k)} for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)}
    ia, ib = _items(store, a.id), _items(store, b.id)
    per: dict[str, dict] = {}
    for dom in sorted({i.domain for i in ia} | {i.domain for i in ib}):
        ca = Counter(i.key for i in ia if i.domain == dom)
        cb = Counter(i.key for i in ib if i.domain == dom)
        per[dom] = {
            "old": sum(ca.values()),
            "new": sum(cb.values()),
            "added": sum((cb - ca).values()),
            "removed": sum((ca - cb).values()),
            "kept": sum((ca & cb).values()),
        }
    return {
        "name": name,
        "v1": a.version,
        "v2": b.version,
        "hash": [a.content_hash, b.content_hash],
        "same": a.content_hash == b.content_hash,
        "n_items": [a.n_items, b.n_items],
        "n_tokens": [a.n_tokens, b.n_tokens],
        "recipe": recipe,
        "domains": per,
    }
