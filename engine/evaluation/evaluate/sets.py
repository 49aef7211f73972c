"""Eval sets and item detection: pool roles, attaching answers, which scorer checks each sample."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.evaluation.evaluate.settings import EvaluationError, _loads

if TYPE_CHECKING:
    from engine.core.store import Store


# -- eval sets ------------------------------------------------------------------------------------------
def set_role(store: Store, pool, role: str, *, force: bool = False) -> str:
    """Mark a pool as evaluation data ('eval') or training data ('train'); returns the pool name.
    (`engine.data.pools.set_role`, with its errors as EvaluationError.)"""
    from engine.data.pools import PoolError
    from engine.data.pools import set_role as _set_role

    try:
        return _set_role(store, pool, role, force=force)
    except PoolError as e:
        raise EvaluationError(str(e)) from e


def eval_pools(store: Store) -> list[dict]:
    """The eval sets: [{id, name, n_samples, domains}]."""
    rows = store.fetchall(
        "SELECT p.id, p.name, count(s.id), list(DISTINCT s.domain) FROM pools p LEFT JOIN samples s "
        "ON s.pool_id = p.id WHERE coalesce(p.role, 'train') = 'eval' GROUP BY p.id, p.name ORDER BY p.id"
    )
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
            for i, line in enumerate(text.split("\n"), 1):  # not splitlines: U+2028 inside a string
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
