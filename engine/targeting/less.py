"""LESS gradient features, the parts that do not need a warm-up run: per-example LoRA gradients (batched with
torch.func), Adam preconditioning, and the Rademacher random projection (the reference's
representation/less/compute_less_embeds.py, after princeton-nlp/LESS).

- Per-example gradient: the gradient of one example's loss (mean cross-entropy over its label tokens, labels
  -100 elsewhere) with respect to the trainable (LoRA) parameters, flattened in `named_parameters` order. The
  reference runs one backward pass per example (batch size 1, `grads_loop` here: the baseline of the tests and
  bench/targeted.py); `per_example_grads` computes a padded batch at once with torch.func (`vmap` over
  `grad` of a `functional_call`). Right padding with the pads labelled -100 leaves every real token's loss as
  it is without the pads (under the causal mask no real token sees a later pad), so both agree to float
  rounding. The model is
  taken in eval mode (no LoRA dropout), so the features do not depend on a dropout draw; the reference leaves
  the model in train mode.
- Candidate side: Adam-preconditioned with the checkpoint's optimizer state (first and second moments m, v):
  m' = b1 m + (1 - b1) g, v' = b2 v + (1 - b2) g^2, g^ = m' / sqrt(v' + eps) (eps inside the root, as the
  reference), b1 = 0.9, b2 = 0.999, eps = 1e-8. Query side: the plain gradient.
- Projection: a Rademacher matrix (entries +-1 / sqrt(k)) of shape (D, k), never held whole: generated in
  row blocks from a seed and the block's number, so any block can be regenerated and a gradient of D values
  projects block by block (the reference uses TRAK's projector with k = 8192, seed 0; its random draws differ
  from these). Then L2-normalised.

The warm-up, the features per checkpoint and the weighted similarity: engine/targeting/less_warmup.py.
"""

from __future__ import annotations

import numpy as np

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8
PROJ_DIM = 8192
PROJ_BLOCK_ROWS = 4096


def trainable(model) -> dict:
    """The trainable parameters by name (LoRA's, on a peft model), in `named_parameters` order."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def _example_loss(logits, labels):
    """Mean cross-entropy over the label tokens of one example (logits (T, V), labels (T,), -100 ignored),
    next-token shifted, as a causal LM's own loss."""
    import torch

    lg = logits[:-1].float()
    lb = labels[1:]
    keep = lb != -100
    ce = torch.nn.functional.cross_entropy(lg, lb.clamp_min(0), reduction="none")
    return (ce * keep).sum() / keep.sum().clamp_min(1)


def grads_loop(model, examples: list[tuple[list[int], list[int]]]) -> np.ndarray:
    """Per-example gradients one backward pass at a time: examples are (input_ids, labels)."""
    import torch

    params = trainable(model)
    dev = next(model.parameters()).device
    out = []
    for ids, labels in examples:
        model.zero_grad(set_to_none=True)
        logits = model(input_ids=torch.tensor([ids], device=dev)).logits[0]
        _example_loss(logits, torch.tensor(labels, device=dev)).backward()
        out.append(torch.cat([p.grad.reshape(-1) for p in params.values()]).detach().float().cpu().numpy())
    model.zero_grad(set_to_none=True)
    return np.stack(out)


def per_example_grads(model, examples: list[tuple[list[int], list[int]]], *, batch_size: int = 8) -> np.ndarray:
    """Per-example gradients, a padded batch at a time with torch.func: (n, D) float32."""
    import torch
    from torch.func import functional_call, grad, vmap

    params = {n: p.detach() for n, p in trainable(model).items()}
    frozen = {n: p.detach() for n, p in model.named_parameters() if n not in params}
    buffers = dict(model.named_buffers())
    dev = next(model.parameters()).device

    def loss(p, ids, labels):
        # no attention mask: the pads come after every real token, which the causal mask already keeps from
        # seeing them (and a mask would send transformers into data-dependent checks vmap cannot trace)
        out = functional_call(model, ({**frozen, **p}, buffers), args=(), kwargs={"input_ids": ids[None]})
        return _example_loss(out.logits[0], labels)

    per = vmap(grad(loss), in_dims=(None, 0, 0), randomness="different")
    rows = []
    for b0 in range(0, len(examples), batch_size):
        chunk = examples[b0 : b0 + batch_size]
        T = max(len(ids) for ids, _l in chunk)
        ids = torch.zeros((len(chunk), T), dtype=torch.long)
        labels = torch.full((len(chunk), T), -100, dtype=torch.long)
        for r, (x, y) in enumerate(chunk):
            ids[r, : len(x)] = torch.tensor(x)
            labels[r, : len(y)] = torch.tensor(y)
        g = per(params, ids.to(dev), labels.to(dev))
        rows.append(torch.cat([g[n].reshape(len(chunk), -1) for n in params], dim=1).float().cpu().numpy())
    return np.concatenate(rows) if rows else np.zeros((0, sum(p.numel() for p in params.values())), np.float32)


def adam_precondition(g, m, v, *, beta1: float = BETA1, beta2: float = BETA2, eps: float = EPS) -> np.ndarray:
    """The Adam update direction of gradient(s) g (n, D) or (D,) from the optimizer's moments m, v (D,)."""
    g = np.asarray(g, dtype=np.float64)
    m2 = beta1 * np.asarray(m, dtype=np.float64) + (1 - beta1) * g
    v2 = beta2 * np.asarray(v, dtype=np.float64) + (1 - beta2) * g**2
    return (m2 / np.sqrt(v2 + eps)).astype(np.float32)


def adam_moments(optimizer_state: dict, params: dict) -> tuple[np.ndarray, np.ndarray]:
    """(m, v) flattened in `params` order from a torch AdamW state_dict (state indexed by parameter order)."""
    st = optimizer_state["state"]
    m = np.concatenate([st[i]["exp_avg"].reshape(-1).float().cpu().numpy() for i in range(len(params))])
    v = np.concatenate([st[i]["exp_avg_sq"].reshape(-1).float().cpu().numpy() for i in range(len(params))])
    return m, v


class RademacherProjector:
    """x (n, D) -> x @ R with R (D, k) of +-1/sqrt(k), generated in blocks of `block_rows` rows from
    (seed, block number): never more than one block in memory, the same R on every call and machine."""

    def __init__(self, dim: int, proj_dim: int = PROJ_DIM, *, seed: int = 0, block_rows: int = PROJ_BLOCK_ROWS):
        self.dim, self.proj_dim, self.seed, self.block_rows = int(dim), int(proj_dim), int(seed), int(block_rows)

    def block(self, b: int) -> np.ndarray:
        """Rows [b * block_rows, ...) of R."""
        rows = min(self.block_rows, self.dim - b * self.block_rows)
        rng = np.random.default_rng([self.seed, b])
        signs = rng.integers(0, 2, size=(rows, self.proj_dim), dtype=np.int8) * 2 - 1
        return signs.astype(np.float32) / np.float32(np.sqrt(self.proj_dim))

    def project(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.shape[-1] != self.dim:
            raise ValueError(f"projector for {self.dim} values got {X.shape[-1]}")
        out = np.zeros((X.shape[0], self.proj_dim), dtype=np.float32)
        for b in range((self.dim + self.block_rows - 1) // self.block_rows):
            a = b * self.block_rows
            out += X[:, a : a + self.block_rows] @ self.block(b)
        return out


def less_features(G: np.ndarray, projector: RademacherProjector, moments=None) -> np.ndarray:
    """LESS features of per-example gradients G (n, D): Adam-preconditioned when `moments` (m, v) are given
    (the candidate side), projected, L2-normalised."""
    X = adam_precondition(G, *moments) if moments is not None else np.asarray(G, dtype=np.float32)
    P = projector.project(X)
    n = np.linalg.norm(P, axis=1, keepdims=True)
    return P / np.where(n > 0, n, 1.0)
