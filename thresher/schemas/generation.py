"""GenerationSkip: a (problem, sample) that produced no rollout, and why."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from thresher.schemas.base import Record, utc_now

__all__ = ["GenerationSkip"]


class GenerationSkip(Record):
    """A trace that was not generated: its would-be trace id, a reason code and the detail."""

    trace_id: str = Field(..., description="the id the rollout would have had")
    problem_id: str
    model: str
    engine: str
    mode: str
    sample_index: int = Field(0, ge=0)
    reason: str = Field(..., description="'prompt_too_long', 'engine_error', 'no_reference', ...")
    detail: str = ""
    attempts: int = Field(1, ge=0, description="engine calls tried before giving up")
    created_at: datetime = Field(default_factory=utc_now)
