"""What a study is, without the store: templates, axes and their checks, default grids, and the cells of a grid.

A study's grid follows from its template and axes alone (`cells`), so it is never stored cell by cell before
launch; the store keeps what was made for each launched cell (engine.studies.records).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime

from engine.core.errors import InputError
from engine.training.settings import PROTOCOLS

TEMPLATES = ("targeted", "quantiles", "growth", "ratio", "protocols", "cross")

# The axes of each template, in the order they appear in a cell's key; `seed` is every template's last axis.
AXES = {
    "targeted": ("budget", "seed"),
    "quantiles": ("quantile", "seed"),
    "growth": ("fraction", "seed"),
    "ratio": ("ratio", "seed"),
    "protocols": ("protocol", "seed"),
    "cross": ("domain", "seed"),
}

# Optional axes a template may be given besides its own, written in a cell's key before them (growth: several base
# models, each with its own base-model cell; and the provenance of the training data: one curve per label, drawn
# from the base mixture's pools of that provenance only). A study without them has the keys it always had.
OPTIONAL_AXES = {"growth": ("model", "provenance")}

# The arm a template's own cells belong to; every study also has the base-model cell ("base"), and the two
# selection templates a seeded random selection of the same size per seed (and budget): "random".
MAIN_ARM = {
    "targeted": "targeted",
    "quantiles": "quantile",
    "growth": "growth",
    "ratio": "ratio",
    "protocols": "protocol",
    "cross": "single",
}
BASE_KEY = "base"

DEFAULT_RATIOS = (0.0, 0.25, 0.5, 0.75, 1.0)
DEFAULT_POINTS = 5  # growth: volumes on the default log grid
DEFAULT_STEP = 4.0  # growth: each volume 4x the one before (DoIT's 10, 40, 160, 640, ...)


class StudyError(InputError):
    """A study that cannot be made, planned, launched or read as asked (the message says what is wrong)."""


@dataclass
class Study:
    """One study (a row of `studies`). base: what the grid derives from ({"mixture", "mixture_id", ...} or
    {"selection", ...}); axes: axis -> values; settings: the run settings (base_model, lora, train, protocol,
    order) and the template's options; eval: {"sets", "max_items", "max_new_tokens", "batch_size", "device",
    "threads"}."""

    id: int
    name: str
    template: str
    base: dict
    axes: dict
    settings: dict
    eval: dict
    created_at: datetime | None = None
    note: str | None = None

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "template": self.template,
            "base": self.base,
            "axes": self.axes,
            "settings": self.settings,
            "eval": self.eval,
            "created_at": None if self.created_at is None else str(self.created_at),
            "note": self.note,
        }


@dataclass
class Cell:
    """One cell of a grid: its key (stable, unique in the study), its arm and its axis values."""

    key: str
    arm: str
    params: dict = field(default_factory=dict)


def key_order(template: str) -> tuple[str, ...]:
    """The axes of a template's cell keys, in order: the optional ones, then its own."""
    return (*OPTIONAL_AXES.get(template, ()), *AXES[template])


def model_label(spec: str) -> str:
    """A base model as written in a cell key: the last part of its path or hub id (a .gguf file's name without
    the suffix), characters other than letters, digits, '.', '_' and '-' as '_'."""
    last = str(spec).rstrip("/\\").replace("\\", "/").split("/")[-1] or str(spec)
    if last.lower().endswith(".gguf"):
        last = last[: -len(".gguf")]
    return re.sub(r"[^A-Za-z0-9._-]", "_", last) or "model"


def fmt_value(v) -> str:
    """An axis value as written in a key: whole numbers plainly, fractions with up to 6 significant digits."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.6g}"
    return str(v)


def cell_key(arm: str, params: dict, axes_order: tuple[str, ...]) -> str:
    """`arm name=value ...` in the template's axis order (the base-model cell is just "base")."""
    parts = [
        f"{a}={model_label(params[a]) if a == 'model' else fmt_value(params[a])}" for a in axes_order if a in params
    ]
    return " ".join([arm, *parts])


def _whole(v, what: str, lo: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or float(v) != int(v) or int(v) < lo:
        raise StudyError(f"{what}: expected a whole number >= {lo}, not {v!r}")
    return int(v)


def _number(v, what: str, lo: float, hi: float, *, open_lo: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise StudyError(f"{what}: expected a number, not {v!r}")
    if v > hi or v < lo or (open_lo and v == lo):
        rng = f"({lo:g}, {hi:g}]" if open_lo else f"[{lo:g}, {hi:g}]"
        raise StudyError(f"{what}: {v!r} is outside {rng}")
    return float(v)


def check_axis(template: str, axis: str, values) -> list:
    """The values of one axis, checked and in grid order (numbers ascending, repeats dropped; protocols in the
    order given). StudyError naming the axis and the value otherwise."""
    if template not in TEMPLATES:
        raise StudyError(f"unknown template {template!r}; choose one of {', '.join(TEMPLATES)}")
    if axis not in key_order(template):
        raise StudyError(f"the {template} template has no axis {axis!r}; its axes: {', '.join(key_order(template))}")
    if not isinstance(values, (list, tuple)) or not values:
        raise StudyError(f"{axis}: give at least one value")
    if axis == "model":  # base models in the order given (the order read as size when a size is unknown)
        bad = [m for m in values if not isinstance(m, str) or not m.strip()]
        if bad:
            raise StudyError(f"model: expected model folders, files or hub ids, not {bad[0]!r}")
        out = list(dict.fromkeys(m.strip() for m in values))
        labels: dict[str, str] = {}
        for m in out:
            lab = model_label(m)
            if lab in labels:
                raise StudyError(f"model: {labels[lab]!r} and {m!r} would both be written {lab!r} in the cell keys")
            labels[lab] = m
        return out
    if axis == "provenance":
        from engine.data.pools import PROVENANCES

        vals = [str(v).strip().lower() for v in values]
        bad = [v for v in vals if v not in PROVENANCES]
        if bad:
            raise StudyError(f"provenance: unknown {', '.join(bad)}; choose from {', '.join(PROVENANCES)}")
        return list(dict.fromkeys(vals))
    if axis == "domain":
        bad = [d for d in values if not isinstance(d, str) or not d.strip()]
        if bad:
            raise StudyError(f"domain: expected domain names, not {bad[0]!r}")
        return list(dict.fromkeys(d.strip() for d in values))
    if axis == "protocol":
        bad = [p for p in values if p not in PROTOCOLS]
        if bad:
            raise StudyError(f"protocol: unknown {', '.join(map(str, bad))}; choose from {', '.join(PROTOCOLS)}")
        return list(dict.fromkeys(values))
    if axis in ("seed", "quantile"):
        out = [_whole(v, axis) for v in values]
    elif axis == "budget":
        out = [_whole(v, axis, 1) for v in values]
    elif axis == "fraction":
        out = [_number(v, axis, 0.0, 1.0, open_lo=True) for v in values]
    else:  # ratio
        out = [_number(v, axis, 0.0, 1.0) for v in values]
    return sorted(set(out))


def log_fractions(points: int = DEFAULT_POINTS, step: float = DEFAULT_STEP) -> list[float]:
    """`points` fractions of the base volume, each `step` times the one before, ending at 1 (the default growth
    grid: 1/256, 1/64, 1/16, 1/4, 1)."""
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise StudyError(f"points: expected a whole number >= 1, not {points!r}")
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not step > 1:
        raise StudyError(f"step: expected a number > 1, not {step!r}")
    return [float(step) ** -i for i in range(points - 1, -1, -1)]


def default_budgets(k: int) -> list[int]:
    """k/8, k/4, k/2 and k (the budgets the targeted selection reports its distances at), repeats dropped."""
    return sorted({max(1, round(k * f)) for f in (1 / 8, 1 / 4, 1 / 2, 1)})


def cells(template: str, axes: dict) -> list[Cell]:
    """Every cell of the grid, in launch order: the base-model cell first (it trains nothing), then per seed and
    axis value the template's cell, each followed by its random baseline (selection templates)."""
    if template not in TEMPLATES:
        raise StudyError(f"unknown template {template!r}; choose one of {', '.join(TEMPLATES)}")
    order = key_order(template)
    main, other = AXES[template][0], AXES[template][1]
    arm = MAIN_ARM[template]
    models = list(axes.get("model") or []) if "model" in order else []
    provs = list(axes.get("provenance") or []) if "provenance" in order else []
    out = []
    seen: set[str] = set()
    for m in models or [None]:
        extra_m = {} if m is None else {"model": m}
        out.append(Cell(cell_key(BASE_KEY, extra_m, order), "base", dict(extra_m)))
        for pv in provs or [None]:
            extra = extra_m | ({} if pv is None else {"provenance": pv})
            for s in axes.get(other, [0]):
                for v in axes.get(main, []):
                    p = extra | {main: v, other: s}
                    out.append(Cell(cell_key(arm, p, order), arm, p))
                    if template == "targeted":
                        out.append(Cell(cell_key("random", p, order), "random", p))
                if template == "quantiles":  # one random selection per seed, of the quantiles' size
                    key = cell_key("random", {"seed": s}, order)
                    if key not in seen:
                        seen.add(key)
                        out.append(Cell(key, "random", {"seed": s}))
    return out
