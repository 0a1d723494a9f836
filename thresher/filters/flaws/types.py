"""What a labeler reads and the contract every labeler follows."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from thresher.filters.verify.extract import Extraction, answer_section, extract_answer
from thresher.schemas import FlawLabel

__all__ = ["Trace", "Labeler", "make_label", "ANNOTATION", "strip_annotations"]

# A calculator annotation as GSM8K writes it: ``16 - 3 = <<16-3=13>>13``.
ANNOTATION = re.compile(r"<<([^<>]*)>>")


def strip_annotations(text: str) -> str:
    """`text` without calculator annotations (``= <<16-3=13>>13`` -> ``= 13``)."""
    return ANNOTATION.sub("", text) if "<<" in text else text


@dataclass
class Trace:
    """One trace to label: the response text and what is known about it."""

    trace_id: str
    response: str
    question: str = ""
    gold: str | None = None
    finish_reason: str = ""
    kind: str = "math"
    reference: str | None = None  # the reference solution/answer that was in the prompt
    conditioned: bool = False  # generated with the reference in its prompt
    _steps: list[int] | None = field(default=None, repr=False)  # each step's end offset

    @cached_property
    def final(self) -> Extraction:
        """The final answer as the math verifier's front-end extracts it."""
        return extract_answer(self.response)

    @cached_property
    def plain(self) -> str:
        """The response without calculator annotations: what the labelers read."""
        return self._plain[0]

    @cached_property
    def _plain(self) -> tuple[str, list[int], list[int]]:
        """(plain text, plain offsets where annotations were cut, cumulative chars cut)."""
        text = self.response
        if "<<" not in text:
            return text, [], []
        pieces: list[str] = []
        cuts: list[int] = []
        removed: list[int] = []
        pos = 0
        for m in ANNOTATION.finditer(text):
            pieces.append(text[pos : m.start()])
            cuts.append(m.start() - (removed[-1] if removed else 0))
            removed.append((removed[-1] if removed else 0) + m.end() - m.start())
            pos = m.end()
        pieces.append(text[pos:])
        return "".join(pieces), cuts, removed

    def original(self, start: int, end: int) -> tuple[int, int]:
        """The span in `response` of the span `start:end` of `plain`."""
        _, cuts, removed = self._plain
        if not cuts:
            return start, end
        i, j = bisect_right(cuts, start), bisect_left(cuts, end)
        return start + (removed[i - 1] if i else 0), end + (removed[j - 1] if j else 0)

    @cached_property
    def annotations(self) -> list[tuple[int, int, list[str]]]:
        """The calculator annotations as claims: (start, end in `response`, [expr, result])."""
        if "<<" not in self.response:
            return []
        found = (
            (m.start(), m.end(), m.group(1).split("=")) for m in ANNOTATION.finditer(self.response)
        )
        return [(s, e, [p.strip() for p in parts]) for s, e, parts in found if len(parts) == 2]

    @cached_property
    def claims(self) -> list[tuple[int, int, list[str]]]:
        """The explicit arithmetic claims (``a op b = c``) of `plain`, found once for every
        labeler; offsets are in `plain`."""
        from thresher.filters.flaws.arith import find_claims

        return find_claims(self.plain)

    @cached_property
    def section(self) -> tuple[str | None, str]:
        """The answer section (after ``</think>``) and how it was found."""
        return answer_section(self.response)

    def step_of(self, char: int) -> int:
        """Index of the step (sentence/line segment) containing a character offset."""
        if self._steps is None:
            from thresher.text.segment import segment

            self._steps = [s.end for s in segment(self.response)]
        # the first step ending after `char` (a bisection: a trace may carry many labels)
        return min(bisect_right(self._steps, char), max(0, len(self._steps) - 1))


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
