"""evaluation: what a trained run can do, and what a mixture cost each domain.

- `evaluate/`: eval sets and item detection, settings, evaluation jobs, results and rescoring, overlap.
- `worker`: the child process that generates, measures NLL and checks each item.
- `scorers`: the `check()` dispatcher and the tool/choice/NLL scorers; `number_answers` (GSM8K),
  `math_answers` and `math_verify_pool` (MATH, bounded math-verify), `code_check` (code in the sandbox),
  `scorer_types`.
- `tool_calls`: BFCL-faithful tool-call scoring (`tool_parse`, `tool_values`, `tool_match`).
- `sandbox`: running generated code under kernel isolation; `sandbox_rpc` runs inside it.
- `conflict/`: Conflict Rate (our definition): rates, settings checks, specialists and pair runs, the
  interference matrix, reports.

Imports from every package below it.
"""
