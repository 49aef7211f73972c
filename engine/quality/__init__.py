"""quality: scoring samples and selecting by score.

- `ifd`: IFD / Superfiltering and Cherry IFD forwards (batched, padding-correct).
- `scoring`: scoring jobs (chunks, cache, resume); `worker` is their child process.
- `scores`: the scores table (write, summaries).
- `heuristics`: the explicit filter operators and keep/drop rules.
- `selection`: SuperFiltering and diversity selections (facility location, k-center, cluster-balanced).

Imports from core, data and geometry.
"""
