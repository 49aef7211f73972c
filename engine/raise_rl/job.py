"""RAISE as a job: the pool, target and features written to a job folder (prepare), the policy trained there episode
by episode with a checkpoint after each (train_policy: a stopped training resumes at its next episode, and gives
the same result as one that never stopped), and the deploy: the trained policy picks the batch of every step of a
fresh run, and those batches go to the run queue as a normal run that replays them (deploy_run).

Folder files: spec.json (base model, settings, where the data came from, "store"), pool.jsonl, val.jsonl, emb.npy
(optional), episodes.jsonl (one line per finished episode: return, final metric, PPO losses, the picks of every
step), policy.pt (the checkpoint), status.json, plan.json (the deploy's picks per step), cancel (the flag file).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from engine.core.jobs import CancelToken, JobFolder, read_jsonl, write_json
from engine.raise_rl.env import Env, RaiseSettings, as_dict, settings_from
from engine.raise_rl.policy import PPOSettings, RaiseError, Replay, attribution, feature_groups, make_policy, ppo_update
from engine.raise_rl.settings import ACCURACY_SCORERS

# -- prepare ---------------------------------------------------------------------------------------------------


def _pool_records(store, sample_ids: list[int]) -> list[dict]:
    c = store.cursor()
    try:
        rows = c.execute(
            "SELECT id, messages, system, tools, domain FROM samples WHERE id IN (SELECT unnest(?::BIGINT[])) "
            "ORDER BY id",
            [list(map(int, sample_ids))],
        ).fetchall()
    finally:
        c.close()
    out = []
    for sid, m, s, t, d in rows:
        out.append(
            {
                "sample_id": int(sid),
                "domain": d,
                "messages": json.loads(m) if isinstance(m, str) else m,
                "system": s,
                "tools": (json.loads(t) if isinstance(t, str) else t) or None,
            }
        )
    return out


def _checkable(store, recs: list[dict]) -> list[dict]:
    """The target's records with what the accuracy reward needs: the scorer and its reference and the prompt
    messages, from the evaluation's own item detection (engine.evaluation.evaluate.detect_item); none where the
    item has nothing checkable."""
    from engine.evaluation.evaluate.sets import detect_item

    c = store.cursor()
    try:
        rows = c.execute(
            "SELECT id, domain, messages, meta, tools FROM samples WHERE id IN (SELECT unnest(?::BIGINT[]))",
            [[r["sample_id"] for r in recs]],
        ).fetchall()
    finally:
        c.close()
    items = {int(r[0]): detect_item(*r) for r in rows}
    for r in recs:
        it = items.get(r["sample_id"])
        if it is not None and it.scorer in ACCURACY_SCORERS:
            r.update(scorer=it.scorer, reference=it.reference, prompt=it.messages, prompt_tools=it.tools)
    return recs


def prepare(
    store,
    folder: str | Path,
    *,
    base_model: str,
    target: str,
    scope=None,
    embeddings: str | None = None,
    text_kind: str = "conversation",
    clustering: str | None = None,
    settings: RaiseSettings | dict | None = None,
    ppo: PPOSettings | dict | None = None,
) -> JobFolder:
    """Write a policy-training job folder: the scope's samples (pool.jsonl), the target eval pool's items
    (val.jsonl), the stored embeddings of `embeddings` (emb.npy; none: the semantic state is zeros) and the
    clusters of `clustering` (none: one cluster, so the diversity constraint is void)."""
    from engine.core.paths import store_id
    from engine.data.scope import describe_scope, eval_pools, scope_ids, scope_params

    s = settings if isinstance(settings, RaiseSettings) else settings_from(settings)
    s.validate()
    p = ppo if isinstance(ppo, PPOSettings) else PPOSettings(**(ppo or {}))
    p.validate()
    pools = eval_pools(store)
    if target not in pools.values():
        names = ", ".join(sorted(pools.values())) or "none"
        raise RaiseError(f"no eval pool named {target!r} (eval pools: {names})")
    pid = next(i for i, n in pools.items() if n == target)
    ids = scope_ids(store, scope)
    if len(ids) < s.candidates:
        raise RaiseError(f"the scope holds {len(ids)} samples; candidates is {s.candidates}: lower it or widen it")
    pool = _pool_records(store, ids.tolist())
    val_ids = [int(r[0]) for r in store.fetchall("SELECT id FROM samples WHERE pool_id = ? ORDER BY id", [pid])]
    val = _checkable(store, _pool_records(store, val_ids))
    if s.metric == "accuracy" and not any(r.get("scorer") in ACCURACY_SCORERS for r in val):
        raise RaiseError(
            f"metric accuracy: no item of eval pool {target!r} has an answer a scorer checks "
            f"({', '.join(ACCURACY_SCORERS)}); use the NLL metric"
        )
    if clustering:
        from engine.geometry.cluster_store import _row

        cid = _row(store, clustering)[0]
        got = dict(store.fetchall("SELECT sample_id, cluster FROM cluster_assignments WHERE clustering_id = ?", [cid]))
        for r in pool:
            r["cluster"] = int(got.get(r["sample_id"], -1))  # unassigned samples share the noise cluster -1
    f = JobFolder(folder).claim(store, chunks=False)
    emb_note = None
    if embeddings:
        from engine.geometry.embeddings import load_embeddings

        eids, X = load_embeddings(store, model=embeddings, text_kind=text_kind, sample_ids=ids)
        if len(eids) == 0:
            raise RaiseError(f"no stored embeddings of model {embeddings!r} ({text_kind}) for this scope")
        pos = {int(e): i for i, e in enumerate(eids)}
        E = np.zeros((len(pool), X.shape[1]), np.float32)
        for i, r in enumerate(pool):
            if r["sample_id"] in pos:
                E[i] = X[pos[r["sample_id"]]]
        np.save(f.file("emb.npy"), E)
        emb_note = f"{len(pos)} of {len(pool)} embedded"
    elif f.file("emb.npy").exists():
        f.file("emb.npy").unlink()
    f.write_input(pool, name="pool.jsonl")
    f.write_input(val, name="val.jsonl")
    f.write_spec(
        {
            "base_model": base_model,
            "settings": as_dict(s),
            "ppo": p.__dict__,
            "target": target,
            "scope": scope_params(scope) if scope is not None else None,
            "scope_words": describe_scope(store, scope),
            "embeddings": embeddings,
            "text_kind": text_kind,
            "embedded": emb_note,
            "clustering": clustering,
            "pool": len(pool),
            "val": len(val),
            "store": store_id(store),
        }
    )
    return f


# -- train -----------------------------------------------------------------------------------------------------


def _load(folder: JobFolder) -> tuple[dict, RaiseSettings, PPOSettings, Env]:
    spec = folder.read_spec()
    s = settings_from(spec["settings"])
    p = PPOSettings(**spec["ppo"])
    p.validate()
    pool = read_jsonl(folder.file("pool.jsonl"))
    val = read_jsonl(folder.file("val.jsonl"))
    emb = np.load(folder.file("emb.npy")) if folder.file("emb.npy").exists() else None
    clusters = [r.get("cluster", 0) for r in pool]
    env = Env(spec["base_model"], pool, val, s, emb=emb, clusters=clusters)
    return spec, s, p, env


def _checkpoint(folder: JobFolder, state: dict) -> None:
    import torch

    tmp = folder.file("policy.pt.tmp")
    torch.save(state, tmp)
    os.replace(tmp, folder.file("policy.pt"))


def load_checkpoint(folder: JobFolder | str | Path) -> dict | None:
    import torch

    path = JobFolder(folder).file("policy.pt")
    if not path.exists():
        return None
    return torch.load(path, weights_only=False)


def train_policy(
    folder: str | Path, *, cancel: CancelToken | None = None, on_episode=None, stop_after: int | None = None
):
    """Train the policy of a prepared folder, resuming after its last finished episode. on_episode(row) after each
    episode; stop_after: stop after that many episodes in this call (tests: an interrupted training). Returns the
    status dict (also status.json)."""
    import torch

    f = JobFolder(folder)
    cancel = cancel or CancelToken(f.file("cancel"))
    spec, s, p, env = _load(f)
    policy = make_policy(env.n_features, p.hidden, s.seed)
    opt = torch.optim.Adam(policy.parameters(), lr=p.lr)
    replay = Replay(p.replay_episodes)
    done = 0
    ck = load_checkpoint(f)
    if ck is not None:
        policy.load_state_dict(ck["policy"])
        opt.load_state_dict(ck["opt"])
        replay = ck["replay"]
        done = ck["episode"]
    elif f.file("episodes.jsonl").exists():
        f.file("episodes.jsonl").unlink()  # rows of an attempt that died before its first checkpoint
    status = {"status": "running", "episode": done, "episodes": s.episodes, "pid": os.getpid()}
    f.write_status(**status)
    ran = 0
    t_start = time.perf_counter()
    try:
        for ep in range(done, s.episodes):
            if stop_after is not None and ran >= stop_after:
                status.update(status="stopped")
                break
            rng = np.random.default_rng([s.seed, ep])
            trs, log = env.episode(policy, ep, rng, cancel=cancel)
            replay.add(trs, p.gamma, p.lam)
            losses = ppo_update(policy, opt, replay, p)
            row = {
                "episode": ep + 1,
                "return": float(sum(t.reward for t in trs)),
                "val0": env.val0,
                "val_final": log[-1]["val"],
                **losses,
                "attribution": attribution(policy, trs[-1].x, feature_groups(s.sem_dim)),
                "steps": log,
            }
            with open(f.file("episodes.jsonl"), "a", encoding="utf-8") as out:
                out.write(json.dumps(row) + "\n")
            _checkpoint(
                f, {"episode": ep + 1, "policy": policy.state_dict(), "opt": opt.state_dict(), "replay": replay}
            )
            ran += 1
            status.update(episode=ep + 1, last_return=row["return"], timings=dict(env.timings))
            f.write_status(**status)
            if on_episode is not None:
                on_episode(row)
        else:
            status.update(status="done")
    except Exception as e:
        from engine.core.errors import Cancelled

        if isinstance(e, Cancelled):
            status.update(status="cancelled")
            f.write_status(**status)
            return status
        status.update(status="failed", error=f"{type(e).__name__}: {e}")
        f.write_status(**status)
        raise
    status["seconds"] = time.perf_counter() - t_start
    f.write_status(**status)
    return status


def start(folder: str | Path):
    """Train the policy of a prepared folder in a worker subprocess (engine.raise_rl.worker); the Popen."""
    from engine.core.jobs import spawn
    from engine.raise_rl.worker import MODULE

    return spawn(MODULE, folder)


def stop(folder: str | Path, proc=None, *, grace: float | None = 30.0) -> int | None:
    """Ask the folder's worker to stop at its next step (the cancel flag and SIGTERM)."""
    from engine.core.jobs import cancel
    from engine.raise_rl.worker import MODULE

    f = JobFolder(folder)
    pid = proc if proc is not None else (int(f.file("pid").read_text()) if f.file("pid").exists() else None)
    return cancel(pid, f, grace=grace, module=MODULE)


def episodes(folder: str | Path) -> list[dict]:
    """The finished episodes' rows (episodes.jsonl), oldest first."""
    path = JobFolder(folder).file("episodes.jsonl")
    return read_jsonl(path) if path.exists() else []


# -- deploy ----------------------------------------------------------------------------------------------------


def plan(folder: str | Path, *, greedy: bool = True, random: bool = False) -> dict:
    """The trained policy's picks for every step of a fresh run (the same start, the policy's own rollout;
    greedy: top-k under the quota, ours), written to plan.json: {"steps": [{"step", "samples", "clusters"}],
    "val0", "val_final"}. random: the baseline at equal steps instead — uniform draws under the same cluster quota
    (the untrained policy, whose scores are all zero), written to plan-random.json."""
    f = JobFolder(folder)
    ck = load_checkpoint(f)
    if ck is None and not random:
        raise RaiseError(f"{f.path} has no trained policy yet (train first)")
    spec, s, p, env = _load(f)
    policy = make_policy(env.n_features, p.hidden, s.seed)
    if not random:
        policy.load_state_dict(ck["policy"])
    rng = np.random.default_rng([s.seed, 10**6])
    _trs, log = env.episode(policy, 10**6, rng, greedy=greedy and not random)
    out = {
        "episodes_trained": 0 if random else ck["episode"],
        "baseline": "random" if random else None,
        "greedy": greedy and not random,
        "val0": env.val0,
        "val_final": log[-1]["val"],
        "steps": [{"step": r["step"], "samples": r["samples"], "clusters": r["clusters"]} for r in log],
    }
    write_json(f.file("plan-random.json" if random else "plan.json"), out, indent=1)
    return out


def deploy_run(store, folder: str | Path, *, name: str | None = None, plan_obj: dict | None = None):
    """Queue a normal run whose batches are the plan's (plan.json, made by `plan` when missing): its data.jsonl holds
    one record per pick with "plan_step", which the training loop turns into exactly those batches in that order
    (engine.training.data.fixed_plan). Returns the RunInfo."""
    from engine.training.runs import create_run

    f = JobFolder(folder)
    spec = f.read_spec()
    s = settings_from(spec["settings"])
    if plan_obj is None:
        plan_obj = json.loads(f.file("plan.json").read_text()) if f.file("plan.json").exists() else plan(folder)
    pool = {r["sample_id"]: r for r in read_jsonl(f.file("pool.jsonl"))}
    recs = []
    for st in plan_obj["steps"]:
        for sid in st["samples"]:
            r = pool[sid]
            recs.append(
                {
                    "kind": "sample",
                    "domain": r.get("domain") or "general",
                    "sample_id": sid,
                    "messages": r["messages"],
                    "system": r.get("system"),
                    "tools": r.get("tools"),
                    "plan_step": st["step"],
                }
            )
    lora = {"r": s.lora_r, "alpha": s.lora_alpha, "dropout": s.lora_dropout, "target_modules": s.target_modules}
    train = {
        "epochs": 1.0,
        "lr": s.lr,
        "max_len": s.max_len,
        "warmup_ratio": 0.0,
        "seed": s.seed,
        "grad_accum": 1,
        "eval_every": 0,
        "eval_per_domain": 0,
        "save_every": 0,
        "grad_conflict_every": 0,
        "packing": "padded",
    }
    run = create_run(
        store,
        base_model=spec["base_model"],
        records=recs,
        lora=lora,
        train=train,
        name=name or f"raise-{Path(f.path).name}",
    )
    # beside the records: the plan as the policy made it, and which RAISE job made it
    write_json(Path(run.folder) / "raise_plan.json", plan_obj | {"raise_job": str(f.path)}, indent=1)
    return run
