"""``operand_origin_v1``: arithmetic on a number that comes from nowhere."""

from __future__ import annotations

import re
from fractions import Fraction

from thresher.filters.flaws.arith import evaluate, find_claims
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
_CONSTANTS = frozenset(Fraction(n) for n in (0, 1, 2, 10, 12, 24, 60, 100, 1000))


def numbers_in(text: str) -> set[Fraction]:
    """Every number `text` names, in digits or in words, and its percentage (n / 100)."""
    found = {Fraction(m.replace(",", "")) for m in _NUMBER.findall(text)}
    found |= {Fraction(_WORDS[w.lower()]) for w in _WORD.findall(text)}
    return found | {n / 100 for n in found}


class OperandOrigin:
    """An operand of an explicit arithmetic claim (``6 + 32 = 38``) that appears nowhere
    before it: not in the question, not earlier in the trace (in digits or words), and not a
    common constant (1, 2, 10, 12, 24, 60, 100, 1000). A number from nowhere is the mark of a
    skipped or broken step (``operand_from_nowhere``, error). Needs the question; traces
    without one get no labels."""

    name = "operand_origin_v1"

    def label(self, trace: Trace) -> list[FlawLabel]:
        """At most one label: the first claim computing with an unexplained number."""
        text = trace.response
        if not trace.question or "=" not in text:
            return []
        known = numbers_in(trace.question) | _CONSTANTS
        seen_until = 0
        for start, end, parts in find_claims(text):
            known |= numbers_in(text[seen_until:start])
            seen_until = end
            for operand in _OPERAND.findall(parts[0]):
                value = Fraction(operand.replace(",", ""))
                if value not in known:
                    claim = text[start:end]
                    return [
                        make_label(
                            self.name, trace, "operand_from_nowhere", "error", claim, start, end,
                            critique=f"{operand} in {parts[0]} is neither in the question "
                            "nor worked out before",
                        )
                    ]  # fmt: skip
            known |= {v for v in map(evaluate, parts) if v is not None}
            known |= numbers_in(text[start:end])
        return []
