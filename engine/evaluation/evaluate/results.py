"""Stored evaluation results: summary rows, rescoring stored outputs, per-item results and settings."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from engine.evaluation.evaluate.sets import detect_item
from engine.evaluation.evaluate.settings import EvalSettings, EvalSummary, EvaluationError, _loads, _require_sandbox

if TYPE_CHECKING:
    from engine.core.store import Store


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


def get_summaries(store: Store, ids: list[int]) -> list[EvalSummary]:
    """Evaluation summary rows by id."""
    if not ids:
        return []
    rows = store.fetchall(
        "SELECT id, run_id, eval_set, domain, metric, value, n, details FROM evaluations "
        "WHERE id IN (SELECT unnest(?::INTEGER[])) ORDER BY id",
        [list(ids)],
    )
    return [EvalSummary(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _loads(r[7]) or {}) for r in rows]


# -- rescoring ------------------------------------------------------------------------------------------------
def rescore(store: Store, evaluation_id: int) -> EvalSummary:
    """Re-check every stored output of an evaluation with the current scorers (no generation); the
    reference comes from the sample again (so a fixed reference or scorer takes effect)."""
    from engine.evaluation.scorers import AnswerCheckError, check

    rows = store.fetchall(
        "SELECT ei.sample_id, ei.output, ei.nll, ei.details, s.domain, s.messages, s.meta, s.tools FROM eval_items ei "
        "JOIN samples s ON s.id = ei.sample_id WHERE ei.evaluation_id = ?",
        [evaluation_id],
    )
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


def evaluations_stamp(store: Store) -> tuple[int, int | None]:
    """(number of evaluations, newest id): changes whenever an evaluation is added or removed."""
    con = store.cursor()
    try:
        n, last = con.execute("SELECT count(*), max(id) FROM evaluations").fetchall()[0]
    finally:
        con.close()
    return int(n), last


def list_evaluations(store: Store, run_id: int | None = None) -> list[EvalSummary]:
    """Summary rows (of one run, or all), newest last."""
    con = store.cursor()
    try:
        q = "SELECT id FROM evaluations" + (" WHERE run_id = ?" if run_id is not None else "") + " ORDER BY id"
        ids = [r[0] for r in con.execute(q, [run_id] if run_id is not None else []).fetchall()]
    finally:
        con.close()
    return get_summaries(store, ids)


def item_results(
    store: Store, run_id: int, *, domain: str | None = None, eval_set: str | None = None
) -> dict[int, dict]:
    """Per-item results of a run's latest finished evaluation of each (eval set, domain) (a cancelled, failed
    or still-running one counts only when none has finished): sample_id -> row dict
    (scorer, question (the last user turn), output, extracted, correct, score, nll, domain, eval_set, prompt
    (the rendered prompt the model saw), evaluation_id (the evaluations row it belongs to)).

    The key, the eval sample's id, is the item's identity when two runs are compared: a sample belongs to one
    pool, so it fixes the eval set as well as the question and reference."""
    con = store.cursor()
    try:
        q = (
            "WITH ranked AS (SELECT id, row_number() OVER (PARTITION BY eval_set, domain ORDER BY "
            "coalesce(json_extract_string(details, '$.state'), 'done') = 'done' DESC, id DESC) AS rk "
            "FROM evaluations WHERE run_id = ?), latest AS (SELECT id FROM ranked WHERE rk = 1) "
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
def evaluation_settings(store: Store, ids) -> dict[int, dict]:
    """evaluation id -> {"eval_set", "settings": the recorded comparable settings}; settings an evaluation did
    not record (rows from before they were recorded) are absent from its dict."""
    ids = sorted({int(i) for i in ids if i is not None})
    if not ids:
        return {}
    rows = store.fetchall(
        "SELECT id, eval_set, details FROM evaluations WHERE id IN (SELECT unnest(?::INTEGER[]))", [ids]
    )
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
