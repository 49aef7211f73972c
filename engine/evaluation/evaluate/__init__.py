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

Modules: `settings` (errors, run rows, settings), `sets` (eval sets, item detection), `jobs` (prepare, the worker,
ingest, evaluate), `results` (summaries, rescore, per-item results), `overlap`.
"""

from engine.data.pools import ROLES  # noqa: F401  (pool roles: train, eval)
from engine.evaluation.evaluate.jobs import (
    current_phase,
    evaluate,
    evaluate_many,
    ingest,
    prepare,
    read_progress,
    start_worker,
)
from engine.evaluation.evaluate.overlap import (
    NEAR_CHECK_LIMIT,
    OverlapReport,
    mixture_overlap_warnings,
    normalize_instruction,
    overlap,
    overlap_ids,
)
from engine.evaluation.evaluate.results import (
    evaluation_settings,
    evaluations_stamp,
    get_summaries,
    item_results,
    list_evaluations,
    rescore,
)
from engine.evaluation.evaluate.sets import EvalItem, attach_answers, detect_item, eval_pools, pool_items, set_role
from engine.evaluation.evaluate.settings import (
    SCORER_VERSION,
    EvalSettings,
    EvalSummary,
    EvaluationError,
    RunRow,
    get_run_row,
)

__all__ = [
    "ROLES",
    "SCORER_VERSION",
    "EvaluationError",
    "RunRow",
    "get_run_row",
    "EvalSettings",
    "EvalSummary",
    "set_role",
    "eval_pools",
    "attach_answers",
    "EvalItem",
    "detect_item",
    "pool_items",
    "normalize_instruction",
    "OverlapReport",
    "overlap_ids",
    "NEAR_CHECK_LIMIT",
    "mixture_overlap_warnings",
    "overlap",
    "get_summaries",
    "rescore",
    "evaluations_stamp",
    "list_evaluations",
    "item_results",
    "evaluation_settings",
    "prepare",
    "read_progress",
    "current_phase",
    "ingest",
    "start_worker",
    "evaluate",
    "evaluate_many",
]
