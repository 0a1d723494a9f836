"""ProblemStats: rejection-sampling statistics of one problem, per model, mode and verifier."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from thresher.schemas.base import Record, utc_now

__all__ = ["ProblemStats", "Difficulty"]

Difficulty = Literal["unsolved", "hard", "medium", "easy", "trivial", "unknown"]


class ProblemStats(Record):
    """Pass rate, pass@k and difficulty bucket of a problem, from the verified rollouts of one
    model in one generation mode (a problem solved only when shown the reference is not easy)."""

    problem_id: str
    source: str = Field(..., description="problem set name")
    verifier: str = Field(..., description="versioned verifier name the verdicts came from")
    n_samples: int = Field(..., ge=0, description="rollouts with a verdict")
    n_checked: int = Field(
        ..., ge=0, description="decided verdicts (correct true or false): the pass-rate sample"
    )
    n_correct: int = Field(..., ge=0)
    pass_rate: float | None = Field(None, description="n_correct / n_checked; None if none decided")
    pass_at_k: dict[str, float] = Field(
        default_factory=dict, description="unbiased pass@k estimates by k (k <= n_checked)"
    )
    difficulty: Difficulty = "unknown"
    computed_at: datetime = Field(default_factory=utc_now)
    # Added by migration 0016 (columns are appended, so they stay last, in this order).
    model: str = Field("", description="the model whose rollouts these are")
    mode: str = Field("", description="generation mode: on_policy, prefix or privileged")
    n_undecided: int = Field(
        0, ge=0, description="verdicts the verifier could not decide (excluded from the rate)"
    )
