"""``operand_origin_v1``: arithmetic on a number that comes from nowhere."""

from __future__ import annotations

import re
from fractions import Fraction

from thresher.filters.flaws.arith import evaluate, number_value
from thresher.filters.flaws.types import Trace, make_label
from thresher.schemas import FlawLabel

__all__ = ["OperandOrigin", "numbers_in"]

_NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
_OPERAND = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
_UNITS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
]  # fmt: skip
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_WORDS: dict[str, int] = {w: i for i, w in enumerate(_UNITS)}
_WORDS |= {w: 20 + 10 * i for i, w in enumerate(_TENS)}
_WORDS |= {
    "hundred": 100, "thousand": 1000, "dozen": 12, "half": 2, "halves": 2, "twice": 2,
    "double": 2, "doubles": 2, "pair": 2, "triple": 3, "thrice": 3, "third": 3, "thirds": 3,
    "quarter": 4, "quarters": 4, "fourth": 4, "fifth": 5, "tenth": 10, "percent": 100,
    "week": 7, "weeks": 7, "hour": 60, "hours": 60, "minute": 60, "minutes": 60,
}  # fmt: skip
_WORD = re.compile(r"\b(" + "|".join(sorted(_WORDS, key=len, reverse=True)) + r")\b", re.I)
# Numbers any solution may bring in without the question naming them: halving, counting from
# one, and the common unit conversions (dozen, hours, days, percent).
_CONSTANTS = frozenset((0, 1, 2, 10, 12, 24, 60, 100, 1000))


def numbers_in(text: str) -> set[Fraction | int]:
    """Every number `text` names, in digits or in words."""
    found = {number_value(m) for m in _NUMBER.findall(text)}
    return found | {_WORDS[w.lower()] for w in _WORD.findall(text)}


def _named(value: Fraction | int, known: set[Fraction | int]) -> bool:
    """Whether `value` or the percentage it is (0.25 for 25) is among `known`."""
    return value in known or value * 100 in known


class OperandOrigin:
    """An operand of an explicit arithmetic claim (``6 + 32 = 38``) that appears nowhere
    before it: not in the question, not earlier in the trace (in digits or words, or as a
    percentage: 0.25 for 25), and not a common constant (1, 2, 10, 12, 24, 60, 100, 1000). A
    number from nowhere is the mark of a skipped or broken step (``operand_from_nowhere``,
    error). Needs the question; traces without one get no labels."""

    name = "operand_origin_v1"

    def label(self, trace: Trace) -> list[FlawLabel]:
        """At most one label: the first claim computing with an unexplained number."""
        text = trace.response
        if not trace.question or "=" not in text:
            return []
        claims = trace.claims
        if not claims:
            return []
        known = {number_value(m) for m in _NUMBER.findall(trace.question)} | _CONSTANTS
        written = [(m.start(), number_value(m.group(0))) for m in _NUMBER.finditer(text)]
        seen = 0
        for start, end, parts in claims:
            while seen < len(written) and written[seen][0] < start:
                known.add(written[seen][1])
                seen += 1
            for operand in _OPERAND.findall(parts[0]):
                value = number_value(operand)
                if _named(value, known):
                    continue
                # the slow path, rarely taken: numbers written as words ("three", "dozen")
                if _named(value, numbers_in(f"{trace.question}\n{text[:start]}")):
                    continue
                return [
                    make_label(
                        self.name, trace, "operand_from_nowhere", "error", text[start:end],
                        start, end,
                        critique=f"{operand} in {parts[0]} is neither in the question "
                        "nor worked out before",
                    )
                ]  # fmt: skip
            known |= {v for v in map(evaluate, parts) if v is not None}
        return []
