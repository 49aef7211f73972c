"""The operator registry: `Operator`, `OPERATORS` (in registration order) and the `operator` decorator.

Each family module registers its operators where it defines them; the package imports the families in
a fixed order, which is the order of `OPERATORS` and of every listing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from engine.quality.heuristics.sample import Sample, Value
from engine.quality.scores import MetricDef

RESPONSE = frozenset({"response"})
RESPONSE_MESSAGES = frozenset({"response", "messages"})


@dataclass(frozen=True)
class Operator:
    """A named heuristic: `fn(Sample) -> (value, reason)`; NULL value always has a reason.

    `needs` names the Sample fields the operator reads ("instruction", "response", "domain",
    "messages", "tools"); `run_heuristics` only fetches those.
    """

    name: str
    fn: Callable[[Sample], Value]
    definition: str
    version: str = "1"
    params: dict = field(default_factory=dict)
    needs: frozenset = frozenset({"response"})
    value_range: str = ""
    null_cases: str = ""

    @property
    def metric(self) -> MetricDef:
        return MetricDef(self.name, "", dict(self.params), self.definition, self.version)

    def compute(self, s: Sample) -> Value:
        """The operator's value, never raising: an unexpected error becomes NULL + 'error: ...'."""
        try:
            v, r = self.fn(s)
        except Exception as e:  # noqa: BLE001 - one odd record must not stop a million-sample run
            return None, f"error: {type(e).__name__}: {e}"[:300]
        if v is None and not r:
            r = "not applicable"
        return v, r


OPERATORS: dict[str, Operator] = {}


def register_operator(op: Operator) -> Operator:
    """Add (or replace) an operator in the registry."""
    OPERATORS[op.name] = op
    return op


def operator(
    name: str,
    definition: str,
    *,
    version: str = "1",
    params: dict | None = None,
    needs: frozenset = RESPONSE,
    value_range: str = "",
    null_cases: str = "",
) -> Callable[[Callable[[Sample], Value]], Callable[[Sample], Value]]:
    """Decorator: register the decorated `fn(Sample) -> (value, reason)` as operator `name`; returns `fn`."""

    def register(fn: Callable[[Sample], Value]) -> Callable[[Sample], Value]:
        register_operator(Operator(name, fn, definition, version, dict(params or {}), needs, value_range, null_cases))
        return fn

    return register


def select_operators(names: Iterable[str] | None) -> list[Operator]:
    """The registered operators named in `names` (one name or several; None: all, in registry order)."""
    if names is None:
        return list(OPERATORS.values())
    if isinstance(names, str):
        names = [names]
    out = []
    for n in names:
        if n not in OPERATORS:
            raise KeyError(f"unknown heuristic {n!r}; known: {', '.join(OPERATORS)}")
        out.append(OPERATORS[n])
    return out


def compute(name: str, sample: Sample | dict) -> Value:
    """Convenience: one operator on one sample (a Sample or a dict of its fields)."""
    s = sample if isinstance(sample, Sample) else Sample(**sample)
    return OPERATORS[name].compute(s)
