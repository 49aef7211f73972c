"""What a RAISE job folder holds, read for the CLI's `show` and the app's RAISE panel: the jobs of a store, a job's
summary (spec, status, episodes with return, NLL, losses and attribution, the last episode's picks, the clusters
picked early / middle / late, the plan) and the picks of every episode's steps."""

from __future__ import annotations

import json
from pathlib import Path

EPISODE_KEYS = ("episode", "return", "val0", "val_final", "policy_loss", "value_loss", "entropy", "attribution")


def jobs_root(store) -> Path:
    """<store files>/raise: one folder per job."""
    from engine.core.paths import store_files

    return store_files(store) / "raise"


def list_jobs(store) -> list[dict]:
    """The jobs of a store, by name: {"name", "folder", "status", "episode", "episodes", "target", "last_return"}."""
    root = jobs_root(store)
    out = []
    if not root.is_dir():
        return out
    for d in sorted(p for p in root.iterdir() if (p / "spec.json").exists()):
        try:
            spec = json.loads((d / "spec.json").read_text())
            st = json.loads((d / "status.json").read_text()) if (d / "status.json").exists() else {}
        except (OSError, ValueError):
            continue
        out.append(
            {
                "name": d.name,
                "folder": str(d),
                "status": st.get("status", "prepared"),
                "episode": int(st.get("episode", 0)),
                "episodes": int(st.get("episodes") or (spec.get("settings") or {}).get("episodes") or 0),
                "target": spec.get("target"),
                "last_return": st.get("last_return"),
            }
        )
    return out


def stage_of(step: int, T: int) -> str:
    """early / middle / late: the thirds of an episode's T steps."""
    return "early" if step <= T / 3 else ("late" if step > 2 * T / 3 else "middle")


def clusters_by_stage(steps: list[dict]) -> dict[str, dict[str, int]]:
    """How often each cluster was picked in the early, middle and late thirds of an episode's steps."""
    out: dict[str, dict[str, int]] = {}
    T = len(steps)
    for row in steps:
        for c in row.get("clusters") or []:
            d = out.setdefault(stage_of(int(row["step"]), T), {})
            d[str(c)] = d.get(str(c), 0) + 1
    return out


def summary(folder) -> dict:
    """A job's summary (the JSON of `workbench raise show`)."""
    from engine.raise_rl.job import episodes

    folder = Path(folder)
    spec = json.loads((folder / "spec.json").read_text())
    status = json.loads((folder / "status.json").read_text()) if (folder / "status.json").exists() else {}
    eps = episodes(folder)
    plan = json.loads((folder / "plan.json").read_text()) if (folder / "plan.json").exists() else None
    return {
        "folder": str(folder),
        "spec": {k: v for k, v in spec.items() if k != "store"},
        "status": status,
        "episodes": [{k: e.get(k) for k in EPISODE_KEYS} for e in eps],
        "last_episode_steps": eps[-1]["steps"] if eps else [],
        "clusters_by_stage": clusters_by_stage(eps[-1]["steps"]) if eps else {},
        "clusters_by_episode": [clusters_by_stage(e["steps"]) for e in eps],
        "plan": plan,
    }


def job_status(folder) -> dict:
    """status.json of a job ({} before its first write, or while it is being replaced)."""
    p = Path(folder) / "status.json"
    try:
        return json.loads(p.read_text()) if p.exists() else {}
    except (OSError, ValueError):
        return {}


def browse_expression(sample_ids) -> str:
    """The Browse filter of some samples: `id IN (...)`."""
    return f"id IN ({', '.join(str(int(i)) for i in sample_ids)})"
