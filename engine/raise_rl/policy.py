"""The RL core of RAISE (methods.md section 4): the fused state of each candidate, the acquisition function (an MLP
scorer with a value head), the cluster-balanced set-selection distribution with exact log-probabilities, GAE and
PPO. Plain numpy/torch: no store, no model.

Choices that are ours where the paper is silent (docs/raise.md lists them):
- the set distribution: within each cluster the quota is drawn without replacement by Plackett-Luce on the scores
  (Gumbel-top-k); log pi(A|S) is the Plackett-Luce log-probability of the ordered draw, summed over clusters;
- the quota: B split evenly over the clusters present among the candidates, the remainder to the clusters with
  the most candidates (ties by cluster id), capped by what each cluster has and the overflow passed on;
- the value head: an MLP on the stage and the mean of the scorer's hidden features over the candidates;
- the entropy bonus: the entropy of each cluster's first-pick softmax, summed over clusters;
- the features: stage [(t-1)/T, t/T]; difficulty [log1p(prompt tokens), log1p(answer tokens), current loss,
  loss minus the candidates' mean]; semantics: the stored embedding (projected to `sem_dim` by a fixed
  random orthogonal map when wider); availability [uses/T, steps since last use / T (1 when never), never used].
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from engine.raise_rl.settings import PPOSettings, RaiseError  # noqa: F401 (PPOSettings: re-exported)

STAGE_DIM = 2
DIFF_DIM = 4
AVAIL_DIM = 3


# -- the fused state -------------------------------------------------------------------------------------------


def semantic_projection(dim_in: int, dim_out: int, seed: int = 0) -> np.ndarray | None:
    """A fixed random orthogonal (dim_in, dim_out) map, or None when the embedding is narrow enough (ours)."""
    if dim_in <= dim_out:
        return None
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((dim_in, dim_out)))
    return q.astype(np.float32) * math.sqrt(dim_in / dim_out)


def fuse_state(
    t: int,
    T: int,
    *,
    prompt_len: np.ndarray,
    answer_len: np.ndarray,
    loss: np.ndarray,
    emb: np.ndarray,
    uses: np.ndarray,
    last_used: np.ndarray,
) -> np.ndarray:
    """(n, F) fused state of n candidates at step t (1-based) of T: stage | difficulty | semantics | availability.
    last_used: the step of the last use (0 = never)."""
    n = len(loss)
    loss = np.asarray(loss, np.float32)
    stage = np.tile(np.array([(t - 1) / T, t / T], np.float32), (n, 1))
    diff = np.stack(
        [
            np.log1p(np.asarray(prompt_len, np.float32)),
            np.log1p(np.asarray(answer_len, np.float32)),
            loss,
            loss - (loss.mean() if n else 0.0),
        ],
        1,
    )
    never = (np.asarray(last_used) <= 0).astype(np.float32)
    since = np.where(never > 0, 1.0, (t - np.asarray(last_used, np.float32)) / T).astype(np.float32)
    avail = np.stack([np.asarray(uses, np.float32) / T, since, never], 1)
    return np.concatenate([stage, diff, np.asarray(emb, np.float32).reshape(n, -1), avail], 1).astype(np.float32)


def feature_groups(sem_dim: int) -> dict[str, slice]:
    """Column slices of each state group in a fused row (for attribution)."""
    a = STAGE_DIM
    b = a + DIFF_DIM
    c = b + sem_dim
    return {
        "stage": slice(0, a),
        "difficulty": slice(a, b),
        "semantics": slice(b, c),
        "availability": slice(c, c + AVAIL_DIM),
    }


# -- the cluster quota and the set distribution ----------------------------------------------------------------


def cluster_quota(clusters: np.ndarray, batch: int) -> dict[int, int]:
    """How many of the batch each cluster gets: an even split over the clusters present, the remainder to the
    clusters with the most candidates (ties: lower id), capped by each cluster's size with the overflow passed on
    (ours)."""
    clusters = np.asarray(clusters)
    ids, counts = np.unique(clusters, return_counts=True)
    if batch > len(clusters):
        raise RaiseError(f"batch {batch} is larger than the {len(clusters)} candidates")
    have = {int(c): int(n) for c, n in zip(ids, counts)}
    order = sorted(have, key=lambda c: (-have[c], c))
    quota = {c: 0 for c in order}
    left = batch
    while left > 0:
        open_ = [c for c in order if quota[c] < have[c]]
        each = left // len(open_)
        if each == 0:
            for c in open_[:left]:
                quota[c] += 1
            break
        for c in open_:
            give = min(each, have[c] - quota[c])
            quota[c] += give
            left -= give
    return {c: q for c, q in quota.items() if q > 0}


def pl_logprob(scores, picks) -> object:
    """Plackett-Luce log-probability (torch) of drawing the ordered `picks` (indices) without replacement from
    softmax(scores)."""
    import torch

    scores = torch.as_tensor(scores)
    k = len(picks)
    if k == 0:
        return scores.new_zeros(())
    p = torch.as_tensor(list(picks), dtype=torch.long)
    # row j masks the items picked before draw j
    mask = torch.zeros((k, len(scores)), dtype=torch.bool)
    earlier = torch.tril(torch.ones((k, k), dtype=torch.bool), -1)
    mask.scatter_(1, p.expand(k, k), earlier)
    rows = scores.expand(k, -1).masked_fill(mask, float("-inf"))
    return (scores[p] - torch.logsumexp(rows, 1)).sum()


def sample_set(scores: np.ndarray, clusters: np.ndarray, batch: int, rng: np.random.Generator, *, greedy: bool = False):
    """The ordered picks of each cluster under the quota: {cluster: [candidate index, ...]}, by Gumbel-top-k on
    the scores within each cluster (greedy: plain top-k)."""
    scores = np.asarray(scores, np.float64)
    clusters = np.asarray(clusters)
    out: dict[int, list[int]] = {}
    for c, q in cluster_quota(clusters, batch).items():
        idx = np.flatnonzero(clusters == c)
        key = scores[idx] + (0.0 if greedy else rng.gumbel(size=len(idx)))
        top = idx[np.argsort(-key, kind="stable")[:q]]
        out[c] = [int(i) for i in top]
    return out


def set_logprob(scores, clusters: np.ndarray, picks: dict[int, list[int]]):
    """log pi(A|S) (torch): the sum over clusters of the Plackett-Luce log-probability of that cluster's ordered
    picks among its candidates."""
    import torch

    clusters = np.asarray(clusters)
    total = scores.new_zeros(())
    for c, p in picks.items():
        idx = np.flatnonzero(clusters == c)
        pos = {int(i): k for k, i in enumerate(idx)}
        total = total + pl_logprob(scores[torch.as_tensor(idx)], [pos[i] for i in p])
    return total


def first_pick_entropy(scores, clusters: np.ndarray, picks: dict[int, list[int]]):
    """Sum over the picked clusters of the entropy of the first-pick softmax within the cluster (ours)."""
    import torch

    clusters = np.asarray(clusters)
    total = scores.new_zeros(())
    for c in picks:
        s = scores[torch.as_tensor(np.flatnonzero(clusters == c))]
        lp = torch.log_softmax(s, 0)
        total = total - (lp.exp() * lp).sum()
    return total


# -- the acquisition function ----------------------------------------------------------------------------------


def make_policy(n_features: int, hidden: int = 32, seed: int = 0):
    """The acquisition function F (candidate -> score) and the value head V (state -> value), one torch module."""
    import torch
    from torch import nn

    torch.manual_seed(seed)

    class Policy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.n_features = n_features
            self.trunk = nn.Sequential(nn.Linear(n_features, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
            self.score = nn.Linear(hidden, 1)
            self.value = nn.Sequential(nn.Linear(hidden + STAGE_DIM, hidden), nn.Tanh(), nn.Linear(hidden, 1))
            nn.init.zeros_(self.score.weight)  # a uniform first policy
            nn.init.zeros_(self.score.bias)

        def forward(self, x):
            h = self.trunk(x)
            s = self.score(h).squeeze(-1)
            v = self.value(torch.cat([h.mean(0), x[0, :STAGE_DIM]])).squeeze(-1)
            return s, v

    return Policy()


def attribution(policy, x: np.ndarray, groups: dict[str, slice]) -> dict[str, float]:
    """What drives the score: mean |gradient x input| of the score per feature group over the candidates."""
    import torch

    xt = torch.as_tensor(x, dtype=torch.float32).clone().requires_grad_(True)
    s, _ = policy(xt)
    s.sum().backward()
    gi = (xt.grad * xt).abs().detach().numpy()
    tot = {k: float(gi[:, sl].sum(1).mean()) for k, sl in groups.items()}
    z = sum(tot.values()) or 1.0
    return {k: v / z for k, v in tot.items()}


# -- GAE and PPO -----------------------------------------------------------------------------------------------


def gae(rewards, values, gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """(advantages, returns) of one finished episode: delta_t = r_t + gamma V_{t+1} - V_t (V after the last step
    is 0), A_t = sum_k (gamma lam)^k delta_{t+k}; returns = A + V."""
    r = np.asarray(rewards, np.float64)
    v = np.asarray(values, np.float64)
    adv = np.zeros_like(r)
    nxt = 0.0
    acc = 0.0
    for t in range(len(r) - 1, -1, -1):
        delta = r[t] + gamma * nxt - v[t]
        acc = delta + gamma * lam * acc
        adv[t] = acc
        nxt = v[t]
    return adv, adv + v


@dataclass
class Transition:
    """One step of an episode: the state (fused candidates, their clusters), the action, log pi, V, reward."""

    x: np.ndarray
    clusters: np.ndarray
    picks: dict[int, list[int]]
    logp: float
    value: float
    reward: float = 0.0
    adv: float = 0.0
    ret: float = 0.0


@dataclass
class Replay:
    """The transitions of the last `keep` episodes (the replay buffer)."""

    keep: int
    episodes: list[list[Transition]] = field(default_factory=list)

    def add(self, episode: list[Transition], gamma: float, lam: float) -> None:
        adv, ret = gae([t.reward for t in episode], [t.value for t in episode], gamma, lam)
        for t, a, r in zip(episode, adv, ret):
            t.adv, t.ret = float(a), float(r)
        self.episodes = (self.episodes + [episode])[-self.keep :]

    def transitions(self) -> list[Transition]:
        return [t for ep in self.episodes for t in ep]


def ppo_update(policy, opt, replay: Replay, s: PPOSettings) -> dict[str, float]:
    """PPO epochs over the replay buffer (clipped ratio, value MSE to the GAE returns, entropy bonus);
    advantages normalised over the buffer (when it holds 8 transitions or more). Returns the mean policy loss, value loss, entropy, approx KL."""
    import torch

    trs = replay.transitions()
    if not trs:
        return {}
    adv = np.array([t.adv for t in trs], np.float64)
    if len(adv) >= 8 and adv.std() > 1e-12:  # a small buffer is not normalised: it would turn noise into signal
        adv = (adv - adv.mean()) / adv.std()
    logs = {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0, "approx_kl": 0.0}
    n = 0
    for _ in range(s.epochs):
        opt.zero_grad()
        pl = vl = ent = kl = 0.0
        loss = 0.0
        for t, a in zip(trs, adv):
            scores, v = policy(torch.as_tensor(t.x))
            lp = set_logprob(scores, t.clusters, t.picks)
            ratio = torch.exp(lp - t.logp)
            p_loss = -torch.min(ratio * a, torch.clamp(ratio, 1 - s.clip, 1 + s.clip) * a)
            v_loss = (v - t.ret) ** 2
            e = first_pick_entropy(scores, t.clusters, t.picks)
            loss = loss + (p_loss + s.value_coef * v_loss - s.entropy_coef * e) / len(trs)
            pl += float(p_loss.detach())
            vl += float(v_loss.detach())
            ent += float(e.detach())
            kl += float(t.logp - lp.detach())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), s.max_grad_norm)
        opt.step()
        for k, val in zip(logs, (pl, vl, ent, kl)):
            logs[k] += val / len(trs)
        n += 1
    return {k: v / n for k, v in logs.items()}


def act(policy, x: np.ndarray, clusters: np.ndarray, batch: int, rng: np.random.Generator, *, greedy: bool = False):
    """(picks, log pi, V, scores) of one step."""
    import torch

    with torch.no_grad():
        scores, v = policy(torch.as_tensor(x))
        picks = sample_set(scores.numpy(), clusters, batch, rng, greedy=greedy)
        lp = set_logprob(scores, clusters, picks)
    return picks, float(lp), float(v), scores.numpy()


def settings_dict(s: PPOSettings) -> dict:
    return asdict(s)
