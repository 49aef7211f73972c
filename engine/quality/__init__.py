"""quality: scoring samples and selecting by score.

- `ifd`: IFD / Superfiltering and Cherry IFD forwards (batched, padding-correct).
- `scoring`: scoring jobs (chunks, cache, resume) on the core job layer; `worker` is their child process.
- `scores`: the scores table (write, summaries).
- `heuristics/`: the explicit filter operators, one module per family, each registered where it is
  defined; the heuristics job and the keep/drop rules.
- `selection`: SuperFiltering and diversity selections (facility location, k-center, cluster-balanced).

Imports from core, data and geometry.
"""
