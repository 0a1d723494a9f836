"""Numbers a solution may bring in without the question naming them: everyday facts (7 days a
week, 16 ounces in a pound, a dime is 10 cents), conversions of stated quantities (2 weeks is 14
days) and head counts ("Henry and 3 friends" are 4 people)."""

from __future__ import annotations

import re
from fractions import Fraction

from thresher.filters.flaws.numbers import NUM, number_value, word_values

__all__ = ["fact_values", "conversion_values", "head_counts"]

_F = Fraction
# Words in the question or the trace -> the facts they make available (plural forms are added
# below; a word starting with one of _PREFIXES counts as that prefix).
_FACT_WORDS: dict[str, tuple[Fraction | int, ...]] = {
    "week weekly": (7, 5, 52, 2),
    "weekday workday": (5,),
    "weekend": (2,),
    "fortnight": (14, 2),
    "month monthly": (4, 12, 30, 31, 28),
    "year yearly annual annually": (12, 52, 365, 366, 4),
    "quarter quarterly": (4, 3, 25, _F(1, 4)),
    "day daily night nightly": (24, 7),
    "hour hourly hr": (60, 24),
    "minute min": (60,),
    "second sec": (60,),
    "decade": (10,),
    "century centuries": (100,),
    "pound lb lbs": (16,),
    "ounce oz": (16, 8),
    "foot feet ft inch inches": (12, 3),
    "yard": (3, 36),
    "mile": (5280, 1760),
    "gallon": (4, 8, 16, 128),
    "quart": (2, 4, 32),
    "pint": (2, 16),
    "cup": (8, 16),
    "tablespoon teaspoon tbsp tsp": (3, 16),
    "km kg gram liter litre ml ton tonne": (1000, 2000),
    "meter metre cm mm": (100, 1000, 10),
    "dime": (10,),
    "nickel": (5,),
    "penny pennies cent": (100, 1),
    "dollar": (100,),
    "dice die": (6,),
    "deck card": (52,),
    "pentagon": (5,),
    "hexagon": (6,),
    "octagon spider octopus": (8,),
    "triangle tricycle": (3,),
    "square rectangle car wheel leg dog cat horse cow chair table": (4, 2),
    "bicycle bike eye ear shoe sock glove arm": (2,),
    "hand finger toe": (5, 10, 2),
    "alphabet letter": (26,),
    "season": (4,),
    "clock": (12,),
    "percent percentage": (100,),
}
_PREFIXES = {"kilo": (1000,), "milli": (1000,), "centi": (100,)}
_FACTS: dict[str, tuple[Fraction | int, ...]] = {}
for _words, _values in _FACT_WORDS.items():
    for _w in _words.split():
        for _form in (_w, _w + "s", _w + "es"):
            _FACTS[_form] = _FACTS.get(_form, ()) + _values
_FACT_TOKEN = re.compile(r"[A-Za-z]+|%")

# Units whose stated quantities convert: "2 weeks" is 14 days, "30 minutes" is 1/2 hour.
_CONVERSIONS: dict[str, tuple[int, ...]] = {
    r"weeks?": (7, 5),
    r"fortnights?": (14,),
    r"days?": (24,),
    r"hours?|hrs?": (60,),
    r"minutes?|mins?": (60,),
    r"years?": (12, 52, 365),
    r"months?": (4, 30),
    r"decades?": (10,),
    r"pounds?|lbs?": (16,),
    r"feet|foot|ft": (12,),
    r"yards?": (3, 36),
    r"gallons?": (4, 128),
    r"quarts?": (2, 32),
    r"dozens?": (12,),
    r"dollars?": (100,),
    r"quarters?": (25,),
    r"dimes?": (10,),
    r"nickels?": (5,),
    r"kilo\w*|km|kg|liters?|litres?": (1000,),
    r"meters?|metres?": (100,),
}
_UNIT_ALT = "|".join(f"({k})" for k in _CONVERSIONS)
_AMOUNT = re.compile(
    rf"(?<![\w.])({NUM}|[a-z]+(?:[- ][a-z]+)?)[- ](?:and[- ]a[- ]half[- ])?(?:{_UNIT_ALT})\b",
    re.IGNORECASE,
)
_CONVERSION_FACTORS = list(_CONVERSIONS.values())
_GROUP = (
    r"friends?|others?|siblings?|brothers?|sisters?|children|kids?|sons?|daughters?|"
    r"classmates?|cousins?|people|guests?|teammates?|colleagues?|co-?workers?|roommates?|"
    r"neighbou?rs?|members?|students?|players?|boys?|girls?|adults?|relatives?|pets?"
)
_HEADS = re.compile(
    rf"\b(?:and|with|plus|besides|including)\s+(?:(?:his|her|their|my|its|your)\s+)?"
    rf"(?:other\s+)?(\d{{1,6}}|[a-z]+)\s+(?:other\s+|of\s+(?:his|her|their|my|its|your)\s+)?(?:\w+\s+)?(?:{_GROUP})\b",
    re.IGNORECASE,
)


_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_RANGE = re.compile(
    rf"\b({'|'.join(_DAYS)})\s*(?:-|–|to|through|thru|until)\s*({'|'.join(_DAYS)})\b",
    re.IGNORECASE,
)


def fact_values(text: str) -> list[tuple[int, Fraction | int]]:
    """(offset, value) of the everyday facts the words of `text` bring in, and the number of
    days in a range of weekdays ("Monday-Saturday" is 6)."""
    out: list[tuple[int, Fraction | int]] = []
    for m in _DAY_RANGE.finditer(text):
        first, last = _DAYS.index(m.group(1).lower()), _DAYS.index(m.group(2).lower())
        out.append((m.start(), (last - first) % 7 + 1))
    for m in _FACT_TOKEN.finditer(text):
        word = m.group(0).lower() if m.group(0) != "%" else "percent"
        values = _FACTS.get(word)
        if values is None:
            values = next((v for p, v in _PREFIXES.items() if word.startswith(p)), ())
        out += [(m.start(), v) for v in values]
    return out


_PARTS = {"half": Fraction(1, 2), "quarter": Fraction(1, 4), "third": Fraction(1, 3)}


def _amount(token: str) -> Fraction | int | None:
    if token[0].isdigit() or token[0] in "$.":
        return number_value(token)
    last = token.lower().replace("-", " ").split()[-1]
    if last in _PARTS:
        return _PARTS[last]  # "a half-hour", "a quarter-mile"
    found = [v for _, v in word_values(token)]
    return max(found) if found else None


def conversion_values(text: str) -> list[tuple[int, Fraction | int]]:
    """(offset, value) of stated quantities in other units (``2 weeks`` -> 14 and 10,
    ``half-hour`` -> 30 and 1/2, ``90 minutes`` -> 3/2)."""
    out: list[tuple[int, Fraction | int]] = []
    for m in _AMOUNT.finditer(text):
        amount = _amount(m.group(1))
        if amount is None:
            continue
        if "half" in m.group(0).lower()[len(m.group(1)) :]:
            amount += Fraction(1, 2)
        factors = _CONVERSION_FACTORS[m.lastindex - 2] if m.lastindex and m.lastindex > 1 else ()
        for f in factors:
            out += [(m.start(), amount * f), (m.start(), Fraction(amount) / f)]
    return out


def head_counts(text: str) -> list[tuple[int, Fraction | int]]:
    """(offset, N + 1) for "X and N friends", "X and N of her classmates", "with 3 others"."""
    out: list[tuple[int, Fraction | int]] = []
    for m in _HEADS.finditer(text):
        n = _amount(m.group(1))
        if n is not None and n == int(n):
            out.append((m.start(), int(n) + 1))
    return out
