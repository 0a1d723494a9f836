"""Flaw labelers by versioned name; the rule-based set runs by default, the judge on request."""

from __future__ import annotations

from collections.abc import Callable

from thresher.filters.flaws.answer import AnswerTraceMismatch, UnsupportedAnswer
from thresher.filters.flaws.arith import ArithStepCheck
from thresher.filters.flaws.judge import JudgeLabeler
from thresher.filters.flaws.operands import OperandOrigin
from thresher.filters.flaws.reference import ReferenceLeak
from thresher.filters.flaws.repetition import RepetitionLoop
from thresher.filters.flaws.structure import FormatCheck, Truncated
from thresher.filters.flaws.types import Labeler
from thresher.schemas.errors import NotFoundError

__all__ = ["LABELERS", "RULE_LABELERS", "get_labeler", "rule_labelers", "describe"]

LABELERS: dict[str, Callable[[], Labeler]] = {
    "arith_step_check_v2": ArithStepCheck,
    "operand_origin_v2": OperandOrigin,
    "answer_trace_mismatch_v2": AnswerTraceMismatch,
    "unsupported_answer_v3": UnsupportedAnswer,
    "repetition_loop_v2": RepetitionLoop,
    "truncated_v1": Truncated,
    "format_v1": FormatCheck,
    "reference_leak_v1": ReferenceLeak,
    JudgeLabeler.name: JudgeLabeler,
}
RULE_LABELERS = tuple(name for name in LABELERS if name != JudgeLabeler.name)


def get_labeler(name: str) -> Labeler:
    """The labeler registered under ``name``; unknown names list the known ones."""
    factory = LABELERS.get(name)
    if factory is None:
        raise NotFoundError(
            f"unknown labeler {name!r}; known labelers: {', '.join(sorted(LABELERS))}"
        )
    return factory()


def rule_labelers(names: list[str] | None = None) -> list[Labeler]:
    """The named rule labelers (all of them by default; the judge is built separately)."""
    chosen = names or list(RULE_LABELERS)
    return [get_labeler(n) for n in chosen if n != JudgeLabeler.name]


def describe() -> dict[str, str]:
    """Each registered labeler's name and the meaning from its docstring."""
    return {name: " ".join((cls.__doc__ or "").split()) for name, cls in LABELERS.items()}  # type: ignore[attr-defined]
