"""geometry: samples as vectors.

- `embeddings`: sentence embeddings cached per text and model (a resumable job).
- `clusters`: PCA + HDBSCAN clusterings, labels, the map, incremental assignment.
- `dedup`: exact, MinHash and semantic near-duplicate groups.

Imports from core and data.
"""
