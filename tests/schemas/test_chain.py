"""The decision chain: what verification detects, in each chain format, with and without keys."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from thresher.schemas import (
    CHAIN_V1,
    CHAIN_V2,
    ChainHead,
    DecisionContext,
    DecisionEvent,
    DecisionEventV1,
    DecisionLogic,
    TemporalMetadata,
    canonical_json,
    seal_run,
    seal_v1,
    verify_events,
)
from thresher.schemas.decision_v1 import DecisionContextV1, DecisionLogicV1
from thresher.schemas.signing import Signer, generate_key_pair, load_public_key

V1_FIXTURE = Path(__file__).parent / "data" / "chain_v1.jsonl"  # written by thresher 29645a4


def event(run: str, i: int) -> DecisionEvent:
    return DecisionEvent(
        decision_context=DecisionContext(
            decision_id=f"{run}-d{i}", decision_type="curation:trace_selection",
            subject_ids=[f"t{i}"], run_id=run,
        ),
        decision_logic=DecisionLogic(logic_type="policy_evaluation", output="drop",
                                     reason_code="incorrect"),
        temporal_metadata=TemporalMetadata(evidence_tier="lightweight"),
    )  # fmt: skip


def run(name: str, n: int, anchor: ChainHead | None = None, signer: Signer | None = None):
    return seal_run([event(name, i) for i in range(n)], anchor, signer)


def two_runs(signer: Signer | None = None) -> list[dict[str, Any]]:
    first = run("A", 4, signer=signer)
    head = ChainHead(first[-1].current_hash, first[-1].temporal_metadata.sequence_number)
    second = run("B", 3, head, signer=signer)
    return [e.to_des() for e in first + second]


def check(events: list[dict[str, Any]], **kw: Any):
    return verify_events([(f"line {i + 1}", e, None) for i, e in enumerate(events)], **kw)


def rules(events: list[dict[str, Any]], **kw: Any) -> set[str]:
    return {f.rule for f in check(events, **kw).findings}


def test_an_intact_chain_of_two_runs_verifies() -> None:
    events = two_runs()
    result = check(events)
    assert result.ok and result.checked == 7
    a, b = result.segments
    assert (a.run_id, a.events, a.anchor, a.first_sequence, a.head_sequence) == ("A", 4, None, 0, 3)
    assert (b.run_id, b.events, b.anchor, b.first_sequence) == ("B", 3, a.head_hash, 4)
    assert {a.chain_format, b.chain_format} == {CHAIN_V2}


def test_editing_any_field_is_detected_at_that_event() -> None:
    events = two_runs()
    events[2]["decision_logic"]["output"] = "select"
    result = check(events)
    assert [(f.where, f.rule, f.decision_id) for f in result.findings] == [
        ("line 3", "chain:edited", "A-d2")
    ]


def test_resealing_an_edit_breaks_the_next_link() -> None:
    events = two_runs()
    forged = DecisionEvent.model_validate(events[1])
    forged.decision_logic.output = "select"
    from thresher.schemas import event_hash

    events[1] = forged.to_des()
    events[1]["temporal_metadata"]["hash_chain"]["current_hash"] = event_hash(events[1])
    result = check(events)
    assert [(f.where, f.rule) for f in result.findings] == [("line 3", "chain:link")]


def test_deleting_an_event_is_detected() -> None:
    events = two_runs()
    del events[1]
    assert {"chain:link", "chain:sequence", "chain:truncated"} <= rules(events)


def test_reordering_events_is_detected() -> None:
    events = two_runs()
    events[1], events[2] = events[2], events[1]
    assert {"chain:link", "chain:sequence"} <= rules(events)
    moved = two_runs()
    moved = moved[4:] + moved[:4]  # run B before the run it follows
    assert "chain:anchor" in rules(moved)


def test_removing_a_whole_run_is_detected() -> None:
    events = two_runs()
    assert rules(events[4:]) == {"chain:anchor"}  # B follows events that are gone
    # The last run leaves no link behind: its version's recorded head catches it ...
    heads = {"B": ("v2", events[-1]["temporal_metadata"]["hash_chain"]["current_hash"])}
    assert rules(events[:4], expected_heads=heads) == {"version:run_missing"}
    # ... as does a head published with the data.
    assert rules(events[:4], expect_head=heads["B"][1]) == {"chain:expected_head"}


def test_truncating_the_tail_is_detected_by_the_run_count() -> None:
    events = two_runs()
    result = check(events[:-1])
    assert [(f.where, f.rule) for f in result.findings] == [("run B", "chain:truncated")]
    heads = {"B": ("v2", events[-1]["temporal_metadata"]["hash_chain"]["current_hash"])}
    assert rules(events[:-1], expected_heads=heads) == {"chain:truncated", "version:head"}


def test_an_invalid_event_is_a_finding_not_a_crash() -> None:
    events = two_runs()
    events[3].setdefault("decision_quality_indicators", {})["decision_risk_level"] = "extreme"
    events[5] = ["not", "an", "event"]  # type: ignore[call-overload]
    events.insert(0, ValueError("not JSON"))  # type: ignore[arg-type]
    findings = check(events).findings
    by_rule = {f.rule: f for f in findings}
    assert by_rule["read"].where == "line 1"
    assert (
        by_rule["des:enum"].where == "line 5"
        and "decision_risk_level" in by_rule["des:enum"].message
    )
    assert by_rule["chain:format"].where == "line 7"
    assert "chain:edited" in by_rule  # the invalid value was also an edit


def test_unhashable_values_are_findings() -> None:
    events = two_runs()
    events[0]["decision_context"]["weight"] = float("nan")
    assert "chain:unhashable" in rules(events)


def test_the_fast_path_for_canonical_lines_agrees_with_canonicalising() -> None:
    events = two_runs()
    lines = [canonical_json(e).decode() for e in events]
    fast = verify_events((f"line {i}", json.loads(x), x) for i, x in enumerate(lines))
    assert fast.ok
    lines[3] = lines[3].replace('"output":"drop"', '"output":"keep"')
    broken = verify_events((f"line {i}", json.loads(x), x) for i, x in enumerate(lines))
    assert [f.rule for f in broken.findings] == ["chain:edited"]
    # A line that is not canonical (spaces, key order) still verifies by its content.
    pretty = [json.dumps(e, indent=1) for e in events]
    assert verify_events((f"l{i}", json.loads(x), x) for i, x in enumerate(pretty)).ok
    # A repeated key could make two readers see two events: such a line is refused.
    twice = canonical_json(events[0]).decode()[:-1] + ',"schema_version":"9.9.9"}'
    result = verify_events([("line 1", json.loads(twice), twice)])
    assert [(f.rule, "repeated" in f.message) for f in result.findings] == [("read", True)]


def test_a_chain_written_before_des_still_verifies_in_its_own_form() -> None:
    lines = V1_FIXTURE.read_text().splitlines()
    events = [json.loads(line) for line in lines]
    result = check(events)
    assert result.ok, result.findings
    (segment,) = result.segments
    assert segment.chain_format == CHAIN_V1 and segment.events == 4
    events[2]["decision_logic"]["reason_code"] = "selected"
    assert rules(events) == {"chain:edited"}
    assert rules([json.loads(x) for x in lines][1:]) == {"chain:link"}


def test_chains_built_the_old_way_verify_beside_new_ones() -> None:
    previous, old = "0" * 64, []
    for i in range(3):
        legacy = DecisionEventV1(
            decision_context=DecisionContextV1(
                decision_id=f"old-{i}", decision_type="curation:trace_selection",
                subject_ids=[f"t{i}"], run_id="old-run",
            ),
            decision_logic=DecisionLogicV1(logic_type="curation:selection_policy",
                                           output="drop", reason_code="incorrect"),
        )  # fmt: skip
        sealed = seal_v1(legacy, previous, i)
        previous = sealed.current_hash
        old.append(sealed.model_dump(mode="json"))
    result = check(old + two_runs())
    assert result.ok
    assert [s.chain_format for s in result.segments] == [CHAIN_V1, CHAIN_V2, CHAIN_V2]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("keys")
    generate_key_pair(root / "k.pem", root / "k.pub.pem")
    return root / "k.pem", root / "k.pub.pem"


def test_a_signed_head_verifies_and_names_its_signer(keys: tuple[Path, Path]) -> None:
    signer = Signer(keys[0])
    events = two_runs(signer)
    assert "digital_signature" not in events[0]["temporal_metadata"]
    signature = events[3]["temporal_metadata"]["digital_signature"]
    assert signature["algorithm"] == "Ed25519" and signature["signer_id"] == signer.signer_id
    trusted = [load_public_key(keys[1])]
    result = check(events, trusted_keys=trusted)
    assert result.ok and [s.head_signer for s in result.segments] == [signer.signer_id] * 2


def test_signatures_catch_forgery_truncation_and_strangers(
    keys: tuple[Path, Path], tmp_path: Path
) -> None:
    signer = Signer(keys[0])
    trusted = [load_public_key(keys[1])]
    events = two_runs(signer)
    forged = copy.deepcopy(events)
    forged[3]["temporal_metadata"]["digital_signature"]["signature_value"] = events[-1][
        "temporal_metadata"
    ]["digital_signature"]["signature_value"]
    assert "signature:invalid" in rules(forged)
    unsigned = two_runs()
    assert rules(unsigned, trusted_keys=trusted) == {"signature:missing"}
    generate_key_pair(tmp_path / "other.pem", tmp_path / "other.pub.pem")
    stranger = two_runs(Signer(tmp_path / "other.pem"))
    assert rules(stranger, trusted_keys=trusted) == {"signature:untrusted", "signature:missing"}
    assert check(stranger).ok  # without pinned keys a valid signature is just reported


def test_canonical_json_is_rfc8785() -> None:
    @settings(max_examples=2000, deadline=None)
    @given(
        st.recursive(
            st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False)
            | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | st.text(),
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
            max_leaves=20,
        )
    )  # fmt: skip
    def same(value: Any) -> None:
        assert canonical_json(value) == rfc8785.dumps(value)

    same()
    for value in (1.0, -0.0, 1e21, 1e-7, 2.0**53, 4.645834718764309e16, {"é": 1, "a": [0.5]}):
        assert canonical_json(value) == rfc8785.dumps(value)
    with pytest.raises(Exception):  # noqa: B017 - the reference encoder's own error types
        canonical_json(float("nan"))
