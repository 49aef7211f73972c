"""`embed_samples` on Ray (engine.core.ray_jobs): the chunks' texts encoded by an actor pool, one model per actor.

The driver (this process, the one store writer) plans every chunk as the local loop would run them: fixed-size
chunks of the pending samples in id order; in each, the distinct texts that neither the store nor an earlier
chunk of this run has, longest first. An actor encodes a chunk's texts in batches of `batch_size` and
normalises each batch (the local loop's steps, so the same batches give the same vectors); the driver then
writes the part file and commits the rows, chunk by chunk in order, exactly as the local loop does. A killed
or cancelled run keeps every committed chunk; the next run, local or on Ray, embeds what is left.

Local runs size chunks by throughput; here they are fixed (`chunk_size`, default RAY_CHUNK), so a local run
with the same --chunk encodes the same batches.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np

from engine.core.errors import Cancelled
from engine.core.jobs import CancelToken, ProgressMeter
from engine.core.paths import store_files
from engine.core.ray_jobs import RaySetup, WorkerStats, _Pool, map_chunks
from engine.core.store import Store
from engine.data.scope import ScopeLike, as_scope, scope_sql
from engine.geometry import embeddings as em

RAY_CHUNK = 1024  # samples per chunk on Ray (one actor call, one part file)


class ChunkEncoder:
    """An actor's encoder (loaded once): a chunk's texts -> L2-normalised float32 vectors, batch by batch."""

    def __init__(self, model: str | None, batch_size: int, encoder=None):
        self.batch_size = batch_size
        self.encode = encoder or em.load_encoder(model, batch_size=batch_size)

    def __call__(self, texts: list[str]) -> np.ndarray:
        out = []
        for b in range(0, len(texts), self.batch_size):
            batch = texts[b : b + self.batch_size]
            X = em._normalise(self.encode(batch))
            if len(X) != len(batch):
                raise em.EmbeddingError(f"the encoder returned {len(X)} vectors for {len(batch)} texts")
            out.append(X)
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def embed_samples_on_ray(
    store: Store,
    *,
    model: str | None = None,
    text_kind: str = "instruction_response",
    pool_ids=None,
    batch_size: int = 64,
    progress=None,
    cancel: CancelToken | None = None,
    encoder: em.Encoder | None = None,
    chunk_size: int | None = None,
    scope: ScopeLike = None,
    setup: RaySetup | None = None,
    on_pool=None,
) -> em.EmbedResult:
    """embed_samples's contract (arguments, result, EmbeddingCancelled) with the encoding on Ray. `encoder`
    must pickle (a module-level function): each actor gets a copy. `on_pool(report)` gets the pool and each
    worker's chunks, items (samples) and rate, as a scoring job's progress.json "ray", when the pool is planned
    and after each chunk."""
    if text_kind not in em.TEXT_KINDS:
        raise em.EmbeddingError(f"unknown text kind {text_kind!r}; use one of {', '.join(em.TEXT_KINDS)}")
    if chunk_size is not None and (isinstance(chunk_size, bool) or int(chunk_size) < 1):
        raise em.EmbeddingError(f"chunk size must be at least 1, got {chunk_size!r}")
    size = int(chunk_size or RAY_CHUNK)
    name = em.model_name(model)
    folder = em.embeddings_folder(store, name, text_kind)
    base = store_files(store)
    t0 = time.perf_counter()
    with store.write_lock:
        em._clean_orphans(store, folder, name, text_kind)
    psql, pparams = scope_sql(store, as_scope(scope, pool_ids=pool_ids))
    c = store.cursor()
    try:
        n_scope = c.execute(f"SELECT count(*) FROM samples s WHERE {psql}", pparams).fetchall()[0][0]
        rows = c.execute(
            f"""SELECT s.id, s.messages, s.system FROM samples s WHERE {psql} AND NOT EXISTS (
                SELECT 1 FROM embeddings e WHERE e.sample_id = s.id AND e.model = ? AND e.text_kind = ?)
            ORDER BY s.id""",
            [*pparams, name, text_kind],
        ).fetchall()
        hashes = {int(r[0]): em.text_hash(em.sample_text(text_kind, r[1], r[2])) for r in rows}
        texts = {int(r[0]): em.sample_text(text_kind, r[1], r[2]) for r in rows}
        paths = dict(  # hash -> part file, of the texts the store has already
            c.execute(
                "SELECT text_hash, min(parquet_path) FROM embeddings WHERE model = ? AND text_kind = ? "
                "AND text_hash IN (SELECT unnest(?::VARCHAR[])) GROUP BY text_hash",
                [name, text_kind, sorted(set(hashes.values()))],
            ).fetchall()
        )
    finally:
        c.close()
    pending = [int(r[0]) for r in rows]
    # the plan: per chunk its ids and its new distinct texts (first sample names the text), longest first
    plan: list[tuple[list[int], list[tuple[str, int]]]] = []
    seen = set(paths)
    for k in range(0, len(pending), size):
        ids = pending[k : k + size]
        todo: dict[str, int] = {}
        for sid in ids:
            h = hashes[sid]
            if h not in seen:
                todo.setdefault(h, sid)
        seen.update(todo)
        plan.append((ids, sorted(todo.items(), key=lambda it: -len(texts[it[1]]))))
    meter = ProgressMeter(progress, total=len(pending), unit="samples", min_interval=0.25)
    n_new = n_encoded = n_reused = 0
    enc_seconds = 0.0
    dim = None
    if pending:
        meter.report("starting Ray", force=True)
        folder.mkdir(parents=True, exist_ok=True)
        next_no = em._next_part_no(store, folder, name, text_kind)
        factory = functools.partial(ChunkEncoder, model, batch_size, encoder)
        payloads = [[texts[sid] for _h, sid in todo_items] for _ids, todo_items in plan]
        pool = _Pool()

        def planned(info: dict) -> None:
            pool.info = info
            if on_pool is not None:
                on_pool(pool.report())

        try:
            for res in map_chunks(payloads, factory, setup=setup, cancel=cancel, on_pool=planned):
                ids, todo_items = plan[res.index]
                w = pool.workers.setdefault(res.worker, WorkerStats())
                w.chunks, w.items, w.seconds = w.chunks + 1, w.items + len(ids), w.seconds + res.seconds
                if on_pool is not None:
                    on_pool(pool.report())
                rel = None
                if todo_items:
                    X = res.result
                    dim = X.shape[1]
                    part = folder / f"part-{next_no:06d}.parquet"
                    em._write_part(part, [sid for _h, sid in todo_items], [h for h, _sid in todo_items], X)
                    next_no += 1
                    rel = str(part.relative_to(base))
                    for h, _sid in todo_items:
                        paths[h] = rel
                em.commit_rows(store, name, text_kind, [(sid, hashes[sid], paths[hashes[sid]]) for sid in ids])
                n_new += len(ids)
                n_encoded += len(todo_items)
                new = {h for h, _sid in todo_items}
                n_reused += sum(1 for sid in ids if hashes[sid] not in new)
                enc_seconds += res.seconds
                meter.advance(len(ids), force=True)
        except (Cancelled, KeyboardInterrupt):
            raise em.EmbeddingCancelled(n_new, len(pending)) from None
    if dim is None:
        dim = em.embedding_dim(store, name, text_kind)
    return em.EmbedResult(
        name,
        text_kind,
        int(n_scope),
        int(n_scope) - len(pending),
        n_new,
        n_encoded,
        n_reused,
        dim,
        time.perf_counter() - t0,
        n_encoded / enc_seconds if enc_seconds > 0 else 0.0,
        str(Path(folder)),
    )
