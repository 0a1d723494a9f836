"""``math_v1``: our extraction front-end, exact fast paths, then math-verify in a worker."""

from __future__ import annotations

import functools
import logging
from typing import Any

from thresher.filters.verify.extract import extract_answer, strip_math
from thresher.filters.verify.numeric import compare_plain, compare_structured
from thresher.filters.verify.types import Outcome, VerifyItem

__all__ = ["MathVerifier", "math_verify_equal"]

_MAX_ANSWER_CHARS = 2000


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


def math_verify_equal(gold: str, answer: str) -> tuple[bool, str]:
    """math-verify's judgement of two answer strings (gold first), with how it decided."""
    from math_verify import verify

    g, a = _parse(gold), _parse(answer)
    if not g or not a:
        same = _norm(gold) == _norm(answer)
        return same, "unparsed: string comparison"
    return bool(verify(list(g), list(a), timeout_seconds=None)), "math_verify"


def _mathy(text: str) -> bool:
    """Whether a bare short response looks like an answer (a number, LaTeX, or a symbol)."""
    return any(ch.isdigit() or ch in "\\^=+-*/{}()[]" for ch in text) or len(text.strip()) <= 3


def _norm(text: str) -> str:
    return "".join(text.split()).lower()


class MathVerifier:
    """Final math answer equals the gold: last boxed / answer phrase / bold / math, then
    exact fast paths (plain integers, decimals, fractions; sets, tuples and intervals of
    them), else math-verify in a worker process under a per-item time limit."""

    name = "math_v1"
    kind = "math"

    def _answer(self, item: VerifyItem) -> tuple[Outcome | None, str | None, str]:
        if item.gold is None or not str(item.gold).strip():
            return Outcome("invalid_input", reason="missing gold answer"), None, ""
        found = extract_answer(item.response)
        if found.text is not None and found.method == "whole_response" and not _mathy(found.text):
            return Outcome("no_answer", reason="no final answer (prose only)"), None, ""
        if found.text is None:
            return Outcome("no_answer", reason=f"no final answer ({found.method})"), None, ""
        if len(found.text) > _MAX_ANSWER_CHARS:
            return (
                Outcome("no_answer", extracted=found.text[:200], reason="answer too long"),
                None,
                "",
            )
        return None, found.text, found.method

    def quick(self, item: VerifyItem) -> Outcome | None:
        """Extraction and plain-number comparison, in the caller's process."""
        early, answer, method = self._answer(item)
        if early is not None or answer is None:
            return early
        gold = strip_math(str(item.gold))
        same = compare_plain(gold, answer)
        if same is not None:
            return Outcome("ok", same, answer, f"{method}; exact number")
        same = compare_structured(gold, answer)
        if same is not None:
            return Outcome("ok", same, answer, f"{method}; exact set/tuple/interval")
        return None

    def check(self, item: VerifyItem) -> Outcome:
        """math-verify on the extracted answer against the gold."""
        early, answer, method = self._answer(item)
        if early is not None or answer is None:
            return early or Outcome("no_answer")
        same, how = math_verify_equal(strip_math(str(item.gold)), answer)
        return Outcome("ok", same, answer, f"{method}; {how}")

    def time_limit(self, item: VerifyItem, default_s: float) -> float:
        """The caller's per-item limit."""
        return default_s

    def cache_key(self, item: VerifyItem) -> tuple[str, ...] | None:
        """Same gold and same extracted answer give the same verdict."""
        found = extract_answer(item.response)
        return None if found.text is None else (self.name, str(item.gold), found.text)
