"""core: what every stage stands on.

- `store`: the DuckDB store, its schema and forward migrations (`Store`).
- `jobs`: the one job layer (job folders, atomic progress, spawn, cancel, resume, worker loop) and
  progress/cancel tokens for in-process jobs.
- `models`: the model registry (names, local folders, GGUF, cached hub ids; device and dtype).
- `errors`: the one error root (`WorkbenchError`: message, exit code, hint).
- `paths`: where the engine keeps files when not told ($WORKBENCH_HOME or the XDG data folder), and the one
  folder of each store's own files (`<db file>.d/`: jobs, embeddings, clusterings, runs).

Imports nothing from the other engine packages.
"""
