"""What every scorer returns (`Check`), the scorer names and the error for a reference a scorer cannot use."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.core.errors import InputError

SCORERS = ("gsm8k", "math", "code", "tool", "choice", "nll")


class AnswerCheckError(InputError):
    """A reference that a scorer cannot use (names the scorer and what is wrong)."""


@dataclass
class Check:
    """A scorer's verdict: correct (None when the scorer has no right/wrong), what was extracted, a score
    in [0, 1] (or the NLL for ``nll``) and scorer-specific details."""

    correct: bool | None
    extracted: str | None
    score: float | None = None
    details: dict = field(default_factory=dict)
