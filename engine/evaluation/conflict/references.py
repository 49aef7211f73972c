"""The runs a Conflict Rate compares against: specialists, two-domain pair runs, the base-model run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from engine.evaluation.conflict.rates import ConflictError

if TYPE_CHECKING:
    from engine.core.store import Store


def _run(store: Store, run_id):
    from engine.evaluation.evaluate import EvaluationError, get_run_row

    try:
        return get_run_row(store, run_id)
    except EvaluationError as e:
        raise ConflictError(str(e)) from e


def run_domains(store: Store, run) -> list[str]:
    """The training domains of a run's mixture (mixup items not counted)."""
    if run.mixture_id is None:
        return []
    rows = store.fetchall(
        "SELECT DISTINCT domain FROM mixture_items WHERE mixture_id = ? AND kind = 'sample' ORDER BY domain",
        [run.mixture_id],
    )
    return [r[0] for r in rows]


def _read_record(run, name: str) -> dict:
    """A JSON object recorded in the run folder (specialists.json, pairs.json); {} when missing or unreadable."""
    f = Path(run.folder) / name if run.folder else None
    if f is None or not f.is_file():
        return {}
    try:
        raw = json.loads(f.read_text())
    except (ValueError, json.JSONDecodeError):
        return {}
    return raw if isinstance(raw, dict) else {}


def _merge_record(run, name: str, new: dict) -> None:
    """Merge `new` into the JSON object recorded in the run folder (when the folder exists)."""
    f = Path(run.folder) / name if run.folder else None
    if f is not None and f.parent.is_dir():
        f.write_text(json.dumps(_read_record(run, name) | new, indent=1))


def _alive(con, ids) -> set[int]:
    """The ids among `ids` of runs that exist and are not failed or cancelled."""
    return {
        r[0]
        for r in con.execute(
            "SELECT id FROM runs WHERE id IN (SELECT unnest(?::INTEGER[])) AND status NOT IN ('failed', 'cancelled')",
            [list(ids) or [-1]],
        ).fetchall()
    }


def _settings(run):
    """The run's LoRA and training settings (for runs that must train the same way)."""
    from engine.training import LoraSettings, TrainSettings, settings_from_dict

    cfg = run.config or {}
    return (
        settings_from_dict(LoraSettings, cfg.get("lora") or {}),
        settings_from_dict(TrainSettings, cfg.get("train") or {}),
    )


def _child_run(store: Store, run, mixture_id: int, lora, train, *, kind: str, **extra) -> int:
    """Create (or reuse an identical) multi-task run under `run` on `mixture_id`, trained like it; its id."""
    from engine.training import runs

    return runs.create_run(
        store,
        mixture_id,
        base_model=run.base_model,
        protocol="multi_task",
        lora=lora,
        train=train,
        kind=kind,
        parent_run_id=run.id,
        reuse=True,
        **extra,
    ).id


def specialists(store: Store, run_id) -> dict[str, int]:
    """domain -> specialist run id serving this mixture run (recorded by ensure_specialists, else runs of kind
    'specialist' whose parent is this run)."""
    run = _run(store, run_id)
    out: dict[str, int] = {}
    con = store.cursor()
    try:
        for rid, dom in con.execute(
            "SELECT id, domain FROM runs WHERE kind = 'specialist' AND parent_run_id = ? "
            "AND status NOT IN ('failed', 'cancelled') ORDER BY id",
            [run.id],
        ).fetchall():
            if dom:
                out[dom] = rid
        try:
            recorded = {str(k): int(v) for k, v in _read_record(run, "specialists.json").items()}
        except (ValueError, TypeError):
            recorded = {}
        if recorded:
            alive = _alive(con, recorded.values())
            out.update({d: r for d, r in recorded.items() if r in alive})
    finally:
        con.close()
    return out


def ensure_specialists(store: Store, run_id, *, domains: list[str] | None = None) -> dict[str, int]:
    """For each domain of a mixture run, create (or reuse, when an identical one exists: same base model, domain
    data and settings hash) a single-domain specialist run with the same protocol settings, LoRA and training
    settings. Returns domain -> specialist run id; the runs are queued for training (runs.tick starts them)."""
    from engine import mixtures

    run = _run(store, run_id)
    if run.kind != "mixture" or run.mixture_id is None:
        raise ConflictError(f"run {run.name!r} is a {run.kind} run; specialists serve mixture runs")
    have = run_domains(store, run)
    want = list(domains) if domains else have
    unknown = [d for d in want if d not in have]
    if unknown:
        raise ConflictError(
            f"run {run.name!r} has no training items of domain(s) {', '.join(unknown)}; its domains: {', '.join(have)}"
        )
    lora, train = _settings(run)
    out = {}
    for d in want:
        sub = mixtures.domain_subset(store, run.mixture_id, d)
        out[d] = _child_run(store, run, sub.id, lora, train, kind="specialist", domain=d)
    _merge_record(run, "specialists.json", out)
    return out


def _pair_key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def pair_runs(store: Store, run_id) -> dict[tuple[str, str], int]:
    """(a, b) (sorted) -> two-domain run id recorded for this run by ensure_pair_runs (`<run folder>/pairs.json`);
    runs since failed, cancelled or deleted are left out."""
    run = _run(store, run_id)
    try:
        recorded = {
            _pair_key(*str(k).split("|", 1)): int(v)
            for k, v in _read_record(run, "pairs.json").items()
            if "|" in str(k)
        }
    except (ValueError, TypeError):
        return {}
    if not recorded:
        return {}
    con = store.cursor()
    try:
        alive = _alive(con, recorded.values())
    finally:
        con.close()
    return {k: v for k, v in recorded.items() if v in alive}


def ensure_pair_runs(store: Store, run_id, *, pairs: list[tuple[str, str]] | None = None) -> dict[tuple[str, str], int]:
    """For each unordered pair of a mixture run's domains (or the given pairs), create or reuse (same base model,
    pair data and settings hash) a run trained on exactly those two domains: `mixtures.domains_subset` of the
    run's mixture, the run's base model, LoRA and training settings, protocol multi_task, kind 'mixture',
    parent_run_id = this run (a reused run keeps the parent that created it). They fill the outcome half of the
    interference matrix once trained and evaluated with their specialists, which are the parent's (same domain
    data and settings => same content hash): ensure_specialists is called on each pair run and reuses them (or
    queues them when the parent has none yet), so specialists(pair run) is set. Records the mapping in
    `<run folder>/pairs.json`. Returns (a, b) (sorted) -> run id; new runs are queued (runs.tick starts them)."""
    from engine import mixtures

    run = _run(store, run_id)
    if run.kind != "mixture" or run.mixture_id is None:
        raise ConflictError(f"run {run.name!r} is a {run.kind} run; pair runs serve mixture runs")
    have = run_domains(store, run)
    if pairs is None:
        if len(have) < 2:
            raise ConflictError(
                f"run {run.name!r} has {len(have)} training domain(s) ({', '.join(have) or 'none'});"
                " a domain pair needs two"
            )
        want = [(a, b) for i, a in enumerate(have) for b in have[i + 1 :]]
    else:
        want = []
        for p in pairs:
            if isinstance(p, str):
                p = tuple(x.strip() for x in p.replace("+", "|").replace(",", "|").split("|"))
            if len(p) != 2 or p[0] == p[1]:
                raise ConflictError(f"a pair is two different domains, got {p!r}")
            unknown = [d for d in p if d not in have]
            if unknown:
                raise ConflictError(
                    f"run {run.name!r} has no training items of domain(s) {', '.join(unknown)}; "
                    f"its domains: {', '.join(have)}"
                )
            k = _pair_key(str(p[0]), str(p[1]))
            if k not in want:
                want.append(k)
        if not want:
            raise ConflictError("give at least one pair of domains")
    lora, train = _settings(run)
    out: dict[tuple[str, str], int] = {}
    for a, b in want:
        sub = mixtures.domains_subset(store, run.mixture_id, [a, b])
        out[(a, b)] = pr = _child_run(store, run, sub.id, lora, train, kind="mixture")
        ensure_specialists(store, pr)  # the parent's specialists (reused), or queued now when it has none
    _merge_record(run, "pairs.json", {f"{a}|{b}": r for (a, b), r in out.items()})
    return out


def base_run_for(store: Store, run) -> int | None:
    """The latest base-model run (kind 'base') of the same base model, if one exists."""
    rows = store.fetchall(
        "SELECT id FROM runs WHERE kind = 'base' AND base_model = ? AND status = 'done' ORDER BY id DESC LIMIT 1",
        [run.base_model],
    )
    return rows[0][0] if rows else None
