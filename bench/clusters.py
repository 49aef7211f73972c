"""Clusters benchmark: embedding store overhead and the time to cluster 100k x 384.

1. Embedding: `engine.embeddings.embed_samples` (text building, hashing, Parquet part files, store rows)
   vs plain `SentenceTransformer.encode` with the same loaded model on the same texts. Target: overhead
   <= 10%. Interleaved in blocks so that machine load hits both alike.
2. Clustering: `engine.clusters.cluster` (load from Parquet, PCA 384->32, HDBSCAN with prediction data,
   2-D map, labels, representatives, assignments written) on 100k stored 384-d vectors (30 noisy blobs plus
   uniform noise), vs the bare sklearn PCA + hdbscan.HDBSCAN on the same in-memory matrix.
   Target: < 60 s on the 2-core dev machine.

    .venv/bin/python bench/clusters.py                   # 1,000 texts, 100k points
    .venv/bin/python bench/clusters.py --texts 2000 --points 20000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "datasets" / "alpaca_5000" / "alpaca_5000.json"


def _write_alpaca(path: Path, records: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def bench_embedding(work: Path, n: int, blocks: int) -> None:
    from engine.embeddings import embed_samples, load_encoder, sample_text
    from engine.ingest import import_file
    from engine.store import Store

    recs = json.loads(DATA.read_text(encoding="utf-8"))[:n]
    encode = load_encoder(None)
    encode(["warm up"] * 8)
    t_plain = t_ours = 0.0
    block = max(1, n // blocks)
    for b, k in enumerate(range(0, n, block)):
        part = recs[k:k + block]
        src = work / f"emb_{b}.jsonl"
        _write_alpaca(src, part)
        s = Store(work / f"emb_{b}.duckdb")
        import_file(s, src, pool="p")
        rows = s.con.execute("SELECT messages, system FROM samples ORDER BY id").fetchall()
        texts = [sample_text("instruction_response", m, sy) for m, sy in rows]
        t = time.perf_counter()
        encode(texts)
        t_plain += time.perf_counter() - t
        t = time.perf_counter()
        res = embed_samples(s, text_kind="instruction_response", encoder=encode)
        t_ours += time.perf_counter() - t
        assert res.n_new == len(part), res
        s.close()
    print(f"embedding {n:,} alpaca_5000 texts (instruction + response), all-MiniLM-L6-v2 on CPU:")
    print(f"  plain SentenceTransformer.encode  {n / t_plain:7.1f} texts/s ({t_plain:.1f}s)")
    print(f"  engine.embed_samples (stored)     {n / t_ours:7.1f} texts/s ({t_ours:.1f}s)")
    print(f"  store overhead {100 * (t_ours / t_plain - 1):+.1f}%   (target <= 10%)", flush=True)


def bench_clustering(work: Path, n: int) -> None:
    import numpy as np

    from engine.clusters import cluster
    from engine.embeddings import embed_samples, sample_text
    from engine.ingest import import_file
    from engine.store import Store

    rng = np.random.default_rng(0)
    k, dim = 30, 384
    centers = rng.normal(size=(k, dim)).astype(np.float32) * 3
    labels = rng.integers(0, k, size=n)
    noise = rng.random(n) < 0.1
    X = centers[labels] + rng.normal(size=(n, dim)).astype(np.float32) * rng.uniform(0.8, 1.6, size=(k, 1))[labels]
    X[noise] = rng.uniform(-6, 6, size=(int(noise.sum()), dim))
    X = X.astype(np.float32)
    src = work / "points.jsonl"
    _write_alpaca(src, [{"instruction": f"point {i}", "input": "", "output": f"vector {i}"} for i in range(n)])
    s = Store(work / "points.duckdb")
    import_file(s, src, pool="points")
    by_text = {sample_text("instruction_response", m, sy): X[ri] for m, sy, ri in
               s.con.execute("SELECT messages, system, record_index FROM samples").fetchall()}

    def fake_encoder(texts: list[str]) -> np.ndarray:
        return np.stack([by_text[t] for t in texts])

    t = time.perf_counter()
    embed_samples(s, model="synthetic", text_kind="instruction_response", encoder=fake_encoder, chunk_size=20000)
    t_store = time.perf_counter() - t

    t = time.perf_counter()
    info = cluster(s, "bench", model="synthetic", pca_dims=32, min_cluster_size=max(50, n // 1000))
    t_ours = time.perf_counter() - t

    import hdbscan
    from sklearn.decomposition import PCA
    from sklearn.metrics import adjusted_rand_score

    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    t = time.perf_counter()
    Z = PCA(32, random_state=0).fit_transform(Xn)
    raw = hdbscan.HDBSCAN(min_cluster_size=max(50, n // 1000), prediction_data=True).fit(Z)
    t_raw = time.perf_counter() - t
    got = dict(s.con.execute("SELECT sample_id, cluster FROM cluster_assignments").fetchall())
    ids = [r[0] for r in s.con.execute("SELECT id FROM samples ORDER BY id").fetchall()]
    ours_labels = np.array([got[i] for i in ids])
    truth = np.where(noise, -1, labels)
    print(f"clustering {n:,} x {dim} (30 noisy blobs + 10% uniform noise; vectors stored in {t_store:.1f}s):")
    print(f"  engine.cluster (load, PCA 32, HDBSCAN, map, labels, save)  {t_ours:6.1f} s   (target < 60 s)")
    print(f"  bare PCA + hdbscan.HDBSCAN in memory                      {t_raw:6.1f} s   ratio {t_ours / t_raw:.2f}")
    print(f"  {info.n_clusters} clusters, {info.n_noise:,} noise; ARI vs truth {adjusted_rand_score(truth, ours_labels):.3f}, "
          f"vs bare run {adjusted_rand_score(raw.labels_, ours_labels):.3f}", flush=True)
    s.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--skip-embedding", action="store_true")
    ap.add_argument("--skip-clustering", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=ROOT / ".bench" if (ROOT / ".bench").is_dir() else None) as d:
        work = Path(d)
        if not args.skip_embedding:
            bench_embedding(work, args.texts, args.blocks)
        if not args.skip_clustering:
            bench_clustering(work, args.points)


if __name__ == "__main__":
    main()
