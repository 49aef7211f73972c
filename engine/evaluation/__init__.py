"""evaluation: what a trained run can do, and what a mixture cost each domain.

- `evaluate`: eval sets, evaluation jobs (prepare, run the worker, ingest, rescore), overlap checks.
- `worker`: the child process that generates, measures NLL and checks each item.
- `scorers`: the scorers (GSM8K, MATH, code, tool calls, multiple choice, NLL) and answer extraction.
- `tool_calls`: tool-call parsing and BFCL-faithful matching.
- `sandbox`: running generated code under kernel isolation; `sandbox_rpc` runs inside it.
- `conflict`: Conflict Rate (our definition), specialists, pair runs, the interference matrix.

Imports from every package below it.
"""
