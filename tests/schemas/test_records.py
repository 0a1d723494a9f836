"""Schema round trips, validation errors and content ids."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pydantic import ValidationError

from thresher.schemas import (
    DedupAssignment,
    FlawLabel,
    Problem,
    Rollout,
    SamplingSpec,
    SentenceScore,
    Verdict,
    arrow_schema,
    to_arrow_table,
)


def make_rollout(**overrides) -> Rollout:
    fields = dict(problem_id="p1", model="m", engine="vllm", prompt="Q?", completion="A")
    fields.update(overrides)
    return Rollout(**fields)


def test_problem_id_is_content_addressed():
    a = Problem(source="set", question="What is 2+2?", answer="4")
    b = Problem(source="set", question="What is 2+2?", answer="5")
    c = Problem(source="other", question="What is 2+2?", answer="4")
    assert a.problem_id == b.problem_id  # the answer is not part of the identity
    assert a.problem_id != c.problem_id
    assert len(a.problem_id) == 32


def test_trace_id_changes_with_each_sampling_input():
    base = make_rollout()
    assert base.trace_id == make_rollout(completion="different text").trace_id
    variants = [
        make_rollout(sample_index=1),
        make_rollout(model="other"),
        make_rollout(model_revision="abc"),
        make_rollout(sampling=SamplingSpec(temperature=0.1)),
        make_rollout(mode="prefix", prefix_trace_id="t0", prefix_fraction=0.5),
    ]
    assert len({base.trace_id, *(v.trace_id for v in variants)}) == 6


def test_unknown_field_is_rejected_with_its_name():
    with pytest.raises(ValidationError) as info:
        Problem(source="s", question="q", answr="4")
    assert "answr" in str(info.value)


def test_privileged_rollout_must_be_marked_conditioned_on_ground_truth():
    with pytest.raises(ValidationError, match="conditioned_on_ground_truth"):
        make_rollout(mode="privileged")
    assert make_rollout(mode="privileged", conditioned_on_ground_truth=True).mode == "privileged"


@pytest.mark.parametrize(
    ("status", "allowed"),
    [
        ("ok", {True, False}),
        ("no_answer", {False}),  # no final answer is a wrong answer
        ("timeout", {False, None}),  # the program's limit (false) or the verifier's (null)
        ("memory_limit", {False, None}),
        ("output_limit", {False, None}),
        ("runtime_error", {False, None}),
        ("sandbox_error", {None}),  # infrastructure never scores as wrong
        ("invalid_input", {None}),
    ],
)
def test_verdict_status_rules(status, allowed):
    for correct in (True, False, None):
        if correct in allowed:
            verdict = Verdict(trace_id="t", verifier="math_v2", status=status, correct=correct)
            assert verdict.correct is correct
        else:
            with pytest.raises(ValidationError, match=f"status '{status}' needs correct"):
                Verdict(trace_id="t", verifier="math_v2", status=status, correct=correct)


def test_verdict_correct_follows_from_a_status_that_allows_one_value():
    assert Verdict(trace_id="t", verifier="math_v2", status="no_answer").correct is False
    assert Verdict(trace_id="t", verifier="math_v2", status="sandbox_error").correct is None
    assert Verdict(trace_id="t", verifier="math_v2", status="timeout").correct is None
    with pytest.raises(ValidationError, match="needs correct true or false"):
        Verdict(trace_id="t", verifier="math_v2", status="ok")


@pytest.mark.parametrize(
    "record",
    [
        Problem(source="s", question="q", answer="1", metadata={"k": "v"}),
        make_rollout(sampling=SamplingSpec(stop=["</s>"], seed=3), mean_logprob=-0.5),
        Verdict(trace_id="t", verifier="math_v1", status="ok", correct=True, extracted="4"),
        FlawLabel(
            trace_id="t", labeler="x_v1", flaw_type="wrong_arithmetic", severity="error", step=2
        ),
        SentenceScore(
            trace_id="t",
            sentence_index=0,
            char_start=0,
            char_end=5,
            scorer="prov_v1",
            teacher_logprob=-1.0,
            student_logprob=-3.0,
            category="teacher_originated",
        ),
        DedupAssignment(
            trace_id="t",
            method="embedding",
            cluster_id="c",
            representative_trace_id="t",
            is_representative=True,
            max_similarity=0.99,
            threshold=0.95,
        ),
    ],
)
def test_arrow_round_trip_preserves_records(record):
    model = type(record)
    table = to_arrow_table(model, [record])
    assert table.schema == arrow_schema(model)
    row = table.to_pylist()[0]
    if "metadata" in row:
        row["metadata"] = dict(row["metadata"])
    assert model.model_validate(row) == record


def test_arrow_schema_types_follow_annotations():
    schema = arrow_schema(Rollout)
    assert schema.field("prefix_trace_id").nullable
    assert not schema.field("trace_id").nullable
    assert schema.field("sampling").type.get_field_index("stop") >= 0
    assert schema.field("created_at").type == pa.timestamp("us", tz="UTC")
