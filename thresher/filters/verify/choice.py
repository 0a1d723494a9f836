"""``choice_v2``: multiple-choice letters ("(B)", "Answer: B", boxed B, bold B)."""

from __future__ import annotations

import re

from thresher.filters.verify.extract import answer_section, last_boxed
from thresher.filters.verify.types import Outcome, VerifyItem

__all__ = ["ChoiceVerifier", "extract_choice"]

_LETTERS = "A-J"
_GOLD = re.compile(rf"^\(?([{_LETTERS}])\)?[.:]?$", re.IGNORECASE)
_PHRASE = re.compile(
    rf"(?:answer|option|choice)(?:\s++is)?\s*+[:：]?\s*+\**+\s*+\(?([{_LETTERS}])\)?(?![A-Za-z])",
    re.IGNORECASE,
)
_PAREN = re.compile(rf"\(([{_LETTERS}])\)")
_BOLD = re.compile(rf"\*\*\s*+\(?([{_LETTERS}])\)?[.:]?\s*+\*\*")
_LINE = re.compile(rf"^[ \t]*+\(?([{_LETTERS}])\)?[.:]?[ \t]*+$", re.MULTILINE)


def extract_choice(response: str) -> tuple[str | None, str]:
    """The chosen option letter (upper case) and the rule that found it."""
    section, where = answer_section(response)
    if section is None:
        return None, where
    boxed = last_boxed(section)
    if boxed is not None:
        m = _GOLD.match(boxed.replace("\\text{", "").replace("}", "").strip())
        if m:
            return m.group(1).upper(), "boxed"
    for name, pattern in (("answer_phrase", _PHRASE), ("bold", _BOLD), ("line", _LINE)):
        last = None
        for m in pattern.finditer(section):
            last = m
        if last:
            return last.group(1).upper(), name
    last = None
    for m in _PAREN.finditer(section):
        last = m
    if last:
        return last.group(1).upper(), "parenthesised"
    return None, "none_found"


class ChoiceVerifier:
    """The chosen option letter (A-J) equals the gold letter."""

    name = "choice_v2"
    kind = "choice"

    def quick(self, item: VerifyItem) -> Outcome | None:
        """Letters are compared in the caller's process."""
        gold = _GOLD.match(str(item.gold or "").strip())
        if gold is None:
            return Outcome("invalid_input", reason=f"gold {item.gold!r} is not an option letter")
        letter, method = extract_choice(item.response)
        if letter is None:
            return Outcome("no_answer", False, reason=f"no option letter ({method})")
        return Outcome("ok", letter == gold.group(1).upper(), letter, method)

    def check(self, item: VerifyItem) -> Outcome:
        """Same as quick: always decidable."""
        return self.quick(item) or Outcome("no_answer", False)

    def time_limit(self, item: VerifyItem, default_s: float) -> float:
        """The caller's per-item limit."""
        return default_s

    def cache_key(self, item: VerifyItem) -> tuple[str, ...] | None:
        """Never needed: quick always decides."""
        return None
