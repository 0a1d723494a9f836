"""``operand_origin_v2``: arithmetic on a number that comes from nowhere."""

from __future__ import annotations

import math
import re
from fractions import Fraction

from thresher.filters.flaws.arith import evaluate, has_operator, tokens
from thresher.filters.flaws.facts import conversion_values, fact_values, head_counts
from thresher.filters.flaws.numbers import NUMBER, decimals, number_value, word_values
from thresher.filters.flaws.types import Trace, make_label
from thresher.schemas import FlawLabel

__all__ = ["OperandOrigin", "numbers_in"]

Value = Fraction | int
# Numbers any solution may bring in without the question naming them: halving, counting from
# one, and the most common conversions (dozen, hours, days, percent).
_CONSTANTS: frozenset[Value] = frozenset((0, 1, 2, 10, 12, 24, 60, 100, 1000))
_PERCENT = re.compile(r"%|percent", re.IGNORECASE)


def numbers_in(text: str) -> set[Value]:
    """Every number `text` names: digits, words, fractions, facts, conversions, head counts."""
    found = {number_value(m.group(0)) for m in NUMBER.finditer(text)}
    return found | {v for _, v in _word_sources(text)}


def _word_sources(text: str) -> list[tuple[int, Value]]:
    """(offset, value) of the numbers `text` names other than in digits."""
    return word_values(text) + fact_values(text) + conversion_values(text) + head_counts(text)


def _named(value: Value, known: set[Value], percent: bool) -> bool:
    """Whether `value` is known, or a form a known number takes in a solution: a percentage
    (0.25 for 25), a multiplier (1.5 for +50 %, 0.8 for -20 %), the rest of a percentage (80
    for 20 %), a reciprocal (1/5 for "fifth"), the rest of a fraction (1/3 after 2/3)."""
    if value in known or value * 100 in known:
        return True
    if value != int(value) and 0 < value < 2:
        if (value - 1) * 100 in known or (1 - value) * 100 in known:
            return True
        if value < 1 and (1 / Fraction(value) in known or 1 - value in known):
            return True
    return percent and value == int(value) and 0 < value < 100 and 100 - value in known


def _rounded(value: Value, known: set[Value], written: str) -> bool:
    """A known number rounded, cut or carried up to the places `written` has (266 after
    266.67), or the part that carries a known number up to a whole one (``6.75 + 0.25``)."""
    unit = Fraction(1, 10 ** decimals(written))
    for k in known:
        # close rounding only: 266 for 266.67, not 0.3 for a third (10 % off)
        close = min(unit, abs(Fraction(k)) / 100)
        if (k / unit).denominator != 1 and abs(Fraction(k) - value) < close:
            return True
        if 0 < value < 1 and k != int(k) and k + value == math.ceil(k):
            return True
    return False


def _is_number(token: str) -> bool:
    return token[0].isdigit() or token[0] in "$."


def _in_named_fraction(toks: tuple[str, ...], i: int, known: set[Value], percent: bool) -> bool:
    """Whether token i is the top or bottom of a proper fraction ``a/b`` known as a whole
    (``1/5`` for 20 %, ``3/4`` for "three-quarters")."""
    for top in (i, i - 2):
        if top < 0 or top + 2 >= len(toks) or toks[top + 1] not in "/÷":
            continue
        if _is_number(toks[top]) and _is_number(toks[top + 2]):
            top_value, bottom = number_value(toks[top]), number_value(toks[top + 2])
            if 0 < top_value < bottom and _named(Fraction(top_value, bottom), known, percent):
                return True  # a proper fraction: "180/90" is a division, not a fraction
    return False


class OperandOrigin:
    """An operand of an explicit arithmetic claim (``6 + 32 = 38``) that appears nowhere
    before it: not in the question, not earlier in the trace (in digits or words: "forty-two",
    "three-quarters", "twice", "one and a half"), not a form a known number takes (a percentage
    0.25 for 25 %, a multiplier 1.5 for +50 % or 0.8 for -20 %, a reciprocal, the rest of a
    fraction, a known number rounded: 266 after 266.67), not an everyday fact the words bring
    in (7 days and 52 weeks, 16 oz in a pound, a dime's 10 cents), a conversion of a stated
    quantity (2 weeks = 14 days), a head count ("Henry and 3 friends" = 4) or a common
    constant (1, 2, 10, 12, 24, 60, 100, 1000). A number from nowhere is the mark of a skipped
    or broken step (``operand_from_nowhere``, error); when the claim's result is itself known,
    the number may be solved backwards from it (``4 * 16 = 64`` with 64 given: a result of 10
    or more written before), so it is a warning. Needs the question; traces without one get no labels."""

    name = "operand_origin_v2"

    def label(self, trace: Trace) -> list[FlawLabel]:
        """At most one label: the first claim computing with an unexplained number."""
        text = trace.plain
        if not trace.question or ("=" not in text and " equal" not in text):
            return []
        claims = trace.claims
        if not claims:
            return []
        # Numbers as written first (the common case: an operand written as before), their
        # values only when an operand is not found that way.
        said = set(NUMBER.findall(trace.question))
        known: set[Value] = set(_CONSTANTS)
        stated: set[Value] = set()  # values of the numbers written so far (question, trace)
        valued = False  # whether `known` holds the values of the question's numbers yet
        written = [(m.start(), m.group(0)) for m in NUMBER.finditer(text)]
        scanned = -1  # how far words were read (-1: not even the question's); rarely needed
        percent = False
        seen = converted = 0
        for start, end, parts in claims:
            while seen < len(written) and written[seen][0] < start:
                said.add(written[seen][1])
                seen += 1
            lhs = next((p for p in parts if has_operator(p)), parts[0])
            toks = tokens(lhs) or ()
            for i, operand in enumerate(toks):
                if not _is_number(operand) or operand in said:
                    continue
                if not valued:
                    stated |= {number_value(m) for m in NUMBER.findall(trace.question)}
                    valued = True
                stated |= {number_value(w) for _, w in written[converted:seen]}
                known |= stated
                converted = seen
                value = number_value(operand)
                if _named(value, known, percent):
                    continue
                if scanned < start:  # the slow path: words, facts, conversions, head counts
                    if scanned < 0:
                        known |= {v for _, v in _word_sources(trace.question)}
                        percent = bool(_PERCENT.search(trace.question))
                    # only up to this claim, each part of the text once (linear in all)
                    chunk = text[max(0, scanned - 40) : start]
                    known |= {v for _, v in _word_sources(chunk)}
                    percent = percent or bool(_PERCENT.search(chunk))
                    scanned = start
                if _named(value, known, percent) or _rounded(value, known, operand):
                    continue
                if _in_named_fraction(toks, i, known, percent):
                    continue
                # solved back from a result written before ("4 * 16 = 64" with 64 given); a
                # small or merely common result (2, 10, 24) is no sign of that
                result = evaluate(parts[-1])
                solved = result is not None and result >= 10 and result in stated
                solved = solved and len(toks) == 3
                a, b = trace.original(start, end)
                return [
                    make_label(
                        self.name, trace, "operand_from_nowhere",
                        "warning" if solved else "error", trace.response[a:b], a, b,
                        critique=f"{operand} in {lhs} is neither in the question nor worked "
                        "out before" + (f"; it may be solved back from {parts[-1]}" if solved else ""),
                    )
                ]  # fmt: skip
            known |= {v for v in map(evaluate, parts) if v is not None}
            said.update(parts)
        return []
