"""``answer_trace_mismatch_v2`` and ``unsupported_answer_v3``: the final answer vs its reasoning."""

from __future__ import annotations

import re
from fractions import Fraction

from thresher.filters.flaws.arith import expression_values
from thresher.filters.flaws.numbers import NUMBER, decimals, number_value
from thresher.filters.flaws.types import Trace, make_label
from thresher.filters.verify.numeric import parse_plain_number
from thresher.schemas import FlawLabel
from thresher.text.split import reasoning_before_answer

__all__ = ["AnswerTraceMismatch", "UnsupportedAnswer", "reasoning_part"]

_RESULT = re.compile(
    r"=\s*+\$?(-?\d{1,3}(?:,\d{3})++(?:\.\d+)?|-?\d+(?:\.\d+)?)(?![\d.]*[A-Za-z^(])"
)
_NUMBERS = re.compile(r"-?\d{1,3}(?:,\d{3})++(?:\.\d+)?|-?\d+(?:\.\d+)?")
_FRACTIONS = re.compile(
    r"\\[dt]?frac\{\s*(\d{1,40})\s*\}\{\s*(\d{1,40})\s*\}|(?<![\d.])(\d{1,40})\s*/\s*(\d{1,40})(?!\d)"
)
_GUESS = re.compile(
    r"\b(?:i(?:'ll| will)? guess|my (?:best )?guess|just guess|guessing|let'?s just say|"
    r"let'?s say it'?s|random(?:ly)? (?:pick|choose|guess))\b",
    re.IGNORECASE,
)
_HEDGE = re.compile(
    r"\b(?:probably|i'?m not sure|not sure|i think maybe|maybe it'?s)\b", re.IGNORECASE
)
_DERIVATION = re.compile(
    r"[=+×÷*/]|\d\s*-\s*\d|\b(?:because|since|therefore|so|thus|hence)\b", re.I
)


def reasoning_part(trace: Trace) -> tuple[str, int]:
    """The reasoning before the final answer (`text.split`'s rule), read without calculator
    annotations (offsets are in ``trace.plain``)."""
    return reasoning_before_answer(trace.plain), 0


class AnswerTraceMismatch:
    """The value the reasoning concludes (its last ``= N`` result) differs from the final
    answer, and the final answer appears nowhere in the reasoning's closing lines (error); a
    final answer that is the concluded value rounded to a whole number (5.27 -> 5) is a
    warning, since the question may ask for whole units. The answer starts at a box, an
    answer phrase, ``####`` or a last ``A:`` line (v2)."""

    name = "answer_trace_mismatch_v2"

    def label(self, trace: Trace) -> list[FlawLabel]:
        """At most one label: the reasoning's last result against the final answer."""
        final = trace.final.text
        if final is None:
            return []
        answer = parse_plain_number(final)
        if answer is None:
            return []
        reasoning, _ = reasoning_part(trace)
        last = None
        for m in _RESULT.finditer(reasoning[-4000:]):
            last = m
        if last is None:
            return []
        offset = max(0, len(reasoning) - 4000)
        concluded = parse_plain_number(last.group(1))
        if concluded is None or concluded == answer:
            return []
        closing = reasoning[max(0, offset + last.start() - 200) :]
        if _mentions(closing, final, answer):
            return []  # e.g. a check "6 * 2 = 12" after concluding 6
        if _close(concluded, answer, final, last.group(1)):
            return []  # float noise: 0.3333333333333333 against 0.3333333333333335
        rounded = _rounds_to(concluded, answer, final)
        start, end = trace.original(offset + last.start(), offset + last.end())
        return [
            make_label(
                self.name, trace, "answer_trace_mismatch", "warning" if rounded else "error",
                f"reasoning concludes {last.group(1)}, final answer is {final}",
                start, end,
                critique=f"the last computed result {last.group(1)} is not the answer {final}",
            )
        ]  # fmt: skip


class UnsupportedAnswer:
    """A final answer announced as a guess ("I guess", "let's just say": error; "probably",
    "not sure": warning), given with no derivation at all (error), or a number the reasoning
    never reaches: neither written nor computed (nor rounded from a number written, nor the
    same up to float noise) before the final answer (error; v2). The answer starts at a box,
    an answer phrase, ``####`` or a last ``A:`` line, and the reasoning is read without
    calculator annotations (v3)."""

    name = "unsupported_answer_v3"

    def label(self, trace: Trace) -> list[FlawLabel]:
        """Guess cues near the answer, a bare answer, or an answer the reasoning never states."""
        if trace.final.text is None:
            return []
        text = trace.response
        labels = []
        for pattern, severity in ((_GUESS, "error"), (_HEDGE, "warning")):
            hit = None
            for m in pattern.finditer(text):
                hit = m
            if hit is not None:
                labels.append(
                    make_label(
                        self.name, trace, "guessed_answer", severity,
                        text[max(0, hit.start() - 60) : hit.end() + 60].strip(),
                        hit.start(), hit.end(),
                    )
                )  # fmt: skip
                break
        reasoning, _ = reasoning_part(trace)
        body = reasoning.replace("<think>", "").strip()
        if len(body) < 40 and not _DERIVATION.search(body):
            labels.append(
                make_label(
                    self.name, trace, "no_derivation", "error",
                    text[:200], 0, min(len(text), 200), step=0,
                )
            )  # fmt: skip
        elif (unreached := _unreached_answer(trace.final.text, reasoning)) is not None:
            start, end = trace.original(len(reasoning), min(len(trace.plain), len(reasoning) + 40))
            labels.append(
                make_label(
                    self.name, trace, "answer_not_derived", "error",
                    text[max(0, start - 160) : end].strip(), start, end,
                    critique=f"the reasoning never arrives at {unreached}; the answer is asserted",
                )
            )  # fmt: skip
        return labels


def _rounds_to(value: Fraction | int, answer: Fraction, final: str) -> bool:
    """Whether `answer` is `value` rounded, cut or carried up to the places `final` has."""
    unit = Fraction(1, 10 ** decimals(final.strip()))
    return (value / unit).denominator != 1 and abs(value - answer) < unit


def _close(a: Fraction, b: Fraction, *written: str) -> bool:
    """Equal up to float noise, when one of them is written with 10+ decimals."""
    if max(decimals(w.strip()) for w in written) < 10:
        return False
    return abs(a - b) <= max(abs(a), abs(b)) / 10**9


def _writes_literally(text: str, final: str) -> bool:
    """Whether `text` contains the answer string `final` as a whole number."""
    return re.search(rf"(?<![\d.]){re.escape(final.strip())}(?!\d|\.\d)", text) is not None


def _mentions(text: str, final: str, answer: Fraction) -> bool:
    """Whether `text` writes the number `answer` (as `final` literally, or in another form)."""
    if _writes_literally(text, final):
        return True  # the common case, without parsing every number
    return answer in {parse_plain_number(n) for n in _NUMBERS.findall(text)}


def _unreached_answer(final: str, reasoning: str) -> str | None:
    """`final` when it is a number that `reasoning` neither states nor computes (`2 + 3` counts
    for 5): e.g. an answer copied from a reference solution."""
    answer = parse_plain_number(final)
    if answer is None or _writes_literally(reasoning, final):
        return None  # the common case; otherwise every written and computed number is parsed
    stated: set[Fraction | int] = {number_value(n) for n in NUMBER.findall(reasoning)}
    for m in _FRACTIONS.finditer(reasoning):
        if int(m[2] or m[4]):
            stated.add(Fraction(int(m[1] or m[3]), int(m[2] or m[4])))
    if abs(answer) in stated:
        return None
    stated |= {abs(v) for v in expression_values(reasoning)}  # "16 - 3 - 4 of them" is 9
    if abs(answer) in stated:
        return None
    if any(_rounds_to(v, abs(answer), final) for v in stated):
        return None  # 5.27 bags -> 5: a whole-number answer rounded from the reasoning
    if decimals(final.strip()) >= 10 and any(
        _close(Fraction(v), abs(answer), final) for v in stated
    ):
        return None  # float noise: 0.3333333333333335 after 0.3333333333333333
    return final
