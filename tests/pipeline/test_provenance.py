"""Provenance math on constructed scores whose right answer is known (no model needed)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from thresher.pipeline.prompts import on_policy_messages, privileged_messages
from thresher.pipeline.provenance import (
    ProvenanceThresholds,
    ProvenanceTracer,
    Role,
    categorize,
    plain_context,
    privileged_context,
    summarize_trace,
)
from thresher.schemas import Problem, Rollout
from thresher.schemas.errors import InputError
from thresher.text.segment import segment

TH = ProvenanceThresholds(likely=-1.0, gap=0.5, boost=0.5)


@pytest.mark.parametrize(
    ("t", "s", "d", "expected"),
    [
        (-0.2, -3.0, None, "teacher_originated"),
        (-3.0, -0.2, None, "student_originated"),
        (-0.3, -0.4, None, "shared"),
        (-0.3, -0.4, -0.35, "shared"),
        (-0.3, -0.9, -0.1, "boosted"),
        (-3.0, -4.0, None, "novel"),
        (-3.0, -4.0, -0.1, "novel"),
        # Teacher just likely, student just below the line and close: not the teacher's own.
        (-0.9, -1.1, None, "shared"),
        (-1.0, -1.6, None, "teacher_originated"),
    ],
)
def test_categories(t: float, s: float, d: float | None, expected: str) -> None:
    assert categorize(t, s, d, TH) == expected


def test_thresholds_move_the_boundary() -> None:
    assert categorize(-1.5, -4.0, None, TH) == "novel"
    assert categorize(-1.5, -4.0, None, ProvenanceThresholds(likely=-2.0)) == "teacher_originated"
    with pytest.raises(InputError, match="gap"):
        ProvenanceThresholds(gap=-1)


@dataclass
class FakeResult:
    """Only the two fields provenance reads from a ScoreResult."""

    span_mean_logprobs: list[float | None]
    span_token_counts: list[int]


class NoScorer:
    def score(self, requests):  # pragma: no cover - never called in these tests
        raise AssertionError("not used")


def tracer(distilled: bool = False) -> ProvenanceTracer:
    return ProvenanceTracer(
        teacher=Role("teacher", "m", NoScorer(), privileged_context),
        student=Role("student", "m", NoScorer()),
        distilled=Role("distilled", "d", NoScorer()) if distilled else None,
        thresholds=TH,
    )


def test_label_sentences_and_summary_shares() -> None:
    text = "We add 2 and 3. That is 5. So the answer is 5. Maybe it is 7."
    segs = segment(text)
    assert len(segs) == 4
    teacher = FakeResult([-0.1, -0.2, -0.3, -3.0], [6, 4, 7, 5])
    student = FakeResult([-2.5, -0.3, -0.2, -3.5], [6, 4, 7, 5])
    tr = tracer()
    rows = tr.label_sentences("t1", segs, teacher, student)
    assert [r.category for r in rows] == ["teacher_originated", "shared", "shared", "novel"]
    assert [(r.char_start, r.char_end) for r in rows] == [(s.start, s.end) for s in segs]
    assert rows[0].scorer == "provenance_v2:teacher=m[privileged],student=m[plain]"
    summary = summarize_trace("t1", "p1", tr.name, rows)
    assert summary.n_sentences == 4
    assert summary.share_teacher_originated == pytest.approx(0.25)
    assert summary.share_shared == pytest.approx(0.5)
    assert summary.share_novel == pytest.approx(0.25)
    diffs = [2.4, 0.1, -0.1, 0.5]
    counts = [6, 4, 7, 5]
    assert summary.divergence_sentence_mean == pytest.approx(sum(diffs) / 4)
    expected = sum(d * c for d, c in zip(diffs, counts, strict=True)) / sum(counts)
    assert summary.divergence == pytest.approx(expected)
    t_mean = sum(v * c for v, c in zip([-0.1, -0.2, -0.3, -3.0], counts, strict=True)) / 22
    assert summary.teacher_logprob == pytest.approx(t_mean)


def test_spans_without_tokens_are_skipped_and_distilled_boosts() -> None:
    segs = segment("One step. Two step. Three step.")
    teacher = FakeResult([-0.3, None, -0.3], [3, 0, 3])
    student = FakeResult([-0.8, -0.5, -0.4], [3, 1, 3])
    distilled = FakeResult([-0.1, -0.1, -0.35], [3, 1, 3])
    rows = tracer(distilled=True).label_sentences("t", segs, teacher, student, distilled)
    assert [r.sentence_index for r in rows] == [0, 2]
    assert [r.category for r in rows] == ["boosted", "shared"]
    assert rows[0].distilled_logprob == pytest.approx(-0.1)


def test_empty_trace_summary_has_no_divergence() -> None:
    summary = summarize_trace("t", "p", "s", [])
    assert summary.n_sentences == 0
    assert summary.divergence is None and summary.teacher_logprob is None


def _problem(solution: str | None, answer: str | None = "5") -> Problem:
    return Problem(source="t", question="What is 2 + 3?", answer=answer, solution=solution)


def _rollout(p: Problem, user: str, mode: str = "on_policy") -> Rollout:
    return Rollout(
        problem_id=p.problem_id,
        model="m",
        engine="vllm",
        mode=mode,  # type: ignore[arg-type]
        conditioned_on_ground_truth=mode == "privileged",
        prompt=f"<|user|>{user}<|end|><|assistant|>",
    )


def test_privileged_context_is_the_privileged_prompt_under_the_same_template() -> None:
    p = _problem("2 + 3 = 5, so the answer is 5.")
    plain_user = on_policy_messages(p)[0][1]
    privileged_user = privileged_messages(p)[0][1]  # type: ignore[index]
    r = _rollout(p, plain_user)
    assert plain_context(p, r) == r.prompt
    ctx = privileged_context(p, r)
    assert ctx == f"<|user|>{privileged_user}<|end|><|assistant|>"
    assert "2 + 3 = 5, so the answer is 5." in ctx
    # A trace generated with the solution in view: the student must not see it.
    teacher_made = _rollout(p, privileged_user, mode="privileged")
    assert plain_context(p, teacher_made) == r.prompt
    assert privileged_context(p, teacher_made) == ctx


def test_privileged_context_for_a_foreign_prompt_puts_the_reference_after_the_question() -> None:
    p = _problem("2 + 3 = 5.")
    r = _rollout(p, "Q: What is 2 + 3? Think.")
    ctx = privileged_context(p, r)
    assert ctx.startswith("<|user|>Q: What is 2 + 3?")
    assert ctx.index("2 + 3 = 5.") < ctx.index(" Think.")


def test_privileged_context_needs_a_solution_or_answer() -> None:
    only_answer = _problem(None)
    assert "The final answer is 5." in privileged_context(only_answer, _rollout(only_answer, "x"))
    p = _problem(None, answer=None)
    with pytest.raises(InputError, match="no reference solution or answer"):
        privileged_context(p, _rollout(p, "q"))


def test_trace_rejects_mismatched_problem() -> None:
    p = _problem("s")
    r = Rollout(problem_id="other", model="m", engine="vllm", prompt="q", completion="x.")
    with pytest.raises(InputError, match="belongs to problem other"):
        tracer().trace([(p, r)])
