"""Per-domain evaluation of runs on eval pools: item detection, generation jobs, per-item results, rescoring,
and overlap warnings between eval sets and training data.

- An eval set is a pool with ``pools.role = 'eval'`` (`set_role`); mixtures never draw from it.
- `detect_item` decides per sample which scorer checks it, from its meta (kept by the import, see
  engine/data/formats.py) and messages: MBPP / HumanEval ``test_list`` -> code (HumanEval also passes its
  ``prompt`` and ``entry_point``); BFCL ``ground_truth`` / ``expected_calls`` / an assistant turn with
  ``tool_calls`` -> tool; MMLU ``choices`` + ``answer`` -> choice; a GSM8K answer (``####``) -> gsm8k; a MATH
  solution (``\\boxed``) -> math; a numeric ``final_answer`` (SVAMP, ASDiv) -> gsm8k, another one -> math; any
  other sample with a reference response -> nll (held-out response NLL). Samples without anything checkable
  are skipped (counted).
- `evaluate` writes a job folder (spec.json, input.jsonl) and runs `python -m engine.evaluation.worker JOBDIR` in a
  child process: batched greedy generation with the chat template, the reference response's NLL, option
  log-likelihoods, and the scorer's verdict per item (code runs in the sandbox, another child). Results are
  written in chunk files; a killed job resumes from them. This process (the DuckDB writer) ingests them
  into ``eval_items`` and keeps one ``evaluations`` summary row per (run, eval pool, domain).
- `rescore` re-checks stored outputs without regenerating.
- `overlap` warns when eval items also sit in a mixture's training items: exact (content hash or
  normalised instruction) and near-duplicates (MinHash LSH over word 3-grams, datasketch).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.core.errors import InputError
from engine.core.jobs import Cancelled, ProgressMeter
from engine.data.pools import ROLES  # noqa: F401  (pool roles: train, eval)

SCORER_VERSION = "2"  # 2: BFCL-faithful tool calls, new math/gsm8k extraction, two-sandbox code verdicts


class EvaluationError(InputError):
    """Bad evaluation input (unknown run or pool, a pool that is not an eval set, nothing to evaluate...)."""


# -- eval sets ------------------------------------------------------------------------------------------
def set_role(store, pool, role: str, *, force: bool = False) -> str:
    """Mark a pool as evaluation data ('eval') or training data ('train'); returns the pool name.
    (`engine.data.pools.set_role`, with its errors as EvaluationError.)"""
    from engine.data.pools import PoolError
    from engine.data.pools import set_role as _set_role

    try:
        return _set_role(store, pool, role, force=force)
    except PoolError as e:
        raise EvaluationError(str(e)) from e


def eval_pools(store) -> list[dict]:
    """The eval sets: [{id, name, n_samples, domains}]."""
    con = store.cursor()
    try:
        rows = con.execute(
            "SELECT p.id, p.name, count(s.id), list(DISTINCT s.domain) FROM pools p LEFT JOIN samples s "
            "ON s.pool_id = p.id WHERE coalesce(p.role, 'train') = 'eval' GROUP BY p.id, p.name ORDER BY p.id"
        ).fetchall()
    finally:
        con.close()
    return [
        {"id": r[0], "name": r[1], "n_samples": r[2], "domains": sorted(d for d in (r[3] or []) if d)} for r in rows
    ]


def attach_answers(
    store, pool, path: str | Path | None = None, *, key: str = "id", field: str = "ground_truth", no_call: bool = False
) -> dict:
    """Copy answers kept in a separate file into the pool's samples' meta, matched on `meta[key]`: BFCL's
    possible_answer files ({"id", "ground_truth": [{func: {arg: [values]}}]}). `no_call`: samples without an
    answer get ``ground_truth = []`` (BFCL irrelevance: the right answer is no call; give no file for a pool
    where none should call). Returns {"matched", "no_call", "unmatched", "unused"}."""
    answers: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise EvaluationError(f"answers file not found: {path}")
        text = path.read_text(encoding="utf-8")
        try:
            recs = json.loads(text)
            recs = recs if isinstance(recs, list) else [recs]
        except json.JSONDecodeError:
            recs = []
            for i, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    try:
                        recs.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise EvaluationError(f"{path}:{i}: not JSON ({e.msg})") from e
        for i, r in enumerate(recs):
            if not isinstance(r, dict) or key not in r or field not in r:
                raise EvaluationError(f"{path}: record {i} needs {key!r} and {field!r}")
            answers[str(r[key])] = r[field]
    elif not no_call:
        raise EvaluationError("give an answers file, or no_call for a pool where no call is the right answer")
    con = store.cursor()
    try:
        pid, pname, _role = _pool_row(con, pool)
        rows = con.execute("SELECT id, meta FROM samples WHERE pool_id = ? ORDER BY id", [pid]).fetchall()
    finally:
        con.close()
    out = {"matched": 0, "no_call": 0, "unmatched": 0, "unused": 0}
    used = set()
    updates = []
    for sid, meta in rows:
        m = _loads(meta) or {}
        m = m if isinstance(m, dict) else {}
        k = str(m.get(key)) if key in m else None
        if k is not None and k in answers:
            m[field] = answers[k]
            used.add(k)
            out["matched"] += 1
        elif no_call:
            m[field] = []
            out["no_call"] += 1
        else:
            out["unmatched"] += 1
            continue
        updates.append((json.dumps(m, ensure_ascii=False), sid))
    out["unused"] = len(set(answers) - used)
    with store.transaction() as con:
        for meta, sid in updates:
            con.execute("UPDATE samples SET meta = ? WHERE id = ?", [meta, sid])
    return out


def _pool_row(con, ref) -> tuple[int, str, str]:
    rows = con.execute("SELECT id, name, coalesce(role, 'train') FROM pools WHERE name = ?", [str(ref)]).fetchall()
    if not rows and str(ref).isdigit():
        rows = con.execute("SELECT id, name, coalesce(role, 'train') FROM pools WHERE id = ?", [int(ref)]).fetchall()
    if not rows:
        names = [r[0] for r in con.execute("SELECT name FROM pools ORDER BY id").fetchall()]
        raise EvaluationError(f"no pool {ref!r}; pools: {', '.join(names) or '(none)'}")
    return rows[0]


# -- item detection -----------------------------------------------------------------------------------------
@dataclass
class EvalItem:
    """One checkable eval item: the prompt messages, the scorer and its reference."""

    sample_id: int
    domain: str
    scorer: str
    messages: list[dict]  # the prompt (up to, not including, the answer turn)
    tools: list | None
    reference: dict  # scorer input (see engine.evaluation.scorers.check)
    reference_response: str | None  # text whose NLL is measured (None: no NLL)
    question: str = ""  # the last user turn, for display


def _loads(v):
    if isinstance(v, str):
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


def _last_user(msgs: list[dict]) -> str:
    for m in reversed(msgs):
        if m.get("role") == "user":
            return m.get("content") or ""
    return ""


def _calls_of(m: dict) -> list[dict]:
    out = []
    for c in m.get("tool_calls") or []:
        f = c.get("function", c)
        args = _loads(f.get("arguments", {}))
        out.append({"name": f.get("name"), "arguments": args if isinstance(args, dict) else {}})
    return out


def detect_item(sample_id: int, domain: str, messages: Any, meta: Any, tools: Any = None) -> EvalItem | None:
    """The eval item of a stored sample (None when it has nothing checkable); rules in the module docstring."""
    msgs = _loads(messages) or []
    meta = _loads(meta) or {}
    tools = _loads(tools) or None
    if not isinstance(meta, dict):
        meta = {}
    if not isinstance(msgs, list) or not msgs:
        return None
    last = msgs[-1]
    answer_turn = last if last.get("role") == "assistant" else None
    prompt = msgs[:-1] if answer_turn is not None else list(msgs)
    resp = (answer_turn.get("content") or None) if answer_turn else None
    q = _last_user(prompt)

    def item(scorer, reference, ref_resp, pmsgs=prompt):
        return EvalItem(int(sample_id), domain, scorer, pmsgs, tools, reference, ref_resp, _last_user(pmsgs) or q)

    tests = meta.get("test_list")
    if isinstance(tests, list) and tests and all(isinstance(t, str) for t in tests):
        ref = {"tests": tests, "setup": meta.get("test_setup_code") or ""}
        if isinstance(meta.get("entry_point"), str) and isinstance(meta.get("prompt"), str):  # HumanEval
            ref.update(prompt=meta["prompt"], entry_point=meta["entry_point"])
        return item("code", ref, resp or meta.get("code"))
    from engine.evaluation.tool_calls import tool_language

    # the tool scorer type-checks arguments against the declared tools, with the item's language rules
    tool_ref = {"tools": tools, "language": tool_language(meta)}
    for key in ("ground_truth", "expected_calls"):
        if isinstance(meta.get(key), list):
            calls = meta[key]
            ref_resp = json.dumps(calls, ensure_ascii=False) if key == "expected_calls" else resp
            return item("tool", {"calls": calls, **tool_ref}, ref_resp)
    for i, m in enumerate(msgs):
        if m.get("role") == "assistant" and m.get("tool_calls"):
            calls = _calls_of(m)
            return item("tool", {"calls": calls, **tool_ref}, json.dumps(calls, ensure_ascii=False), msgs[:i])
    choices = meta.get("choices")
    if isinstance(choices, list) and choices and isinstance(meta.get("answer"), str):
        letter = meta["answer"].strip().upper()
        idx = "ABCDEFGHIJ".find(letter) if len(letter) == 1 else -1
        if 0 <= idx < len(choices):
            return item(
                "choice", {"choices": [str(c) for c in choices], "answer_index": idx}, f"{letter}. {choices[idx]}"
            )
    final = meta.get("final_answer")
    if resp and "####" in resp:
        return item("gsm8k", {"answer": resp}, resp)
    if resp and "\\boxed" in resp:
        return item("math", {"answer": final if isinstance(final, str) and final else resp}, resp)
    if isinstance(final, str) and final.strip():
        from engine.evaluation.scorers import last_number

        if last_number(final) is not None and re.fullmatch(r"[\s$\d,.\-]+", final):
            return item("gsm8k", {"answer": "#### " + final}, resp)
        return item("math", {"answer": final}, resp)
    ref = resp or (meta.get("reference") if isinstance(meta.get("reference"), str) else None)
    if ref and prompt:
        return item("nll", {}, ref)
    return None


def pool_items(
    store, pool, *, max_items: int | None = None, include_excluded: bool = False
) -> tuple[list[EvalItem], int]:
    """(checkable items of a pool in id order, number of samples skipped as not checkable)."""
    con = store.cursor()
    try:
        pid, _name, _role = _pool_row(con, pool)
        where = "" if include_excluded else " AND NOT excluded"
        rows = con.execute(
            f"SELECT id, domain, messages, meta, tools FROM samples WHERE pool_id = ?{where} ORDER BY id", [pid]
        ).fetchall()
    finally:
        con.close()
    items, skipped = [], 0
    for r in rows:
        it = detect_item(*r)
        if it is None:
            skipped += 1
            continue
        items.append(it)
        if max_items is not None and len(items) >= max_items:
            break
    return items, skipped


# -- runs --------------------------------------------------------------------------------------------------
@dataclass
class RunRow:
    """What evaluation needs of a run (read from the runs table, schema v3)."""

    id: int
    name: str
    kind: str
    status: str
    base_model: str | None
    folder: str | None
    mixture_id: int | None
    parent_run_id: int | None
    domain: str | None
    protocol: str | None
    content_hash: str | None
    config: dict

    @property
    def adapter(self) -> str | None:
        """The run's final LoRA adapter folder (None for a base run or when it has none yet)."""
        if self.kind == "base" or not self.folder:
            return None
        p = Path(self.folder) / "adapter"
        return str(p) if p.is_dir() else None


_RUN_COLS = (
    "id, name, coalesce(kind, 'mixture'), status, base_model, folder, mixture_id, parent_run_id, domain, "
    "protocol, content_hash, config"
)


def _run_from_row(r) -> RunRow:
    cfg = _loads(r[11]) or {}
    return RunRow(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4] or (cfg.get("base_model") if isinstance(cfg, dict) else None),
        r[5],
        r[6],
        r[7],
        r[8],
        r[9],
        r[10],
        cfg if isinstance(cfg, dict) else {},
    )


def get_run_row(store, run) -> RunRow:
    """A run by id or name."""
    con = store.cursor()
    try:
        rows = []
        if isinstance(run, int) or str(run).isdigit():
            rows = con.execute(f"SELECT {_RUN_COLS} FROM runs WHERE id = ?", [int(run)]).fetchall()
        if not rows:
            rows = con.execute(f"SELECT {_RUN_COLS} FROM runs WHERE name = ? ORDER BY id DESC", [str(run)]).fetchall()
    finally:
        con.close()
    if not rows:
        raise EvaluationError(f"no run {run!r}")
    return _run_from_row(rows[0])


# -- jobs --------------------------------------------------------------------------------------------------
@dataclass
class EvalSettings:
    """Generation settings of an evaluation (part of its content hash)."""

    max_new_tokens: int = 256
    batch_size: int = 8
    greedy: bool = True
    temperature: float = 0.0
    max_len: int = 1024  # prompt + continuation tokens for NLL / option scoring
    choice_normalize: bool = True  # multiple choice: per-token log-likelihood
    device: str = "auto"
    dtype: str | None = None
    chunk: int = 16  # items per chunk file
    sandbox_timeout_s: float = 10.0
    sandbox_unisolated: bool = False  # run generated code even where kernel isolation is missing (opt-in)
    threads: int | None = None  # torch CPU threads in the worker (None: half the cores, at least 1)


@dataclass
class EvalSummary:
    """One evaluations row: a run on one eval pool, one domain."""

    id: int
    run_id: int
    eval_set: str
    domain: str
    metric: str  # 'accuracy' (scorers with right/wrong) or 'nll'
    value: float | None
    n: int
    details: dict = field(default_factory=dict)


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _jobs_base(store, run: RunRow) -> Path:
    if run.folder:
        return Path(run.folder) / "eval"
    base = store.path.parent if store.path is not None else Path.cwd()
    return base / "jobs" / f"eval-run{run.id}"


def _pool_hash(con, pool_id: int) -> str:
    r = con.execute(
        "SELECT string_agg(content_hash || ':' || CAST(excluded AS VARCHAR), ',' ORDER BY id) "
        "FROM samples WHERE pool_id = ?",
        [pool_id],
    ).fetchall()
    return hashlib.sha256((r[0][0] or "").encode()).hexdigest()[:16]


def _require_sandbox(pool: str, s: EvalSettings) -> None:
    """Refuse before any generation when code items would run where kernel isolation is missing."""
    from engine.evaluation.sandbox import SandboxUnavailable, isolation

    iso = isolation()
    if not iso.kernel and not s.sandbox_unisolated and os.environ.get("WORKBENCH_SANDBOX") != "unisolated":
        raise EvaluationError(
            f"pool {pool!r} has code items and generated code is not run without isolation: "
            f"{iso.reason}. To fix: {SandboxUnavailable.hint}"
        )


def prepare(
    store, run_id, pools, *, max_items: int | None = None, settings: EvalSettings | None = None
) -> tuple[Path, list[EvalSummary], dict[str, int]]:
    """Create (or reuse) the job folder of one run on eval pools and their summary rows (one per pool and
    domain). `max_items` caps the items per pool.

    Returns (job folder, summaries, samples skipped as not checkable per pool). Raises EvaluationError for a
    pool that is not an eval set, a run without a base model or not done, or a pool with nothing checkable."""
    s = settings or EvalSettings()
    if isinstance(pools, (str, int)):
        pools = [pools]
    if not pools:
        raise EvaluationError("no eval sets given")
    run = get_run_row(store, run_id)
    if not run.base_model:
        raise EvaluationError(f"run {run.name!r} has no base model")
    if run.kind != "base" and run.status != "done":
        raise EvaluationError(f"run {run.name!r} is {run.status}; evaluate it when it is done")
    if run.kind != "base" and run.adapter is None:
        raise EvaluationError(
            f"run {run.name!r} has no final adapter ({Path(run.folder or '?') / 'adapter'}); "
            "only a base run is evaluated without one"
        )
    per_pool = []
    con = store.cursor()
    try:
        for pool in pools:
            pid, pname, role = _pool_row(con, pool)
            if role != "eval":
                raise EvaluationError(
                    f"pool {pname!r} is not an eval set; mark it first (workbench evalset mark {pname})"
                )
            per_pool.append((pid, pname, _pool_hash(con, pid)))
    finally:
        con.close()
    gen = {
        k: v
        for k, v in asdict(s).items()
        if k not in ("device", "dtype", "chunk", "batch_size", "threads", "sandbox_unisolated")
    }
    all_items: list[dict] = []
    skipped: dict[str, int] = {}
    hashes = {}
    plan = []
    for pid, pname, phash in per_pool:
        items, skipped[pname] = pool_items(store, pid, max_items=max_items)
        if not items:
            raise EvaluationError(f"pool {pname!r} has no checkable items (no tests, answers, calls or references)")
        if any(it.scorer == "code" for it in items):
            _require_sandbox(pname, s)
        key = {
            "run": run.id,
            "run_hash": run.content_hash,
            "adapter": run.adapter,
            "pool": phash,
            "max_items": max_items,
            "settings": gen,
            "version": SCORER_VERSION,
        }
        hashes[pname] = _hash(key)
        warn = overlap(store, run.mixture_id, [pid], near=False).warnings if run.mixture_id is not None else []
        plan.append((pid, pname, items, warn))
        all_items += [asdict(it) | {"eval_set": pname} for it in items]
    job_hash = _hash(sorted(hashes.items()))
    job = _jobs_base(store, run) / f"eval-{job_hash[:10]}"
    job.mkdir(parents=True, exist_ok=True)
    (job / "chunks").mkdir(exist_ok=True)
    spec = {
        "model": run.base_model,
        "adapter": run.adapter,
        "settings": asdict(s),
        "run_id": run.id,
        "pools": [p for _, p, _ in per_pool],
    }
    (job / "spec.json").write_text(json.dumps(spec, indent=2))
    if not (job / "input.jsonl").exists():
        tmp = job / "input.jsonl.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for it in all_items:
                f.write(json.dumps(it, ensure_ascii=False) + "\n")
        os.replace(tmp, job / "input.jsonl")
    summaries = []
    with store.transaction() as con:
        for pid, pname, items, warn in plan:
            chash = hashes[pname]
            for d in sorted({it.domain for it in items}):
                scorers = sorted({it.scorer for it in items if it.domain == d})
                metric = "nll" if scorers == ["nll"] else "accuracy"
                rows = con.execute(
                    "SELECT id FROM evaluations WHERE run_id = ? AND eval_set = ? AND domain = ? AND content_hash = ?",
                    [run.id, pname, d, chash],
                ).fetchall()
                n = sum(1 for it in items if it.domain == d)
                details = {
                    "job": str(job),
                    "scorers": scorers,
                    "skipped": skipped[pname],
                    "settings": gen,
                    "max_items": max_items,
                    "scorer_version": SCORER_VERSION,
                    "n_expected": n,
                    "state": "pending",
                    "pool_id": pid,
                    "overlap_warnings": warn,
                }
                if rows:
                    eid = rows[0][0]
                else:
                    eid = store.next_id("evaluations", con)
                    con.execute(
                        "INSERT INTO evaluations (id, run_id, eval_set, domain, metric, value, n, details, "
                        "content_hash) VALUES (?, ?, ?, ?, ?, NULL, 0, ?, ?)",
                        [eid, run.id, pname, d, metric, json.dumps(details), chash],
                    )
                summaries.append(EvalSummary(eid, run.id, pname, d, metric, None, 0, details))
    return job, summaries, skipped


def _done_ids(job: Path) -> set[int]:
    out = set()
    for f in sorted((job / "chunks").glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.add(json.loads(line)["sample_id"])
    return out


def read_progress(job: Path) -> dict:
    """The worker's last progress report ({} before the first)."""
    try:
        return json.loads((Path(job) / "progress.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _summary_values(con, eid: int) -> tuple[float | None, int, dict]:
    r = con.execute(
        "SELECT count(*), count(correct), sum(CASE WHEN correct THEN 1 ELSE 0 END), avg(nll), avg(score) "
        "FROM eval_items WHERE evaluation_id = ?",
        [eid],
    ).fetchall()[0]
    n, n_checked, n_ok, mean_nll, mean_score = r
    acc = (n_ok / n_checked) if n_checked else None
    return (
        acc,
        int(n),
        {"n_checked": int(n_checked), "n_correct": int(n_ok or 0), "mean_nll": mean_nll, "mean_score": mean_score},
    )


def _refresh_summary(con, eid: int, state: str | None = None) -> None:
    row = con.execute("SELECT metric, details FROM evaluations WHERE id = ?", [eid]).fetchall()
    if not row:
        return
    metric, det = row[0]
    det = _loads(det) or {}
    acc, n, extra = _summary_values(con, eid)
    det.update(extra)
    if state:
        det["state"] = state
    value = extra["mean_nll"] if metric == "nll" else acc
    con.execute("UPDATE evaluations SET value = ?, n = ?, details = ? WHERE id = ?", [value, n, json.dumps(det), eid])


def ingest(store, job: Path, summaries: list[EvalSummary], *, state: str | None = None) -> int:
    """Write the job's finished chunks into eval_items (idempotent per chunk) and refresh the summaries."""
    job = Path(job)
    by_key = {(s.eval_set, s.domain): s.id for s in summaries}
    marker = job / "ingested.txt"
    seen = set(marker.read_text().split()) if marker.exists() else set()
    n = 0
    for f in sorted((job / "chunks").glob("*.jsonl")):
        if f.name in seen:
            continue
        recs = [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
        with store.transaction() as con:
            for r in recs:
                eid = by_key.get((r.get("eval_set"), r["domain"]))
                if eid is None:
                    continue
                con.execute("DELETE FROM eval_items WHERE evaluation_id = ? AND sample_id = ?", [eid, r["sample_id"]])
                con.execute(
                    "INSERT INTO eval_items (evaluation_id, run_id, sample_id, domain, scorer, prompt, output, "
                    "extracted, correct, score, nll, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        eid,
                        summaries[0].run_id,
                        r["sample_id"],
                        r["domain"],
                        r["scorer"],
                        r.get("prompt"),
                        r.get("output"),
                        r.get("extracted"),
                        r.get("correct"),
                        r.get("score"),
                        r.get("nll"),
                        json.dumps(r.get("details") or {}),
                    ],
                )
            for eid in {
                by_key[(r.get("eval_set"), r["domain"])] for r in recs if (r.get("eval_set"), r["domain"]) in by_key
            }:
                _refresh_summary(con, eid)
        with open(marker, "a") as m:
            m.write(f.name + "\n")
        n += len(recs)
    if state:
        with store.transaction() as con:
            for s in summaries:
                _refresh_summary(con, s.id, state)
    return n


def start_worker(*jobs: Path) -> subprocess.Popen:
    """Run generation jobs in one child process (torch stays out of the app process)."""
    jobs = tuple(Path(j) for j in jobs)
    err = open(jobs[0] / "worker.stderr", "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "engine.evaluation.worker", *map(str, jobs)],
        stdout=subprocess.DEVNULL,
        stderr=err,
        start_new_session=True,
        cwd=str(Path(__file__).resolve().parent.parent),
    )


def get_summaries(store, ids: list[int]) -> list[EvalSummary]:
    """Evaluation summary rows by id."""
    if not ids:
        return []
    con = store.cursor()
    try:
        rows = con.execute(
            "SELECT id, run_id, eval_set, domain, metric, value, n, details FROM evaluations "
            "WHERE id IN (SELECT unnest(?::INTEGER[])) ORDER BY id",
            [list(ids)],
        ).fetchall()
    finally:
        con.close()
    return [EvalSummary(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _loads(r[7]) or {}) for r in rows]


def evaluate(
    store,
    run_id,
    eval_pools,
    *,
    max_items: int | None = None,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    device: str = "auto",
    settings: EvalSettings | None = None,
    progress=None,
    cancel=None,
    poll_s: float = 0.5,
) -> list[EvalSummary]:
    """Evaluate a run on eval pools (names or ids) in a child worker; ingest per-item rows as chunks finish.

    Resumes an interrupted job (same run, pools, settings); cancel stops the worker (finished chunks are kept
    and ingested) and raises Cancelled. Returns the summary rows (one per pool and domain)."""
    return evaluate_many(
        store,
        [run_id],
        eval_pools,
        max_items=max_items,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        device=device,
        settings=settings,
        progress=progress,
        cancel=cancel,
        poll_s=poll_s,
    )


def evaluate_many(
    store,
    run_ids,
    eval_pools,
    *,
    max_items: int | None = None,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    device: str = "auto",
    settings: EvalSettings | None = None,
    progress=None,
    cancel=None,
    poll_s: float = 0.5,
) -> list[EvalSummary]:
    """`evaluate` for several runs (e.g. a mixture run, its specialists and the base model) in ONE child
    worker: each base model is loaded once and each run's LoRA adapter merged in and out in turn."""
    s = settings or EvalSettings(max_new_tokens=max_new_tokens, batch_size=batch_size, device=device)
    prepared = [prepare(store, rid, eval_pools, max_items=max_items, settings=s) for rid in run_ids]
    counts = [sum(1 for line in open(job / "input.jsonl", encoding="utf-8") if line.strip()) for job, _, _ in prepared]
    meter = ProgressMeter(progress, total=sum(counts), unit="items", min_interval=0.2)
    todo = [job for (job, _, _), n in zip(prepared, counts) if len(_done_ids(job)) < n]

    def ingest_all(state=None):
        for job, summaries, _ in prepared:
            ingest(store, job, summaries, state=state)

    def done_items() -> int:
        return sum(
            int(read_progress(job).get("done", 0)) if job in todo else n for (job, _, _), n in zip(prepared, counts)
        )

    if todo:
        proc = start_worker(*todo)
        try:
            while proc.poll() is None:
                if cancel is not None and cancel.cancelled:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                    ingest_all(state="cancelled")
                    raise Cancelled()
                ingest_all()
                meter.done = done_items()
                meter.report(
                    next(
                        (
                            read_progress(j).get("state", "")
                            for j in todo
                            if read_progress(j).get("state") not in (None, "done")
                        ),
                        "",
                    )
                )
                time.sleep(poll_s)
        finally:
            if proc.poll() is None:
                proc.kill()
        if proc.returncode != 0:
            ingest_all(state="failed")
            tail = (todo[0] / "worker.stderr").read_text(errors="replace")[-1500:]
            raise EvaluationError(f"evaluation worker failed (exit {proc.returncode}): {tail.strip()}")
    ingest_all(state="done")
    meter.done = sum(counts)
    meter.report("done", force=True)
    return get_summaries(store, [x.id for _, summaries, _ in prepared for x in summaries])


# -- rescoring ------------------------------------------------------------------------------------------------
def rescore(store, evaluation_id: int) -> EvalSummary:
    """Re-check every stored output of an evaluation with the current scorers (no generation); the
    reference comes from the sample again (so a fixed reference or scorer takes effect)."""
    from engine.evaluation.scorers import AnswerCheckError, check

    con = store.cursor()
    try:
        rows = con.execute(
            "SELECT ei.sample_id, ei.output, ei.nll, ei.details, s.domain, s.messages, s.meta, s.tools FROM eval_items ei "
            "JOIN samples s ON s.id = ei.sample_id WHERE ei.evaluation_id = ?",
            [evaluation_id],
        ).fetchall()
    finally:
        con.close()
    if not get_summaries(store, [evaluation_id]):
        raise EvaluationError(f"no evaluation {evaluation_id}")
    items = [detect_item(sid, dom, msgs, meta, tools) for sid, _, _, _, dom, msgs, meta, tools in rows]
    if any(it is not None and it.scorer == "code" for it in items):
        _require_sandbox(f"evaluation {evaluation_id}", EvalSettings())  # never wipe verdicts for lack of one
    updates = []
    for (sid, output, nll, det, *_), it in zip(rows, items):
        det = _loads(det) or {}
        if it is None:
            continue
        ref = dict(it.reference)
        if it.scorer == "choice":
            ref.update(
                logliks=det.get("logliks"), n_tokens=det.get("n_tokens") if det.get("normalized", True) else None
            )
        try:
            c = check(it.scorer, output, ref, nll=nll)
            det.update(c.details)
            updates.append(
                (c.extracted, c.correct, c.score, json.dumps(det, default=str), it.scorer, evaluation_id, sid)
            )
        except AnswerCheckError as e:
            det["error"] = str(e)
            updates.append((None, None, None, json.dumps(det, default=str), it.scorer, evaluation_id, sid))
    with store.transaction() as con:
        for u in updates:
            con.execute(
                "UPDATE eval_items SET extracted = ?, correct = ?, score = ?, details = ?, scorer = ? "
                "WHERE evaluation_id = ? AND sample_id = ?",
                list(u),
            )
        _refresh_summary(con, evaluation_id)
    return get_summaries(store, [evaluation_id])[0]


def evaluations_stamp(store) -> tuple[int, int | None]:
    """(number of evaluations, newest id): changes whenever an evaluation is added or removed."""
    con = store.cursor()
    try:
        n, last = con.execute("SELECT count(*), max(id) FROM evaluations").fetchall()[0]
    finally:
        con.close()
    return int(n), last


def list_evaluations(store, run_id: int | None = None) -> list[EvalSummary]:
    """Summary rows (of one run, or all), newest last."""
    con = store.cursor()
    try:
        q = "SELECT id FROM evaluations" + (" WHERE run_id = ?" if run_id is not None else "") + " ORDER BY id"
        ids = [r[0] for r in con.execute(q, [run_id] if run_id is not None else []).fetchall()]
    finally:
        con.close()
    return get_summaries(store, ids)


def item_results(store, run_id: int, *, domain: str | None = None, eval_set: str | None = None) -> dict[int, dict]:
    """Per-item results of a run's latest evaluation of each (eval set, domain): sample_id -> row dict
    (scorer, question (the last user turn), output, extracted, correct, score, nll, domain, eval_set, prompt
    (the rendered prompt the model saw), evaluation_id (the evaluations row it belongs to)).

    The key, the eval sample's id, is the item's identity when two runs are compared: a sample belongs to one
    pool, so it fixes the eval set as well as the question and reference."""
    con = store.cursor()
    try:
        q = (
            "WITH latest AS (SELECT max(id) AS id FROM evaluations WHERE run_id = ? GROUP BY eval_set, domain) "
            "SELECT ei.sample_id, ei.scorer, coalesce(json_extract_string(ei.details, '$.question'), ei.prompt), "
            "ei.output, ei.extracted, ei.correct, ei.score, ei.nll, ei.domain, e.eval_set, ei.prompt, e.id "
            "FROM eval_items ei JOIN evaluations e ON e.id = ei.evaluation_id "
            "WHERE e.id IN (SELECT id FROM latest)"
        )
        params: list = [run_id]
        if domain is not None:
            q += " AND ei.domain = ?"
            params.append(domain)
        if eval_set is not None:
            q += " AND e.eval_set = ?"
            params.append(eval_set)
        rows = con.execute(q + " ORDER BY ei.sample_id", params).fetchall()
    finally:
        con.close()
    keys = (
        "sample_id",
        "scorer",
        "question",
        "output",
        "extracted",
        "correct",
        "score",
        "nll",
        "domain",
        "eval_set",
        "prompt",
        "evaluation_id",
    )
    return {r[0]: dict(zip(keys, r)) for r in rows}


# Settings recorded per evaluation that two evaluations must share to be compared item by item (Conflict Rate,
# compare): the generation settings (max_new_tokens, greedy, temperature, max_len, choice_normalize,
# sandbox_timeout_s), the per-pool item cap and the scorer version. The prompt (chat template) is compared
# per item from eval_items.prompt. Batch size, device, dtype, chunk and threads are left out (not part of the
# evaluation's content hash either).
def evaluation_settings(store, ids) -> dict[int, dict]:
    """evaluation id -> {"eval_set", "settings": the recorded comparable settings}; settings an evaluation did
    not record (rows from before they were recorded) are absent from its dict."""
    ids = sorted({int(i) for i in ids if i is not None})
    if not ids:
        return {}
    con = store.cursor()
    try:
        rows = con.execute(
            "SELECT id, eval_set, details FROM evaluations WHERE id IN (SELECT unnest(?::INTEGER[]))", [ids]
        ).fetchall()
    finally:
        con.close()
    out = {}
    for eid, eset, det in rows:
        det = _loads(det) or {}
        det = det if isinstance(det, dict) else {}
        s = dict(det.get("settings") or {}) if isinstance(det.get("settings"), dict) else {}
        for k in ("max_items", "scorer_version"):
            if k in det:
                s[k] = det[k]
        out[eid] = {"eval_set": eset, "settings": s}
    return out


# -- overlap -------------------------------------------------------------------------------------------------
_WORD = re.compile(r"\w+")


def normalize_instruction(text: str | None) -> str:
    """Lower case, words only, single spaces (exact-overlap key)."""
    return " ".join(_WORD.findall((text or "").lower()))


@dataclass
class OverlapReport:
    """Eval items that also occur in training data: exact (same content hash or normalised instruction)
    and near duplicates (estimated word-3-gram Jaccard >= threshold)."""

    n_eval: int
    n_train: int
    exact: list[dict] = field(default_factory=list)  # {eval_id, train_id, why}
    near: list[dict] = field(default_factory=list)  # {eval_id, train_id, jaccard}
    threshold: float = 0.5

    @property
    def warnings(self) -> list[str]:
        out = []
        if self.exact:
            out.append(f"{len({e['eval_id'] for e in self.exact})} eval item(s) also in the training data (exact)")
        if self.near:
            out.append(
                f"{len({e['eval_id'] for e in self.near})} eval item(s) near-duplicate a training item "
                f"(Jaccard >= {self.threshold:g})"
            )
        return out


def _shingles(text: str, k: int = 3) -> set[str]:
    w = normalize_instruction(text).split()
    if len(w) < k:
        return {" ".join(w)} if w else set()
    return {" ".join(w[i : i + k]) for i in range(len(w) - k + 1)}


def overlap_ids(
    store, train_ids: list[int], eval_ids: list[int], *, threshold: float = 0.5, num_perm: int = 128, near: bool = True
) -> OverlapReport:
    """Overlap between explicit training and eval sample ids (see OverlapReport); near=False: exact only."""
    con = store.cursor()
    try:

        def load(ids):
            if not ids:
                return []
            return con.execute(
                "SELECT id, content_hash, instruction FROM samples WHERE id IN "
                "(SELECT unnest(?::BIGINT[])) ORDER BY id",
                [list(ids)],
            ).fetchall()

        train, ev = load(train_ids), load(eval_ids)
    finally:
        con.close()
    rep = OverlapReport(len(ev), len(train), threshold=threshold)
    by_hash: dict[str, int] = {}
    by_instr: dict[str, int] = {}
    for tid, h, ins in train:
        by_hash.setdefault(h, tid)
        k = normalize_instruction(ins)
        if k:
            by_instr.setdefault(k, tid)
    exact_ids = set()
    for eid, h, ins in ev:
        if h in by_hash:
            rep.exact.append({"eval_id": eid, "train_id": by_hash[h], "why": "same content"})
            exact_ids.add(eid)
        elif normalize_instruction(ins) and normalize_instruction(ins) in by_instr:
            rep.exact.append(
                {"eval_id": eid, "train_id": by_instr[normalize_instruction(ins)], "why": "same instruction"}
            )
            exact_ids.add(eid)
    if not train or not ev or not near:
        return rep
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    sh_train = {}
    for tid, _h, ins in train:
        sh = _shingles(ins)
        if not sh:
            continue
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch([s.encode() for s in sh])
        lsh.insert(str(tid), m)
        sh_train[tid] = sh
    for eid, _h, ins in ev:
        if eid in exact_ids:
            continue
        sh = _shingles(ins)
        if not sh:
            continue
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch([s.encode() for s in sh])
        best = None
        for key in lsh.query(m):
            tid = int(key)
            j = len(sh & sh_train[tid]) / len(sh | sh_train[tid])  # exact Jaccard of the candidate
            if j >= threshold and (best is None or j > best[1]):
                best = (tid, j)
        if best:
            rep.near.append({"eval_id": eid, "train_id": best[0], "jaccard": round(best[1], 3)})
    return rep


NEAR_CHECK_LIMIT = 50_000  # training + eval items above which mixture_overlap_warnings skips the MinHash pass


def mixture_overlap_warnings(
    store, mixture_id: int, *, threshold: float = 0.5, near_limit: int = NEAR_CHECK_LIMIT
) -> list[str]:
    """Warnings for a saved mixture version against every eval set: exact overlap always, near duplicates
    (MinHash) when training + eval items are at most `near_limit` (else a warning says the check was skipped
    and how to run it). Empty when there are no eval sets or no overlap."""
    pools = eval_pools(store)
    if not pools:
        return []
    n_eval = sum(p["n_samples"] for p in pools)
    con = store.cursor()
    try:
        n_train = con.execute("SELECT count(*) FROM mixture_items WHERE mixture_id = ?", [mixture_id]).fetchall()[0][0]
    finally:
        con.close()
    near = n_train + n_eval <= near_limit
    rep = overlap(store, mixture_id, [p["id"] for p in pools], threshold=threshold, near=near)
    out = [f"eval sets: {w}" for w in rep.warnings]
    if not near:
        out.append(
            f"near-duplicate check against eval sets skipped ({n_train + n_eval:,} items > {near_limit:,}); "
            "run `workbench evalset overlap MIXTURE --sets ...`"
        )
    return out


def overlap(store, mixture_id: int, eval_pool_ids: list, *, threshold: float = 0.5, near: bool = True) -> OverlapReport:
    """Overlap between a saved mixture's training items (samples and both sides of mixup pairs) and eval
    pools (names or ids)."""
    con = store.cursor()
    try:
        train = [
            r[0]
            for r in con.execute(
                "SELECT sample_id FROM mixture_items WHERE mixture_id = ? AND sample_id IS NOT NULL UNION "
                "SELECT ip.sample_a FROM mixture_items mi JOIN interpolation_pairs ip ON ip.set_id = mi.interp_set_id "
                "AND ip.pair_index = mi.pair_index WHERE mi.mixture_id = ? AND mi.kind = 'mixup' UNION "
                "SELECT ip.sample_b FROM mixture_items mi JOIN interpolation_pairs ip ON ip.set_id = mi.interp_set_id "
                "AND ip.pair_index = mi.pair_index WHERE mi.mixture_id = ? AND mi.kind = 'mixup'",
                [mixture_id] * 3,
            ).fetchall()
        ]
        ev = []
        for p in eval_pool_ids:
            pid = _pool_row(con, p)[0]
            ev += [r[0] for r in con.execute("SELECT id FROM samples WHERE pool_id = ?", [pid]).fetchall()]
    finally:
        con.close()
    return overlap_ids(store, train, ev, threshold=threshold, near=near)
