"""Where a trace's reasoning ends and its final answer starts: one rule for every stage.

- A think block: the reasoning is inside ``<think>...</think>`` (the start marker may already
  be in the prompt), the answer is what follows ``</think>``. A think block that never closed
  (truncated) is all reasoning and no answer.
- Otherwise the answer starts at the last answer mark: ``\\boxed``, "final answer", "the answer
  is", "answer:", GSM8K's ``####``, or a last-line ``A:`` (OpenAI's model solutions); the
  reasoning is the text before it. Without a mark there is no marked answer: all of it is
  reasoning (the verifier still looks for an answer in it).

``split_reasoning`` gives the stored ``reasoning`` / ``answer_text`` columns, labelers read
``reasoning_before_answer``, and verifiers look for the answer in ``answer_section``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ANSWER_MARK",
    "SplitMarkers",
    "THINK_MARKERS",
    "answer_section",
    "reasoning_before_answer",
    "split_reasoning",
]

ANSWER_MARK = re.compile(
    r"\\boxed|final answer|the answer is|answer\s*[:：]|####|(?-i:^[ \t]*A[ \t]*:)",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class SplitMarkers:
    """The think markers of a model family and where a plain answer starts."""

    think_start: str = "<think>"
    think_end: str = "</think>"
    answer_mark: re.Pattern[str] | None = ANSWER_MARK


THINK_MARKERS = SplitMarkers()


def split_reasoning(text: str, markers: SplitMarkers = THINK_MARKERS) -> tuple[str, str]:
    """(reasoning, answer_text) of a trace, by the rule in this module's docstring."""
    start, end = markers.think_start, markers.think_end
    if end and end in text:
        head, _, tail = text.rpartition(end)
        if start and start in head:
            head = head.split(start, 1)[1]
        return head.strip(), tail.strip()
    if start and start in text:
        return text.split(start, 1)[1].strip(), ""
    mark = _last_mark(text, markers.answer_mark)
    if mark is None:
        return text.strip(), ""
    return text[:mark].strip(), text[mark:].strip()


def _last_mark(text: str, pattern: re.Pattern[str] | None) -> int | None:
    last = None
    for m in pattern.finditer(text) if pattern is not None else ():
        last = m.start()
    return last


def reasoning_before_answer(text: str) -> str:
    """The text before the final answer (unstripped, so offsets into ``text`` hold)."""
    close = text.rfind(THINK_MARKERS.think_end)
    if close >= 0:
        return text[:close]
    mark = _last_mark(text, ANSWER_MARK)
    return text if mark is None else text[:mark]


def answer_section(text: str) -> tuple[str | None, str]:
    """Where to look for the final answer: after the last ``</think>``, the whole text without
    a think block, None when a think block never closed; and which of these it is."""
    close = text.rfind(THINK_MARKERS.think_end)
    if close >= 0:
        return text[close + len(THINK_MARKERS.think_end) :], "after_think"
    if THINK_MARKERS.think_start in text:
        return None, "unclosed_think"
    return text, "whole"
