"""Teacher-student divergence of a trace, and budgeted selection by it (a pure function).

Divergence is the mean of log p_teacher - log p_student over a trace's sentences (and, weighted
by token counts, over its tokens). High divergence marks content the teacher finds likely but
the student does not yet produce: what the student can learn from. The selection policy calls
:func:`select_by_divergence`; this module only ranks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from thresher.schemas.errors import InputError

__all__ = ["Divergence", "trace_divergence", "select_by_divergence"]


class _SentenceLike(Protocol):
    teacher_logprob: float
    student_logprob: float
    teacher_tokens: int
    student_tokens: int


class _TraceLike(Protocol):
    trace_id: str
    problem_id: str
    divergence: float | None
    teacher_logprob: float | None


@dataclass(frozen=True)
class Divergence:
    """Mean log p_teacher - log p_student of one trace, per token and per sentence."""

    token_mean: float | None
    sentence_mean: float | None


def trace_divergence(sentences: Sequence[_SentenceLike]) -> Divergence:
    """The divergence of a trace from its sentence scores (None when it has no sentence)."""
    if not sentences:
        return Divergence(None, None)
    diffs = [s.teacher_logprob - s.student_logprob for s in sentences]
    # Each role tokenises for itself; the mean of both counts weighs a sentence by its length
    # and equals the per-token mean when the tokenizers agree.
    weights = [(s.teacher_tokens + s.student_tokens) / 2 for s in sentences]
    total = sum(weights)
    token_mean = sum(d * w for d, w in zip(diffs, weights, strict=True)) / total if total else None
    return Divergence(token_mean=token_mean, sentence_mean=sum(diffs) / len(diffs))


def select_by_divergence(
    traces: Sequence[_TraceLike],
    budget: int | None = None,
    per_problem: int | None = None,
    min_divergence: float | None = None,
    min_teacher_logprob: float | None = None,
) -> list[str]:
    """Trace ids with the highest divergence, at most ``budget`` overall and ``per_problem`` each.

    Traces without a divergence, below ``min_divergence``, or whose content the teacher itself
    finds unlikely (``teacher_logprob < min_teacher_logprob``) are never selected. Ties break by
    trace id, so the result is deterministic.
    """
    for name, value in (("budget", budget), ("per_problem", per_problem)):
        if value is not None and value < 0:
            raise InputError(f"{name} must be >= 0, got {value}", field=name)
    eligible = [
        t
        for t in traces
        if t.divergence is not None
        and (min_divergence is None or t.divergence >= min_divergence)
        and (
            min_teacher_logprob is None
            or (t.teacher_logprob is not None and t.teacher_logprob >= min_teacher_logprob)
        )
    ]
    eligible.sort(key=lambda t: (-(t.divergence or 0.0), t.trace_id))
    taken: Counter[str] = Counter()
    chosen: list[str] = []
    seen: set[str] = set()
    for t in eligible:
        if budget is not None and len(chosen) >= budget:
            break
        if t.trace_id in seen:
            continue
        if per_problem is not None and taken[t.problem_id] >= per_problem:
            continue
        taken[t.problem_id] += 1
        seen.add(t.trace_id)
        chosen.append(t.trace_id)
    return chosen
