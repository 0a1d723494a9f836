"""``repetition_loop_v2``: the trace repeats itself (a decoding loop)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from thresher.filters.flaws.types import Trace, make_label
from thresher.schemas import FlawLabel

__all__ = ["RepetitionLoop", "sentences"]

# A sentence ends at . ! ? or a line break, never at a decimal point ("$5.0 in his bank." is
# one sentence, not "0 in his bank.", which would repeat across different amounts).
_END = re.compile(r"[.!?](?!\d)|\n")
_MIN_SENTENCE, _MAX_SENTENCE = 12, 400
_MIN_REPEATS = 4
_TAIL = 1200


def sentences(text: str) -> Iterator[tuple[int, int]]:
    """Spans of ``(?:[^.!?\\n]|[.!?](?=\\d)){12,400}(?:[.!?](?!\\d)|\\n)`` as
    ``re.finditer`` finds them, in linear time: one scan from sentence end to sentence end
    (the regex itself retries up to 400 lengths at every position of a long run)."""
    run_start = 0
    for m in _END.finditer(text):
        stop = m.start()
        if stop - run_start >= _MIN_SENTENCE:
            yield max(run_start, stop - _MAX_SENTENCE), stop + 1
        run_start = stop + 1


def _tail_period(text: str) -> tuple[int, int] | None:
    """(period, repeats) when the text ends in >= 4 copies of one unit of 4..300 chars."""
    tail = text[-_TAIL:]
    n = len(tail)
    for period in range(4, min(301, n // _MIN_REPEATS + 1)):
        span = period * _MIN_REPEATS
        if tail[n - span + period :] == tail[n - span : n - period]:
            repeats = _MIN_REPEATS
            while (
                span + period <= n
                and tail[n - span - period : n - span] == tail[n - span : n - span + period]
            ):
                span += period
                repeats += 1
            return period, repeats
    return None


class RepetitionLoop:
    """The same sentence (>= 12 chars; decimal points end none) occurs 4+ times, or the trace
    ends in 4+ copies of one unit: a decoding loop (error)."""

    name = "repetition_loop_v2"

    def label(self, trace: Trace) -> list[FlawLabel]:
        """At most one label, at the first repeated occurrence."""
        text = trace.response
        seen: dict[str, tuple[int, int]] = {}
        for start, end in sentences(text):
            sentence = text[start:end]
            key = " ".join(sentence.lower().split())
            first, count = seen.get(key, (start, 0))
            seen[key] = (first, count + 1)
            if count + 1 == _MIN_REPEATS:
                return [
                    make_label(
                        self.name, trace, "repetition_loop", "error",
                        f"repeated {_MIN_REPEATS}+ times: {sentence.strip()[:200]}",
                        first, end,
                    )
                ]  # fmt: skip
        found = _tail_period(text)
        if found:
            period, repeats = found
            start = len(text) - period * repeats
            return [
                make_label(
                    self.name, trace, "repetition_loop", "error",
                    f"ends in {repeats} copies of: {text[-period:][:200]!r}",
                    start, len(text),
                )
            ]  # fmt: skip
        return []
