"""geometry: samples as vectors.

- `embeddings`: sentence embeddings cached per text and model (resumable).
- `clusters`: PCA + HDBSCAN clusterings (`cluster_fit`), stored records and the map (`cluster_store`),
  keywords and summaries (`cluster_labels`), diversity of a sample set (`cluster_diversity`).
- `dedup`: exact, MinHash and semantic near-duplicate groups.

Imports from core and data.
"""
