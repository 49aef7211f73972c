"""RAISE's RL core: GAE by hand, Plackett-Luce against enumeration, the cluster quota, PPO on a toy bandit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine.raise_rl.policy import (
    PPOSettings,
    RaiseError,
    Replay,
    Transition,
    act,
    cluster_quota,
    feature_groups,
    fuse_state,
    gae,
    make_policy,
    pl_logprob,
    ppo_update,
    sample_set,
    set_logprob,
)


def test_gae_matches_a_hand_computation():
    r, v = [1.0, 0.0, 2.0], [0.5, 0.2, 1.0]
    g, lam = 0.9, 0.8
    d2 = 2.0 - 1.0  # last step: V after it is 0
    d1 = 0.0 + g * 1.0 - 0.2
    d0 = 1.0 + g * 0.2 - 0.5
    a2 = d2
    a1 = d1 + g * lam * a2
    a0 = d0 + g * lam * a1
    adv, ret = gae(r, v, g, lam)
    assert np.allclose(adv, [a0, a1, a2])
    assert np.allclose(ret, np.array([a0, a1, a2]) + v)
    # gamma = lam = 1: the advantage is the telescoped return minus the value
    adv1, _ = gae(r, v, 1.0, 1.0)
    assert np.allclose(adv1, [3.0 - 0.5, 2.0 - 0.2, 2.0 - 1.0])


def test_plackett_luce_logprob_sums_to_one_and_matches_sampling():
    import torch

    s = torch.tensor([0.3, -1.0, 1.2, 0.0])
    probs = {p: float(torch.exp(pl_logprob(s, list(p)))) for p in itertools.permutations(range(4), 2)}
    assert abs(sum(probs.values()) - 1) < 1e-6
    # by hand for one order: p(2 then 0)
    e = np.exp(s.numpy())
    assert abs(probs[(2, 0)] - e[2] / e.sum() * e[0] / (e.sum() - e[2])) < 1e-6
    # Gumbel-top-k draws the same distribution
    rng = np.random.default_rng(0)
    n = 4000
    counts: dict = {}
    for _ in range(n):
        p = tuple(sample_set(s.numpy(), np.zeros(4, int), 2, rng)[0])
        counts[p] = counts.get(p, 0) + 1
    for p, pr in probs.items():
        assert abs(counts.get(p, 0) / n - pr) < 0.03


def test_set_logprob_sums_over_clusters():
    import torch

    s = torch.tensor([0.5, 0.1, -0.3, 0.9, 0.0])
    cl = np.array([0, 1, 0, 1, 1])
    picks = {0: [2], 1: [3, 1]}
    want = pl_logprob(s[[0, 2]], [1]) + pl_logprob(s[[1, 3, 4]], [1, 0])
    assert abs(float(set_logprob(s, cl, picks)) - float(want)) < 1e-6
    # all sets of the quota enumerate to probability one
    q = cluster_quota(cl, 3)
    tot = 0.0
    for a in itertools.permutations([0, 2], q[0]):
        for b in itertools.permutations([1, 3, 4], q[1]):
            tot += float(torch.exp(set_logprob(s, cl, {0: list(a), 1: list(b)})))
    assert abs(tot - 1) < 1e-6


def test_cluster_quota_is_balanced_capped_and_exact():
    assert cluster_quota(np.array([0] * 10 + [1] * 10 + [2] * 10), 6) == {0: 2, 1: 2, 2: 2}
    q = cluster_quota(np.array([0] * 10 + [1] * 1 + [2] * 5), 7)
    assert sum(q.values()) == 7 and q[1] == 1 and q[0] == 3 and q[2] == 3
    assert cluster_quota(np.array([5] * 3 + [7] * 4), 1) == {7: 1}  # remainder: the bigger cluster
    with pytest.raises(RaiseError, match="larger than"):
        cluster_quota(np.array([0, 1]), 3)
    rng = np.random.default_rng(1)
    cl = rng.integers(0, 4, 40)
    picks = sample_set(rng.standard_normal(40), cl, 8, rng)
    want = cluster_quota(cl, 8)
    assert {c: len(p) for c, p in picks.items()} == want
    assert all(cl[i] == c for c, p in picks.items() for i in p)
    assert len({i for p in picks.values() for i in p}) == 8


def test_fused_state_shape_and_groups():
    n, d = 5, 3
    x = fuse_state(
        2,
        4,
        prompt_len=np.arange(n),
        answer_len=np.arange(n),
        loss=np.linspace(1, 2, n),
        emb=np.ones((n, d)),
        uses=np.array([0, 1, 0, 2, 0]),
        last_used=np.array([0, 1, 0, 1, 0]),
    )
    g = feature_groups(d)
    assert x.shape == (n, g["availability"].stop)
    assert np.allclose(x[:, g["stage"]], [0.25, 0.5])
    assert np.allclose(x[:, g["availability"]][1], [0.25, 0.25, 0.0])
    assert np.allclose(x[:, g["availability"]][0], [0.0, 1.0, 1.0])
    assert abs(x[:, g["difficulty"]][:, 3].mean()) < 1e-6


def _bandit(seed: int, iters: int):
    """20 items with 4 features; the items whose feature 0 is largest (3 of them) pay 1 each when picked; 2
    clusters, batch 2, episodes of 4 steps."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((20, 4)).astype(np.float32)
    good = set(np.argsort(-X[:, 0])[:3].tolist())
    cl = np.array([0] * 10 + [1] * 10)
    s = PPOSettings(lr=0.03, epochs=4, entropy_coef=0.0, replay_episodes=2, hidden=16)
    import torch

    pol = make_policy(4, s.hidden, seed)
    opt = torch.optim.Adam(pol.parameters(), lr=s.lr)
    rep = Replay(s.replay_episodes)
    for _ in range(iters):
        ep = []
        for _t in range(4):
            picks, lp, v, _ = act(pol, X, cl, 2, rng)
            r = sum(1.0 for p in picks.values() for i in p if i in good)
            ep.append(Transition(X, cl, picks, lp, v, r))
        rep.add(ep, s.gamma, s.lam)
        ppo_update(pol, opt, rep, s)
    with torch.no_grad():
        scores, _ = pol(torch.as_tensor(X))
    return scores.numpy(), good, cl


def test_ppo_learns_the_rewarded_items_of_a_bandit():
    scores, good, cl = _bandit(0, 25)
    # the greedy pick of each cluster that holds a good item is a good item
    for c in set(cl[list(good)].tolist()):
        idx = np.flatnonzero(cl == c)
        assert idx[np.argmax(scores[idx])] in good
    # and the good items outscore the rest on average
    rest = [i for i in range(20) if i not in good]
    assert scores[list(good)].mean() > scores[rest].mean() + 0.5


def test_ppo_is_reproducible_with_a_seed():
    a, _, _ = _bandit(3, 5)
    b, _, _ = _bandit(3, 5)
    assert np.array_equal(a, b)
