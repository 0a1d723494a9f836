"""Label columns written by verifiers, flaw labelers, scorers and dedup (never decisions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from thresher.schemas.base import Record, utc_now

__all__ = [
    "Verdict",
    "VerdictStatus",
    "CORRECT_BY_STATUS",
    "correct_rule_error",
    "decided_correct",
    "FlawLabel",
    "LabelPass",
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
# What `correct` may be for each status. A response that fails on its own account is wrong
# (false): no final answer, or its program's crash or time/memory/output limit. Null means the
# verifier could not decide: its own timeout or crash, a sandbox failure, invalid input.
CORRECT_BY_STATUS: dict[str, frozenset[bool | None]] = {
    "ok": frozenset({True, False}),
    "no_answer": frozenset({False}),
    "timeout": frozenset({False, None}),
    "memory_limit": frozenset({False, None}),
    "output_limit": frozenset({False, None}),
    "runtime_error": frozenset({False, None}),
    "sandbox_error": frozenset({None}),
    "invalid_input": frozenset({None}),
}
_WORDS = {True: "true", False: "false", None: "null"}


def correct_rule_error(status: str, correct: bool | None) -> str | None:
    """Why ``correct`` cannot go with ``status`` (None when it can)."""
    allowed = CORRECT_BY_STATUS.get(status)
    if allowed is None or correct in allowed:
        return None
    options = " or ".join(_WORDS[v] for v in (True, False, None) if v in allowed)
    return f"status '{status}' needs correct {options}, got {_WORDS[correct]}"


Severity = Literal["info", "warning", "error"]
ProvenanceCategory = Literal[
    "teacher_originated", "student_originated", "shared", "boosted", "novel"
]


class Verdict(Record):
    """Whether a trace's final answer is right, as one verifier judged it."""

    trace_id: str
    verifier: str = Field(..., description="versioned verifier name, e.g. 'math_v2'")
    status: VerdictStatus
    correct: bool | None = Field(
        None,
        description="true/false when decided (false also for no answer or the program's own "
        "failure); null when the verifier could not decide",
    )
    extracted: str | None = Field(None, description="the answer the verifier extracted")
    reason: str = ""
    elapsed_s: float = Field(0.0, ge=0.0)
    created_at: datetime = Field(default_factory=utc_now)

    @model_validator(mode="before")
    @classmethod
    def _implied_correct(cls, data: Any) -> Any:
        """A status that allows one value of ``correct`` implies it (no_answer: false)."""
        if isinstance(data, dict) and "correct" not in data:
            allowed = CORRECT_BY_STATUS.get(str(data.get("status")), frozenset())
            if len(allowed) == 1:
                data = {**data, "correct": next(iter(allowed))}
        return data

    @model_validator(mode="after")
    def _status_rules(self) -> Verdict:
        problem = correct_rule_error(self.status, self.correct)
        if problem is not None:
            raise ValueError(problem)
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
    labeler: str = Field(..., description="versioned labeler name, e.g. 'arith_step_check_v2'")
    flaw_type: str = Field(..., description="snake_case flaw type, e.g. 'wrong_arithmetic'")
    severity: Severity
    step: int | None = Field(None, description="index of the step/sentence where it occurs")
    evidence: str = ""
    char_start: int | None = None
    char_end: int | None = None
    critique: str | None = Field(None, description="judge model critique, if any")
    created_at: datetime = Field(default_factory=utc_now)


class LabelPass(Record):
    """That a labeler has looked at a trace (whether or not it found a flaw), so a rerun
    labels only what no labeler of the run has seen."""

    trace_id: str
    labeler: str = Field(..., description="versioned labeler name")
    labels: int = Field(0, ge=0, description="flaw labels it found")
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
