"""Fast paths for plain numbers: integers, decimals, fractions and mixed numbers, exactly.

Two values are equal when they are the same number, or when one is written as a decimal that
approximates the other: the other value cannot be written exactly to that many places (1/3 at
seven places), and the decimal is within a relative tolerance of it (default 1e-6:
``0.3333333`` = 1/3), or within one unit of its last place when it has as many places as the
tolerance asks for (six at 1e-6: ``0.083333`` = 1/12, as math-verify's six-place rounding also
holds). A decimal that could have written the other value exactly must equal it
(``132453.001`` is not 132453, ``2.9999999999999996`` is not 3). Forms whose value is ambiguous
(``0,111`` or ``1,22``: a decimal comma or a pair?) are not plain numbers; math-verify reads
them.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["DEFAULT_REL_TOL", "parse_plain_number", "numbers_equal", "compare_plain",
           "compare_structured"]  # fmt: skip

DEFAULT_REL_TOL = 1e-6
_MAX_CHARS = 48
# Thousands groups need a leading group of 1-3 digits that is not a lone 0 ("0,111" is not 111).
_INT = r"[1-9]\d{0,2}(?:,\d{3})+|[1-9]\d{0,2}(?:\\,\d{3})+|[1-9]\d{0,2}(?:\{,\}\d{3})+|\d+"
_DECIMAL = re.compile(rf"^([+-])?({_INT})?(?:\.(\d+))?$")
_FRAC_LATEX = re.compile(r"^([+-])?\\[dtc]?frac\{\s*(\d+)\s*\}\{\s*(\d+)\s*\}$")
_FRAC_SHORT = re.compile(r"^([+-])?\\[dtc]?frac(\d)(\d)$")
_FRAC_SLASH = re.compile(r"^([+-])?(\d+)\s*/\s*(\d+)$")
_MIXED = re.compile(r"^([+-])?(\d+)\s+(\d+)\s*/\s*(\d+)$")
_MIXED_LATEX = re.compile(r"^([+-])?(\d+)\s*\\[dt]?frac\{\s*(\d+)\s*\}\{\s*(\d+)\s*\}$")
_WRAPPERS = (("\\text{", "}"), ("\\mathrm{", "}"), ("{", "}"))
_ONE_COMMA = re.compile(r"^[+-]?\d+,\d+$")


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


def _signed(sign: str | None, value: Fraction) -> Fraction:
    return -value if sign == "-" else value


def parse_plain_number(text: str) -> Fraction | None:
    """The exact value of a plain integer, decimal, fraction or mixed number, else None."""
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
        return _signed(m.group(1), value)
    for pattern in (_FRAC_LATEX, _FRAC_SHORT, _FRAC_SLASH):
        m = pattern.match(s)
        if m:
            den = int(m.group(3))
            return None if den == 0 else _signed(m.group(1), Fraction(int(m.group(2)), den))
    for pattern in (_MIXED, _MIXED_LATEX):
        m = pattern.match(s)
        if m:
            num, den = int(m.group(3)), int(m.group(4))
            if 0 < num < den:
                return _signed(m.group(1), int(m.group(2)) + Fraction(num, den))
    return None


def _decimal_places(text: str) -> int:
    """Digits written after the decimal point (0 for integers and fractions)."""
    s = _clean(text)
    if "/" in s or "frac" in s or "." not in s:
        return 0
    tail = s.rsplit(".", 1)[1]
    return len(tail) if tail.isdigit() else 0


def _approximates(dec: Fraction, places: int, value: Fraction, tol: Fraction) -> bool:
    """Whether a decimal written to ``places`` places approximates ``value`` (see module doc)."""
    if places == 0 or (value * 10**places).denominator == 1:
        return False  # an exact value the decimal could have written out: no tolerance
    diff = abs(dec - value)
    if diff <= tol * max(abs(dec), abs(value)):
        return True
    # Right to its last place, given to as many places as the tolerance asks for (six at 1e-6).
    unit = Fraction(1, 10**places)
    return unit <= tol and diff <= unit


def numbers_equal(
    g: Fraction, a: Fraction, g_places: int, a_places: int, rel_tol: float = DEFAULT_REL_TOL
) -> bool:
    """Same value, or a decimal approximating the other value (see the module docstring)."""
    if g == a:
        return True
    tol = Fraction(repr(rel_tol))  # 1e-6 exactly, not the float just below it
    return _approximates(a, a_places, g, tol) or _approximates(g, g_places, a, tol)


def compare_plain(gold: str, answer: str, rel_tol: float = DEFAULT_REL_TOL) -> bool | None:
    """True/False when both are plain numbers, else None (math-verify decides)."""
    g = parse_plain_number(gold)
    if g is None:
        return None
    a = parse_plain_number(answer)
    if a is None:
        return None
    return numbers_equal(g, a, _decimal_places(gold), _decimal_places(answer), rel_tol)


_SET = re.compile(r"^\\\{(.*)\\\}$")
_SEQ = re.compile(r"^([\[(])(.*)([\])])$")


def _split_top(body: str) -> list[str]:
    """Split at commas outside braces (``\frac{9}{2},1`` has two parts)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    return parts


def _elements(body: str) -> list[tuple[Fraction, int]] | None:
    if any(ch in body for ch in "()[]"):
        return None
    parts = _split_top(body)
    if len(parts) < 2 or len(parts) > 32:
        return None
    values = []
    for p in parts:
        v = parse_plain_number(p)
        if v is None:
            return None
        values.append((v, _decimal_places(p)))
    return values


def _structure(text: str) -> tuple[str, list[tuple[Fraction, int]]] | None:
    if len(text) > 400 or _ONE_COMMA.match(text.strip()):
        return None
    s = text.replace("\\left", "").replace("\\right", "").replace(" ", "").strip()
    m = _SET.match(s)
    if m:
        values = _elements(m.group(1))
        return None if values is None else ("set", values)
    m = _SEQ.match(s)
    if m:
        values = _elements(m.group(2))
        return None if values is None else (m.group(1) + m.group(3), values)
    if "," in s and parse_plain_number(s) is None:
        # "1, 2, 3": a bare list is a set of answers ("1,234" is a number, "1,2" is ambiguous)
        values = _elements(s)
        return None if values is None else ("set", values)
    return None


def _pairwise(g: list[tuple[Fraction, int]], a: list[tuple[Fraction, int]], tol: float) -> bool:
    return len(g) == len(a) and all(
        numbers_equal(gv, av, gp, ap, tol) for (gv, gp), (av, ap) in zip(g, a, strict=True)
    )


def compare_structured(gold: str, answer: str, rel_tol: float = DEFAULT_REL_TOL) -> bool | None:
    """Sets ``\\{1,2\\}`` or bare lists ``1, 2``, tuples/intervals ``(1,2]`` of plain numbers.

    Every part must match (a set in any order, a tuple or interval in order, same brackets).
    A set against a bracketed form returns None: math-verify has its own rules for that."""
    g, a = _structure(gold), _structure(answer)
    if g is None or a is None:
        return None
    (g_kind, g_vals), (a_kind, a_vals) = g, a
    if g_kind != a_kind:
        # "(1,2]" is not "[1,2]"; but a set against a tuple follows math-verify's own rules.
        return None if "set" in (g_kind, a_kind) else False
    if g_kind == "set":
        g_vals = sorted(set(g_vals), key=lambda v: v[0])
        a_vals = sorted(set(a_vals), key=lambda v: v[0])
    return _pairwise(g_vals, a_vals, rel_tol)
