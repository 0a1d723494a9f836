"""Provenance with the real embedded model in two roles: the privileged teacher sees the solution."""

from __future__ import annotations

import pytest

from thresher.pipeline.divergence import select_by_divergence
from thresher.pipeline.prompts import on_policy_messages
from thresher.schemas import Problem, Rollout
from thresher.stages.provenance import ProvenanceStage
from thresher.text.segment import segment

# The copied step holds what the question does not: a plan, its wording and its numbers.
COPIED = (
    "Step 1: Regroup the orchard into 2391 tidy rows of exactly three trees, "
    "which the farmer calls the Kestrel layout, giving 7173 trees."
)
SOLUTION = (
    f"{COPIED}\nStep 2: Each tree gives 3 baskets, so 7173 * 3 = 21519.\nThe answer is 21519."
)
OWN = "Let me think about this problem carefully and solve it one step at a time."


def rollout(problem: Problem, engine, text: str, index: int) -> Rollout:  # type: ignore[no-untyped-def]
    from thresher.pipeline.engines.base import GenerationRequest

    prompt = engine.prompt_text(GenerationRequest(key="k", messages=on_policy_messages(problem)))
    return Rollout(
        problem_id=problem.problem_id,
        model=engine.model_name,
        engine="vllm",
        prompt=prompt,
        completion=text,
        sample_index=index,
    )


@pytest.mark.slow
def test_copied_reference_sentence_is_teacher_originated(vllm_engine) -> None:  # type: ignore[no-untyped-def]
    problem = Problem(
        source="prov-test",
        question="An orchard has 4817 plum trees and 2356 pear trees. Each tree gives 3 "
        "baskets of fruit. How many baskets does the orchard give?",
        answer="21519",
        solution=SOLUTION,
    )
    copied_trace = f"{OWN}\n{COPIED}\nStep 2: Each tree gives 3 baskets, so 7173 * 3 = 21519."
    own_trace = f"{OWN}\nWe need to add the trees first and then multiply by the baskets."
    tracer = ProvenanceStage(engine=vllm_engine).tracer  # one model plays both roles
    pairs = [
        (problem, rollout(problem, vllm_engine, copied_trace, 0)),
        (problem, rollout(problem, vllm_engine, own_trace, 1)),
    ]
    sentences, traces = tracer.trace(pairs)
    copied_id, own_id = pairs[0][1].trace_id, pairs[1][1].trace_id
    rows = [s for s in sentences if s.trace_id == copied_id]
    assert [copied_trace[s.char_start : s.char_end] for s in rows] == [
        seg.text for seg in segment(copied_trace)
    ]
    copied = next(s for s in rows if copied_trace[s.char_start : s.char_end] == COPIED)
    assert copied.category == "teacher_originated", (copied.teacher_logprob, copied.student_logprob)
    assert copied.teacher_logprob - copied.student_logprob > 1.0
    assert copied.teacher_tokens == copied.student_tokens > 10  # one tokenizer, two roles
    # The opening sentence is not in the solution: no role owns it more than the other.
    opening = next(s for s in rows if s.sentence_index == 0)
    assert opening.category != "teacher_originated"
    assert abs(opening.teacher_logprob - opening.student_logprob) < 1.0
    # The trace built on the reference diverges more, so budgeted selection takes it first.
    by_id = {t.trace_id: t for t in traces}
    assert by_id[copied_id].share_teacher_originated > 0
    assert by_id[copied_id].divergence > by_id[own_id].divergence  # type: ignore[operator]
    assert select_by_divergence(traces, budget=1) == [copied_id]
