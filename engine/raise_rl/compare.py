"""The RAISE comparison at equal steps: the deploy run (the trained policy's batches), random batches under the same
cluster quota, static IFD top-k and full data, each a normal run of the job's T steps with the same recipe (the
episodes' lr, LoRA, max_len, seed), and the base model; evaluated per domain on the target (and other sets).

Arms (docs/raise.md):
- raise: plan.json, the trained policy's greedy rollout (engine.raise_rl.job.plan).
- random: plan-random.json, uniform draws under the same cluster quota from the same candidates.
- ifd: the T x batch job samples with the highest stored IFD (latest score of the metric, of the scorer model
  when given; only IFD < 1 counts, as in Superfiltering), in rank order, `batch` per step (ours: static, one ranking
  for the whole run, no cluster quota). No stored IFD for the job's samples: a clear error naming the scoring
  command; too few scored samples: an error naming how many.
- full: every trainable sample of the job, shuffled with the job's seed and cut into T near-equal batches (ours:
  full data at equal steps means a larger batch, each sample seen once).
- base: the base model untrained (a run of kind base).

The runs are recorded in compare.json of the job folder, so running the comparison again reuses them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.core.jobs import JobFolder, write_json
from engine.raise_rl.policy import RaiseError

ARMS = ("raise", "random", "ifd", "full", "base")


def check_arms(arms) -> list[str]:
    """The arms asked for, in ARMS order; RaiseError naming an unknown one."""
    if isinstance(arms, str):
        arms = [a.strip() for a in arms.split(",") if a.strip()]
    arms = list(arms or ARMS)
    bad = [a for a in arms if a not in ARMS]
    if bad:
        raise RaiseError(f"unknown arm(s) {', '.join(bad)}; choose from {', '.join(ARMS)}")
    return [a for a in ARMS if a in arms]


def _trainable(folder: JobFolder) -> tuple[list[int], int, int, int]:
    """(the job's trainable sample ids in pool order, T, batch, seed): loads the job's environment (its tokenizer
    decides which samples have an answer within max_len)."""
    from engine.raise_rl.job import _load

    _spec, s, _p, env = _load(folder)
    return [int(i) for i in env.sample_ids], int(s.steps), int(s.batch), int(s.seed)


def _chunks(ids: list[int], steps: int) -> list[dict]:
    parts = np.array_split(np.asarray(ids, dtype=np.int64), steps)
    return [{"step": k + 1, "samples": [int(x) for x in p], "clusters": []} for k, p in enumerate(parts) if len(p)]


def ifd_plan(store, folder, *, metric: str = "ifd", model: str | None = None, ids=None, T=None, B=None) -> dict:
    """The static IFD top-k plan (see the module text); written to plan-ifd.json."""
    from engine.quality.selection import _latest_scores

    f = JobFolder(folder)
    if ids is None:
        ids, T, B, _seed = _trainable(f)
    vals = _latest_scores(store, metric, list(ids), model)
    if not vals:
        who = f" of scorer {model}" if model else ""
        raise RaiseError(
            f"no stored {metric} scores{who} for the job's samples: score them first "
            f"(workbench score {metric} ...), or leave the ifd arm out (--arms raise,random,full,base)"
        )
    ok = sorted(((v, i) for i, v in vals.items() if v is not None and v < 1.0), key=lambda t: (-t[0], t[1]))
    need = T * B
    if len(ok) < need:
        raise RaiseError(
            f"the ifd arm needs {need} samples with {metric} < 1 (T {T} x batch {B}); the job's samples have "
            f"{len(ok)} of {len(ids)}: score more of them or leave the ifd arm out"
        )
    top = [i for _v, i in ok[:need]]
    steps = [{"step": k + 1, "samples": top[k * B : (k + 1) * B], "clusters": []} for k in range(T)]
    out = {"baseline": "ifd", "metric": metric, "model": model, "n_scored": len(vals), "steps": steps}
    write_json(f.file("plan-ifd.json"), out, indent=1)
    return out


def full_plan(folder, *, ids=None, T=None, seed=None) -> dict:
    """Full data at equal steps (see the module text); written to plan-full.json."""
    f = JobFolder(folder)
    if ids is None:
        ids, T, _B, seed = _trainable(f)
    order = [int(ids[i]) for i in np.random.default_rng([int(seed), 7]).permutation(len(ids))]
    out = {"baseline": "full", "n": len(order), "steps": _chunks(order, T)}
    write_json(f.file("plan-full.json"), out, indent=1)
    return out


def _existing(store, run_id) -> bool:
    from engine.training.runs import get_run

    try:
        return get_run(store, int(run_id)).status not in ("failed", "cancelled")
    except Exception:
        return False


def _deployed(store, job_path, steps: list[dict]) -> int | None:
    """The run already queued from this job with exactly these batches (its raise_plan.json), when one is not failed
    or cancelled: the comparison reuses the deploy run and the random baseline instead of training them again."""
    from engine.training.runs import list_runs

    for r in list_runs(store):
        if r.status in ("failed", "cancelled") or not r.folder:
            continue
        kept = Path(r.folder) / "raise_plan.json"
        if not kept.exists():
            continue
        try:
            got = json.loads(kept.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if got.get("raise_job") == str(job_path) and got.get("steps") == steps:
            return int(r.id)
    return None


def queue_comparison(store, folder, *, arms=None, metric: str = "ifd", model: str | None = None) -> dict:
    """Make the plans and queue one run per arm (those already in compare.json and not failed are kept).
    Returns {arm: run id}."""
    from engine.raise_rl.job import deploy_run, load_checkpoint, plan
    from engine.training.runs import create_run

    f = JobFolder(folder)
    if not f.file("spec.json").exists():
        raise RaiseError(f"{f.path} is not a RAISE job folder (no spec.json)")
    arms = check_arms(arms)
    if "raise" in arms and load_checkpoint(f) is None:
        raise RaiseError(f"{f.path} has no trained policy yet: train it first, or leave the raise arm out")
    known = json.loads(f.file("compare.json").read_text()) if f.file("compare.json").exists() else {}
    runs = {a: int(r) for a, r in known.get("runs", {}).items() if _existing(store, r)}
    job = Path(f.path).name
    todo = [a for a in arms if a not in runs]
    trainable = None
    if any(a in ("ifd", "full") for a in todo):
        trainable = _trainable(f)
    # plans first, so a missing score refuses before any run is queued
    plans = {}
    for a in todo:
        if a == "raise":
            plans[a] = json.loads(f.file("plan.json").read_text()) if f.file("plan.json").exists() else plan(f.path)
        elif a == "random":
            rp = f.file("plan-random.json")
            plans[a] = json.loads(rp.read_text()) if rp.exists() else plan(f.path, random=True)
        elif a == "ifd":
            ids, T, B, _ = trainable
            plans[a] = ifd_plan(store, f.path, metric=metric, model=model, ids=ids, T=T, B=B)
        elif a == "full":
            ids, T, _B, seed = trainable
            plans[a] = full_plan(f.path, ids=ids, T=T, seed=seed)
    for a in todo:
        if a == "base":
            runs[a] = int(create_run(store, base_model=f.read_spec()["base_model"], kind="base", reuse=True).id)
        else:
            same = _deployed(store, f.path, plans[a]["steps"])  # `d` / `D` may have queued this very plan already
            runs[a] = (
                same
                if same is not None
                else int(deploy_run(store, f.path, name=f"raise-{job}-{a}", plan_obj=plans[a]).id)
            )
    write_json(f.file("compare.json"), {"runs": runs, "arms": arms})
    return {a: runs[a] for a in arms}


def comparison_rows(summaries, arm_of_run: dict[int, str]) -> list[dict]:
    """One row per (eval set, domain, metric) with each arm's value and item count: {"eval_set", "domain",
    "metric", "values": {arm: value}, "n": {arm: n}}; rows sorted by set, domain, metric (the domain "all" last).
    An accuracy row brings an "nll" row of the same set and domain (the mean NLL of the gold answers)."""
    rows: dict[tuple, dict] = {}

    def put(s, metric: str, value) -> None:
        key = (str(s.eval_set), str(s.domain or "all"), metric)
        r = rows.setdefault(key, {"eval_set": key[0], "domain": key[1], "metric": key[2], "values": {}, "n": {}})
        r["values"][arm] = None if value is None else float(value)
        r["n"][arm] = int(s.n or 0)

    for s in summaries:
        arm = arm_of_run.get(int(s.run_id))
        if arm is None:
            continue
        put(s, str(s.metric), s.value)
        nll = (s.details or {}).get("mean_nll")
        if s.metric != "nll" and nll is not None:  # the gold answers' NLL beside the accuracy: the reward's metric,
            put(s, "nll", nll)  # and the one that moves when a small model answers nothing right
    return [rows[k] for k in sorted(rows, key=lambda k: (k[0], k[1] == "all", k[1], k[2]))]


def best_arm(row: dict) -> str | None:
    """The arm with the best value of a row (highest accuracy, lowest NLL); None when no arm has a value or
    several share the best one."""
    vals = {a: v for a, v in row["values"].items() if v is not None}
    if not vals:
        return None
    best = (min if row["metric"] == "nll" else max)(vals.values())
    top = [a for a, v in vals.items() if v == best]
    return top[0] if len(top) == 1 else None


def comparison_lines(
    runs: dict[str, int], rows: list[dict], status: dict[str, str], hint: str = "--wait runs the queue here"
) -> list[str]:
    """The comparison as text lines (the CLI's table, the RAISE panel): the arms not finished yet, then one line per
    row of comparison_rows with a column per arm and the best arm."""
    out = []
    waiting = [a for a, st in status.items() if st != "done"]
    if waiting:
        out.append(f"not finished yet: {', '.join(f'{a} ({status[a]})' for a in waiting)}; {hint}")
    if not rows:
        return out + ["no arm evaluated yet"]
    head = ["eval set", "domain", "metric", *runs, "best"]
    table = [head]
    for r in rows:
        vals = [("-" if r["values"].get(a) is None else f"{r['values'][a]:.4f}") for a in runs]
        table.append(
            [r["eval_set"], r["domain"], r["metric"], *vals, best_arm(r) or ("tie" if len(r["values"]) > 1 else "-")]
        )
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    return out + ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]


def evaluate_comparison(
    store, folder, sets, *, max_items=None, device: str = "auto", progress=None, cancel=None
) -> list[dict]:
    """Evaluate the comparison's finished runs (compare.json) on `sets` in one evaluation worker; the rows of
    comparison_rows. Runs not finished yet are left out (their arm has no value)."""
    from engine.evaluation.evaluate import EvalSettings, evaluate_many
    from engine.training.runs import get_run

    f = JobFolder(folder)
    if not f.file("compare.json").exists():
        raise RaiseError(f"{f.path} has no comparison queued yet")
    runs = {a: int(r) for a, r in json.loads(f.file("compare.json").read_text())["runs"].items()}
    done = {rid: a for a, rid in runs.items() if get_run(store, rid).status == "done"}
    if not done:
        return []
    sums = evaluate_many(
        store, list(done), list(sets), max_items=max_items, settings=EvalSettings(device=device), progress=progress,
        cancel=cancel,
    )  # fmt: skip
    return comparison_rows(sums, done)
