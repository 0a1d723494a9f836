"""The DecisionEvent model (DES 0.3.0): its rules, its JSON form, and what sealing refuses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from thresher.schemas import (
    DecisionContext,
    DecisionEvent,
    DecisionEventV1,
    DecisionLogic,
    HumanOverrideRecord,
    OverrideActor,
    QualityIndicators,
    TemporalMetadata,
    ThresherError,
    des_violations,
    event_hash,
    row_to_event,
    seal_run,
    to_arrow_table,
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


def test_sampled_and_full_tiers_need_a_risk_level() -> None:
    with pytest.raises(ValidationError, match="decision_risk_level"):
        make_event(0, tier="full")
    ok = make_event(
        0, tier="full", decision_quality_indicators=QualityIndicators(decision_risk_level="low")
    )
    assert ok.temporal_metadata.evidence_tier == "full"


def test_override_needs_its_full_record_with_des_names() -> None:
    with pytest.raises(ValidationError, match="override_actor"):
        HumanOverrideRecord(
            override_occurred=True, original_output="drop", overridden_output="select"
        )
    record = HumanOverrideRecord(
        override_occurred=True,
        original_output="drop",
        overridden_output="select",
        override_actor=OverrideActor(actor_id="ana"),
        override_timestamp=datetime.now(UTC),
        override_rationale="reviewed by hand",
    )
    assert record.override_occurred


def test_human_decision_needs_actor_and_rationale() -> None:
    logic = DecisionLogic(logic_type="human_decision", output="select", reason_code="manual")
    context = DecisionContext(
        decision_id="d", decision_type="curation:review", subject_ids=["t"], run_id="r"
    )
    with pytest.raises(ValidationError, match="override_actor and override_rationale"):
        DecisionEvent(decision_context=context, decision_logic=logic)
    event = DecisionEvent(
        decision_context=context,
        decision_logic=logic,
        human_override_record=HumanOverrideRecord(
            override_actor=OverrideActor(actor_id="ana"), override_rationale="looked right"
        ),
    )
    assert des_violations(event.to_des()) == []


def test_logic_type_must_be_core_or_namespaced() -> None:
    with pytest.raises(ValidationError, match="unknown logic_type"):
        DecisionLogic(logic_type="vibes", output="select", reason_code="x")
    assert DecisionLogic(logic_type="curation:dedup", output="drop", reason_code="x").logic_type


def test_assignments_are_validated() -> None:
    event = make_event(0)
    with pytest.raises(ValidationError):
        event.temporal_metadata.evidence_tier = "partial"  # type: ignore[assignment]
    with pytest.raises(ValidationError):
        event.decision_quality_indicators.confidence_score = 3.0


def test_the_json_form_has_no_nulls_but_a_null_first_previous_hash() -> None:
    (sealed,) = seal_run([make_event(0)])
    des = sealed.to_des()
    assert des["schema_version"] == "0.3.0"
    assert des["temporal_metadata"]["hash_chain"]["previous_hash"] is None
    assert "decision_quality_indicators" not in des  # nothing assessed, no empty lists
    assert "decision_boundary" not in des
    assert "dataset_version" not in des["decision_context"]
    assert "model_inference" not in des["decision_logic"]

    def no_null(value, path=""):
        if isinstance(value, dict):
            for key, item in value.items():
                if f"{path}.{key}" != ".temporal_metadata.hash_chain.previous_hash":
                    no_null(item, f"{path}.{key}")
        elif isinstance(value, list):
            for item in value:
                no_null(item, path)
        else:
            assert value is not None, path

    no_null(des)
    assert des_violations(des) == []


def test_sealing_refuses_an_event_edited_into_breaking_des() -> None:
    event = make_event(0, tier="lightweight")
    # Editing a nested group after construction skips the event-level rules; sealing re-checks.
    event.temporal_metadata.evidence_tier = "full"
    with pytest.raises(ThresherError, match=r"breaks DES 0.3.0.*tier_risk"):
        seal_run([event])


def test_sealing_leaves_its_input_alone() -> None:
    event = make_event(0)
    seal_run([event])
    assert event.current_hash == ""


def test_hash_survives_an_arrow_round_trip() -> None:
    (event,) = seal_run([make_event(0, tier="full", decision_quality_indicators=QualityIndicators(
        decision_risk_level="low", confidence_score=0.25))])  # fmt: skip
    row = to_arrow_table(DecisionEvent, [event]).to_pylist()[0]
    row["decision_logic"]["thresholds"] = [
        {"key": k, "value": v} for k, v in row["decision_logic"]["thresholds"]
    ]  # how maps come back from SQL
    restored = row_to_event(row)
    assert restored == event.to_des()
    assert event_hash(restored) == event.current_hash


def test_the_legacy_model_is_the_pre_des_layout() -> None:
    fields = DecisionEventV1.model_fields["human_override_record"].annotation.model_fields
    assert {"actor", "rationale", "new_output", "timestamp"} <= set(fields)
