"""Turn an extracted answer span into the answer it states: wrappers, money, units, separators.

``clean_answer`` is for spans that hold only the answer (a box, bold text, a math span, a gold);
``prose_answer`` also reads a sentence ("that he has 5 apples left", "12 - 4 = 8 apples").
Every regex here is anchored or bounded, so a long input costs a scan.
"""

from __future__ import annotations

import re

__all__ = ["clean_answer", "prose_answer", "answer_like", "numbers_in", "strip_lhs", "NUMBER"]

# A written number: thousands groups (1,000 / 1,000.5), plain digits, or a bare decimal (.5).
NUMBER = (
    r"-?(?:\d+[ \t]+\d+/\d+|[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?|[1-9]\d{0,2}(?: \d{3})+(?![\d,.])"
    r"|\d+(?:[.,]\d+)?|\.\d+)"
)
_NUMBER_RE = re.compile(rf"(?<![\w.,])(?:{NUMBER})(?:\s*/\s*\d+)?(?![\w]|[.,]\d)")
_WRAPPERS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"), ("**", "**"), ("`", "`"))
_TEXT_WRAP = re.compile(r"^\\(?:text|textbf|mathrm|textnormal|mbox|mathbf)\{([^{}]*)\}$")
_MONEY = re.compile(r"^(-?)\s*(?:\\\$|\$|USD\s*|US\$)\s*(?=[\d.])")
# "1 000", "1\,000", "1{,}000", "1\ 000" (and no-break/thin spaces): separators of 3-digit groups.
_SPACED_THOUSANDS = re.compile(
    r"^-?\d{1,3}(?:(?:[ \u00a0\u202f\u2009~]|\\[,;! ]|\{,\})\d{3})+(?:\.\d+)?$"
)
_LATEX_COMMA = re.compile(r",\\!\s*|\{,\}")  # "11,\! 111" and "1{,}000" are thousands commas
_SEPARATOR = re.compile(r"[ \u00a0\u202f\u2009~]|\\[,;! ]|\{,\}|\\!")
_MIXED = re.compile(r"^(-?)(\d+)\s+(\d+)\s*/\s*(\d+)$")
_MIXED_LATEX = re.compile(r"^(-?)(\d+)\s*\\[dt]?frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}$")
# A number, then words that name what it counts ("10 weeks", "5 per hour", "15 \\text{ cm}^2").
_UNITS = re.compile(
    r"^(?P<num>-?\d+\s+\d+\s*/\s*\d+|-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?)"
    r"(?P<unit>\s*\\(?:text|mbox|textnormal|mathrm)\{\s*[A-Za-z][A-Za-z .'\-]{0,40}\}"
    r"|\s+[A-Za-z]{2,}[A-Za-z'.\-]*(?:\s+[A-Za-z][A-Za-z'.\-]*){0,5})"
    r"(?:\s*\^\s*\{?[23]\}?)?$"
)
# Words after a number that are mathematics or a second part of the answer, not a unit.
_NOT_UNITS = re.compile(
    r"\b(?:and|or|to|by|plus|minus|times|over|pi|sqrt|mod|log|ln|sin|cos|tan|i|e|x)\b",
    re.IGNORECASE,
)
_TRAILING_TEXT = re.compile(
    r"^(?P<head>.*?\S)\s*\\(?:text|mbox|textnormal)\{\s*[A-Za-z][A-Za-z .]{0,40}\}$"
)
_LIST_WORD = re.compile(r"\b(?:and|or)\b|;", re.IGNORECASE)
_LIST_SPLIT = re.compile(
    r"\s*(?:,|;|\\text\{\s*(?:and|or)\s*\}|\b(?:and|or)\b)(?:\s*(?:and|or)\b)?\s*",
    re.IGNORECASE,
)
_LIST_ITEM = re.compile(r"^-?\d+(?:\.\d+)?(?:\s*/\s*\d+)?$")
_LHS = re.compile(r"^[A-Za-z](?:_\{?\w{1,8}\}?)?\s*=\s*(?P<rhs>[^=<>]+)$")
_BARE_EQUALS = re.compile(r"(?<![<>!=\\])=(?!=)")
# Words that say something about an answer rather than state one ("the answer is correct").
_NOT_ANSWERS = re.compile(
    r"\b(?:correct|incorrect|wrong|right|not|above|below|follows|following|this|that|unknown"
    r"|given|same|clear|obvious|simple|shown|as)\b",
    re.IGNORECASE,
)
_TRAILING = " \t\r\n.,;:!?"
_MAX = 2000


def _unwrap(s: str) -> str:
    """Strip whitespace, delimiters, bold, quotes and a whole-span \\boxed/\\text, repeatedly."""
    for _ in range(6):
        before = s
        s = s.strip().strip("\"'“”").strip()
        s = s.removeprefix("**").removesuffix("**").strip()  # bold cut in half by a marker
        s = s.rstrip(_TRAILING) if not s.endswith("\\.") else s
        for left, right in _WRAPPERS:
            if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right):
                inner = s[len(left) : len(s) - len(right)]
                if left == "$" and "$" in inner:
                    continue  # "$5 and $6" is money, not one math span
                s = inner
        if s.startswith(("\\boxed{", "\\fbox{")) and s.endswith("}"):
            inner = s[s.index("{") + 1 : -1]
            if _balanced(inner):
                s = inner
        m = _TEXT_WRAP.match(s)
        if m:
            s = m.group(1)
        s = _LATEX_COMMA.sub(",", s).replace("\\!", "").replace("\\displaystyle", "")
        s = s.replace("\\mathrm{e}", "e").strip()  # Euler's number, however it is typeset
        # A full stop or "\text{.}" that ended the sentence inside the math ($\sqrt{2}.$).
        s = s.removesuffix("\\text{.}").rstrip(_TRAILING)
        if s == before:
            break
    return s


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _number_forms(s: str) -> str:
    """Money signs, digit-group separators, mixed numbers and unit words around one number."""
    s = _MONEY.sub(r"\1", s)
    if _SPACED_THOUSANDS.match(s):
        s = _SEPARATOR.sub("", s)
    m = _UNITS.match(s)
    if m and not _NOT_UNITS.search(m.group("unit")):
        s = m.group("num").strip()
    m = _MIXED.match(s) or _MIXED_LATEX.match(s)
    if m:
        sign, whole, num, den = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))
        if 0 < num < den:  # "1 1/2" is one and a half; "1 3/2" is not a mixed number
            s = f"{sign}{whole * den + num}/{den}"
    return s


def _number_list(s: str) -> str:
    """'2 or 5', '19, 46, and 82', '1; 2' -> '2, 5' ...: numbers joined by words are a list."""
    if not _LIST_WORD.search(s):
        return s
    parts = [p for p in _LIST_SPLIT.split(s) if p.strip()]
    if len(parts) >= 2 and all(_LIST_ITEM.match(p.strip()) for p in parts):
        return ", ".join(p.strip() for p in parts)
    return s


def clean_answer(text: str) -> str:
    """The answer a span states, without delimiters, money signs, units or final punctuation."""
    s = _unwrap(text[:_MAX])
    s = _number_forms(s)
    m = _TRAILING_TEXT.match(s)
    if m and any(ch.isdigit() or ch == "\\" for ch in m.group("head")):
        s = m.group("head")  # "\frac{1}{3}\text{ meters}": the unit is not part of the value
    return _number_list(_number_forms(_unwrap(s)))


def numbers_in(text: str) -> list[str]:
    """The written numbers in a text (thousands groups kept together), in order."""
    return [m.group(0) for m in _NUMBER_RE.finditer(text)]


def prose_answer(text: str) -> str | None:
    """The answer stated by a sentence: after its last '=' or 'is', or its only number."""
    s = clean_answer(text)
    for _ in range(3):
        parts = _BARE_EQUALS.split(s)
        if len(parts) > 1 and parts[-1].strip() and "\\" not in s:
            s = clean_answer(parts[-1])
            continue
        lowered = s.lower()
        at = lowered.rfind(" is ")
        if at >= 0 and "\\" not in s and "$" not in s:
            s = clean_answer(s[at + 4 :])
            continue
        break
    if not s:
        return None
    if " " in s.strip() and "\\" not in s and not _is_math(s):
        found = numbers_in(s)
        if len(found) == 1:
            return clean_answer(found[0])
    return s


def _is_math(s: str) -> bool:
    """Only math characters (digits, operators, brackets, single-letter variables)?"""
    words = re.findall(r"[A-Za-z]{2,}", s)
    return not words


def strip_lhs(text: str) -> str:
    """'x = 5' -> '5' (one variable on the left); anything else unchanged."""
    m = _LHS.match(text.strip())
    return m.group("rhs").strip() if m else text


def answer_like(text: str | None) -> bool:
    """Whether a span can be an answer: has a digit or LaTeX, or is a few plain words."""
    if not text or len(text) > _MAX:
        return False
    if any(ch.isdigit() or ch == "\\" for ch in text):
        return True
    return 0 < len(text.split()) <= 3 and not _NOT_ANSWERS.search(text)
