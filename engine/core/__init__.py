"""core: what every stage stands on.

- `store`: the DuckDB store, its schema and forward migrations (`Store`, `open_store`).
- `jobs`: the job layer (progress, cancel, resume) shared by every long job.
- `models`: the model registry (names, local folders, GGUF, cached hub ids; device and dtype).
- `errors`: the one error root (`WorkbenchError`: message, exit code, hint).

Imports nothing from the other engine packages.
"""
