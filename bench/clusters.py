"""Clusters benchmark: embedding store overhead and the time to cluster 100k x 384.

1. Embedding: `engine.geometry.embeddings.embed_samples` (text building, hashing, Parquet part files, store rows)
   vs plain `SentenceTransformer.encode` with the same loaded model on the same texts. Target: overhead
   <= 10%. Interleaved in blocks so that machine load hits both alike.
2. Clustering: `engine.geometry.clusters.cluster` with its defaults (load from Parquet, PCA 384->32, HDBSCAN with
   prediction data fitted on at most fit_sample = 30,000 points, the rest placed with approximate_predict,
   2-D map, labels, representatives, assignments written) on 100k stored 384-d vectors, vs the bare sklearn
   PCA + hdbscan.HDBSCAN on every point of the same in-memory matrix; time and ARI against the planted
   truth for both. Data: `blobs` (30 noisy blobs + uniform noise; the target's data) or `overlapping`
   (40 touching blobs of Zipf sizes + noise between them; harder and slower for every method).
   Target: < 60 s on the 2-core dev machine.

    .venv/bin/python bench/clusters.py --skip-embedding                  # 100k blobs, ours vs bare
    .venv/bin/python bench/clusters.py --skip-embedding --data overlapping --points 50000
    .venv/bin/python bench/clusters.py --skip-embedding --fit-sample 0 --no-bare   # ours fitting every point
    .venv/bin/python bench/clusters.py --texts 2000 --skip-clustering    # embedding overhead only
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
    from engine.core.store import Store
    from engine.data.ingest import import_file
    from engine.geometry.embeddings import embed_samples, load_encoder, sample_text

    recs = json.loads(DATA.read_text(encoding="utf-8"))[:n]
    encode = load_encoder(None)
    encode(["warm up"] * 8)
    t_plain = t_ours = 0.0
    block = max(1, n // blocks)
    for b, k in enumerate(range(0, n, block)):
        part = recs[k : k + block]
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


def make_points(n: int, data: str, seed: int = 0):
    """(X float32 [n, 384], truth labels with -1 = noise) for the clustering bench.

    blobs: 30 well-separated gaussian blobs of random spread plus 10% uniform noise (the noise collapses
    into one dense lump once L2-normalised and PCA-reduced, so every method finds it as a 31st cluster).
    overlapping: 40 blobs with Zipf-like sizes, spreads 0.25-0.6 around centres 0.3 * N(0, I) apart (they
    touch), plus 10% noise drawn between two random centres with wide jitter (real noise, not a lump).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    dim = 384
    if data == "blobs":
        k = 30
        centers = rng.normal(size=(k, dim)).astype(np.float32) * 3
        labels = rng.integers(0, k, size=n)
        noise = rng.random(n) < 0.1
        X = centers[labels] + rng.normal(size=(n, dim)).astype(np.float32) * rng.uniform(0.8, 1.6, size=(k, 1))[labels]
        X[noise] = rng.uniform(-6, 6, size=(int(noise.sum()), dim))
    elif data == "overlapping":
        k = 40
        w = 1.0 / np.arange(1, k + 1) ** 0.8
        w /= w.sum()
        centers = rng.normal(size=(k, dim)).astype(np.float32) * 0.3
        labels = rng.choice(k, size=n, p=w)
        spread = rng.uniform(0.25, 0.6, size=k)
        X = centers[labels] + rng.normal(size=(n, dim)).astype(np.float32) * spread[labels, None]
        noise = rng.random(n) < 0.1
        a, b = rng.integers(0, k, size=(2, int(noise.sum())))
        t = rng.random((int(noise.sum()), 1))
        X[noise] = t * centers[a] + (1 - t) * centers[b] + rng.normal(size=(int(noise.sum()), dim)) * 0.8
    else:
        raise SystemExit(f"unknown --data {data!r}: blobs or overlapping")
    return X.astype(np.float32), np.where(noise, -1, labels)


def bench_clustering(work: Path, n: int, data: str = "blobs", fit_sample: int | None = None, bare: bool = True) -> None:
    import numpy as np

    from engine.core.store import Store
    from engine.data.ingest import import_file
    from engine.geometry.clusters import DEFAULT_FIT_SAMPLE, cluster
    from engine.geometry.embeddings import embed_samples, sample_text

    X, truth = make_points(n, data)
    dim = X.shape[1]
    src = work / f"points_{data}.jsonl"
    _write_alpaca(src, [{"instruction": f"point {i}", "input": "", "output": f"vector {i}"} for i in range(n)])
    s = Store(work / f"points_{data}.duckdb")
    import_file(s, src, pool="points")
    by_text = {
        sample_text("instruction_response", m, sy): X[ri]
        for m, sy, ri in s.con.execute("SELECT messages, system, record_index FROM samples").fetchall()
    }

    def fake_encoder(texts: list[str]) -> np.ndarray:
        return np.stack([by_text[t] for t in texts])

    t = time.perf_counter()
    embed_samples(s, model="synthetic", text_kind="instruction_response", encoder=fake_encoder, chunk_size=20000)
    t_store = time.perf_counter() - t
    mcs = max(50, n // 1000)
    fs = DEFAULT_FIT_SAMPLE if fit_sample is None else (fit_sample or None)

    import hdbscan
    from sklearn.decomposition import PCA
    from sklearn.metrics import adjusted_rand_score

    t = time.perf_counter()
    info = cluster(s, "bench", model="synthetic", pca_dims=32, min_cluster_size=mcs, fit_sample=fs)
    t_ours = time.perf_counter() - t
    got = dict(s.con.execute("SELECT sample_id, cluster FROM cluster_assignments").fetchall())
    ids = [r[0] for r in s.con.execute("SELECT id FROM samples ORDER BY id").fetchall()]
    ours = np.array([got[i] for i in ids])
    clustered = truth >= 0
    r = info.params["result"]
    how = (
        f"HDBSCAN on {r['n_fit']:,}, {r['n_predicted']:,} by approximate_predict"
        if r["n_predicted"]
        else f"HDBSCAN on all {r['n_fit']:,}"
    )
    print(f"clustering {n:,} x {dim} ({data}; min_cluster_size {mcs}; vectors stored in {t_store:.1f}s):")
    print(f"  engine.cluster ({how}; load, PCA 32, map, labels, save)")
    print(
        f"      {t_ours:6.1f} s   ARI vs truth {adjusted_rand_score(truth, ours):.3f} "
        f"(clustered points only {adjusted_rand_score(truth[clustered], ours[clustered]):.3f}); "
        f"{info.n_clusters} clusters, {100 * info.n_noise / n:.1f}% noise   (target < 60 s)",
        flush=True,
    )
    if bare:
        Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
        t = time.perf_counter()
        Z = PCA(32, random_state=0).fit_transform(Xn)
        raw = hdbscan.HDBSCAN(min_cluster_size=mcs, prediction_data=True).fit(Z)
        t_raw = time.perf_counter() - t
        print("  bare PCA 32 + hdbscan.HDBSCAN on all points in memory (min_samples = min_cluster_size)")
        print(
            f"      {t_raw:6.1f} s   ARI vs truth {adjusted_rand_score(truth, raw.labels_):.3f} "
            f"(clustered points only {adjusted_rand_score(truth[clustered], raw.labels_[clustered]):.3f}); "
            f"{raw.labels_.max() + 1} clusters, {100 * (raw.labels_ < 0).mean():.1f}% noise"
        )
        print(
            f"  ours / bare time {t_ours / t_raw:.2f}; ARI ours vs bare {adjusted_rand_score(raw.labels_, ours):.3f}",
            flush=True,
        )
    s.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument(
        "--data",
        choices=["blobs", "overlapping", "both"],
        default="blobs",
        help="synthetic clustering data (see make_points); both runs one after the other",
    )
    ap.add_argument(
        "--fit-sample",
        type=int,
        default=None,
        help="engine.cluster fit_sample (default: the engine's default; 0 = fit every point)",
    )
    ap.add_argument("--no-bare", action="store_true", help="skip the bare PCA + HDBSCAN baseline")
    ap.add_argument("--skip-embedding", action="store_true")
    ap.add_argument("--skip-clustering", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=ROOT / ".bench" if (ROOT / ".bench").is_dir() else None) as d:
        work = Path(d)
        if not args.skip_embedding:
            bench_embedding(work, args.texts, args.blocks)
        if not args.skip_clustering:
            for data in ["blobs", "overlapping"] if args.data == "both" else [args.data]:
                bench_clustering(work, args.points, data, args.fit_sample, bare=not args.no_bare)


if __name__ == "__main__":
    main()
