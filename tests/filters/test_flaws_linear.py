"""Labelling stays linear in the trace length, with the same results as the plain definitions."""

from __future__ import annotations

import random
import re

from thresher.filters.flaws.arith import ArithStepCheck
from thresher.filters.flaws.repetition import sentences
from thresher.filters.flaws.types import Trace
from thresher.text.segment import segment

_WORDS = ["Step", "1+1=2.", "so", "\n", "\n\n", "- item", "3*4=12!", "why?", "x" * 30, "a" * 500]


def _texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(_WORDS) for _ in range(rng.randint(0, 60))) for _ in range(count)
    ] + ["", "no terminator at all " * 40, "." * 50, "b" * 1000 + "!"]


def test_sentences_match_the_regex_they_replace() -> None:
    regex = re.compile(r"[^.!?\n]{12,400}[.!?\n]")
    for text in _texts(0, 300):
        assert list(sentences(text)) == [m.span() for m in regex.finditer(text)], text


def test_step_of_matches_a_linear_scan() -> None:
    for text in _texts(1, 200):
        trace = Trace("t", text)
        steps = [(s.start, s.end) for s in segment(text)]
        for char in range(-1, len(text) + 2):
            want = next((i for i, (_, end) in enumerate(steps) if char < end), None)
            assert trace.step_of(char) == (want if want is not None else max(0, len(steps) - 1))


def test_many_wrong_steps_are_labelled_in_linear_time() -> None:
    # 8,000 wrong claims: each label looks up its step (a linear scan each was quadratic).
    text = " ".join(f"Step {i}: {i}+1={i + 2}." for i in range(8000))
    labels = ArithStepCheck().label(Trace("t", text, question="q", gold="1"))
    assert len(labels) == 8000
    assert [x.step for x in labels[:3]] == [0, 1, 2] and labels[-1].step == 7999
