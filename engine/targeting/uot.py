"""Unbalanced optimal transport (the reference's selection/uot.py): cost C = (1 - S) / 2, uniform marginals
a = 1/n_query and b = 1/n_candidates, the transport plan of POT's
`ot.unbalanced.sinkhorn_unbalanced(a, b, C, reg=0.01, reg_m=(inf, 1e-4), reg_type="kl")` (the query marginal
kept exactly, the candidate marginal almost free), each candidate scored by the mass it receives (the plan's
column sum), ranked descending. Equal masses go to the smaller column (the reference's np.argsort is not
stable).

When the dense arrays fit in memory this is that very call. Above that the plan is never formed: this is POT's generalised Sinkhorn-Knopp loop (its `sinkhorn_knopp_unbalanced`, the
method "sinkhorn" that `sinkhorn_unbalanced` runs by default: at most 1000 iterations, stop when the mean of the
relative changes of u and v is below 1e-6, back to the previous u, v on a numerical failure) over column blocks
of the kernel K = exp(-C / reg) * a_i * b_j, with one pass per iteration: v's block from K^T u, and K v
accumulated from the new block. The kernel is computed from the similarity in its own float type, as POT does
for the array it is given, then kept in float64 (in memory up to `memory_bytes`, else in a scratch memmap).
A column's mass is v_j * (K^T u)_j. tests/test_targeting.py checks this against a direct POT call.
"""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np

from engine.targeting.similarity import TargetingError, as_source, check_budget, stable_rank, with_best_query

REG = 0.01
REG_M = (float("inf"), 1e-4)
N_ITER_MAX = 1000
STOP_THR = 1e-6
MEMORY_BYTES = 1 << 30


class _Kernel:
    """The float64 kernel blocks, computed once: a list in memory, or one memmap in a scratch folder."""

    def __init__(self, src, reg, chunk, memory_bytes, scratch_dir, cancel):
        M, N = src.shape
        self.scale = (1.0 / M) * (1.0 / N)
        self.spans: list[tuple[int, int]] = []
        self.mem: list[np.ndarray] | None = [] if M * N * 8 <= memory_bytes else None
        self._tmp = None
        if self.mem is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="uot-", dir=scratch_dir)
            # block after block, each (M, b) contiguous: the same arithmetic as the blocks held in memory
            self.map = np.lib.format.open_memmap(
                os.path.join(self._tmp.name, "kernel.npy"), mode="w+", dtype=np.float64, shape=(M * N,)
            )
        for a, B in src.blocks(chunk):
            if cancel is not None:
                cancel.check()
            C = (1.0 - B) / 2.0  # in the similarity's own float type, as the reference hands it to POT
            K = np.exp(-C / reg).astype(np.float64) * self.scale
            self.spans.append((a, a + B.shape[1]))
            if self.mem is not None:
                self.mem.append(K)
            else:
                self.map[M * a : M * (a + B.shape[1])] = K.reshape(-1)
        if self.mem is None:
            self.map.flush()

    def blocks(self):
        for n, (a, b) in enumerate(self.spans):
            if self.mem is not None:
                yield a, b, self.mem[n]
            else:
                M = len(self.map) // self.spans[-1][1]
                yield a, b, np.asarray(self.map[M * a : M * b]).reshape(M, b - a)

    def close(self):
        if self._tmp is not None:
            del self.map
            self._tmp.cleanup()


def uot_mass(
    S,
    *,
    reg: float = REG,
    reg_m: tuple[float, float] = REG_M,
    num_iter_max: int = N_ITER_MAX,
    stop_thr: float = STOP_THR,
    chunk: int | None = None,
    memory_bytes: int = MEMORY_BYTES,
    scratch_dir: str | None = None,
    path: str = "auto",
    cancel=None,
) -> tuple[np.ndarray, dict]:
    """Mass each candidate receives in the unbalanced plan, and a log (iterations, error, stop reason, path).
    `path`: "pot" calls POT on the whole matrix, "blocked" runs the same loop over kernel blocks, "auto" takes
    POT when its dense arrays (about five n_query x N float64) fit in `memory_bytes`."""
    src = as_source(S)
    M, N = src.shape
    if not reg > 0:
        raise TargetingError(f"the entropic regularisation must be above 0, got {reg}")
    if path not in ("auto", "pot", "blocked"):
        raise TargetingError(f"path must be auto, pot or blocked; got {path!r}")
    if path == "pot" or (path == "auto" and 5 * M * N * 8 <= memory_bytes):
        return _pot_mass(src, reg, reg_m, num_iter_max, stop_thr, chunk, cancel)
    r1, r2 = reg_m
    fi1 = 1.0 if math.isinf(r1) else r1 / (r1 + reg)
    fi2 = 1.0 if math.isinf(r2) else r2 / (r2 + reg)
    a = np.full(M, 1.0 / M)
    b = np.full(N, 1.0 / N)
    K = _Kernel(src, reg, chunk, memory_bytes, scratch_dir, cancel)
    try:
        u = np.ones(M)
        v = np.ones(N)
        Kv = np.zeros(M)
        for _a, _b, Kc in K.blocks():
            Kv += Kc @ v[_a:_b]
        Ktu = np.empty(N)
        err, it, why = 1.0, 0, "max iterations"
        reverted = False
        for it in range(num_iter_max):  # noqa: B007  (the last value is reported)
            if cancel is not None:
                cancel.check()
            uprev, vprev = u, v
            u = (a / Kv) ** fi1
            v = np.empty(N)
            Kv = np.zeros(M)
            for _a, _b, Kc in K.blocks():
                Ktu[_a:_b] = u @ Kc
                v[_a:_b] = (b[_a:_b] / Ktu[_a:_b]) ** fi2
                Kv += Kc @ v[_a:_b]
            if (Ktu == 0).any() or not (np.isfinite(u).all() and np.isfinite(v).all()):
                u, v, reverted, why = uprev, vprev, True, f"numerical errors at iteration {it}"
                break
            err_u = np.abs(u - uprev).max() / max(np.abs(u).max(), np.abs(uprev).max(), 1.0)
            err_v = np.abs(v - vprev).max() / max(np.abs(v).max(), np.abs(vprev).max(), 1.0)
            err = 0.5 * (err_u + err_v)
            if err < stop_thr:
                why = "converged"
                break
        if reverted:
            for _a, _b, Kc in K.blocks():
                Ktu[_a:_b] = u @ Kc
        mass = v * Ktu
    finally:
        K.close()
    return mass, {"iterations": it + 1, "error": float(err), "stop": why, "path": "blocked"}


def _pot_mass(src, reg, reg_m, num_iter_max, stop_thr, chunk, cancel):
    """The reference's call itself: POT's sinkhorn_unbalanced on the whole matrix, the plan's column sums."""
    import warnings

    from ot.unbalanced import sinkhorn_unbalanced

    M, N = src.shape
    parts = []
    for _a, B in src.blocks(chunk):
        if cancel is not None:
            cancel.check()
        parts.append(B)
    S = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
    a = np.ones(M, dtype=np.float64) / M
    b = np.ones(N, dtype=np.float64) / N
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        T, log = sinkhorn_unbalanced(
            a,
            b,
            (1.0 - S) / 2.0,
            reg=reg,
            reg_m=tuple(reg_m),
            reg_type="kl",
            numItermax=num_iter_max,
            stopThr=stop_thr,
            log=True,
        )
    errs = log.get("err", [])
    why = "converged" if errs and errs[-1] < stop_thr else "max iterations"
    why = next((str(w.message) for w in caught if "Numerical" in str(w.message)), why)
    err = float(errs[-1]) if errs else float("nan")
    return T.sum(axis=0), {"iterations": len(errs), "error": err, "stop": why, "path": "pot"}


def uot(S, budget: int | None = None, *, chunk: int | None = None, cancel=None, **kw):
    """The UOT ordering of every candidate (cut to `budget` when given), reference parameters by default."""
    src = as_source(S)
    M, N = src.shape
    k = check_budget(budget, N)
    mass, log = uot_mass(src, chunk=chunk, cancel=cancel, **kw)
    order = stable_rank(mass)[:k]
    params = {
        "reg": kw.get("reg", REG),
        "reg_m": list(kw.get("reg_m", REG_M)),
        "n_query": M,
        "n_candidates": N,
        **log,
    }
    notes = [] if log["stop"] == "converged" else [f"Sinkhorn stopped: {log['stop']}"]
    return with_best_query("uot", order, mass, src, params, notes, chunk=chunk, cancel=cancel)
