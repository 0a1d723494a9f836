"""Reading numbers the way traces write them: digits, money, separators, number words, fractions.

One place for the number syntax every labeler shares, so that ``arith_step_check`` and
``operand_origin`` read ``$350 000``, ``.25``, ``forty-two`` and ``three-quarters`` the same way.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = [
    "NUM",
    "NUMBER",
    "number_value",
    "decimals",
    "word_values",
]

# A written number: ``$1,200.50``, ``$350 000`` (space-grouped thousands only with ``$`` or a
# ``000`` group, since ``3 500`` may be two numbers), ``42``, ``3.5``, ``.25``. At most 40
# digits a side: a longer run of digits is no number anyone computes with (and int() of a
# megabyte of digits would take forever).
_D = r"\d{1,40}(?!\d)"
_FRAC = rf"(?:\.{_D})?"
_GROUPS = r"(?:[ \u00a0\u202f]\d{3}){1,12}"
NUM = (
    rf"\$?\d{{1,3}}(?:,\d{{3}}){{1,12}}(?!\d){_FRAC}(?!,\d)"
    rf"|\$\d{{1,3}}{_GROUPS}(?!\d){_FRAC}(?!,\d)"
    rf"|\d{{1,3}}{_GROUPS}(?<=000)(?!\d){_FRAC}(?!,\d)"
    rf"|\$?{_D}{_FRAC}"
    rf"|\$?\.{_D}"
)
NUMBER = re.compile(rf"(?<![\w.])(?:{NUM})")

_UNITS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
]  # fmt: skip
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SMALL: dict[str, int] = {w: i for i, w in enumerate(_UNITS)}
_SMALL |= {w: 20 + 10 * i for i, w in enumerate(_TENS)}
_SMALL["a"] = 1
_SMALL["an"] = 1
# Denominators written as ordinals ("three-fifths", "a quarter", "one third").
_ORDINALS: dict[str, int] = {
    "half": 2, "halves": 2, "third": 3, "quarter": 4, "fourth": 4, "fifth": 5, "sixth": 6,
    "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "twelfth": 12, "twentieth": 20,
    "hundredth": 100, "thousandth": 1000,
}  # fmt: skip
# Words that name a number on their own ("twice" is 2, "dozen" is 12, "percent" is 100).
_MULTIPLIERS: dict[str, int] = {
    "hundred": 100, "thousand": 1000, "million": 1_000_000, "dozen": 12, "twice": 2,
    "double": 2, "doubled": 2, "doubles": 2, "pair": 2, "pairs": 2, "couple": 2, "triple": 3,
    "tripled": 3, "triples": 3, "thrice": 3, "quadruple": 4, "quadrupled": 4, "percent": 100,
    "both": 2, "twins": 2, "triplets": 3,
}  # fmt: skip
_CARDINAL = (
    rf"(?:{'|'.join(_TENS)})(?:[- ]?(?:one|two|three|four|five|six|seven|eight|nine))?"
    rf"|{'|'.join(sorted(_UNITS, key=len, reverse=True))}"
)
_ORDINAL = "|".join(sorted(_ORDINALS, key=len, reverse=True))
# "forty-two", "one hundred twenty", "three thousand", "twenty five"
_COMPOUND = re.compile(
    rf"\b({_CARDINAL}|a|an)(?:[- ](hundred|thousand|million)(?:(?: and)?[- ]({_CARDINAL}))?)?\b",
    re.IGNORECASE,
)
# "three-quarters", "two thirds", "a fifth", "one and a half", "2 and a half", "3/4"
_FRACTION = re.compile(
    rf"\b({_CARDINAL}|a|an|\d+)[- ]({_ORDINAL})s?\b"
    rf"|\b({_CARDINAL}|\d+)(?:[- ]and[- ]a[- ](half|quarter|third))\b"
    rf"|\b(half|quarter|third)\b",
    re.IGNORECASE,
)
_SLASH_FRACTION = re.compile(r"(?<![\w./])(\d{1,40})\s*/\s*(\d{1,40})(?![\d.])")
_WORDS = re.compile(rf"\b({'|'.join(sorted(_MULTIPLIERS, key=len, reverse=True))})\b", re.I)


def number_value(token: str) -> Fraction | int:
    """The exact value of one written number (``$1,200.50``, ``$350 000``, ``.5``)."""
    clean = token.replace("$", "").replace(",", "")
    if not clean.isdigit():
        clean = "".join(clean.split()).replace("\u202f", "")
    if "." in clean:
        return Fraction(clean if clean[0] != "." else "0" + clean)
    return int(clean)  # ints are much cheaper than Fractions


def decimals(token: str) -> int:
    """How many digits a written number has after its decimal point."""
    point = token.rfind(".")
    return 0 if point < 0 else len(token) - point - 1


def _cardinal(word: str) -> int | None:
    word = word.lower()
    if word in _SMALL:
        return _SMALL[word]
    for tens in _TENS:
        if word.startswith(tens):
            rest = word[len(tens) :].lstrip("- ")
            return _SMALL[tens] + (_SMALL[rest] if rest else 0)
    return int(word) if word.isdigit() else None


def word_values(text: str) -> list[tuple[int, Fraction | int]]:
    """(offset, value) of every number named in words: cardinals (``forty-two``,
    ``three hundred``), fractions (``three-quarters`` -> 3/4, 3 and 4; ``one and a half`` ->
    3/2), multipliers (``twice``, ``dozen``, ``percent``) and digit fractions (``3/4``)."""
    out: list[tuple[int, Fraction | int]] = []
    for m in _COMPOUND.finditer(text):
        base = _cardinal(m.group(1))
        if base is None:
            continue
        if m.group(1).lower() not in ("a", "an"):
            out.append((m.start(), base))
        if m.group(2):
            scale = _MULTIPLIERS[m.group(2).lower()]
            rest = _cardinal(m.group(3)) if m.group(3) else 0
            out.append((m.start(), base * scale + (rest or 0)))
    for m in _FRACTION.finditer(text):
        if m.group(1):
            num, den = _cardinal(m.group(1)), _ORDINALS[m.group(2).lower()]
        elif m.group(3):
            whole, part = _cardinal(m.group(3)), _ORDINALS[m.group(4).lower()]
            if whole is not None:
                out.append((m.start(), whole + Fraction(1, part)))
            continue
        else:
            num, den = 1, _ORDINALS[m.group(5).lower()]
        if num is None:
            continue
        out += [(m.start(), Fraction(num, den)), (m.start(), den)]
    for m in _SLASH_FRACTION.finditer(text):
        if int(m.group(2)):
            out.append((m.start(), Fraction(int(m.group(1)), int(m.group(2)))))
    out += [(m.start(), _MULTIPLIERS[m.group(1).lower()]) for m in _WORDS.finditer(text)]
    return out
