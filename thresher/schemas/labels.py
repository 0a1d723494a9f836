"""Label columns written by verifiers, flaw labelers, scorers and dedup (never decisions)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from thresher.schemas.base import Record, utc_now

__all__ = [
    "Verdict",
    "VerdictStatus",
    "decided_correct",
    "FlawLabel",
    "Severity",
    "SentenceScore",
    "ProvenanceCategory",
    "DedupAssignment",
]

VerdictStatus = Literal[
    "ok",
    "no_answer",
    "timeout",
    "memory_limit",
    "output_limit",
    "runtime_error",
    "sandbox_error",
    "invalid_input",
]
Severity = Literal["info", "warning", "error"]
ProvenanceCategory = Literal[
    "teacher_originated", "student_originated", "shared", "boosted", "novel"
]


class Verdict(Record):
    """Whether a trace's final answer is right, as one verifier judged it."""

    trace_id: str
    verifier: str = Field(..., description="versioned verifier name, e.g. 'math_v1'")
    status: VerdictStatus
    correct: bool | None = Field(None, description="set only when status is 'ok'")
    extracted: str | None = Field(None, description="the answer the verifier extracted")
    reason: str = ""
    elapsed_s: float = Field(0.0, ge=0.0)
    created_at: datetime = Field(default_factory=utc_now)

    @model_validator(mode="after")
    def _status_rules(self) -> Verdict:
        if self.status == "ok" and self.correct is None:
            raise ValueError("status 'ok' needs correct true/false")
        if self.status != "ok" and self.correct is not None:
            raise ValueError(f"status '{self.status}' must leave correct null")
        return self


def decided_correct(status: str | None, correct: bool | None) -> bool | None:
    """A verdict's correctness: True/False when decided, None when the verifier could not decide.

    Verdicts written before `no_answer` counted as a failure stored it with a null `correct`;
    they read as False here, so old and new lakes give the same pass rates."""
    if correct is not None:
        return correct
    return False if status == "no_answer" else None


class FlawLabel(Record):
    """One flaw found in a trace by one labeler."""

    trace_id: str
    labeler: str = Field(..., description="versioned labeler name, e.g. 'arith_step_check_v1'")
    flaw_type: str = Field(..., description="snake_case flaw type, e.g. 'wrong_arithmetic'")
    severity: Severity
    step: int | None = Field(None, description="index of the step/sentence where it occurs")
    evidence: str = ""
    char_start: int | None = None
    char_end: int | None = None
    critique: str | None = Field(None, description="judge model critique, if any")
    created_at: datetime = Field(default_factory=utc_now)


class SentenceScore(Record):
    """Log-probabilities of one sentence of a trace under each model role, and its category."""

    trace_id: str
    sentence_index: int = Field(..., ge=0)
    char_start: int = Field(..., ge=0)
    char_end: int = Field(..., ge=0)
    scorer: str = Field(..., description="versioned provenance scorer name")
    teacher_logprob: float = Field(..., description="mean token log-prob under the teacher")
    student_logprob: float = Field(..., description="mean token log-prob under the student")
    distilled_logprob: float | None = None
    teacher_tokens: int = Field(0, ge=0)
    student_tokens: int = Field(0, ge=0)
    category: ProvenanceCategory
    created_at: datetime = Field(default_factory=utc_now)


class DedupAssignment(Record):
    """The duplicate cluster a trace belongs to under one method and threshold."""

    trace_id: str
    method: Literal["exact", "embedding"]
    embedder: str = ""
    threshold: float = Field(1.0, ge=0.0, le=1.0)
    cluster_id: str
    representative_trace_id: str
    is_representative: bool
    max_similarity: float = Field(0.0, ge=-1.0, le=1.0 + 1e-6)
    created_at: datetime = Field(default_factory=utc_now)
