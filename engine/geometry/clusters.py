"""Named clusterings of stored embeddings: PCA -> HDBSCAN, 2-D map, labels, assignment of new samples,
diversity metrics.

cluster(): the L2-normalised embeddings of the samples of the scope (engine.data.scope: the Browse filter, or
every training sample; excluded samples and eval pools left out unless asked) that have an embedding for (model,
text_kind) are reduced with sklearn PCA to `pca_dims` (default
32: raw 384-d is slow and clusters badly, see shared/docs/stack.md §5), then clustered with the `hdbscan`
package's HDBSCAN (euclidean in the reduced space, prediction_data=True), fitted on at most `fit_sample`
samples (a seeded subsample; the others are placed with approximate_predict). Label -1 is noise: it is stored
and reported as its own row, never dropped. Map coordinates (x, y) are a second PCA, to 2 dimensions, of
the reduced (pca_dims) data: a linear projection, so distances on the map are faithful only along the two
main directions; no UMAP/t-SNE. The fitted PCA, HDBSCAN (with prediction data) and 2-D PCA are saved with
joblib in `<store files>/clusterings/<name>-<id>.joblib` (the store's own folder `<db file>.d/`;
clusterings.artefact_path, relative to it; one recorded by an older version in the shared `clusterings/` beside
the store file is read from there and never deleted); assign_new() loads it to place samples embedded later with hdbscan.approximate_predict (cluster +
membership strength) and hdbscan.approximate_predict_scores (GLOSH outlier score) without re-clustering.

The code: `cluster_store` (records, lookup, deletion, assignment rows, map points), `cluster_fit` (fitting,
parallel placement, assign_new), `cluster_labels` (keywords, summary), `cluster_diversity`; this module is
the entry point.
"""

from __future__ import annotations

from engine.geometry.cluster_diversity import DiversityInfo, diversity
from engine.geometry.cluster_fit import (
    DEFAULT_FIT_SAMPLE,
    DEFAULT_MIN_SAMPLES,
    PARALLEL_PREDICT_MIN,
    assign_new,
    cluster,
    clustering_scope,
    default_min_cluster_size,
)
from engine.geometry.cluster_labels import N_KEYWORDS, ClusterInfo, cluster_summary, ctfidf_keywords
from engine.geometry.cluster_store import (
    ClusterError,
    ClusteringInfo,
    cluster_ids,
    delete_clustering,
    get_clustering,
    list_clusterings,
    map_points,
)

__all__ = [
    "DEFAULT_FIT_SAMPLE",
    "DEFAULT_MIN_SAMPLES",
    "N_KEYWORDS",
    "PARALLEL_PREDICT_MIN",
    "ClusterError",
    "ClusterInfo",
    "ClusteringInfo",
    "DiversityInfo",
    "assign_new",
    "cluster",
    "cluster_ids",
    "cluster_summary",
    "clustering_scope",
    "ctfidf_keywords",
    "default_min_cluster_size",
    "delete_clustering",
    "diversity",
    "get_clustering",
    "list_clusterings",
    "map_points",
]
