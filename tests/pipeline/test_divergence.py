"""Divergence ranking and budgeted selection."""

from __future__ import annotations

import pytest

from thresher.pipeline.divergence import select_by_divergence, trace_divergence
from thresher.schemas import SentenceScore, TraceScore
from thresher.schemas.errors import InputError


def sent(t: float, s: float, tt: int, st: int) -> SentenceScore:
    return SentenceScore(
        trace_id="x",
        sentence_index=0,
        char_start=0,
        char_end=1,
        scorer="s",
        teacher_logprob=t,
        student_logprob=s,
        teacher_tokens=tt,
        student_tokens=st,
        category="shared",
    )


def test_token_and_sentence_means_differ_by_weighting() -> None:
    d = trace_divergence([sent(-1.0, -3.0, 10, 10), sent(-1.0, -1.5, 2, 2)])
    assert d.sentence_mean == pytest.approx((2.0 + 0.5) / 2)
    assert d.token_mean == pytest.approx((2.0 * 10 + 0.5 * 2) / 12)
    # Different tokenizers: weight by the mean of both counts.
    d2 = trace_divergence([sent(0.0, -1.0, 4, 8), sent(0.0, 0.0, 2, 2)])
    assert d2.token_mean == pytest.approx(6 / 8)
    assert trace_divergence([]).token_mean is None


def ts(trace: str, problem: str, div: float | None, teacher: float | None = -1.0) -> TraceScore:
    return TraceScore(
        trace_id=trace,
        problem_id=problem,
        scorer="s",
        n_sentences=1,
        divergence=div,
        teacher_logprob=teacher,
    )


TRACES = [
    ts("a1", "A", 2.0),
    ts("a2", "A", 1.5),
    ts("a3", "A", 1.0),
    ts("b1", "B", 0.5),
    ts("b2", "B", -0.5),
    ts("c1", "C", None),
    ts("d1", "D", 3.0, teacher=-6.0),
]


def test_ranking_favours_high_divergence() -> None:
    assert select_by_divergence(TRACES) == ["d1", "a1", "a2", "a3", "b1", "b2"]


def test_global_and_per_problem_budgets() -> None:
    assert select_by_divergence(TRACES, budget=3) == ["d1", "a1", "a2"]
    assert select_by_divergence(TRACES, per_problem=1) == ["d1", "a1", "b1"]
    assert select_by_divergence(TRACES, budget=4, per_problem=2) == ["d1", "a1", "a2", "b1"]
    assert select_by_divergence(TRACES, budget=0) == []


def test_floors_exclude_negative_and_teacher_unlikely_traces() -> None:
    chosen = select_by_divergence(TRACES, min_divergence=0.0, min_teacher_logprob=-3.0)
    assert chosen == ["a1", "a2", "a3", "b1"]


def test_ties_break_by_trace_id_and_bad_budget_fails() -> None:
    tied = [ts("z", "P", 1.0), ts("m", "P", 1.0), ts("a", "Q", 1.0)]
    assert select_by_divergence(tied) == ["a", "m", "z"]
    with pytest.raises(InputError, match="per_problem"):
        select_by_divergence(tied, per_problem=-1)
