"""Split a completion into its reasoning and its final answer."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SplitMarkers", "THINK_MARKERS", "split_reasoning"]


@dataclass(frozen=True)
class SplitMarkers:
    """Where reasoning ends and the answer starts.

    `think_start`/`think_end` delimit the reasoning of thinking models (`<think>...</think>`).
    `answer_prefixes` mark the final answer in plain completions ("Final answer:", "####").
    """

    think_start: str = "<think>"
    think_end: str = "</think>"
    answer_prefixes: tuple[str, ...] = ("Final answer:", "Final Answer:", "####", "The answer is")


THINK_MARKERS = SplitMarkers()


def split_reasoning(text: str, markers: SplitMarkers = THINK_MARKERS) -> tuple[str, str]:
    """Return (reasoning, answer_text) of a completion.

    - `...</think> answer`: reasoning is what precedes the end marker (after the start marker,
      which a chat template may already have put into the prompt), the answer what follows.
    - `<think>...` without an end marker (truncated): all of it is reasoning, the answer is empty.
    - No think markers: the answer starts at the last answer prefix (the prefix included);
      without one it is the last non-empty line. The reasoning is the whole completion, so
      labelers see the full trace.
    """
    start, end = markers.think_start, markers.think_end
    if end and end in text:
        head, _, tail = text.rpartition(end)
        if start and start in head:
            head = head.split(start, 1)[1]
        return head.strip(), tail.strip()
    if start and start in text:
        return text.split(start, 1)[1].strip(), ""
    stripped = text.strip()
    best = -1
    for prefix in markers.answer_prefixes:
        best = max(best, stripped.rfind(prefix))
    if best >= 0:
        return stripped, stripped[best:].strip()
    lines = [line for line in stripped.splitlines() if line.strip()]
    return stripped, (lines[-1].strip() if lines else "")
