"""Embeddings: text kinds, cache per (text hash, model, kind), incremental, cancel + resume, Parquet storage."""

import hashlib
import json

import numpy as np
import pytest

from engine.core.jobs import Cancelled, CancelToken
from engine.data.ingest import import_file
from engine.geometry.embeddings import (
    EmbeddingError,
    embed_samples,
    embedding_sets,
    load_embeddings,
    model_name,
    sample_text,
)


class CountingEncoder:
    """Deterministic 16-d vectors from the text's sha256; records every text it was asked to encode."""

    def __init__(self, on_call=None):
        self.seen: list[str] = []
        self.calls = 0
        self.on_call = on_call

    def __call__(self, texts):
        self.calls += 1
        if self.on_call:
            self.on_call(self)
        self.seen += texts
        return np.stack(
            [np.frombuffer(hashlib.sha256(t.encode()).digest()[:16], np.uint8).astype(np.float32) + 1 for t in texts]
        )


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _alpaca(n, prefix="task", start=0):
    return [{"instruction": f"{prefix} {i}", "input": "", "output": f"answer {i}"} for i in range(start, start + n)]


@pytest.fixture
def st(store):
    return store


def test_text_kinds():
    msgs = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "more"},
        {"role": "assistant", "content": "a2"},
    ]
    assert sample_text("instruction", json.dumps(msgs)) == "hi"
    assert sample_text("instruction_response", msgs) == "hi\n\na2"
    assert (
        sample_text("conversation", msgs, "be brief")
        == "system: be brief\nuser: hi\nassistant: a1\nuser: more\nassistant: a2"
    )
    with pytest.raises(EmbeddingError):
        sample_text("whole", msgs)
    assert model_name(None) == "all-MiniLM-L6-v2"


def test_embed_store_and_load_subset(st, tmp_path):
    import_file(st, _jsonl(tmp_path / "a.jsonl", _alpaca(50)), pool="a")
    enc = CountingEncoder()
    r = embed_samples(st, model="fake", encoder=enc, chunk_size=16, batch_size=8)
    assert (r.n_scope, r.n_new, r.n_encoded, r.n_cached, r.dim) == (50, 50, 50, 0, 16)
    parts = sorted((st.files_dir / "embeddings" / "fake-instruction_response").glob("part-*.parquet"))
    assert len(parts) == 4  # 16 + 16 + 16 + 2
    nulls = st.con.execute(
        "SELECT count(*) FROM embeddings WHERE vector IS NULL AND parquet_path LIKE 'embeddings/%'"
    ).fetchall()[0][0]
    assert nulls == 50
    ids, X = load_embeddings(st, model="fake", text_kind="instruction_response")
    assert ids.tolist() == list(range(1, 51)) and X.shape == (50, 16) and X.dtype == np.float32
    assert np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    sub, Xs = load_embeddings(st, model="fake", text_kind="instruction_response", sample_ids=[40, 3, 999])
    assert sub.tolist() == [3, 40]
    assert np.allclose(Xs, X[[2, 39]])
    # vectors are what the encoder gave, normalised
    v = CountingEncoder()(["task 2\n\nanswer 2"])[0]
    assert np.allclose(Xs[0], v / np.linalg.norm(v), atol=1e-6)
    assert embedding_sets(st)[0]["n_samples"] == 50


def test_incremental_only_new_samples(st, tmp_path):
    import_file(st, _jsonl(tmp_path / "a.jsonl", _alpaca(30)), pool="a")
    embed_samples(st, model="fake", encoder=CountingEncoder())
    import_file(st, _jsonl(tmp_path / "b.jsonl", _alpaca(10, "other")), pool="b")
    enc = CountingEncoder()
    r = embed_samples(st, model="fake", encoder=enc)
    assert sorted(enc.seen) == sorted(f"other {i}\n\nanswer {i}" for i in range(10))
    assert (r.n_cached, r.n_new, r.n_encoded) == (30, 10, 10)
    enc2 = CountingEncoder()
    r = embed_samples(st, model="fake", encoder=enc2)
    assert enc2.calls == 0 and r.n_new == 0
    # another text kind is another cache
    r = embed_samples(st, model="fake", text_kind="instruction", encoder=enc2)
    assert r.n_new == 40 and "task 0" in enc2.seen  # (encoded longest first, not in sample order)


def test_identical_texts_embedded_once(st, tmp_path):
    recs = _alpaca(20)
    import_file(st, _jsonl(tmp_path / "a.jsonl", recs), pool="a")
    import_file(st, _jsonl(tmp_path / "b.jsonl", recs), pool="b")  # same content, another pool
    enc = CountingEncoder()
    r = embed_samples(st, model="fake", encoder=enc, chunk_size=7)
    assert len(enc.seen) == 20 and len(set(enc.seen)) == 20
    assert (r.n_new, r.n_encoded, r.n_reused) == (40, 20, 20)
    ids, X = load_embeddings(st, model="fake", text_kind="instruction_response")
    assert len(ids) == 40
    assert np.allclose(X[:20], X[20:])
    # only pool a, and within one chunk duplicates (same instruction, different responses) for 'instruction'
    recs2 = [{"instruction": "same question", "input": "", "output": f"r{i}"} for i in range(5)]
    import_file(st, _jsonl(tmp_path / "c.jsonl", recs2), pool="c")
    enc = CountingEncoder()
    r = embed_samples(st, model="fake", text_kind="instruction", pool_ids=[3], encoder=enc)
    assert enc.seen == ["same question"] and r.n_new == 5


def test_cancel_keeps_finished_chunks_and_rerun_completes(st, tmp_path):
    import_file(st, _jsonl(tmp_path / "a.jsonl", _alpaca(100)), pool="a")
    tok = CancelToken()

    def stop(enc):
        if enc.calls == 5:  # batches of 10, chunks of 20: chunks 1 and 2 done, chunk 3 half encoded
            tok.cancel()

    enc = CountingEncoder(on_call=stop)
    with pytest.raises(Cancelled):
        embed_samples(st, model="fake", encoder=enc, chunk_size=20, batch_size=10, cancel=tok)
    n = st.con.execute("SELECT count(*) FROM embeddings").fetchall()[0][0]
    assert n == 40
    folder = st.files_dir / "embeddings" / "fake-instruction_response"
    (folder / "part-000099.parquet").write_bytes(b"orphan from a killed run")  # never committed
    enc2 = CountingEncoder()
    reports = []
    r = embed_samples(st, model="fake", encoder=enc2, chunk_size=20, batch_size=10, progress=reports.append)
    assert (r.n_cached, r.n_new) == (40, 60) and len(enc2.seen) == 60
    assert not (folder / "part-000099.parquet").exists()
    ids, X = load_embeddings(st, model="fake", text_kind="instruction_response")
    assert ids.tolist() == list(range(1, 101))
    assert reports and reports[-1].done == 60 and reports[-1].total == 60 and reports[-1].unit == "samples"
    dup = st.con.execute("SELECT count(*) - count(DISTINCT sample_id) FROM embeddings").fetchall()[0][0]
    assert dup == 0


@pytest.mark.slow
def test_real_embedder_paraphrases_closer_than_unrelated(st, tmp_path):
    pairs = [
        ("How do I reverse a list in Python?", "What is the way to invert the order of a Python list?"),
        ("What is the capital of France?", "Which city is France's capital?"),
        ("Give me a recipe for chocolate cake.", "How do I bake a chocolate cake?"),
        ("Explain photosynthesis simply.", "Describe in simple terms how plants make food from sunlight."),
        ("Translate 'good morning' into Spanish.", "How do you say 'good morning' in Spanish?"),
        ("What causes earthquakes?", "Why do earthquakes happen?"),
        ("Solve 2x + 3 = 11 for x.", "Find x if 2x plus 3 equals 11."),
        ("Write a haiku about autumn.", "Compose a short haiku on the fall season."),
        ("How many legs does a spider have?", "What is the number of legs on a spider?"),
        ("Summarise the plot of Hamlet.", "Give a brief summary of Shakespeare's Hamlet."),
        ("What is the boiling point of water?", "At what temperature does water boil?"),
        ("Recommend a good sci-fi novel.", "Can you suggest a great science fiction book?"),
        ("How do I sort a dictionary by value in Python?", "Sorting a Python dict by its values: how?"),
        ("What is the speed of light?", "How fast does light travel?"),
        ("Tips for better sleep?", "How can I improve the quality of my sleep?"),
        ("Convert 10 miles to kilometres.", "How many km are 10 miles?"),
        ("Who painted the Mona Lisa?", "Which artist created the Mona Lisa?"),
        ("Define machine learning.", "What does the term machine learning mean?"),
        ("How do vaccines work?", "Explain the mechanism by which vaccines protect us."),
        ("What is a prime number?", "Explain what makes a number prime."),
        ("List three benefits of exercise.", "Name 3 advantages of working out."),
        ("How do I make a cup of tea?", "What are the steps to brew tea?"),
        ("What year did World War II end?", "When did the Second World War finish?"),
        ("How to center a div in CSS?", "What CSS centers a div element?"),
        ("Why is the sky blue?", "What makes the sky look blue?"),
    ]
    recs = [{"instruction": t, "input": "", "output": ""} for p in pairs for t in p]
    import_file(st, _jsonl(tmp_path / "p.jsonl", recs), pool="p")
    r = embed_samples(st, text_kind="instruction")
    assert r.n_new == 50 and r.dim == 384 and r.model == "all-MiniLM-L6-v2"
    ids, X = load_embeddings(st, model="all-MiniLM-L6-v2", text_kind="instruction")
    S = X @ X.T
    para = [S[2 * i, 2 * i + 1] for i in range(len(pairs))]
    unrel = [S[2 * i, 2 * ((i + 1) % len(pairs)) + 1] for i in range(len(pairs))]
    assert min(para) > 0.5 and max(unrel) < 0.45
    assert all(p > u for p, u in zip(para, unrel))


def test_next_chunk_size_aims_at_a_few_seconds_of_work():
    from engine.geometry.embeddings import CHUNK_SECONDS, MAX_CHUNK, MIN_CHUNK, next_chunk_size

    assert next_chunk_size(200, 2.0) == int(100 * CHUNK_SECONDS)  # 100 samples/s -> CHUNK_SECONDS of them
    assert next_chunk_size(64, 0.001) == 128  # fast (cached texts): at most doubles
    assert next_chunk_size(64, 0.0) == 128
    assert next_chunk_size(10_000, 60.0) == 500  # a slow chunk shrinks the next at once
    assert next_chunk_size(10_000, 600.0) == MIN_CHUNK  # slow: never below the minimum
    assert next_chunk_size(MAX_CHUNK, 0.1) == MAX_CHUNK


def test_cancel_after_the_first_adaptive_chunk_keeps_it_and_says_so(st, tmp_path):
    """Default (adaptive) chunks: the first has MIN_CHUNK samples, so a cancel during the second keeps those
    and the error states the count; a rerun finishes the rest; clustering the partial set works on what is
    embedded and the CLI says how many samples it left out."""
    from engine.geometry.clusters import cluster
    from engine.geometry.embeddings import MIN_CHUNK, EmbeddingCancelled, count_unembedded
    from tests.helpers import wb

    import_file(st, _jsonl(tmp_path / "a.jsonl", _alpaca(300)), pool="a")
    tok = CancelToken()

    def stop(enc):
        if enc.calls == MIN_CHUNK // 16 + 1:  # the first batch of the second chunk
            tok.cancel()

    with pytest.raises(EmbeddingCancelled) as ei:
        embed_samples(st, model="fake", encoder=CountingEncoder(on_call=stop), batch_size=16, cancel=tok)
    e = ei.value
    assert isinstance(e, Cancelled) and e.exit_code == 130
    assert (e.n_kept, e.n_todo) == (MIN_CHUNK, 300)
    assert f"kept {MIN_CHUNK} of 300 samples embedded ({300 - MIN_CHUNK} left" in str(e)
    assert st.con.execute("SELECT count(*) FROM embeddings").fetchall()[0][0] == MIN_CHUNK
    assert count_unembedded(st, model="fake", text_kind="instruction_response") == 300 - MIN_CHUNK
    info = cluster(st, "part", model="fake", min_cluster_size=5)
    assert info.n_samples == MIN_CHUNK  # what is embedded, no more
    # a cancel before anything is committed keeps nothing and says so
    tok0 = CancelToken()
    tok0.cancel()
    with pytest.raises(EmbeddingCancelled, match="kept 0 of 236 samples"):
        embed_samples(st, model="fake", encoder=CountingEncoder(), cancel=tok0)
    db = st.path
    st.close()
    r = wb(db, "cluster", "part2", "--model", "fake", "--min-cluster-size", "5")
    assert f"{MIN_CHUNK} samples" in r.stdout
    assert f"{300 - MIN_CHUNK} samples in scope have no fake [instruction_response] embedding" in r.stderr
    assert "workbench clusters part2 --assign-new" in r.stderr


def test_resume_after_cancel_completes(st, tmp_path):
    from engine.geometry.embeddings import EmbeddingCancelled

    import_file(st, _jsonl(tmp_path / "a.jsonl", _alpaca(300)), pool="a")
    tok = CancelToken()
    enc = CountingEncoder(on_call=lambda enc: tok.cancel() if enc.calls == 6 else None)
    with pytest.raises(EmbeddingCancelled) as ei:
        embed_samples(st, model="fake", encoder=enc, batch_size=16, cancel=tok)
    kept = ei.value.n_kept
    assert kept >= 64
    enc2 = CountingEncoder()
    r = embed_samples(st, model="fake", encoder=enc2, batch_size=16)
    assert (r.n_cached, r.n_new, len(enc2.seen)) == (kept, 300 - kept, 300 - kept)
    ids, _X = load_embeddings(st, model="fake", text_kind="instruction_response")
    assert ids.tolist() == list(range(1, 301))


def test_chunk_size_must_be_positive(st, tmp_path):
    import_file(st, _jsonl(tmp_path / "a.jsonl", _alpaca(3)), pool="a")
    with pytest.raises(EmbeddingError, match="chunk size must be at least 1"):
        embed_samples(st, model="fake", encoder=CountingEncoder(), chunk_size=0)
