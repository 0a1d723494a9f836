"""``exact_v2``: normalised string equality of the final answer and the gold."""

from __future__ import annotations

import re
import unicodedata

from thresher.filters.verify.extract import answer_section, extract_answer, strip_math
from thresher.filters.verify.types import Outcome, VerifyItem

__all__ = ["ExactVerifier", "normalise"]

_TEXT = re.compile(r"\\(?:text|mathrm|textbf)\{([^{}]*)\}")


def normalise(text: str) -> str:
    """NFKC, case-folded, LaTeX text wrappers and quotes removed, whitespace collapsed."""
    s = unicodedata.normalize("NFKC", text)
    s = _TEXT.sub(r"\1", strip_math(s))
    s = s.strip().strip("\"'`“”‘’").rstrip(".!").strip()
    return " ".join(s.casefold().split())


class ExactVerifier:
    """The final answer (boxed / answer phrase / bold, else a short answer section) equals the
    gold after normalisation (case, whitespace, quotes, LaTeX text wrappers, final period)."""

    name = "exact_v2"
    kind = "exact"

    def quick(self, item: VerifyItem) -> Outcome | None:
        """String comparison, in the caller's process."""
        if item.gold is None or not normalise(str(item.gold)):
            return Outcome("invalid_input", reason="missing gold answer")
        found = extract_answer(item.response)
        text = found.text
        if found.method in ("whole_response", "last_number", "inline_math", "none_found"):
            section, _ = answer_section(item.response)
            short = (section or "").strip()
            if short and len(short) <= 200:
                text = short.splitlines()[-1]
        if not text or not normalise(text):
            return Outcome("no_answer", False, reason=f"no final answer ({found.method})")
        answer = normalise(text)
        return Outcome("ok", answer == normalise(str(item.gold)), answer, found.method)

    def check(self, item: VerifyItem) -> Outcome:
        """Same as quick: always decidable."""
        return self.quick(item) or Outcome("no_answer", False)

    def time_limit(self, item: VerifyItem, default_s: float) -> float:
        """The caller's per-item limit."""
        return default_s

    def cache_key(self, item: VerifyItem) -> tuple[str, ...] | None:
        """Never needed: quick always decides."""
        return None
