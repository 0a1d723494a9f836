"""``math_v2``: our extraction front-end, exact fast paths, then math-verify in a worker."""

from __future__ import annotations

import functools
import logging
import re
from fractions import Fraction
from typing import Any

from thresher.filters.verify.extract import extract_answer
from thresher.filters.verify.normalize import clean_answer, strip_lhs
from thresher.filters.verify.numeric import (
    DEFAULT_REL_TOL,
    compare_plain,
    compare_structured,
    numbers_equal,
    parse_plain_number,
)
from thresher.filters.verify.types import Outcome, VerifyItem

__all__ = ["MathVerifier", "math_verify_equal", "gold_answer"]

_MAX_ANSWER_CHARS = 2000
# A gold that is a worked solution: its answer follows "#### ", "A: " or sits in a box.
_SOLUTION = re.compile(r"^[ \t>]*(?:####|A:)|\\boxed|\\fbox|answer", re.MULTILINE | re.IGNORECASE)
_HAS_LHS = re.compile(r"^\s*[A-Za-z](?:_\{?\w{1,8}\}?)?\s*=")


@functools.lru_cache(maxsize=4096)
def gold_answer(gold: str) -> str:
    """The answer a gold states: itself, or the final answer of a worked solution."""
    text = gold.strip()
    if "\n" in text or len(text) > 80 or _SOLUTION.search(text):
        found = extract_answer(text)
        if found.text:
            return found.text
    return clean_answer(text)


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> tuple[Any, ...]:
    """math-verify parse of an answer string, boxed so LaTeX extraction applies; cached."""
    from math_verify import parse

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    # Signal-based timeouts are off: the worker process is killed from outside instead.
    parsed = parse("\\boxed{" + text + "}", parsing_timeout=None)  # type: ignore[arg-type]
    if not parsed:
        parsed = parse(text, parsing_timeout=None)  # type: ignore[arg-type]
    return tuple(parsed)


def _real_value(parsed: tuple[Any, ...]) -> Fraction | None:
    """The exact-enough value of a parsed real number (30 digits), else None."""
    import sympy

    for expr in parsed:
        if isinstance(expr, sympy.Expr) and expr.is_number and expr.is_real:
            value = expr.evalf(30)
            if value.is_finite:
                return Fraction(str(value))
    return None


def math_verify_equal(gold: str, answer: str, rel_tol: float = DEFAULT_REL_TOL) -> tuple[bool, str]:
    """math-verify's judgement of two answer strings (gold first), with how it decided; a
    decimal answer against an exact value (``1.4142136`` vs ``\\sqrt{2}``) also gets the
    relative tolerance."""
    from math_verify import verify

    g, a = _parse(gold), _parse(answer)
    if not g or not a:
        same = _norm(gold) == _norm(answer)
        return same, "unparsed: string comparison"
    if verify(list(g), list(a), timeout_seconds=None):
        return True, "math_verify"
    for decimal, parsed, exact in ((answer, g, gold), (gold, a, answer)):
        value = parse_plain_number(decimal)
        if value is not None and "." in decimal and parse_plain_number(exact) is None:
            other = _real_value(parsed)
            places = len(decimal.rsplit(".", 1)[1])
            if other is not None and numbers_equal(other, value, 0, places, rel_tol):
                return True, "math_verify; decimal within tolerance"
    return False, "math_verify"


def _mathy(text: str) -> bool:
    """Whether a bare short response looks like an answer (a number, LaTeX, or a symbol)."""
    return any(ch.isdigit() or ch in "\\^=+-*/{}()[]" for ch in text) or len(text.strip()) <= 3


def _norm(text: str) -> str:
    return "".join(text.split()).lower()


def _sides(gold: str, answer: str) -> tuple[str, str]:
    """Drop a one-variable left side ("x = 5") when only one side has it, or both the same."""
    g_lhs, a_lhs = _HAS_LHS.match(gold), _HAS_LHS.match(answer)
    if g_lhs and a_lhs and g_lhs.group(0).replace(" ", "") != a_lhs.group(0).replace(" ", ""):
        return gold, answer
    return strip_lhs(gold), strip_lhs(answer)


class MathVerifier:
    """Final math answer equals the gold (a worked-solution gold gives its final answer).
    Extraction: the last boxed group unless an answer marker follows it ("Final answer:",
    "The final answer is …", "the answer is …", "**Answer:**", "A: N", "#### N"), then bold,
    a short response, the rightmost math span or number; money, units, separators, mixed
    numbers and final punctuation removed. Then exact fast paths (numbers, decimals within a
    relative tolerance, sets, tuples, intervals), else math-verify in a worker process."""

    name = "math_v2"
    kind = "math"

    def __init__(self, rel_tol: float = DEFAULT_REL_TOL, name: str | None = None) -> None:
        if not 0 <= rel_tol < 1:
            raise ValueError("rel_tol must be in [0, 1)")
        self.rel_tol = rel_tol
        self.name = name or type(self).name

    def _answer(self, item: VerifyItem) -> tuple[Outcome | None, str, str, str]:
        if item.gold is None or not str(item.gold).strip():
            return Outcome("invalid_input", reason="missing gold answer"), "", "", ""
        gold = gold_answer(str(item.gold))
        if not gold:
            return Outcome("invalid_input", reason="the gold states no answer"), "", "", ""
        found = extract_answer(item.response)
        missing = None
        if found.text is None:
            missing = Outcome("no_answer", False, reason=f"no final answer ({found.method})")
        elif found.method == "whole_response" and not _mathy(found.text):
            missing = Outcome("no_answer", False, reason="no final answer (prose only)")
        elif len(found.text) > _MAX_ANSWER_CHARS:
            missing = Outcome("no_answer", False, found.text[:200], "answer too long")
        if missing is not None:
            return missing, "", "", ""
        return None, gold, found.text or "", found.method

    def _fast(self, gold: str, answer: str) -> tuple[bool, str] | None:
        g, a = _sides(gold, answer)
        same = compare_plain(g, a, self.rel_tol)
        if same is not None:
            return same, "exact number"
        same = compare_structured(g, a, self.rel_tol)
        if same is not None:
            return same, "exact set/tuple/interval"
        return None

    def quick(self, item: VerifyItem) -> Outcome | None:
        """Extraction and plain-number comparison, in the caller's process."""
        early, gold, answer, method = self._answer(item)
        if early is not None:
            return early
        fast = self._fast(gold, answer)
        return None if fast is None else Outcome("ok", fast[0], answer, f"{method}; {fast[1]}")

    def check(self, item: VerifyItem) -> Outcome:
        """The fast paths, else math-verify on the extracted answer against the gold."""
        early, gold, answer, method = self._answer(item)
        if early is not None:
            return early
        fast = self._fast(gold, answer) or math_verify_equal(gold, answer, self.rel_tol)
        return Outcome("ok", fast[0], answer, f"{method}; {fast[1]}")

    def time_limit(self, item: VerifyItem, default_s: float) -> float:
        """The caller's per-item limit."""
        return default_s

    def cache_key(self, item: VerifyItem) -> tuple[str, ...] | None:
        """Same gold and same extracted answer give the same verdict."""
        found = extract_answer(item.response)
        return None if found.text is None else (self.name, str(item.gold), found.text)
