"""``reference_leak_v1``: a trace written with the reference solution in its prompt that talks
about that reference or copies it."""

from __future__ import annotations

import re

from thresher.filters.flaws.types import Trace, make_label, strip_annotations
from thresher.schemas import FlawLabel

__all__ = ["ReferenceLeak", "copied_spans"]

_REF = r"(?:reference|given|provided|supplied|sample|example|official|above|shown)"
_WORK = r"(?:solution|answer|reasoning|work|working|calculation|explanation)s?"
_THE = r"(?:the|this|that|your)"
# Phrases that only make sense to a writer who was shown a solution: "the reference solution",
# "the solution given", "according to the solution", "the solution contains an error". Self-
# checks ("the answer is correct", "subtract 5 from the answer") do not count.
_MENTION = re.compile(
    r"(?<!for )(?<!future )\breference\b"
    rf"|\b{_THE}\s+{_REF}\s+{_WORK}\b"
    rf"|\b{_THE}\s+{_WORK}\s+(?:(?:you|we|i)\s+(?:were\s+|was\s+)?)?"
    r"(?:gave|given|provided|supplied|shown|shared|above|below|states|says|claims|contains|"
    r"has\s+(?:an?\s+)?(?:error|mistake|typo)|is\s+(?:wrong|incorrect|flawed|mistaken))\b"
    r"|\b(?:according\s+to|as\s+(?:stated|shown|given|done|noted|written)\s+in|per|"
    r"compar(?:e|ing|ed)\s+(?:it\s+|this\s+)?(?:with|to)|check(?:ing|ed)?\s+(?:it\s+|this\s+)?"
    rf"against)\s+{_THE}\s+{_WORK}\b"
    r"|\byou(?:'ve|\s+have)\s+already\s+(?:solved|given|provided|shown|done)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+")
_SPAN = 12  # words in a row, the same as the reference's and not the question's


def _ids(words: list[str], vocab: dict[str, int], grow: bool) -> str:
    """Each word as one character (its id in `vocab`), so n-grams are substrings; a word
    outside `vocab` is NUL, which no reference n-gram contains."""
    if grow:
        return "".join(chr(vocab.setdefault(w, len(vocab)) + 1) for w in words)
    return "".join(chr(vocab.get(w, -1) + 1) for w in words)


def copied_spans(text: str, reference: str, question: str = "") -> list[tuple[int, int, int]]:
    """(start, end, words) of each run of >= 12 words `text` shares verbatim with `reference`
    (case and punctuation aside), leaving out runs that the question itself contains."""
    vocab: dict[str, int] = {}
    ref = _ids(_WORD.findall(reference.lower()), vocab, grow=True)
    if len(ref) < _SPAN:
        return []
    grams = {ref[i : i + _SPAN] for i in range(len(ref) - _SPAN + 1)}
    asked = _ids(_WORD.findall(question.lower()), vocab, grow=False)
    grams -= {asked[i : i + _SPAN] for i in range(len(asked) - _SPAN + 1)}
    found = list(_WORD.finditer(text))  # offsets of `text` itself (lower() may move them)
    ids = _ids([m.group(0).lower() for m in found], vocab, grow=False)
    spans: list[tuple[int, int, int]] = []
    first = last = -1  # word indices of the copied run being grown
    for i in range(len(ids) - _SPAN + 1):
        if ids[i : i + _SPAN] not in grams:
            continue
        if first >= 0 and i > last + 1:
            spans.append((found[first].start(), found[last].end(), last - first + 1))
            first = -1
        if first < 0:
            first = i
        last = i + _SPAN - 1
    if first >= 0:
        spans.append((found[first].start(), found[last].end(), last - first + 1))
    return spans


class ReferenceLeak:
    """For traces generated with the reference solution in the prompt (privileged): a mention
    of that reference ("the reference solution", "the solution given", "according to the
    solution", "note that the solution contains an error") is ``reference_mention`` (error:
    the trace talks to a reader about a text the reader never sees, or rationalises it), and a
    run of 12+ words copied verbatim from it is ``reference_copy`` (warning: the copied steps
    read as a solution of their own and are as sound as the reference, but they are the
    reference's words, not the model's). Traces generated without the reference get no
    labels, whatever their words."""

    name = "reference_leak_v1"

    def label(self, trace: Trace) -> list[FlawLabel]:
        """At most one mention label and one copy label."""
        if not trace.conditioned:
            return []
        text = trace.response
        labels = []
        hit = _MENTION.search(text)
        if hit is not None:
            labels.append(
                make_label(
                    self.name, trace, "reference_mention", "error",
                    text[max(0, hit.start() - 80) : hit.end() + 80].strip(),
                    hit.start(), hit.end(),
                    critique=f"the trace refers to the reference it was shown: {hit.group(0)!r}",
                )
            )  # fmt: skip
        if trace.reference:
            spans = copied_spans(trace.plain, strip_annotations(trace.reference), trace.question)
            if spans:
                start, end, words = max(spans, key=lambda s: s[2])
                copied = sum(s[2] for s in spans)
                a, b = trace.original(start, end)
                labels.append(
                    make_label(
                        self.name, trace, "reference_copy", "warning", trace.response[a:b], a, b,
                        critique=f"{copied} words in {len(spans)} run(s) copied verbatim from "
                        f"the reference (longest {words})",
                    )
                )  # fmt: skip
        return labels
