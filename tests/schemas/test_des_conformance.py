"""The DES 0.3.0 conformance checker: required groups and fields, types, the conditional rules.

Cases follow the specification (`schema/decision-event.schema.json` of
governance-evidence/decision-event-schema, 0.3.0); the events here are written for these tests.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thresher.schemas import des_violations


def minimal() -> dict[str, Any]:
    return {
        "schema_version": "0.3.0",
        "decision_context": {"decision_id": "d-1", "decision_type": "curation:trace_selection"},
        "decision_logic": {"logic_type": "policy_evaluation", "output": "drop"},
        "human_override_record": {"override_occurred": False},
        "temporal_metadata": {
            "event_timestamp": "2026-01-01T00:00:00Z",
            "sequence_number": 0,
            "hash_chain": {"previous_hash": None, "current_hash": "ab", "algorithm": "SHA-256"},
            "evidence_tier": "lightweight",
        },
    }


def rules(event: Any) -> set[tuple[str, str]]:
    return {(v.rule, v.path) for v in des_violations(event)}


def without(event: dict[str, Any], path: str) -> dict[str, Any]:
    out = copy.deepcopy(event)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node[key]
    del node[last]
    return out


def with_value(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(event)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return out


def test_the_minimal_event_conforms_and_extensions_are_allowed() -> None:
    assert des_violations(minimal()) == []
    extended = with_value(minimal(), "decision_context.run_id", "r")
    extended = with_value(extended, "decision_logic.reason_code", "incorrect")
    extended = with_value(extended, "temporal_metadata.hash_chain.chain_format", "x/2")
    extended["evidence_json"] = "{}"
    assert des_violations(extended) == []


@pytest.mark.parametrize(
    "path",
    [
        "schema_version",
        "decision_context",
        "decision_logic",
        "human_override_record",
        "temporal_metadata",
        "decision_context.decision_id",
        "decision_context.decision_type",
        "decision_logic.logic_type",
        "decision_logic.output",
        "human_override_record.override_occurred",
        "temporal_metadata.event_timestamp",
        "temporal_metadata.sequence_number",
        "temporal_metadata.hash_chain",
        "temporal_metadata.evidence_tier",
        "temporal_metadata.hash_chain.current_hash",
        "temporal_metadata.hash_chain.algorithm",
    ],
)
def test_each_required_group_and_field(path: str) -> None:
    assert ("required", path) in rules(without(minimal(), path))


@pytest.mark.parametrize(
    "path",
    [
        "decision_boundary",
        "decision_quality_indicators",
        "temporal_metadata.hash_chain.previous_hash",
    ],
)
def test_optional_groups_and_fields_may_be_absent(path: str) -> None:
    assert des_violations(without(minimal(), path) if "." in path else minimal()) == []


@pytest.mark.parametrize(
    ("path", "value", "rule"),
    [
        ("schema_version", "0.3", "pattern"),
        ("schema_version", 3, "type"),
        ("decision_logic.logic_type", "vibes", "logic_type"),
        ("decision_logic.logic_type", "Curation:Thing", "logic_type"),
        ("temporal_metadata.evidence_tier", "partial", "enum"),
        ("temporal_metadata.sequence_number", -1, "range"),
        ("temporal_metadata.sequence_number", 1.5, "type"),
        ("temporal_metadata.sequence_number", True, "type"),
        ("temporal_metadata.event_timestamp", "yesterday", "format"),
        ("temporal_metadata.event_timestamp", "2026-13-01T00:00:00Z", "format"),
        ("temporal_metadata.hash_chain.previous_hash", 7, "type"),
        ("decision_quality_indicators.decision_risk_level", None, "type"),
        ("decision_quality_indicators.decision_risk_level", "extreme", "enum"),
        ("decision_quality_indicators.confidence_score", 1.5, "range"),
        ("decision_quality_indicators.confidence_score", "high", "type"),
        ("decision_quality_indicators.ground_truth_available", "yes", "type"),
        ("decision_quality_indicators.uncertainty_flags", ["ok", 3], "type"),
        ("decision_boundary.upstream_decisions", ["d-0"], "type"),
        ("decision_boundary.downstream_consumers", ["export"], "type"),
        ("decision_logic.model_inference", {"model_id": "m", "confidence": 2}, "range"),
        ("decision_logic.thresholds", [], "type"),
        ("human_override_record.override_actor", "ana", "type"),
        ("human_override_record.override_occurred", "no", "type"),
        ("temporal_metadata.digital_signature", {"signature_value": 5}, "type"),
        ("decision_context", "d-1", "type"),
    ],
)  # fmt: skip
def test_types_enums_patterns_ranges_and_formats(path: str, value: Any, rule: str) -> None:
    found = des_violations(with_value(minimal(), path, value))
    assert any(v.rule == rule and v.path.startswith(path) for v in found), found


def test_nulls_are_allowed_only_where_des_allows_them() -> None:
    nullable = with_value(minimal(), "decision_quality_indicators.confidence_score", None)
    nullable = with_value(nullable, "temporal_metadata.evidence_availability_timestamp", None)
    nullable = with_value(nullable, "human_override_record.basis_for_deviation", None)
    nullable = with_value(
        nullable, "decision_logic.model_inference", {"model_id": "m", "confidence": None}
    )
    assert des_violations(nullable) == []
    assert rules(with_value(minimal(), "decision_context.trigger", None)) == {
        ("type", "decision_context.trigger")
    }


def test_rule_override_complete_when_override_occurred() -> None:
    overridden = with_value(minimal(), "human_override_record.override_occurred", True)
    needed = {"original_output", "overridden_output", "override_timestamp", "override_actor",
              "override_rationale"}  # fmt: skip
    assert rules(overridden) == {
        ("override_complete", f"human_override_record.{n}") for n in needed
    }
    complete = copy.deepcopy(overridden)
    complete["human_override_record"].update(
        original_output="drop", overridden_output="select",
        override_timestamp="2026-01-01T01:00:00Z", override_actor={"actor_id": "ana"},
        override_rationale="reviewed",
    )  # fmt: skip
    assert des_violations(complete) == []
    for name in needed:  # each field alone is missed
        assert ("override_complete", f"human_override_record.{name}") in rules(
            without(complete, f"human_override_record.{name}")
        )


def test_rule_human_attribution_for_human_decisions() -> None:
    human = with_value(minimal(), "decision_logic.logic_type", "human_decision")
    assert rules(human) == {
        ("human_attribution", "human_override_record.override_actor"),
        ("human_attribution", "human_override_record.override_rationale"),
    }
    human["human_override_record"].update(override_actor={"actor_id": "ana"},
                                          override_rationale="primary judgment")  # fmt: skip
    assert des_violations(human) == []
    # A human decision that also overrides needs the override fields too.
    both = with_value(human, "human_override_record.override_occurred", True)
    assert {r for r, _ in rules(both)} == {"override_complete"}


@pytest.mark.parametrize("tier", ["sampled", "full"])
def test_rule_tier_risk_for_sampled_and_full(tier: str) -> None:
    event = with_value(minimal(), "temporal_metadata.evidence_tier", tier)
    assert rules(event) == {("tier_risk", "decision_quality_indicators.decision_risk_level")}
    event["decision_quality_indicators"] = {"confidence_score": 0.5}
    assert rules(event) == {("tier_risk", "decision_quality_indicators.decision_risk_level")}
    event["decision_quality_indicators"]["decision_risk_level"] = "medium"
    assert des_violations(event) == []
    assert des_violations(minimal()) == []  # lightweight needs no risk level


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(list(minimal()) + ["decision_boundary", "x"]), json_values))
def test_never_raises_on_malformed_events(event: dict[str, Any]) -> None:
    assert isinstance(des_violations(event), list)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["decision_context", "decision_logic", "human_override_record",
                        "temporal_metadata"]), json_values)  # fmt: skip
def test_never_raises_on_malformed_groups(group: str, value: Any) -> None:
    event = minimal()
    event[group] = value if not isinstance(value, dict) else {**event[group], **value}
    assert isinstance(des_violations(event), list)
    assert des_violations(None)[0].rule == "type"
