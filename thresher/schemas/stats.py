"""ProblemStats: rejection-sampling statistics of one problem under one verifier."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from thresher.schemas.base import Record, utc_now

__all__ = ["ProblemStats", "Difficulty"]

Difficulty = Literal["unsolved", "hard", "medium", "easy", "trivial", "unknown"]


class ProblemStats(Record):
    """Pass rate, pass@k and difficulty bucket of a problem, from its verified rollouts."""

    problem_id: str
    source: str = Field(..., description="problem set name")
    verifier: str = Field(..., description="versioned verifier name the verdicts came from")
    n_samples: int = Field(..., ge=0, description="rollouts with a verdict")
    n_checked: int = Field(..., ge=0, description="verdicts with status ok (correct true/false)")
    n_correct: int = Field(..., ge=0)
    pass_rate: float | None = Field(None, description="n_correct / n_checked; None if unchecked")
    pass_at_k: dict[str, float] = Field(
        default_factory=dict, description="unbiased pass@k estimates by k (k <= n_checked)"
    )
    difficulty: Difficulty = "unknown"
    computed_at: datetime = Field(default_factory=utc_now)
