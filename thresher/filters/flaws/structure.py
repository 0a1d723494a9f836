"""``truncated_v1`` and ``format_v1``: cut-off traces and malformed final answers."""

from __future__ import annotations

from thresher.filters.flaws.types import Trace, make_label
from thresher.filters.verify.extract import all_boxed
from thresher.schemas import FlawLabel

__all__ = ["Truncated", "FormatCheck"]

# Extraction rules that find an answer nobody marked as such (anything else is a marker: a box,
# an answer phrase, "####", "A:", ...).
_WEAK = frozenset(("bold", "inline_math", "whole_response", "last_number"))


class Truncated:
    """The generation stopped at its length limit (``finish_reason == 'length'``) or left no
    final answer at all (error)."""

    name = "truncated_v1"

    def label(self, trace: Trace) -> list[FlawLabel]:
        """At most one label, at the end of the text."""
        end = len(trace.response)
        where = max(0, end - 1)
        if trace.finish_reason == "length":
            return [
                make_label(self.name, trace, "truncated", "error",
                           "generation hit max_tokens: " + trace.response[-120:], where, end)
            ]  # fmt: skip
        if trace.final.text is None:
            return [
                make_label(self.name, trace, "no_final_answer", "error",
                           f"no final answer ({trace.final.method}): {trace.response[-120:]}",
                           where, end)
            ]  # fmt: skip
        return []


class FormatCheck:
    """Answer format: an unclosed ``<think>`` block (error), several different boxed answers
    (error), or an answer that is not marked (no boxed / "answer:" phrase; warning)."""

    name = "format_v1"

    def label(self, trace: Trace) -> list[FlawLabel]:
        """Each format problem found."""
        text = trace.response
        labels = []
        opened = text.find("<think>")
        if opened >= 0 and text.find("</think>", opened) < 0:
            labels.append(
                make_label(self.name, trace, "unclosed_think", "error",
                           "<think> without </think>", opened, opened + 7)
            )  # fmt: skip
        section, _ = trace.section
        if section is not None:
            answers = [" ".join(a.split()) for a in all_boxed(section)]
            if len(set(answers)) > 1:
                start = len(text) - len(section) + section.find("\\boxed")
                labels.append(
                    make_label(self.name, trace, "conflicting_answers", "error",
                               "several boxed answers: " + ", ".join(dict.fromkeys(answers))[:300],
                               start, start + 1)
                )  # fmt: skip
            if trace.final.text is not None and trace.final.method in _WEAK:
                labels.append(
                    make_label(self.name, trace, "unmarked_answer", "warning",
                               f"answer found only by {trace.final.method}: {trace.final.text}",
                               max(0, len(text) - 1), len(text))
                )  # fmt: skip
        return labels
