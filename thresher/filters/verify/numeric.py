"""Fast paths for plain numbers: integers, decimals and fractions compared exactly.

The fast path decides only where math-verify would agree (or where it is known to be wrong,
e.g. integers beyond its 15-digit numeric precision): equal values are equal; two unequal
integers are unequal; other unequal values are decided only when they differ by far more than
math-verify's float rounding, otherwise the item goes to math-verify.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["parse_plain_number", "compare_plain"]

_MAX_CHARS = 48
_INT = r"\d{1,3}(?:,\d{3})+|\d{1,3}(?:\\,\d{3})+|\d{1,3}(?:\{,\}\d{3})+|\d+"
_DECIMAL = re.compile(rf"^([+-])?({_INT})?(?:\.(\d+))?$")
_FRAC_LATEX = re.compile(r"^([+-])?\\[dt]?frac\{\s*(\d+)\s*\}\{\s*(\d+)\s*\}$")
_FRAC_SHORT = re.compile(r"^([+-])?\\[dt]?frac(\d)(\d)$")
_FRAC_SLASH = re.compile(r"^([+-])?(\d+)\s*/\s*(\d+)$")
_WRAPPERS = (("\\text{", "}"), ("\\mathrm{", "}"), ("{", "}"))
# Relative gap beyond which math-verify's 6-digit float rounding cannot call two values equal.
_SAFE_GAP = Fraction(1, 1000)


def _clean(text: str) -> str:
    s = text.strip().replace("\\!", "").replace("\\ ", "").replace("−", "-")
    s = s.removeprefix("\\$").removeprefix("$").strip()
    changed = True
    while changed:
        changed = False
        for left, right in _WRAPPERS:
            if s.startswith(left) and s.endswith(right):
                s, changed = s[len(left) : -len(right)].strip(), True
    return s.rstrip(".").strip()


def parse_plain_number(text: str) -> Fraction | None:
    """The exact value of a plain integer, decimal or fraction string, else None."""
    if len(text) > _MAX_CHARS * 2:
        return None
    if text.isascii() and text.isdigit() and len(text) <= _MAX_CHARS:
        return Fraction(int(text))  # the common case, without the regexes below
    s = _clean(text)
    if not s or len(s) > _MAX_CHARS:
        return None
    m = _DECIMAL.match(s)
    if m and (m.group(2) or m.group(3)):
        digits = re.sub(r"\\,|\{,\}|,", "", m.group(2) or "0")
        value = Fraction(int(digits)) + (
            Fraction(int(m.group(3)), 10 ** len(m.group(3))) if m.group(3) else 0
        )
        return -value if m.group(1) == "-" else value
    for pattern in (_FRAC_LATEX, _FRAC_SHORT, _FRAC_SLASH):
        m = pattern.match(s)
        if m:
            den = int(m.group(3))
            if den == 0:
                return None
            value = Fraction(int(m.group(2)), den)
            return -value if m.group(1) == "-" else value
    return None


def _is_integer_text(text: str) -> bool:
    s = _clean(text)
    return bool(s) and "." not in s and "/" not in s and "frac" not in s


def compare_plain(gold: str, answer: str) -> bool | None:
    """True/False when both are plain numbers and the fast path is sure, else None."""
    g = parse_plain_number(gold)
    if g is None:
        return None
    a = parse_plain_number(answer)
    if a is None:
        return None
    if g == a:
        return True
    if _is_integer_text(gold) and _is_integer_text(answer):
        return False
    scale = max(abs(g), abs(a), Fraction(1))
    if abs(g - a) / scale > _SAFE_GAP:
        return False
    return None


_SET = re.compile(r"^\\\{(.*)\\\}$")
_SEQ = re.compile(r"^([\[(])(.*)([\])])$")


def _elements(body: str) -> list[Fraction] | None:
    parts = body.split(",")
    if len(parts) < 2 or len(parts) > 32 or any(ch in body for ch in "{}()[]"):
        return None
    values = [parse_plain_number(p) for p in parts]
    return None if any(v is None for v in values) else values  # type: ignore[return-value]


def _structure(text: str) -> tuple[str, list[Fraction]] | None:
    s = text.replace("\\left", "").replace("\\right", "").replace(" ", "").strip()
    if len(s) > 400:
        return None
    m = _SET.match(s)
    if m:
        values = _elements(m.group(1))
        return None if values is None else ("set", values)
    m = _SEQ.match(s)
    if m:
        values = _elements(m.group(2))
        return None if values is None else (m.group(1) + m.group(3), values)
    return None


def compare_structured(gold: str, answer: str) -> bool | None:
    """Sets ``\\{1,2\\}``, tuples/intervals ``(1,2]`` of plain numbers, compared exactly.

    Equal structures are equal; different ones are decided only when every element is an
    integer (so math-verify's float rounding cannot matter); anything else returns None."""
    g, a = _structure(gold), _structure(answer)
    if g is None or a is None:
        return None
    (g_kind, g_vals), (a_kind, a_vals) = g, a
    if g_kind == a_kind == "set":
        same = set(g_vals) == set(a_vals)
    elif g_kind == a_kind:
        same = g_vals == a_vals
    else:
        same = False
    if same:
        return True
    if all(v.denominator == 1 for v in g_vals + a_vals):
        return False
    return None
