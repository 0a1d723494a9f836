"""The selection policy: reason codes, dedup among survivors, quotas, funnel, reviews, events."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from thresher.config import SelectionConfig
from thresher.pipeline.review import Review
from thresher.schemas import des_violations, seal_run, verify_events
from thresher.stages.decision_events import decision_events
from thresher.stages.policy import (
    FlawEvidence,
    TraceEvidence,
    decide,
    funnel,
)


def ev(tid: str, pid: str = "p1", correct: bool | None = True, **kw: object) -> TraceEvidence:
    status = kw.pop("status", "ok" if correct is not None else "timeout")
    return TraceEvidence(tid, pid, verdict_status=status, correct=correct, verifier="math_v1", **kw)  # type: ignore[arg-type]


def by_subject(decisions: list) -> dict[str, str]:
    return {d.subject_id: d.reason_code for d in decisions}


def test_reason_codes_for_each_rule() -> None:
    flaw = FlawEvidence("arith_step_check_v1", "wrong_arithmetic", "error", 2)
    traces = [
        ev("t1"),
        ev("t2", correct=False),
        ev("t3", correct=None),
        ev("t4", flaws=[flaw]),
        ev("t5", flaws=[FlawEvidence("format_v1", "no_final_line", "warning")]),
        TraceEvidence("t6", "p1"),
        ev("t7", correct=False, status="no_answer"),
    ]
    reasons = by_subject(decide(traces, SelectionConfig()))
    assert reasons["t1"] == "selected" and reasons["t5"] == "selected"
    assert reasons["t2"] == "incorrect"
    assert reasons["t3"] == "unverifiable:timeout"  # the verifier could not decide
    assert reasons["t7"] == "incorrect:no_answer"  # the response failed on its own account
    assert reasons["t4"] == "flawed_positive:arith_step_check"
    assert reasons["t6"] == "unverified"
    assert reasons["p1"] == "selected"


def test_lower_severity_floor_and_ignored_labelers() -> None:
    traces = [ev("t5", flaws=[FlawEvidence("format_v1", "no_final_line", "warning")])]
    strict = SelectionConfig(drop_flaw_severity="warning")
    assert by_subject(decide(traces, strict))["t5"] == "flawed_positive:format"
    ignoring = SelectionConfig(drop_flaw_severity="warning", ignore_labelers=["format"])
    assert by_subject(decide(traces, ignoring))["t5"] == "selected"


def test_near_duplicates_keep_one_survivor_per_cluster() -> None:
    traces = [
        ev("a", cluster_id="c1", is_representative=True, correct=False),
        ev("b", cluster_id="c1", is_representative=False),
        ev("c", cluster_id="c1", is_representative=False),
    ]
    reasons = by_subject(decide(traces, SelectionConfig()))
    assert reasons["a"] == "incorrect"  # the representative is gone, a duplicate survives
    kept = [t for t in "bc" if reasons[t] == "selected"]
    assert len(kept) == 1
    other = ({"b", "c"} - set(kept)).pop()
    assert reasons[other] == f"near_duplicate_of:{kept[0]}"


def test_contamination_and_pass_rate_are_problem_level() -> None:
    traces = [ev("x1", "px", contaminated=["gsm8k_test"]), ev("y1", "py"), ev("y2", "py")]
    decisions = decide(traces, SelectionConfig(max_pass_rate=0.9))
    reasons = by_subject(decisions)
    assert reasons["px"] == reasons["x1"] == "contaminated:gsm8k_test"
    assert reasons["py"] == reasons["y1"] == "pass_rate_above_max"


def test_quota_and_budget_are_deterministic() -> None:
    traces = [ev(f"t{i}", f"p{i % 3}") for i in range(9)]
    policy = SelectionConfig(max_per_problem=2, budget=4, seed=7)
    first = decide(traces, policy)
    assert first == decide(list(reversed(traces)), policy)
    reasons = [d.reason_code for d in first if d.level == "trace"]
    assert reasons.count("selected") == 4
    assert reasons.count("over_problem_quota") + reasons.count("over_budget") == 5
    assert reasons.count("over_budget") >= 1
    per_problem = [d.problem_id for d in first if d.level == "trace" and d.output == "select"]
    assert max(per_problem.count(p) for p in set(per_problem)) <= 2


def test_divergence_bounds() -> None:
    traces = [ev("lo", divergence=0.1), ev("mid", divergence=0.5), ev("hi", divergence=0.9)]
    reasons = by_subject(decide(traces, SelectionConfig(min_divergence=0.2, max_divergence=0.8)))
    assert reasons == {
        "p1": "selected",
        "lo": "divergence_below_min",
        "mid": "selected",
        "hi": "divergence_above_max",
    }


def test_funnel_counts_follow_the_stage_each_trace_missed() -> None:
    flaw = FlawEvidence("arith_step_check_v1", "wrong_arithmetic", "error")
    traces = [
        ev("a", correct=False),
        ev("b", flaws=[flaw]),
        ev("c", cluster_id="k"),
        ev("d", cluster_id="k"),
        ev("e"),
        ev("f"),
    ]
    counts = funnel(decide(traces, SelectionConfig(max_per_problem=2), problem_ids=["p1", "p9"]))
    assert counts == {
        "problems": 2,
        "rollouts": 6,
        "correct": 5,
        "clean": 4,
        "unconditioned": 4,
        "after_dedup": 3,
        "selected": 2,
    }


def _items(events):
    return [(f"event {i}", e.to_des(), None) for i, e in enumerate(events)]


def test_events_conform_to_des_and_form_a_verifiable_chain_with_tiers() -> None:
    traces = [ev(f"t{i}", correct=i % 2 == 0) for i in range(40)]
    policy = SelectionConfig(sampled_fraction=0.3)
    events = seal_run(
        decision_events(decide(traces, policy), policy, run_id="run-1", recipe_hash="h" * 64)
    )
    assert all(des_violations(e.to_des()) == [] for e in events)
    assert verify_events(_items(events)).ok
    tiers = {e.temporal_metadata.evidence_tier for e in events}
    assert tiers == {"lightweight", "sampled", "full"}
    for event in events:
        if event.decision_logic.output == "select":
            assert event.temporal_metadata.evidence_tier == "full"
    trace_events = [
        e for e in events if e.decision_context.decision_type.endswith("trace_selection")
    ]
    assert all(
        [u.coupling_type for u in e.decision_boundary.upstream_decisions] == ["problem_decision"]
        for e in trace_events
    )
    full = next(e for e in trace_events if e.temporal_metadata.evidence_tier == "full")
    assert "flaws" in json.loads(full.evidence_json)
    light = next(e for e in trace_events if e.temporal_metadata.evidence_tier == "lightweight")
    assert light.decision_logic.thresholds is None  # lightweight: what DES requires, and why
    assert light.decision_quality_indicators.decision_risk_level == "low"
    tampered = [e.to_des() for e in events]
    tampered[5]["decision_logic"]["reason_code"] = "tampered"
    report = verify_events((f"event {i}", e, None) for i, e in enumerate(tampered))
    assert [(f.where, f.rule) for f in report.findings] == [("event 5", "chain:edited")]


def test_events_are_reproducible_apart_from_time() -> None:
    traces = [ev("a"), ev("b", correct=False)]
    policy = SelectionConfig()
    one = decision_events(decide(traces, policy), policy, "r", "h")
    two = decision_events(decide(traces, policy), policy, "r", "h")
    assert [e.decision_context.decision_id for e in one] == [
        e.decision_context.decision_id for e in two
    ]
    assert [e.decision_logic.reason_code for e in one] == ["selected", "selected", "incorrect"]


def test_conditioned_traces_stay_out_unless_the_recipe_opts_in() -> None:
    flaw = FlawEvidence("reference_leak_v1", "mentions_reference", "error", 0)
    traces = [
        ev("own", mode="on_policy"),
        ev("shown", mode="privileged", conditioned=True),
        ev("shown_wrong", mode="privileged", conditioned=True, correct=False),
        ev("shown_flawed", mode="privileged", conditioned=True, flaws=[flaw]),
    ]
    reasons = by_subject(decide(traces, SelectionConfig()))
    assert reasons["own"] == "selected"
    assert reasons["shown"] == "conditioned_on_reference"
    # Earlier rules keep their more telling reason codes.
    assert reasons["shown_wrong"] == "incorrect"
    assert reasons["shown_flawed"] == "flawed_positive:reference_leak"
    counts = funnel(decide(traces, SelectionConfig()))
    assert (counts["clean"], counts["unconditioned"], counts["selected"]) == (2, 1, 1)
    opted_in = by_subject(decide(traces, SelectionConfig(allow_conditioned=True)))
    assert opted_in["shown"] == "selected"
    assert opted_in["shown_flawed"] == "flawed_positive:reference_leak"


def test_pass_rate_uses_the_policy_modes_and_counts_failures() -> None:
    traces = [
        ev("on1", mode="on_policy", correct=False),
        ev("on2", mode="on_policy", correct=False, status="no_answer"),
        ev("on3", mode="on_policy", correct=None),  # the verifier timed out: left out, counted
        ev("on4", mode="on_policy"),
        ev("pr1", mode="privileged", conditioned=True),
        ev("pr2", mode="privileged", conditioned=True),
    ]
    decisions = decide(traces, SelectionConfig())
    problem = next(d for d in decisions if d.level == "problem")
    # 1 of 3 decided on-policy samples; the two privileged successes do not count.
    assert problem.evidence["pass_rate"] == round(1 / 3, 6)
    assert (problem.evidence["n_decided"], problem.evidence["n_undecided"]) == (3, 1)
    too_hard = by_subject(decide(traces, SelectionConfig(min_pass_rate=0.5)))
    assert too_hard["p1"] == "pass_rate_below_min"
    mixed = SelectionConfig(min_pass_rate=0.5, pass_rate_modes=["on_policy", "privileged"])
    assert by_subject(decide(traces, mixed))["p1"] != "pass_rate_below_min"


def test_pass_rate_unknown_only_matters_inside_a_window() -> None:
    traces = [ev("pr1", mode="privileged", conditioned=True)]  # no on-policy sample at all
    decisions = decide(traces, SelectionConfig(allow_conditioned=True))
    problem = next(d for d in decisions if d.level == "problem")
    assert problem.evidence["pass_rate"] is None and problem.reason_code == "selected"
    windowed = by_subject(decide(traces, SelectionConfig(max_pass_rate=0.9)))
    assert windowed["p1"] == "pass_rate_unknown"


def test_teacher_divergence_selection_keeps_the_highest_divergence() -> None:
    traces = [
        ev("low", divergence=0.1),
        ev("high", divergence=0.9),
        ev("mid", divergence=0.5),
        ev("other", pid="p2", divergence=0.7),
        ev("unscored"),
    ]
    budget = by_subject(decide(traces, SelectionConfig(divergence_budget=2)))
    chosen = {t for t in ("low", "high", "mid", "other") if budget[t] == "selected"}
    assert chosen == {"high", "other"}
    assert budget["low"] == budget["mid"] == "divergence_rank_cut"
    assert budget["unscored"] == "divergence_unscored"
    share = by_subject(decide(traces, SelectionConfig(divergence_fraction=0.4)))  # ceil(0.4 * 5)
    names = {"low", "high", "mid", "other", "unscored"}
    assert sorted(t for t, r in share.items() if r == "selected" and t in names) == [
        "high",
        "other",
    ]
    counts = funnel(decide(traces, SelectionConfig(divergence_budget=2)))
    assert (counts["after_dedup"], counts["selected"]) == (5, 2)
    assert by_subject(decide(traces, SelectionConfig()))["low"] == "selected"  # off by default


def _review(trace_id: str, output: str, actor: str = "ana") -> Review:
    return Review(
        trace_id,
        output,
        actor,
        "looked at it",
        datetime(2026, 1, 1, tzinfo=UTC),  # type: ignore[arg-type]
        decision_id=f"review-of-{trace_id}",
    )


def test_a_kept_review_beats_every_rule_and_records_what_the_policy_said() -> None:
    traces = [ev("wrong", correct=False), ev("ok1"), ev("ok2"), ev("dup", cluster_id="c")]
    policy = SelectionConfig(max_per_problem=1)
    plain = {d.subject_id: d for d in decide(traces, policy)}
    reviewed = {d.subject_id: d for d in decide(traces, policy, reviews={
        "wrong": _review("wrong", "select")})}  # fmt: skip
    assert plain["wrong"].reason_code == "incorrect"
    kept = reviewed["wrong"]
    assert (kept.output, kept.reason_code) == ("select", "selected")
    assert kept.automated == ("drop", "incorrect") and kept.overridden
    # The person's pick takes the problem's one slot; the policy's own pick makes room.
    assert [s for s, d in reviewed.items() if d.level == "trace" and d.output == "select"] == [
        "wrong"
    ]
    assert all(not d.overridden for s, d in reviewed.items() if s != "wrong")


def test_a_dropped_review_overrides_a_selection_and_agreeing_reviews_are_no_override() -> None:
    traces = [ev("good"), ev("bad", correct=False), ev("other", "p2")]
    decisions = decide(traces, SelectionConfig(), reviews={
        "good": _review("good", "drop"), "bad": _review("bad", "drop"),
        "unknown": _review("unknown", "select"),
    })  # fmt: skip
    by = {d.subject_id: d for d in decisions}
    assert (by["good"].output, by["good"].reason_code, by["good"].stage) == (
        "drop", "dropped_by_review", "selected",
    )  # fmt: skip
    assert by["good"].overridden and by["good"].review is not None
    assert by["bad"].reason_code == "incorrect" and not by["bad"].overridden  # agrees
    assert by["bad"].review is not None
    assert by["p1"].reason_code == "no_trace_selected"
    assert "unknown" not in by  # a review of a trace outside the selection is ignored


def test_override_events_carry_a_complete_des_override_record() -> None:
    traces = [ev("wrong", correct=False), ev("good")]
    policy = SelectionConfig()
    decisions = decide(traces, policy, reviews={"wrong": _review("wrong", "select"),
                                                "good": _review("good", "drop", "bo")})  # fmt: skip
    events = {e.decision_context.subject_ids[0]: e for e in seal_run(
        decision_events(decisions, policy, "run-r", "h" * 64))}  # fmt: skip
    kept = events["wrong"].to_des()
    record = kept["human_override_record"]
    assert record["override_occurred"] is True and record["override_type"] == "approval"
    assert (record["original_output"], record["overridden_output"]) == ("drop", "select")
    assert record["override_actor"] == {"actor_id": "ana"}
    assert record["override_rationale"] == "looked at it"
    assert kept["decision_logic"]["output"] == record["overridden_output"]
    assert {"decision_id": "review-of-wrong", "system_id": "thresher",
            "coupling_type": "human_review"} in kept["decision_boundary"]["upstream_decisions"]  # fmt: skip
    # Entering a training set without a correct verdict is critical; a person decided.
    assert kept["decision_quality_indicators"]["decision_risk_level"] == "critical"
    assert "confidence_score" not in kept["decision_quality_indicators"]
    dropped = events["good"].to_des()
    assert dropped["human_override_record"]["override_type"] == "rejection"
    assert dropped["decision_quality_indicators"]["decision_risk_level"] == "medium"
    assert all(des_violations(e.to_des()) == [] for e in events.values())
