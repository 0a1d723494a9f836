"""``arith_step_check_v2``: recompute explicit arithmetic claims and flag the wrong ones."""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

from thresher.filters.flaws.numbers import NUM, decimals, number_value
from thresher.filters.flaws.types import Trace, make_label
from thresher.schemas import FlawLabel

__all__ = [
    "ArithStepCheck",
    "find_claims",
    "evaluate",
    "expression_values",
    "has_operator",
    "number_value",
    "tokens",
]

_OPS = r"[-+*/×÷·−]|x(?=\s)"
_OP = rf"\s*+(?:{_OPS})\s*+"
# Up to three unit words between a number and the next operator: "9 pink eggs * 1/3",
# "12 kg - 4 kg", "$5 per hour * 3". Never the operator "x", never a word that ends a clause
# ("9 because James + 1").
_STOP = (
    r"x|and|or|but|so|because|since|as|is|are|was|were|be|been|then|than|that|which|who|if|"
    r"when|thus|therefore|hence|to|at|in|on|for|from|by|with|the|it|he|she|they|we|you|i"
)
_UNIT_WORDS = (
    rf"(?:\s++(?!(?:{_STOP})\b)[a-z][a-z'’]*+){{1,3}}"
    rf"(?=\s*+(?:(?:{_OPS})\s*+\(?\$?[\d.]|=))"
)
_OPERAND = rf"\(?(?:{NUM})\)?(?:{_UNIT_WORDS})?"
_EXPR = rf"{_OPERAND}(?:{_OP}{_OPERAND})*+"
_CHAIN = re.compile(rf"(?<![\w.^/*+×÷·=$-])(?:{_EXPR})(?:\s*+=\s*+(?:{_EXPR}))++")
_TOKEN = re.compile(rf"{NUM}|x(?=\s)|[-+*/×÷·−()]|[A-Za-z][A-Za-z'’]*")
_AFTER_BAD = re.compile(r"[A-Za-z_^(]|\.\d|%|\s*[*/×÷^]")
# An operator (or "of", or a number) right before a claim: the claim is the tail of a larger
# expression ("C + 15 = 110 - 5", "$3.5/gallon x 2/5 = ...") and cannot be checked alone.
_BEFORE_BAD = frozenset("-+*/×÷·−(^0123456789")
_CORRECTION = re.compile(
    r"\b(?:wait|actually|oops|mistake|correction|recompute|recalculate|re-?check|let me redo|"
    r"that'?s (?:not|wrong)|no,|sorry|i mean)\b",
    re.IGNORECASE,
)
_WINDOW = 300
_MAX_LABELS = 10_000  # per trace: a megabyte of wrong claims stays under a second
_BINARY = frozenset("+-*/×÷·−x")


@lru_cache(maxsize=4096)  # every labeler reads the same claims
def tokens(expr: str) -> tuple[str, ...] | None:
    """Numbers, operators and parentheses of `expr` (unit words dropped), None if not one:
    a variable (``X - 19.5``) or operands in different units (``5 feet + 6 inches``)."""
    out: list[str] = []
    units: set[str] = set()
    unit_next = False  # the next word is the unit of the number just read
    pos = 0
    for m in _TOKEN.finditer(expr):
        if expr[pos : m.start()].strip():
            return None
        tok = m.group(0)
        pos = m.end()
        if tok[0].isalpha() and tok != "x":
            if not (tok.islower() and out and out[-1][-1].isdigit()):
                return None
            if unit_next:
                units.add(tok.rstrip("s"))
                unit_next = False
            continue  # a unit word
        out.append(tok)
        unit_next = tok[-1].isdigit()
    if len(units) > 1 or expr[pos:].strip():
        return None
    return tuple(out)


class _Interval:
    """A closed interval of exact values: a number written rounded (``26.667``) is any value
    that rounds to it, so results computed from it are intervals too."""

    __slots__ = ("lo", "hi")

    def __init__(self, lo: Fraction, hi: Fraction) -> None:
        self.lo, self.hi = lo, hi

    @staticmethod
    def of(x: object) -> _Interval:
        if isinstance(x, _Interval):
            return x
        assert isinstance(x, Fraction | int)
        return _Interval(Fraction(x), Fraction(x))

    def __add__(self, o: object) -> _Interval:
        b = _Interval.of(o)
        return _Interval(self.lo + b.lo, self.hi + b.hi)

    __radd__ = __add__

    def __sub__(self, o: object) -> _Interval:
        b = _Interval.of(o)
        return _Interval(self.lo - b.hi, self.hi - b.lo)

    def __rsub__(self, o: object) -> _Interval:
        return _Interval.of(o) - self

    def __neg__(self) -> _Interval:
        return _Interval(-self.hi, -self.lo)

    def __mul__(self, o: object) -> _Interval:
        b = _Interval.of(o)
        ends = (self.lo * b.lo, self.lo * b.hi, self.hi * b.lo, self.hi * b.hi)
        return _Interval(min(ends), max(ends))

    __rmul__ = __mul__

    def __truediv__(self, o: object) -> _Interval:
        b = _Interval.of(o)
        if b.lo <= 0 <= b.hi:
            raise ZeroDivisionError
        return self * _Interval(1 / b.hi, 1 / b.lo)

    def __rtruediv__(self, o: object) -> _Interval:
        return _Interval.of(o) / self


def _parse(toks: tuple[str, ...], rounded: bool) -> Fraction | _Interval | None:
    """Evaluate + - * / with parentheses; with `rounded`, numbers with 3+ decimals are the
    intervals of values that round to them."""
    pos = 0

    def atom() -> Fraction | int | _Interval | None:
        nonlocal pos
        if pos >= len(toks):
            return None
        tok = toks[pos]
        pos += 1
        if tok == "(":
            value = sum_()
            if pos >= len(toks) or toks[pos] != ")":
                return None
            pos += 1
            return value
        if tok in ("-", "−"):
            inner = atom()
            return None if inner is None else -inner
        if tok[0].isdigit() or tok[0] in "$.":
            value = number_value(tok)
            d = decimals(tok)
            if rounded and d >= 3:
                # rounded to d places; a float's repr (10+ places) may be off by more
                exact = Fraction(value)
                half = Fraction(1, 2 * 10**d)
                if d >= 10:
                    half = max(Fraction(1, 10**d), abs(exact) / 10**9)
                return _Interval(exact - half, exact + half)
            return value
        return None

    def product() -> Fraction | int | _Interval | None:
        nonlocal pos
        value = atom()
        while value is not None and pos < len(toks) and toks[pos] in "*/×÷·x":
            op = toks[pos]
            pos += 1
            rhs = atom()
            if rhs is None or (op in "/÷" and not isinstance(rhs, _Interval) and rhs == 0):
                return None
            try:
                if op in "/÷":  # through Fraction so it stays exact (never a float)
                    value = (value if isinstance(value, _Interval) else Fraction(value)) / rhs
                else:
                    value = value * rhs
            except ZeroDivisionError:
                return None
        return value

    def sum_() -> Fraction | int | _Interval | None:
        nonlocal pos
        value = product()
        while value is not None and pos < len(toks) and toks[pos] in "+-−":
            op = toks[pos]
            pos += 1
            rhs = product()
            if rhs is None:
                return None
            value = value + rhs if op == "+" else value - rhs  # type: ignore[operator]
        return value

    value = sum_()
    if value is None or pos != len(toks):
        return None
    return value if isinstance(value, _Interval) else Fraction(value)


@lru_cache(maxsize=4096)  # labelers of one trace evaluate the same claims
def evaluate(expr: str) -> Fraction | None:
    """Exact value of + - * / expressions over numbers (with parentheses), else None."""
    toks = tokens(expr)
    if not toks:
        return None
    value = _parse(toks, rounded=False)
    return value if isinstance(value, Fraction) else None


def _bounds(expr: str) -> tuple[Fraction, Fraction] | None:
    """The range of values `expr` may stand for when its long decimals are rounded."""
    toks = tokens(expr)
    value = _parse(toks, rounded=True) if toks else None
    if value is None:
        return None
    if isinstance(value, _Interval):
        return value.lo, value.hi
    return value, value


def _last_number(text: str) -> str:
    found = re.findall(NUM, text)
    return found[-1] if found else ""


def _tolerance(text: str) -> Fraction:
    """Half a unit of the last decimal place written (``3.33`` claims +-0.005)."""
    d = decimals(_last_number(text))
    return Fraction(1, 2 * 10**d) if d else Fraction(0)


@lru_cache(maxsize=4096)
def has_operator(part: str) -> bool:
    """Whether `part` has a binary operator (after a number or ')'; a sign is not one)."""
    toks = tokens(part) or ()
    pairs = zip(toks, toks[1:], strict=False)
    return any(t in _BINARY and (p[0].isdigit() or p[0] in "$.)") for p, t in pairs)


def find_claims(text: str) -> list[tuple[int, int, list[str]]]:
    """Arithmetic chains ``a op b = c (= d ...)``: (start, end, the '='-separated parts)."""
    claims = []
    for m in _CHAIN.finditer(text):
        if _AFTER_BAD.match(text, m.end()):
            continue  # "= 7x", "= 3^2", "= 2.5" cut short: part of a larger expression
        if _tail_of_more(text, m.start()):
            continue  # "C + 15 = 110 - 5": the tail of a larger expression
        parts = [p.strip() for p in m.group(0).split("=")]
        if len(parts) >= 2 and any(has_operator(p) for p in parts):
            claims.append((m.start(), m.end(), parts))
    if " equal" in text:
        claims += _word_claims(text)
        claims.sort()
    return claims


def _tail_of_more(text: str, start: int) -> bool:
    """Whether an operator, "x", "of" or a number ends the text before `start`."""
    before = text[max(0, start - 12) : start].rstrip()
    if not before:
        return False
    if before[-1] in _BEFORE_BAD:
        return True
    word = before.rsplit(None, 1)[-1]
    return word in ("x", "of") and (
        len(before) == len(word) or not before[-len(word) - 1].isalnum()
    )


_WORD_OPS = {"plus": "+", "minus": "-", "times": "*", "multiplied by": "*", "divided by": "/"}
_WORD_OP = "|".join(_WORD_OPS)
# "750 minus 500 equals 150", "30 times 25 is equal to 750": claims written in words.
_WORD_CLAIM = re.compile(
    rf"(?<![\w.$-])({NUM})((?:\s+(?:{_WORD_OP})\s+(?:{NUM})){{1,8}})"
    rf"\s+(?:equals|is\s+equal\s+to|equal\s+to)\s+({NUM})(?!\w|\.\d|\s*[-+*/×÷^])",
    re.IGNORECASE,
)
_WORD_STEP = re.compile(rf"\s+({_WORD_OP})\s+({NUM})", re.IGNORECASE)


def _word_claims(text: str) -> list[tuple[int, int, list[str]]]:
    """Claims written with operator words, as (start, end, [symbolic left side, right side])."""
    found = []
    for m in _WORD_CLAIM.finditer(text):
        steps = _WORD_STEP.findall(m.group(2))
        lhs = m.group(1) + "".join(f" {_WORD_OPS[op.lower()]} {n}" for op, n in steps)
        found.append((m.start(), m.end(), [lhs, m.group(3)]))
    return found


_EXPRESSION = re.compile(rf"(?<![\w.^/*+×÷·=$-]){_EXPR}")


def expression_values(text: str) -> set[Fraction]:
    """The values of the arithmetic expressions written in `text` (``2 + 3`` -> 5)."""
    found = (m.group(0) for m in _EXPRESSION.finditer(text) if has_operator(m.group(0)))
    return {v for v in map(evaluate, found) if v is not None}


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


def _verdict(left: str, right: str) -> str | None:
    """None when ``left = right`` holds (to the precision written), 'rounded' when `right`
    is `left` rounded, cut or carried up to `right`'s last written place, else 'wrong'."""
    lv, rv = evaluate(left), evaluate(right)
    if lv is None or rv is None:
        return None
    tol = _tolerance(right)
    if abs(lv - rv) <= tol:
        return None
    lb, rb = _bounds(left), _bounds(right)
    if lb is None or rb is None:
        return "wrong"
    if lb[0] - tol <= rb[1] and rb[0] <= lb[1] + tol:
        return None  # equal once the long decimals written are read as rounded
    unit = Fraction(1, 10 ** decimals(_last_number(right)))
    if not has_operator(right) and (lv / unit).denominator != 1 and abs(lv - rv) < unit:
        return "rounded"  # "15 / 4 = 3" whole boxes, "$132 + $6.6 = $138"
    return "wrong"


class ArithStepCheck:
    """Recomputes every explicit arithmetic claim (``17 + 25 = 32``, ``6 x 7 = 42``,
    ``144 / 12 = 14``, chains ``a + b = c + d = e``, unit words between operands ``9 pink eggs
    * 1/3 = 3``, calculator annotations ``<<16-3=13>>``) exactly and flags each wrong one as
    ``wrong_arithmetic`` (error), unless the trace corrects it right after ("wait, ..."). A
    result rounded, cut or carried up to the place it is written to (``15 / 4 = 3``) is
    ``rounded_result`` (warning): often the intended whole count. Long decimals are read as
    rounded (``2000 / 75 = 26.666666666666668``)."""

    name = "arith_step_check_v2"

    def label(self, trace: Trace) -> list[FlawLabel]:
        """One label per wrong claim (the first wrong '=' of each chain)."""
        if "=" not in trace.response and " equal" not in trace.response:
            return []
        text = trace.plain
        labels: list[FlawLabel] = []
        for start, end, parts in trace.claims:
            if len(labels) >= _MAX_LABELS:
                break
            for i in range(1, len(parts)):
                if i == 1 and not has_operator(parts[0]):
                    continue  # "saved $7 = $26 - $7 = $19": a bare number introduces the chain
                verdict = _verdict(parts[i - 1], parts[i])
                if verdict is None:
                    continue
                left = evaluate(parts[i - 1])
                assert left is not None
                if _running_total(parts[i], left):
                    continue  # "3 + 4 = 7 + 1 = 8": sloppy run-on notation, not an error
                if _corrected(text, end, parts[0], left):
                    break
                a, b = trace.original(start, end)
                labels.append(
                    make_label(
                        self.name, trace,
                        "wrong_arithmetic" if verdict == "wrong" else "rounded_result",
                        "error" if verdict == "wrong" else "warning",
                        trace.response[a:b], a, b,
                        critique=f"{parts[i - 1]} = {_show(left)}, not {parts[i]}",
                    )
                )  # fmt: skip
                break
        labels += self._annotations(trace, labels)
        return labels

    def _annotations(self, trace: Trace, found: list[FlawLabel]) -> list[FlawLabel]:
        """Wrong calculator annotations not already inside a flagged claim."""
        labels: list[FlawLabel] = []
        for start, end, (expr, result) in trace.annotations:
            if len(found) + len(labels) >= _MAX_LABELS:
                break
            if _verdict(expr, result) != "wrong":
                continue
            if any(x.char_start <= start and end <= x.char_end for x in found):  # type: ignore[operator]
                continue
            left = evaluate(expr)
            labels.append(
                make_label(
                    self.name, trace, "wrong_arithmetic", "error", trace.response[start:end],
                    start, end,
                    critique=f"calculator annotation: {expr} = {_show(left)}, not {result}",  # type: ignore[arg-type]
                )
            )  # fmt: skip
        return labels


def _running_total(part: str, previous: Fraction) -> bool:
    """Whether a chain part continues from the previous value (``= 7 + 1`` after ``3 + 4``)."""
    toks = tokens(part)
    if not toks or len(toks) < 3 or not (toks[0][0].isdigit() or toks[0][0] in "$."):
        return False
    first = evaluate(toks[0])
    return first is not None and first == previous


def _show(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.6g}"
