"""DES decision events: conditional rules and the tamper-evident hash chain."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from thresher.schemas import (
    GENESIS_HASH,
    DecisionContext,
    DecisionEvent,
    DecisionLogic,
    HumanOverrideRecord,
    QualityIndicators,
    TemporalMetadata,
    event_hash,
    seal,
    to_arrow_table,
    verify_chain,
)


def make_event(i: int, tier: str = "lightweight", **kw) -> DecisionEvent:
    return DecisionEvent(
        decision_context=DecisionContext(
            decision_id=f"d{i}",
            decision_type="curation:trace_selection",
            subject_ids=[f"t{i}"],
            run_id="run-1",
        ),
        decision_logic=DecisionLogic(
            logic_type="policy_evaluation",
            output="drop",
            reason_code="incorrect",
            thresholds={"min_pass_rate": 0.1},
        ),
        temporal_metadata=TemporalMetadata(evidence_tier=tier),
        **kw,
    )


def make_chain(n: int) -> list[DecisionEvent]:
    chain, previous = [], GENESIS_HASH
    for i in range(n):
        event = seal(make_event(i), previous, i)
        chain.append(event)
        previous = event.current_hash
    return chain


def test_sampled_and_full_tiers_need_a_risk_level():
    with pytest.raises(ValidationError, match="decision_risk_level"):
        make_event(0, tier="full")
    ok = make_event(
        0, tier="full", decision_quality_indicators=QualityIndicators(decision_risk_level="low")
    )
    assert ok.temporal_metadata.evidence_tier == "full"


def test_override_needs_its_full_record():
    with pytest.raises(ValidationError, match="actor"):
        HumanOverrideRecord(override_occurred=True, original_output="drop", new_output="keep")
    record = HumanOverrideRecord(
        override_occurred=True,
        original_output="drop",
        new_output="keep",
        actor="ana",
        timestamp=datetime.now(UTC),
        rationale="reviewed by hand",
    )
    assert record.override_occurred


def test_human_decision_needs_actor_and_rationale():
    logic = DecisionLogic(logic_type="human_decision", output="keep", reason_code="manual")
    context = DecisionContext(
        decision_id="d", decision_type="curation:review", subject_ids=["t"], run_id="r"
    )
    with pytest.raises(ValidationError, match="actor and rationale"):
        DecisionEvent(decision_context=context, decision_logic=logic)
    event = DecisionEvent(
        decision_context=context,
        decision_logic=logic,
        human_override_record=HumanOverrideRecord(actor="ana", rationale="looked right"),
    )
    assert event.human_override_record.actor == "ana"


def test_logic_type_must_be_known_or_namespaced():
    with pytest.raises(ValidationError, match="unknown logic_type"):
        DecisionLogic(logic_type="vibes", output="keep", reason_code="x")
    assert DecisionLogic(logic_type="curation:dedup", output="drop", reason_code="x").logic_type


def test_intact_chain_verifies():
    chain = make_chain(5)
    report = verify_chain(chain)
    assert report.ok and report.checked == 5
    assert chain[1].temporal_metadata.hash_chain.previous_hash == chain[0].current_hash


def test_edited_event_is_detected_at_its_index():
    chain = make_chain(5)
    chain[2].decision_logic.output = "keep"
    report = verify_chain(chain)
    assert not report.ok and report.broken_index == 2 and "edited" in report.reason


def test_removed_event_is_detected():
    chain = make_chain(5)
    del chain[3]
    report = verify_chain(chain)
    assert not report.ok and report.broken_index == 3


def test_reordered_events_are_detected():
    chain = make_chain(5)
    chain[1], chain[2] = chain[2], chain[1]
    report = verify_chain(chain)
    assert not report.ok and report.broken_index == 1


def test_resealing_an_edit_still_breaks_the_next_link():
    chain = make_chain(4)
    edited = chain[1].model_copy(deep=True)
    edited.decision_logic.reason_code = "selected"
    chain[1] = seal(edited, chain[0].current_hash, 1)
    report = verify_chain(chain)
    assert not report.ok and report.broken_index == 2


def test_hash_survives_an_arrow_round_trip():
    event = make_chain(1)[0]
    row = to_arrow_table(DecisionEvent, [event]).to_pylist()[0]

    def fix_maps(value):
        if isinstance(value, dict):
            return {k: fix_maps(v) for k, v in value.items()}
        return value

    row["decision_logic"]["thresholds"] = dict(row["decision_logic"]["thresholds"])
    row["decision_logic"]["parameters"] = dict(row["decision_logic"]["parameters"])
    restored = DecisionEvent.model_validate(fix_maps(row))
    assert event_hash(restored) == event.current_hash
