"""Targeted selection (engine/targeting): each algorithm equals a plain implementation of the spec
(../shared/docs/methods.md section 5.3) written here, on random matrices with many ties; UOT equals a direct
POT call; every prefix of an ordering is the ordering of the smaller budget; block sizes change nothing."""

from __future__ import annotations

import heapq

import numpy as np
import pytest

from engine.targeting.doubly_greedy import doubly_greedy
from engine.targeting.knn_kde import knn_kde
from engine.targeting.knn_uniform import knn_uniform
from engine.targeting.round_robin import round_robin
from engine.targeting.similarity import DenseSimilarity, TargetingError
from engine.targeting.uot import uot, uot_mass

# -- plain implementations of the spec ----------------------------------------------------------------


def rr_spec(S, budget):
    """Queries in turn 0..M-1, 0..; each takes argmax over its row's unused candidates (np.argmax: first)."""
    used = np.zeros(S.shape[1], bool)
    picked = []
    i = 0
    while len(picked) < budget:
        row = np.where(~used, S[i], -np.inf)
        j = int(np.argmax(row))
        used[j] = True
        picked.append(j)
        i = (i + 1) % S.shape[0]
    return picked


def rank_desc(score):
    """Candidates by score descending, equal scores by index ascending (plain Python sort)."""
    return sorted(range(len(score)), key=lambda j: (-score[j], j))


def dg_spec(S):
    return rank_desc([max(S[:, j]) for j in range(S.shape[1])])


def sorted_neighbours(dist_row, L):
    """The L nearest of one query: distance ascending, index ascending."""
    return sorted(range(len(dist_row)), key=lambda j: (dist_row[j], j))[:L]


def knn_uniform_spec(S, L=5000, alpha=0.01, C=5.0):
    M, N = S.shape
    D = 1.0 - S
    L = min(L, N)
    nn = [sorted_neighbours(D[i], L) for i in range(M)]
    d = np.array([[float(D[i, j]) for j in nn[i]] for i in range(M)])
    K = 1
    while K < L:
        gaps = sum(d[i, K] - d[i, k] for i in range(M) for k in range(K))
        if (alpha / C) * gaps < (1 - alpha) * M:
            K += 1
        else:
            break
    probs = [0.0] * N
    for i in range(M):
        for j in nn[i][:K]:
            probs[j] += 1.0 / (K * M)
    return rank_desc(probs), K


def knn_kde_spec(S, feats, weights, alpha=0.01, C=5.0, sigma=0.75):
    M, N = S.shape
    max_k = min(5000, max(1, N // 10))
    kde_k = min(1000, max(1, N // 10))
    pre = int(min(max(max_k, 2), N))
    D = np.maximum((1.0 - S).astype(np.float32), np.float32(0))
    nn = np.array([sorted_neighbours(D[i], pre) for i in range(M)])
    dists = np.array([[D[i, j] for j in nn[i]] for i in range(M)], dtype=np.float32)
    P = sorted(set(nn.reshape(-1).tolist()))
    sim = sum(np.float32(w) * (f[P] @ f[P].T) for f, w in zip(feats, weights))
    kde = {}
    for r, p in enumerate(P):
        top = np.array(sorted(sim[r].tolist(), reverse=True)[: min(kde_k, len(P))], dtype=np.float32)
        dist = np.maximum(np.float32(1.0) - top, np.float32(0.0))  # float32 throughout, as the reference
        kern = np.float32(1.0) - np.float32(2.0) * dist / np.float32(sigma**2)
        kde[p] = np.float32((kern * (kern > 0)).sum())
    kdes = np.array([[kde[j] for j in nn[i]] for i in range(M)], dtype=np.float32)
    # the assignment: always grow the query with the smallest (count, k, query); a scan instead of a heap
    state = {i: (np.float32(1.0) / kdes[i][0], 0) for i in range(M)}
    wsum = {i: dists[i][0] / kdes[i][0] for i in range(M)}
    last = [0] * M
    cost = [0.0] * M
    total, s = 0.0, 0.0
    while state:
        i = min(state, key=lambda q: (state[q][0], state[q][1], q))
        count, k = state.pop(i)
        s = count
        total -= cost[i]
        cost[i] = float(dists[i][k + 1] * count - wsum[i])
        total += cost[i]
        if (alpha / C) * total >= (1 - alpha) * M:
            break
        last[i] = k
        if k < max_k - 2:
            state[i] = (count + np.float32(1.0) / kdes[i][k + 1], k + 1)
            wsum[i] = wsum[i] + dists[i][k + 1] / kdes[i][k + 1]
    probs = np.zeros(N, dtype=np.float64)  # the reference's float64 totals of float32 shares
    for i in range(M):
        given = 0.0
        for k in range(last[i] + 1):
            probs[nn[i][k]] += 1.0 / M / s / kdes[i][k]
            given += 1.0 / M / s / kdes[i][k]
        probs[nn[i][last[i] + 1]] += max(1.0 / M - given, 0.0)
    return rank_desc(probs.tolist()), probs


def tied(rng, M, N, levels=8, dtype=np.float32):
    """Similarities on a coarse grid in [-1, 1]: many exact ties in every row and column."""
    return (rng.integers(-levels, levels + 1, size=(M, N)) / levels).astype(dtype)


# -- round-robin ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_round_robin_equals_the_spec_loop_with_ties(seed):
    rng = np.random.default_rng(seed)
    M, N = int(rng.integers(1, 9)), int(rng.integers(5, 120))
    S = tied(rng, M, N, levels=int(rng.integers(1, 6)))
    k = int(rng.integers(1, N + 1))
    want = rr_spec(S, k)
    assert round_robin(S, k).order.tolist() == want
    # small blocks and short lists (rebuilt many times over what is left) change nothing
    got = round_robin(S, k, chunk=7, list_len=2)
    assert got.order.tolist() == want
    assert got.query.tolist() == [n % M for n in range(k)]
    assert np.allclose(got.sim, [S[n % M, j] for n, j in enumerate(want)])


def test_round_robin_orders_the_whole_pool_and_every_prefix_is_a_smaller_budget():
    rng = np.random.default_rng(7)
    S = tied(rng, 5, 300, levels=3)
    full = round_robin(S, None, chunk=64, list_len=4)
    assert sorted(full.order.tolist()) == list(range(300))
    assert full.order.tolist() == rr_spec(S, 300)
    for k in (1, 4, 5, 17, 150):
        assert round_robin(S, k).order.tolist() == full.order[:k].tolist()
        assert full.head(k).order.tolist() == full.order[:k].tolist()


def test_round_robin_reads_a_memmap(tmp_path):
    rng = np.random.default_rng(3)
    S = rng.standard_normal((20, 3000)).astype(np.float32)
    mm = np.lib.format.open_memmap(tmp_path / "s.npy", mode="w+", dtype=np.float32, shape=S.shape)
    mm[:] = S
    mm.flush()
    src = DenseSimilarity(np.load(tmp_path / "s.npy", mmap_mode="r"))
    assert round_robin(src, 500, chunk=256).order.tolist() == rr_spec(S, 500)


# -- doubly greedy --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_doubly_greedy_equals_max_similarity_ranking(seed):
    rng = np.random.default_rng(10 + seed)
    M, N = int(rng.integers(1, 7)), int(rng.integers(2, 200))
    S = tied(rng, M, N, levels=3)
    got = doubly_greedy(S, chunk=11)
    assert got.order.tolist() == dg_spec(S)
    k = int(rng.integers(1, N + 1))
    assert doubly_greedy(S, k).order.tolist() == got.order[:k].tolist()
    # the pulling query is the (first) most similar one
    assert got.query.tolist() == [int(np.argmax(S[:, j])) for j in got.order]
    assert np.allclose(got.score, S.max(axis=0)[got.order])


# -- unbalanced OT --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uot_equals_a_direct_pot_call(dtype):
    import ot

    rng = np.random.default_rng(4)
    M, N = 6, 80
    S = rng.uniform(-0.2, 1.0, size=(M, N)).astype(dtype)
    S[:, 10] = S[:, 11]  # identical candidates
    a = np.ones(M) / M
    b = np.ones(N) / N
    T = ot.unbalanced.sinkhorn_unbalanced(a, b, (1.0 - S) / 2.0, reg=0.01, reg_m=(float("inf"), 1e-4), reg_type="kl")
    want = T.sum(axis=0)
    direct, log = uot_mass(S, chunk=13)  # small: POT itself
    assert log["path"] == "pot" and np.array_equal(direct, want)
    mass, log = uot_mass(S, chunk=30, path="blocked")  # the blocked loop, kernel blocks in memory
    assert np.allclose(mass, want, rtol=1e-9, atol=0)
    assert log["iterations"] > 1 and log["path"] == "blocked"
    # the same through a scratch memmap (no kernel in memory)
    mass2, _ = uot_mass(S, chunk=30, memory_bytes=0)
    assert np.array_equal(mass, mass2)
    got = uot(S, chunk=30, path="blocked")
    # ranking: POT's masses descending; where the two orders differ, the masses agree to rounding
    ref = rank_desc(want.tolist())
    for p, (j, r) in enumerate(zip(got.order.tolist(), ref)):
        assert j == r or np.isclose(want[j], want[r], rtol=1e-9, atol=0), (p, j, r)
    # identical candidates get the same mass, and the smaller column comes first
    assert mass[10] == mass[11]
    pos = got.order.tolist()
    assert pos.index(10) == pos.index(11) - 1
    assert uot(S, 7, chunk=30, path="blocked").order.tolist() == got.order[:7].tolist()
    assert uot(S).params["path"] == "pot"


def test_uot_on_tied_similarities_matches_pot():
    import ot

    rng = np.random.default_rng(5)
    S = tied(rng, 4, 60, levels=4, dtype=np.float64)
    S = np.clip(S, 0.0, 1.0)
    T = ot.unbalanced.sinkhorn_unbalanced(
        np.ones(4) / 4, np.ones(60) / 60, (1.0 - S) / 2.0, reg=0.01, reg_m=(float("inf"), 1e-4), reg_type="kl"
    )
    mass, log = uot_mass(S, path="blocked")
    assert np.allclose(mass, T.sum(axis=0), rtol=1e-9, atol=0)
    assert log["stop"] == "converged"


# -- KNN-Uniform ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_knn_uniform_equals_the_spec(seed):
    rng = np.random.default_rng(20 + seed)
    M, N = int(rng.integers(1, 8)), int(rng.integers(3, 150))
    S = tied(rng, M, N, levels=int(rng.integers(2, 6)))
    want, K = knn_uniform_spec(S)
    got = knn_uniform(S, chunk=9)
    assert got.params["K"] == K
    assert got.order.tolist() == want
    k = int(rng.integers(1, N + 1))
    assert knn_uniform(S, k).order.tolist() == want[:k]


def test_knn_uniform_neighbourhood_is_cut_at_L():
    rng = np.random.default_rng(2)
    S = rng.uniform(0, 1, (3, 40)).astype(np.float32)
    # with L = 40 (N < 5000) every K stays below the stop test: K reaches L, every candidate gets mass
    got = knn_uniform(S)
    want, K = knn_uniform_spec(S)
    assert got.order.tolist() == want and got.params["K"] == K
    assert got.notes and "stopping rule never fired" in got.notes[0]


# -- KNN-KDE ----------------------------------------------------------------------------------------------


def one_hot_features(rng, N, dim):
    """Unit vectors from a small basis: every dot product is exactly 0 or 1, so densities are exact."""
    f = np.zeros((N, dim), np.float32)
    f[np.arange(N), rng.integers(0, dim, N)] = 1.0
    return f


@pytest.mark.parametrize("seed", range(4))
def test_knn_kde_equals_the_spec_with_exact_densities(seed):
    rng = np.random.default_rng(30 + seed)
    M, N = int(rng.integers(2, 9)), int(rng.integers(40, 400))
    S = tied(rng, M, N, levels=int(rng.integers(3, 9)))
    feats = [one_hot_features(rng, N, 5), one_hot_features(rng, N, 3)]
    w = [0.25, 0.75]
    want, probs = knn_kde_spec(S, feats, w)
    got = knn_kde(S, feats, w, chunk=17)
    assert got.order.tolist() == want
    assert np.allclose(got.score, np.array(probs)[got.order], rtol=1e-5, atol=1e-12)
    k = int(rng.integers(1, N + 1))
    assert knn_kde(S, feats, w, budget=k).order.tolist() == want[:k]


def test_knn_kde_with_continuous_features_matches_the_spec_probabilities():
    rng = np.random.default_rng(40)
    M, N = 5, 300
    X = rng.standard_normal((N, 16)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Q = rng.standard_normal((M, 16)).astype(np.float32)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    S = Q @ X.T
    _want, probs = knn_kde_spec(S, [X], [1.0])
    got = knn_kde(S, [X], [1.0])
    mass = np.zeros(N)
    mass[got.order] = got.score
    assert np.allclose(mass, probs, rtol=1e-4, atol=1e-9)
    assert got.params["MAX_K"] == 30 and got.params["KDE_K"] == 30


# -- shared --------------------------------------------------------------------------------------------------


def test_bad_input_is_refused_clearly():
    S = np.ones((2, 5), np.float32)
    S[1, 3] = np.nan
    with pytest.raises(TargetingError, match="query 1 and candidate 3"):
        round_robin(S, 2)
    with pytest.raises(TargetingError, match="more than the 5 candidates"):
        doubly_greedy(np.ones((2, 5)), 6)
    with pytest.raises(TargetingError, match="budget must be"):
        round_robin(np.ones((2, 5)), 0)
    with pytest.raises(TargetingError, match="2-D"):
        round_robin(np.ones(5), 1)


def test_heap_and_scan_agree_on_order_of_equal_counts():
    """The spec's heap pops (count, k, query) in tuple order; the plain scan above takes the same minimum."""
    items = [(np.float32(1.0), 0, 2), (np.float32(1.0), 0, 1), (np.float32(0.5), 3, 0)]
    h = list(items)
    heapq.heapify(h)
    assert [heapq.heappop(h) for _ in range(3)] == sorted(items)


# -- saved as a selection ----------------------------------------------------------------------------------


def test_an_ordering_is_saved_as_a_selection_that_mixtures_use(tmp_path):
    import json

    from engine import mixtures as mx
    from engine.core.store import Store
    from engine.mixtures import Component, Recipe
    from engine.quality.selection import SelectionError, get_selection, selection_ids
    from engine.targeting.saving import save_ordering

    st = Store(tmp_path / "s.duckdb")
    try:
        st.con.execute("INSERT INTO pools (id, name, domain) VALUES (1, 'p', 'general')")
        for i in range(1, 31):
            st.con.execute(
                "INSERT INTO samples (id, pool_id, messages, domain, content_hash) VALUES (?, 1, ?, 'general', ?)",
                [i * 10, json.dumps([{"role": "user", "content": str(i)}]), f"h{i}"],
            )
        ids = np.arange(1, 31) * 10
        S = tied(np.random.default_rng(0), 3, 30, levels=4)
        o = round_robin(S, 12)
        sel = save_ordering(st, "t12", o, ids, budget=8, query_labels=["q0", "q1", "q2"], params={"rep": "embed"})
        assert selection_ids(st, "t12") == ids[o.order[:8]].tolist()
        assert sel.n == 8 and sel.method == "target-rr"
        info = get_selection(st, "t12")
        assert info.params["per_query"] == [3, 3, 2] and info.params["rep"] == "embed"
        why = st.con.execute("SELECT why FROM selection_items WHERE rank = 2").fetchall()[0][0]
        assert why.startswith("round-robin turn of query 1 (q1): similarity")
        res = mx.resolve(st, Recipe([Component("t", "selection", "t12")], {}, budget=None))
        assert sorted(i.sample_id for i in res.items) == sorted(ids[o.order[:8]].tolist())
        with pytest.raises(SelectionError, match="exists"):
            save_ordering(st, "t12", o, ids, budget=8, query_labels=["a", "b", "c"])
        with pytest.raises(TargetingError, match="outside"):
            save_ordering(st, "t13", o, ids, budget=13, query_labels=["a", "b", "c"])
    finally:
        st.close()


# -- query sets, representations, the whole pipeline ------------------------------------------------------


def hashing_encoder(texts):
    """A deterministic bag-of-words encoder (no model): words hashed into 512 buckets, counts."""
    import hashlib
    import re

    X = np.zeros((len(texts), 512), np.float32)
    for r, t in enumerate(texts):
        for w in re.findall(r"[a-z]+|\d+|[^\sa-z\d]", t.lower()):
            X[r, int(hashlib.md5(w.encode()).hexdigest()[:6], 16) % 512] += 1.0
    return X


@pytest.fixture
def sample_store(tmp_path):
    from engine.core.store import Store
    from engine.data.sample import load_sample
    from tests.helpers import ROOT

    st = Store(tmp_path / "t.duckdb")
    load_sample(st, ROOT / "sample_data", evals=True)
    yield st
    st.close()


def test_query_text_is_the_conversation_text():
    from engine.geometry.embeddings import sample_text
    from engine.targeting.queries import prompt_and_label

    msgs = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]
    p, a = prompt_and_label(msgs, "Be brief.")
    assert (p, a) == ("system: Be brief.\nuser: 2+2?\nassistant:", "4")
    assert f"{p} {a}" == sample_text("conversation", msgs, "Be brief.")
    assert prompt_and_label([{"role": "user", "content": "hi"}]) == ("user: hi", "")


@pytest.mark.slow
def test_rds_batched_equals_one_at_a_time_and_the_pooling_by_hand():
    import torch

    from engine.targeting.representations import RdsEncoder
    from tests.tiny_lm import tiny_llama, tiny_tokenizer

    tok = tiny_tokenizer()
    lm = tiny_llama(tok)
    texts = ["Write a function that adds two numbers.", "Paris", "Tom has 3 apples and buys 5 more. 3 + 5 = 8" * 3]
    batched = RdsEncoder(lm, tok, batch_size=3)(texts)
    single = np.concatenate([RdsEncoder(lm, tok, batch_size=1)([t]) for t in texts])
    assert np.allclose(batched, single, atol=1e-5)
    # by hand: last hidden states of one sequence, weights 1..L / sum, then unit length
    ids = tok(texts[0] + tok.eos_token)["input_ids"]
    with torch.no_grad():
        h = lm(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states[-1][0].numpy()
    w = np.arange(1, len(ids) + 1, dtype=np.float64)
    v = (h * (w / w.sum())[:, None]).sum(0)
    assert np.allclose(batched[0], v / np.linalg.norm(v), atol=1e-5)
    # a query: the prompt's tokens, then label + EOS without special tokens
    enc = RdsEncoder(lm, tok)
    assert (
        enc.query_ids("user: hi\nassistant:", "4")
        == tok("user: hi\nassistant:")["input_ids"] + tok("4" + tok.eos_token, add_special_tokens=False)["input_ids"]
    )


def test_target_on_sample_data_favours_math_and_is_cached(sample_store):
    from engine.geometry.embeddings import embedding_sets
    from engine.quality.selection import get_selection, selection_ids
    from engine.targeting.target import target

    st = sample_store
    res = target(st, query="eval_math", name="for-math", budget=40, encoder=hashing_encoder, model="hashenc")
    assert res.n_query == 30 and res.budget == 40
    assert res.domains.get("math", 0) >= 30, res.domains  # 40 picks of ~300 candidates, a quarter math
    assert res.n_embedded_now == res.n_candidates  # eval pools are never candidates
    ids = selection_ids(st, "for-math")
    assert len(ids) == 40 and [p["sample_id"] for p in res.picks] == ids[:20]
    assert sum(c for _l, c in res.per_query) == 40
    assert [d["budget"] for d in res.distances] == [5, 10, 20, 40]
    assert all(d["chamfer"] < d["random_chamfer"] and d["ot"] < d["random_ot"] for d in res.distances)
    info = get_selection(st, "for-math")
    assert info.params["query"] == "pool:eval_math" and info.params["rep"] == "embed"
    assert {s["model"] for s in embedding_sets(st)} == {"hashenc"}
    # a second run: every candidate vector comes from the cache; another algorithm, same candidates
    again = target(st, query="eval_math", name="dg", budget=40, algo="dg", encoder=hashing_encoder, model="hashenc")
    assert again.n_embedded_now == 0 and again.domains.get("math", 0) >= 30
    for algo in ("uot", "knn-kde"):
        r = target(st, query="eval_math", name=algo, budget=40, algo=algo, encoder=hashing_encoder, model="hashenc")
        assert r.domains.get("math", 0) >= 20, (algo, r.domains)
    # KNN-Uniform with the reference's alpha and C on 320 candidates: K reaches them all, the mass is uniform
    r = target(
        st, query="eval_math", name="ku", budget=40, algo="knn-uniform", encoder=hashing_encoder, model="hashenc"
    )
    assert "stopping rule never fired" in r.notes[0]
    with pytest.raises(Exception, match="exists"):
        target(st, query="eval_math", name="dg", budget=5, encoder=hashing_encoder, model="hashenc")


@pytest.mark.slow
def test_target_with_a_file_query_and_rds(sample_store, tmp_path):
    from engine.quality.selection import get_selection
    from engine.targeting.target import target
    from tests.tiny_lm import tiny_llama, tiny_tokenizer

    st = sample_store
    q = tmp_path / "q.jsonl"
    q.write_text(
        '{"instruction": "Write a python function that reverses a list.", "output": "def rev(x):\\n    return x[::-1]"}\n'
        '{"instruction": "Write a python function that sums a list.", "output": "def total(x):\\n    return sum(x)"}\n'
    )
    res = target(st, query=str(q), name="code-hash", budget=10, encoder=hashing_encoder, model="hashenc")
    assert res.query == f"file:{q}" and res.n_query == 2
    assert res.picks[0]["why"].startswith("round-robin turn of query 0 (q.jsonl record 1)")
    from engine.data.ingest import import_file
    from engine.data.pools import get_pool
    from engine.data.query import Filter

    small = tmp_path / "small.jsonl"  # a small pool: RDS+ runs the (tiny) LM over every sample of the pools
    small.write_text(
        "".join(f'{{"instruction": "What is {i} + {i}?", "output": "{i} + {i} = {2 * i}"}}\n' for i in range(8))
        + "".join(f'{{"instruction": "Name colour {i}.", "output": "Colour {i} is blue."}}\n' for i in range(8))
    )
    import_file(st, small, pool="small")
    tok = tiny_tokenizer()
    pools = [get_pool(st, "small").id]
    lm = (tiny_llama(tok), tok, "tiny")
    res = target(st, query="eval_code", name="rds", budget=12, rep="rds", loaded=lm, scope=Filter(pool_ids=pools))
    assert res.model == "rds+tiny" and res.budget == 12 and res.n_candidates == 16
    assert get_selection(st, "rds").params["scope"]["filter"]["pool_ids"] == pools
    with pytest.raises(TargetingError, match="neither a pool nor a file"):
        target(st, query="nope", name="x", budget=3, encoder=hashing_encoder)
    with pytest.raises(TargetingError, match="more than the"):
        target(st, query="eval_code", name="x", budget=10**6, encoder=hashing_encoder, model="hashenc")


# -- the CLI ------------------------------------------------------------------------------------------------


def test_cli_target_refuses_bad_requests_clearly(tmp_path, capsys):
    from workbench.cli import main

    db = str(tmp_path / "c.duckdb")
    assert main(["--db", db, "-q", "sample"]) == 0
    capsys.readouterr()
    rc = main(["--db", db, "target", "--query", "nope", "--budget", "5", "--name", "x"])
    assert rc == 1 and "neither a pool nor a file" in capsys.readouterr().err
    rc = main(["--db", db, "target", "--query", "eval_math", "--budget", "0", "--name", "x"])
    assert rc == 1 and "budget must be" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_target_with_minilm_on_sample_data_favours_math(tmp_path):
    """The real thing: the offline all-MiniLM-L6-v2, the math eval items as the query set, JSON out."""
    import json

    from tests.helpers import wb

    db = tmp_path / "c.duckdb"
    wb(db, "-q", "sample")
    scope = ["--pool", "sample_math", "--pool", "sample_general", "--pool", "sample_code"]
    r = wb(db, "target", "--query", "eval_math", "--budget", "30", "--name", "m30", *scope, "--format", "json")
    out = json.loads(r.stdout)
    assert out["n_query"] == 30 and out["n_candidates"] == 260 and out["model"] == "all-MiniLM-L6-v2"
    assert out["domains"].get("math", 0) >= 24, out["domains"]  # 80 of the 260 candidates are math
    assert len(out["per_query"]) == 30 and out["picks"][0]["why"].startswith("round-robin turn of query 0")
    # cached: a second selection embeds nothing new; the selection is there for mixtures
    r = wb(
        db,
        "target",
        "--query",
        "eval_math",
        "--budget",
        "20",
        "--name",
        "u20",
        "--algo",
        "uot",
        *scope,
        "--format",
        "json",
    )
    assert json.loads(r.stdout)["n_embedded_now"] == 0
    r = wb(db, "target", "--query", "eval_math", "--budget", "20", "--name", "u20", *scope, check=False)
    assert r.returncode == 1 and "exists" in r.stderr


# -- LESS: per-example gradients, Adam preconditioning, projection ----------------------------------------


def tiny_lora_model():
    import torch
    from peft import LoraConfig, get_peft_model

    from tests.tiny_lm import tiny_llama, tiny_tokenizer

    tok = tiny_tokenizer()
    model = get_peft_model(
        tiny_llama(tok), LoraConfig(r=4, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"])
    )
    torch.manual_seed(1)
    for n, p in model.named_parameters():  # B starts at zero; give it values so every LoRA weight has a gradient
        if "lora_B" in n:
            p.data.normal_(0, 0.1)
    return model.eval(), tok


def lm_examples(tok):
    out = []
    for prompt, answer in [("What is 2 + 2?", " 4"), ("Name a colour.", " Blue, like the sky."), ("Hi", " Hello")]:
        p = tok(prompt)["input_ids"]
        a = tok(answer + tok.eos_token, add_special_tokens=False)["input_ids"]
        out.append((p + a, [-100] * len(p) + a))
    return out


@pytest.mark.slow
def test_batched_per_example_grads_equal_the_batch_1_loop():
    from engine.targeting.less import grads_loop, per_example_grads, trainable

    model, tok = tiny_lora_model()
    ex = lm_examples(tok)
    loop = grads_loop(model, ex)
    assert loop.shape == (3, sum(p.numel() for p in trainable(model).values()))
    assert np.abs(loop).max() > 0
    for bs in (1, 2, 3):
        assert np.allclose(per_example_grads(model, ex, batch_size=bs), loop, atol=1e-5, rtol=0)


def test_adam_preconditioning_by_hand():
    from engine.targeting.less import adam_precondition

    g = np.array([1.0, -2.0, 0.0])
    m = np.array([0.1, 0.0, -0.5])
    v = np.array([0.01, 0.04, 0.0])
    # m' = 0.9 m + 0.1 g; v' = 0.999 v + 0.001 g^2; m' / sqrt(v' + 1e-8)
    want = [0.19 / np.sqrt(0.01099 + 1e-8), -0.2 / np.sqrt(0.04396 + 1e-8), -0.45 / np.sqrt(1e-8)]
    assert np.allclose(adam_precondition(g, m, v), want, rtol=1e-6)
    assert np.allclose(adam_precondition(np.stack([g, 2 * g]), m, v)[0], want, rtol=1e-6)


def test_adam_moments_come_from_an_adamw_state_in_parameter_order():
    import torch

    from engine.targeting.less import adam_moments

    a, b = torch.nn.Parameter(torch.ones(2, 2)), torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.AdamW([a, b], lr=0.1)
    (a.sum() * 2 + (b * torch.tensor([1.0, 2.0, 3.0])).sum()).backward()
    opt.step()
    m, v = adam_moments(opt.state_dict(), {"a": a, "b": b})
    assert np.allclose(m, [0.2] * 4 + [0.1, 0.2, 0.3])  # (1 - 0.9) * g
    assert np.allclose(v, [0.004] * 4 + [0.001, 0.004, 0.009])  # (1 - 0.999) * g^2


def test_rademacher_projection_is_blockwise_seeded_and_keeps_geometry():
    from engine.targeting.less import RademacherProjector, less_features

    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 1000)).astype(np.float32)
    p = RademacherProjector(1000, 512, seed=3, block_rows=128)
    R = np.concatenate([p.block(b) for b in range(8)])
    assert R.shape == (1000, 512) and set(np.unique(R * np.sqrt(512)).round(4)) == {-1.0, 1.0}
    assert np.allclose(p.project(X), X @ R, atol=1e-4)
    assert np.array_equal(p.project(X), RademacherProjector(1000, 512, seed=3, block_rows=128).project(X))
    assert not np.allclose(p.project(X), RademacherProjector(1000, 512, seed=4, block_rows=128).project(X))
    # Johnson-Lindenstrauss: norms kept to within a few percent at k = 512
    ratio = np.linalg.norm(p.project(X), axis=1) / np.linalg.norm(X, axis=1)
    assert np.all(np.abs(ratio - 1) < 0.15)
    F = less_features(X, p)
    assert np.allclose(np.linalg.norm(F, axis=1), 1.0, atol=1e-5)


# -- subset-to-query distances -------------------------------------------------------------------------------


def test_subset_distances_by_hand_and_against_random():
    from engine.targeting.distances import budget_distances, budget_points, chamfer, ot_distance

    S = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]])
    assert chamfer(S[:, [0, 1]]) == 0.0
    assert chamfer(S[:, [2]]) == 0.5
    # two queries, two samples each exactly on one query: OT cost 0; one sample halfway from both: 0.5
    assert ot_distance(S[:, [0, 1]]) == pytest.approx(0.0)
    assert ot_distance(S[:, [2]]) == pytest.approx(0.5)
    # one sample on query 0 only: half the mass must travel to it from query 1 at cost 1
    assert ot_distance(S[:, [0]]) == pytest.approx(0.5)
    assert budget_points(40) == [5, 10, 20, 40] and budget_points(2) == [1, 2]
    rng = np.random.default_rng(0)
    S = tied(rng, 6, 400, levels=8).astype(np.float64)
    rows = budget_distances(S, round_robin(S, 40).order, 40)
    assert [r["budget"] for r in rows] == [5, 10, 20, 40]
    for r in rows:  # round-robin's picks sit much nearer the queries than random ones
        assert r["chamfer"] < r["random_chamfer"] and r["ot"] < r["random_ot"]


# -- the distance-quantile experiment ---------------------------------------------------------------------


def test_quantile_heads_cut_the_ordering_like_the_reference():
    from engine.targeting.saving import quantile_heads

    o = round_robin(tied(np.random.default_rng(1), 3, 23, levels=4), None)
    parts = quantile_heads(o, 4, 3)
    assert [(q, a, len(s)) for q, a, s in parts] == [(0, 0, 3), (1, 5, 3), (2, 10, 3), (3, 15, 3)]
    assert parts[2][2].order.tolist() == o.order[10:13].tolist()
    assert [len(s) for _q, _a, s in quantile_heads(o, 4, 100)] == [5, 5, 5, 8]  # the last takes the remainder
    with pytest.raises(TargetingError, match="quantiles must be"):
        quantile_heads(o, 1, 3)


def test_target_quantiles_save_one_selection_per_quantile_nearest_first(sample_store):
    from engine.quality.selection import get_selection, selection_ids
    from engine.targeting.target import target

    st = sample_store
    res = target(st, query="eval_math", name="mq", budget=8, quantiles=10, encoder=hashing_encoder, model="hashenc")
    assert [q["selection"] for q in res.quantiles] == [f"mq-q{i}" for i in range(10)]
    assert all(q["n"] == 8 for q in res.quantiles)
    assert res.quantiles[0]["domains"].get("math", 0) >= 6
    assert res.quantiles[0]["chamfer"] < res.quantiles[5]["chamfer"] < res.quantiles[9]["chamfer"]
    seen = set()
    for i in range(10):
        ids = selection_ids(st, f"mq-q{i}")
        assert len(ids) == 8 and not (seen & set(ids))
        seen |= set(ids)
    p = get_selection(st, "mq-q3").params
    assert p["quantile"] == 3 and p["n_quantiles"] == 10 and p["quantile_start"] == 3 * (res.n_candidates // 10)


# -- LESS end to end on a tiny chat model -----------------------------------------------------------------


@pytest.mark.slow
def test_less_warmup_checkpoints_weights_and_similarity_by_hand(tmp_path):
    import json

    from engine.core.store import Store
    from engine.data.ingest import import_file
    from engine.data.pools import get_pool
    from engine.data.query import Filter
    from engine.quality.selection import get_selection, selection_ids
    from engine.targeting.less_warmup import WarmupSettings, checkpoint_features, sample_records
    from engine.targeting.queries import load_queries
    from engine.targeting.target import candidate_ids, target
    from tests.tiny_lm import tiny_chat_model
    from workbench.cli.target import trainer_kit

    kit = trainer_kit()
    model_dir = str(tiny_chat_model(tmp_path / "m"))
    st = Store(tmp_path / "l.duckdb")
    try:
        pool = tmp_path / "p.jsonl"
        pool.write_text(
            "".join(f'{{"instruction": "What is {i} + {i}?", "output": "{i} + {i} = {2 * i}"}}\n' for i in range(8))
            + "".join(f'{{"instruction": "Name colour {i}.", "output": "Colour {i} is blue."}}\n' for i in range(8))
        )
        import_file(st, pool, pool="p")
        q = tmp_path / "q.jsonl"
        q.write_text('{"instruction": "What is 5 + 7?", "output": "5 + 7 = 12"}\n')
        s = WarmupSettings(
            fraction=0.5,
            epochs=2,
            r=4,
            alpha=16,
            dropout=0.0,
            target_modules=["q_proj", "v_proj"],
            batch_size=4,
            grad_accum=1,
            max_len=128,
            proj_dim=64,
            device="cpu",
        )
        scope = Filter(pool_ids=[get_pool(st, "p").id])
        res = target(
            st,
            query=str(q),
            name="less6",
            budget=6,
            rep="less",
            model=model_dir,
            scope=scope,
            less_settings=s,
            trainer=kit,
        )
        assert res.model == f"less+{model_dir}" and res.n_candidates == 16
        less = get_selection(st, "less6").params["less"]
        assert less["steps"] == [2, 4] and less["n_warmup"] == 8  # 8 examples, batch 4: two steps an epoch
        # the weights: each epoch's mean learning rate from the trainer's metrics, normalised
        lrs = {}
        for line in (tmp_path / less["warmup"] / "metrics.jsonl").read_text().split("\n"):
            if line.strip() and "lr" in json.loads(line):
                d = json.loads(line)
                lrs[d["step"]] = d["lr"]
        means = [(lrs[1] + lrs[2]) / 2, (lrs[3] + lrs[4]) / 2]
        assert np.allclose(less["weights"], [m / sum(means) for m in means])
        # the similarity by hand: sum over checkpoints of weight x <preconditioned candidate, plain query>
        ids = candidate_ids(st, scope)
        cands = sample_records(st, ids)
        qrec = load_queries(st, str(q)).records
        S = np.zeros((1, 16))
        warm = json.loads((tmp_path / less["warmup"] / "warmup.json").read_text())
        for ck, w in zip(warm["checkpoints"], less["weights"]):
            X = checkpoint_features(model_dir, ck, cands, 64, adam=True, max_len=128, device="cpu", trainer=kit)
            Q = checkpoint_features(model_dir, ck, qrec, 64, adam=False, max_len=128, device="cpu", trainer=kit)
            assert np.allclose(np.linalg.norm(X, axis=1), 1, atol=1e-5)
            S += w * (Q @ X.T)
        assert selection_ids(st, "less6") == ids[rr_spec(S, 6)].tolist()
        # a second selection reuses the warm-up and the candidate features
        cached = sorted(p.name for p in (tmp_path / less["warmup"]).parent.glob("cand-*.npy"))
        assert len(cached) == 2
        res = target(
            st,
            query=str(q),
            name="dg",
            budget=4,
            rep="less",
            algo="dg",
            model=model_dir,
            scope=scope,
            less_settings=s,
            trainer=kit,
        )
        assert sorted(p.name for p in (tmp_path / less["warmup"]).parent.glob("cand-*.npy")) == cached
        assert get_selection(st, "dg").params["less"]["warmup"] == less["warmup"]
    finally:
        st.close()


@pytest.mark.slow
def test_cli_less_says_when_the_warmup_slice_is_too_small(tmp_path, capsys):
    from tests.tiny_lm import tiny_chat_model
    from workbench.cli import main

    model_dir = str(tiny_chat_model(tmp_path / "m"))
    db = str(tmp_path / "c.duckdb")
    assert main(["--db", db, "-q", "sample"]) == 0
    capsys.readouterr()
    args = ["--query", "eval_math", "--budget", "5", "--name", "x", "--rep", "less", "--model", model_dir]
    rc = main(["--db", db, "target", *args, "--pool", "sample_math", "--lora-r", "4", "--proj-dim", "64"])
    err = capsys.readouterr().err
    assert rc == 1 and "one optimizer step of 128 examples" in err and "the slice has 4" in err
