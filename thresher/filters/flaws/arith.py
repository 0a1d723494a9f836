"""``arith_step_check_v1``: recompute explicit arithmetic claims and flag the wrong ones."""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

from thresher.filters.flaws.types import Trace, make_label
from thresher.schemas import FlawLabel

__all__ = ["ArithStepCheck", "find_claims", "evaluate", "expression_values", "number_value"]

_NUM = r"\$?\d{1,3}(?:,\d{3})++(?:\.\d+)?|\$?\d+(?:\.\d+)?"
_OP = r"\s*+(?:[-+*/×÷·−]|x(?=\s))\s*+"
_EXPR = rf"\(?(?:{_NUM})\)?(?:{_OP}\(?(?:{_NUM})\)?)*+"
_CHAIN = re.compile(rf"(?<![\w.^/*+×÷·=$-])(?:{_EXPR})(?:\s*+=\s*+(?:{_EXPR}))++")
_TOKEN = re.compile(rf"{_NUM}|[-+*/×÷·−x()]")
_AFTER_BAD = re.compile(r"[A-Za-z_^(]|\.\d|%")
_CORRECTION = re.compile(
    r"\b(?:wait|actually|oops|mistake|correction|recompute|recalculate|re-?check|let me redo|"
    r"that'?s (?:not|wrong)|no,|sorry|i mean)\b",
    re.IGNORECASE,
)
_WINDOW = 300


def _tokens(expr: str) -> list[str] | None:
    out = []
    pos = 0
    for m in _TOKEN.finditer(expr):
        if expr[pos : m.start()].strip():
            return None
        out.append(m.group(0))
        pos = m.end()
    return out if not expr[pos:].strip() else None


def number_value(token: str) -> Fraction | int:
    """The exact value of one written number (``$1,200.50``, ``42``); ints where possible."""
    clean = token.replace("$", "").replace(",", "")
    return Fraction(clean) if "." in clean else int(clean)  # ints are much cheaper


@lru_cache(maxsize=4096)  # labelers of one trace evaluate the same claims
def evaluate(expr: str) -> Fraction | None:
    """Exact value of + - * / expressions over numbers (with parentheses), else None."""
    tokens = _tokens(expr)
    if not tokens:
        return None
    pos = 0

    def atom() -> Fraction | int | None:
        nonlocal pos
        if pos >= len(tokens):
            return None
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            value = sum_()
            if pos >= len(tokens) or tokens[pos] != ")":
                return None
            pos += 1
            return value
        if tok in ("-", "−"):
            inner = atom()
            return None if inner is None else -inner
        if tok[0].isdigit() or tok[0] == "$":
            return number_value(tok)
        return None

    def product() -> Fraction | int | None:
        nonlocal pos
        value = atom()
        while value is not None and pos < len(tokens) and tokens[pos] in "*/×÷·x":
            op = tokens[pos]
            pos += 1
            rhs = atom()
            if rhs is None or (op in "/÷" and rhs == 0):
                return None
            # Division goes through Fraction so it stays exact (never a float).
            value = Fraction(value) / rhs if op in "/÷" else value * rhs
        return value

    def sum_() -> Fraction | int | None:
        nonlocal pos
        value = product()
        while value is not None and pos < len(tokens) and tokens[pos] in "+-−":
            op = tokens[pos]
            pos += 1
            rhs = product()
            if rhs is None:
                return None
            value = value + rhs if op == "+" else value - rhs
        return value

    value = sum_()
    return Fraction(value) if value is not None and pos == len(tokens) else None


def _tolerance(text: str) -> Fraction:
    """Half a unit of the last decimal place written (``3.33`` claims +-0.005)."""
    if "." not in text:
        return Fraction(0)
    last = re.findall(r"\d+(?:\.(\d+))?", text)
    decimals = len(last[-1]) if last and last[-1] else 0
    return Fraction(1, 2 * 10**decimals) if decimals else Fraction(0)


def find_claims(text: str) -> list[tuple[int, int, list[str]]]:
    """Arithmetic chains ``a op b = c (= d ...)``: (start, end, the '='-separated parts)."""
    claims = []
    for m in _CHAIN.finditer(text):
        if _AFTER_BAD.match(text, m.end()):
            continue  # "= 7x", "= 3^2", "= 2.5" cut short: part of a larger expression
        parts = [p.strip() for p in m.group(0).split("=")]
        if len(parts) >= 2 and any(_OP_RE.search(p) for p in parts):
            claims.append((m.start(), m.end(), parts))
    return claims


_EXPRESSION = re.compile(rf"(?<![\w.^/*+×÷·=$-]){_EXPR}")


def expression_values(text: str) -> set[Fraction]:
    """The values of the arithmetic expressions written in `text` (``2 + 3`` -> 5)."""
    found = (m.group(0) for m in _EXPRESSION.finditer(text) if _OP_RE.search(m.group(0)))
    return {v for v in map(evaluate, found) if v is not None}


_OP_RE = re.compile(r"\d\s*(?:[-+*/×÷·−]|x\s)\s*\$?\(?\d")


def _corrected(text: str, end: int, lhs: str, value: Fraction) -> bool:
    """Whether the trace fixes the claim right after: a correction cue or the right result."""
    after = text[end : end + _WINDOW]
    if _CORRECTION.search(after):
        return True
    for m in _CHAIN.finditer(after):
        parts = [p.strip() for p in m.group(0).split("=")]
        if parts[0] == lhs:
            right = evaluate(parts[-1])
            return right is not None and abs(right - value) <= _tolerance(parts[-1])
    return False


class ArithStepCheck:
    """Recomputes every explicit arithmetic claim (``17 + 25 = 32``, ``6 x 7 = 42``,
    ``144 / 12 = 14``, chains ``a + b = c + d = e``) exactly and flags each wrong one as
    ``wrong_arithmetic`` (error), unless the trace corrects it right after ("wait, ...")."""

    name = "arith_step_check_v1"

    def label(self, trace: Trace) -> list[FlawLabel]:
        """One label per wrong claim (the first wrong '=' of each chain)."""
        text = trace.response
        if "=" not in text:
            return []
        labels = []
        for start, end, parts in trace.claims:
            values = [evaluate(p) for p in parts]
            for i in range(1, len(parts)):
                left, right = values[i - 1], values[i]
                if left is None or right is None:
                    continue
                if abs(left - right) <= _tolerance(parts[i]):
                    continue
                if _running_total(parts[i], left):
                    continue  # "3 + 4 = 7 + 1 = 8": sloppy run-on notation, not an error
                if _corrected(text, end, parts[0], left):
                    break
                claim = text[start:end]
                labels.append(
                    make_label(
                        self.name, trace, "wrong_arithmetic", "error", claim, start, end,
                        critique=f"{parts[i - 1]} = {_show(left)}, not {parts[i]}",
                    )
                )  # fmt: skip
                break
        return labels


def _running_total(part: str, previous: Fraction) -> bool:
    """Whether a chain part continues from the previous value (``= 7 + 1`` after ``3 + 4``)."""
    tokens = _tokens(part)
    if not tokens or len(tokens) < 3 or not (tokens[0][0].isdigit() or tokens[0][0] == "$"):
        return False
    first = evaluate(tokens[0])
    return first is not None and first == previous


def _show(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.6g}"
