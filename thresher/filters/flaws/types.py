"""What a labeler reads and the contract every labeler follows."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from thresher.filters.verify.extract import Extraction, answer_section, extract_answer
from thresher.schemas import FlawLabel

__all__ = ["Trace", "Labeler", "make_label"]


@dataclass
class Trace:
    """One trace to label: the response text and what is known about it."""

    trace_id: str
    response: str
    question: str = ""
    gold: str | None = None
    finish_reason: str = ""
    kind: str = "math"
    _steps: list[tuple[int, int]] | None = field(default=None, repr=False)
    _ends: list[int] = field(default_factory=list, repr=False)

    @cached_property
    def final(self) -> Extraction:
        """The final answer as the math verifier's front-end extracts it."""
        return extract_answer(self.response)

    @cached_property
    def claims(self) -> list[tuple[int, int, list[str]]]:
        """The explicit arithmetic claims (``a op b = c``), found once for every labeler."""
        from thresher.filters.flaws.arith import find_claims

        return find_claims(self.response)

    @cached_property
    def section(self) -> tuple[str | None, str]:
        """The answer section (after ``</think>``) and how it was found."""
        return answer_section(self.response)

    def step_of(self, char: int) -> int:
        """Index of the step (sentence/line segment) containing a character offset."""
        if self._steps is None:
            from thresher.pipeline.segment import segment

            self._steps = [(s.start, s.end) for s in segment(self.response)]
            self._ends = [end for _, end in self._steps]
        # The first step ending after `char`; a binary search, as a trace may hold many
        # thousands of steps and labels (a linear scan per label was quadratic).
        i = bisect_right(self._ends, char)
        return i if i < len(self._steps) else max(0, len(self._steps) - 1)


class Labeler(Protocol):
    """A flaw labeler: finds flaws and describes them; it never decides keep or drop."""

    name: str

    def label(self, trace: Trace) -> list[FlawLabel]:
        """Every flaw of this labeler's kind found in the trace."""
        ...


def make_label(
    labeler: str,
    trace: Trace,
    flaw_type: str,
    severity: str,
    evidence: str,
    start: int | None = None,
    end: int | None = None,
    critique: str | None = None,
    step: int | None = None,
) -> FlawLabel:
    """A FlawLabel with its step derived from the character span."""
    if step is None and start is not None:
        step = trace.step_of(start)
    return FlawLabel(
        trace_id=trace.trace_id,
        labeler=labeler,
        flaw_type=flaw_type,
        severity=severity,  # type: ignore[arg-type]
        step=step,
        evidence=evidence[:500],
        char_start=start,
        char_end=end,
        critique=critique,
    )
