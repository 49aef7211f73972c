"""Growth curves and what follows from them, as pure functions of numbers.

- Log-linear: y = a + b·ln(x), least squares (closed form). b is the ability's *growth pace*: the score gained
  per e-fold of data (b·ln 2 per doubling). DoIT reads growth on a log axis (methods.md section 6.3).
- Saturating power law: y = c + a·x^(-alpha), alpha > 0 (a < 0: a score rising towards c; a > 0: a loss falling
  towards c): the best alpha of a log-spaced grid (c and a exact for each), then scipy.optimize.curve_fit from
  there, on x scaled by its largest value (reported in x's own units).
- Each fit reports its error: RMSE of the residuals, R², and the parameters' standard errors (from the
  covariance; None when the fit has no degrees of freedom left, e.g. 3 points for the power law's 3 parameters).
- `allocate`: split a budget across domains to maximise the weighted sum of fitted scores by marginal gains
  (greedy in steps; optimal for concave increasing curves, which both fits are when their slope is positive).
  Ours, not a paper's.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from engine.studies.spec import StudyError


@dataclass
class Fit:
    """A fitted curve: kind "loglinear" (params a, b) or "power" (params c, a, alpha), its error and points."""

    kind: str
    params: dict
    stderr: dict
    rmse: float
    r2: float | None
    n: int
    note: str = ""

    def predict(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        p = self.params
        if self.kind == "loglinear":
            return p["a"] + p["b"] * np.log(x)
        return p["c"] + p["a"] * np.power(x, -p["alpha"])

    def slope(self, x: float) -> float:
        """dy/dx at x."""
        p = self.params
        if self.kind == "loglinear":
            return p["b"] / x
        return -p["alpha"] * p["a"] * x ** (-p["alpha"] - 1)

    def to_dict(self) -> dict:
        return asdict(self)


def _clean(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise StudyError("a curve needs as many x as y values")
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
    return x[ok], y[ok]


def _r2(y: np.ndarray, pred: np.ndarray) -> float | None:
    ss = float(np.sum((y - y.mean()) ** 2))
    return None if ss == 0 else 1.0 - float(np.sum((y - pred) ** 2)) / ss


def fit_loglinear(x, y) -> Fit | None:
    """y = a + b·ln(x) by least squares over the points with x > 0; None with fewer than 2 distinct x."""
    x, y = _clean(x, y)
    if len(np.unique(x)) < 2:
        return None
    lx = np.log(x)
    A = np.column_stack([np.ones_like(lx), lx])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    pred = A @ coef
    resid = y - pred
    dof = len(y) - 2
    stderr = {"a": None, "b": None}
    if dof > 0:
        s2 = float(resid @ resid) / dof
        cov = s2 * np.linalg.inv(A.T @ A)
        stderr = {"a": float(math.sqrt(cov[0, 0])), "b": float(math.sqrt(cov[1, 1]))}
    return Fit(
        "loglinear",
        {"a": float(coef[0]), "b": float(coef[1])},
        stderr,
        float(math.sqrt(np.mean(resid**2))),
        _r2(y, pred),
        len(y),
    )


MAX_EVALS = 500  # evaluations of the power-law fit after its grid start (a few suffice from there)


def _power(x, c, a, alpha):
    return c + a * np.power(x, -alpha)


def _power_jac(x, c, a, alpha):
    p = np.power(x, -alpha)
    return np.column_stack([np.ones_like(x), p, -a * p * np.log(x)])


def _linear_cy(xs: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """For a fixed alpha the power law is linear in (c, a): their least-squares values and the SSE."""
    A = np.column_stack([np.ones_like(xs), np.power(xs, -alpha)])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    r = y - A @ coef
    return float(coef[0]), float(coef[1]), float(r @ r)


def fit_power(x, y) -> Fit | None:
    """y = c + a·x^(-alpha) (alpha in (0, 10]); None with fewer than 3 distinct x. Started from the best alpha of
    a log-spaced grid (c and a solved exactly for each), then scipy's curve_fit (analytic Jacobian) from there,
    which gives the parameters' covariance. The note of a Fit says when it is exact (no error left to estimate)
    or when alpha sits at its bound (the points are no saturating curve)."""
    from scipy.optimize import OptimizeWarning, curve_fit

    x, y = _clean(x, y)
    if len(np.unique(x)) < 3:
        return None
    scale = float(x.max())
    xs = x / scale
    grid = np.logspace(-3, 1, 161)
    sse = [_linear_cy(xs, y, a)[2] for a in grid]
    alpha0 = float(grid[int(np.argmin(sse))])
    c0, a0, _ = _linear_cy(xs, y, alpha0)
    popt, pcov = np.array([c0, a0, alpha0]), None
    try:
        with warnings.catch_warnings():  # no covariance with as many points as parameters: said in the note
            warnings.simplefilter("ignore", OptimizeWarning)
            got, cov = curve_fit(
                _power,
                xs,
                y,
                p0=popt,
                jac=_power_jac,
                bounds=([-np.inf, -np.inf, 1e-6], [np.inf, np.inf, 10.0]),
                max_nfev=MAX_EVALS,
            )
        if np.sum((y - _power(xs, *got)) ** 2) <= np.sum((y - _power(xs, *popt)) ** 2) + 1e-15:
            popt, pcov = got, cov
    except (RuntimeError, ValueError):
        pass
    c, a_s, alpha = (float(v) for v in popt)
    a = a_s * scale**alpha  # a_s (x/scale)^-alpha = a_s scale^alpha x^-alpha
    pred = _power(xs, c, a_s, alpha)
    sse_best = float(np.sum((y - pred) ** 2))
    dof = len(y) - 3
    stderr: dict = {"c": None, "a": None, "alpha": None}
    notes = []
    if dof > 0 and pcov is not None and np.all(np.isfinite(pcov)):
        d = np.sqrt(np.clip(np.diag(pcov), 0, None))
        stderr = {"c": float(d[0]), "a": float(d[1] * scale**alpha), "alpha": float(d[2])}
    elif dof <= 0:
        notes.append("as many points as parameters: the curve passes through them, its error cannot be estimated")
    if alpha < 2e-3 or alpha > 9.9:
        notes.append(f"alpha at the edge of its range ({alpha:.3g}): the points are not a saturating curve")
    return Fit(
        "power",
        {"c": c, "a": float(a), "alpha": alpha},
        stderr,
        float(math.sqrt(sse_best / len(y))),
        _r2(y, pred),
        len(y),
        "; ".join(notes),
    )


def growth_pace(fit: Fit | None) -> dict | None:
    """The slope of a log-linear fit: per e-fold of data and per doubling."""
    if fit is None or fit.kind != "loglinear":
        return None
    b = fit.params["b"]
    return {"per_efold": b, "per_doubling": b * math.log(2), "stderr": fit.stderr.get("b")}


# -- allocation -------------------------------------------------------------------------------------------------


@dataclass
class Allocation:
    """How a budget is split: per domain its amount, predicted score and last marginal gain; the steps taken."""

    budget: int
    step: int
    amounts: dict
    predicted: dict
    last_gain: dict
    objective: float
    reasoning: list

    def to_dict(self) -> dict:
        return asdict(self)


def allocate(
    curves: dict[str, Fit],
    budget: int,
    *,
    weights: dict[str, float] | None = None,
    step: int | None = None,
    floor: int = 1,
    higher_is_better: dict[str, bool] | None = None,
) -> Allocation:
    """Split `budget` (samples or tokens) across the domains of `curves` to maximise sum_d w_d * s_d * f_d(n_d)
    (s_d = +1 where a higher score is better, -1 for a loss), by marginal gains: every domain starts at `floor`,
    then each step of `step` units (default budget/1000, at least 1) goes to the domain whose weighted score rises
    most. Greedy is optimal when every curve is concave and increasing in the objective's direction (both fits
    with a positive pace); the reasoning says where that does not hold."""
    if not curves:
        raise StudyError("no fitted curve to allocate by")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise StudyError(f"budget: expected a whole number >= 1, not {budget!r}")
    doms = sorted(curves)
    w = {d: float((weights or {}).get(d, 1.0)) for d in doms}
    bad = [d for d in doms if not (math.isfinite(w[d]) and w[d] >= 0)]
    if bad:
        raise StudyError(f"weights must be numbers >= 0 ({', '.join(bad)})")
    sign = {d: 1.0 if (higher_is_better or {}).get(d, True) else -1.0 for d in doms}
    step = int(step or max(1, budget // 1000))
    floor = max(int(floor), 1)
    if floor * len(doms) > budget:
        raise StudyError(f"budget {budget:,} is below {floor} per domain for {len(doms)} domains")
    n = {d: floor for d in doms}

    def value(d: str, x: float) -> float:
        return w[d] * sign[d] * float(curves[d].predict([x])[0])

    left = budget - floor * len(doms)
    gains = {d: 0.0 for d in doms}
    while left > 0:
        inc = min(step, left)
        g = {d: value(d, n[d] + inc) - value(d, n[d]) for d in doms}
        best = max(doms, key=lambda d: (g[d], -doms.index(d)))
        n[best] += inc
        gains[best] = g[best] / inc
        left -= inc
    reasoning = [
        f"every domain starts at {floor}; each step of {step:,} goes to the domain whose weighted predicted "
        "score rises most (marginal gains)"
    ]
    for d in doms:
        f = curves[d]
        rising = sign[d] * f.slope(max(n[d], 1)) > 0
        reasoning.append(
            f"{d}: {n[d]:,} ({n[d] / budget:.1%}), predicted {float(f.predict([n[d]])[0]):.4g} ({f.kind} fit), "
            f"weight {w[d]:g}; last step's gain {gains[d]:.3g} per unit"
            + ("" if rising else "; its curve does not improve with more data here, so it gets little")
        )
    obj = sum(value(d, n[d]) for d in doms)
    return Allocation(budget, step, n, {d: float(curves[d].predict([n[d]])[0]) for d in doms}, gains, obj, reasoning)
