"""Assessed risk and confidence (risk_v1, confidence_v1), and the evidence tier they imply."""

from __future__ import annotations

import pytest

from thresher.config import SelectionConfig
from thresher.filters.flaws.judge import Judgment, judgment_labels, split_paragraphs
from thresher.filters.flaws.types import Trace
from thresher.stages.assessment import assess, judge_vote
from thresher.stages.decision_events import decision_events, evidence_tier
from thresher.stages.policy import FlawEvidence, TraceEvidence, decide


def ev(tid: str, correct: bool | None = True, status: str | None = "ok", **kw) -> TraceEvidence:
    return TraceEvidence(
        tid, "p1", verdict_status=status, correct=correct, verifier="math_v1", **kw
    )


def one(trace: TraceEvidence, policy: SelectionConfig | None = None):
    decisions = decide([trace], policy or SelectionConfig())
    decision = next(d for d in decisions if d.subject_id == trace.trace_id)
    return decision, assess(decision)


JUDGE = FlawEvidence("judge_v2", "judge_first_error", "error", 1, votes=2, samples=3, model="qwen")


@pytest.mark.parametrize(
    ("trace", "policy", "reason", "risk", "confidence", "flags"),
    [
        (ev("a"), None, "selected", "high", 1.0, []),
        (ev("b", correct=False), None, "incorrect", "low", 1.0, []),
        (ev("c", correct=False, status="no_answer"), None, "incorrect:no_answer", "low", 0.9,
         ["verdict_status:no_answer"]),
        (ev("d", correct=None, status="timeout"), None, "unverifiable:timeout", "low", 0.5,
         ["verifier_undecided"]),
        (ev("e", correct=None, status=None), None, "unverified", "low", 0.5, ["no_verdict"]),
        (ev("f", flaws=[FlawEvidence("arith_step_check_v1", "wrong_arithmetic", "error", 0)]),
         None, "flawed_positive:arith_step_check", "low", 0.9, []),
        (ev("g", flaws=[FlawEvidence("format_v1", "no_final_line", "warning")]),
         SelectionConfig(drop_flaw_severity="warning"), "flawed_positive:format", "medium", 0.6,
         ["heuristic_flaw"]),
        (ev("h", flaws=[JUDGE]), None, "flawed_positive:judge", "medium", 0.666667,
         ["judge_split_vote"]),
        (ev("i", flaws=[FlawEvidence("format_v1", "no_final_line", "warning")]), None,
         "selected", "high", 0.7, ["unblocked_flaws"]),
        (ev("j", correct=False), SelectionConfig(require_correct=False), "selected", "critical",
         1.0, []),
        (ev("k", mode="privileged", conditioned=True), None, "conditioned_on_reference", "low",
         1.0, []),
    ],
)  # fmt: skip
def test_risk_and_confidence_rules(trace, policy, reason, risk, confidence, flags) -> None:
    decision, a = one(trace, policy)
    assert decision.reason_code == reason
    assert (a.risk, a.confidence, a.flags) == (risk, confidence, flags)
    assert all(0.0 <= value <= 1.0 for _, value, _ in a.components)


def test_a_judge_drop_names_its_model_and_vote_share() -> None:
    _, a = one(ev("h", flaws=[JUDGE]))
    assert a.model == ("qwen", 0.666667)
    no_votes = FlawEvidence("judge_v2", "judge_first_error", "error", 1)
    _, b = one(ev("h2", flaws=[no_votes]))
    assert b.confidence == 0.5 and b.model == ("judge_v2", None)
    assert b.flags == ["judge_vote_unknown"]


def test_problem_decisions_rest_on_the_share_of_decided_rollouts() -> None:
    traces = [ev("a", correct=False), ev("b", correct=None, status="timeout"), ev("c")]
    problem = next(
        d for d in decide(traces, SelectionConfig(min_pass_rate=0.9)) if d.level == "problem"
    )
    a = assess(problem)
    assert problem.reason_code == "pass_rate_below_min"
    assert (a.risk, a.confidence) == ("low", 0.666667)
    assert a.flags == ["pass_rate_partly_undecided"] and a.ground_truth is True


def test_the_tier_follows_the_risk() -> None:
    policy = SelectionConfig(drop_flaw_severity="warning", sampled_fraction=0.0)
    warn = FlawEvidence("format_v1", "no_final_line", "warning")
    traces = [ev("sel"), ev("heur", flaws=[warn]), ev("bulk", correct=False)]
    events = decision_events(decide(traces, policy), policy, "run", "h")
    tiers = {e.decision_context.subject_ids[0]: e.temporal_metadata.evidence_tier for e in events}
    assert tiers == {"p1": "full", "sel": "full", "heur": "sampled", "bulk": "lightweight"}
    everything = SelectionConfig(sampled_fraction=1.0)
    bulk = next(d for d in decide(traces, everything) if d.subject_id == "bulk")
    assert evidence_tier(bulk, "low", everything, "run") == "sampled"


def test_judge_vote_reads_the_judge_labelers_own_evidence() -> None:
    text = "<think>Tom has 3 bags.\n\nEach has 4 apples, so 3 * 4 = 13.</think>\n\nAnswer: 13"
    trace = Trace("t", text, question="How many apples?", gold="12")
    judgment = Judgment("t", "judge-model", split_paragraphs(trace.response))
    judgment.completions = ["\\boxed{1}", "\\boxed{-1}", "\\boxed{1}"]
    judgment.finish_reasons = ["stop"] * 3
    [label] = judgment_labels("judge_v2", trace, judgment)
    assert judge_vote(label.evidence) == ("judge-model", 2, 3)
    assert judge_vote("arith: 3 * 4 = 13") is None
