"""Human review: a person keeps or drops a trace, recorded as a DES `human_decision` event.

A review overrides the selection policy for that trace in every later selection (the newest
review of a trace wins); the policy's event for the trace then carries the override record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from thresher.schemas import (
    DecisionBoundary,
    DecisionContext,
    DecisionEvent,
    DecisionLogic,
    HumanOverrideRecord,
    OverrideActor,
    QualityIndicators,
    Record,
    TemporalMetadata,
    UpstreamDecision,
    content_id,
    utc_now,
)

__all__ = [
    "REVIEW_DECISION_TYPE",
    "Review",
    "ReviewRequest",
    "review_events",
    "reviews_from_events",
]

REVIEW_DECISION_TYPE = "curation:human_review"
_OUTPUT = {"keep": "select", "drop": "drop"}


class ReviewRequest(Record):
    """One human decision about a trace, as given on the command line or in a reviews file."""

    trace_id: str = Field(..., min_length=1)
    decision: Literal["keep", "drop"]
    actor: str = Field(..., min_length=1, description="who decided (a name or pseudonym)")
    rationale: str = Field(..., min_length=1, description="why")
    role: str | None = Field(None, description="the reviewer's role, e.g. 'annotator'")


@dataclass(frozen=True)
class Review:
    """A recorded review as the selection policy honours it."""

    trace_id: str
    output: Literal["select", "drop"]
    actor: str
    rationale: str
    timestamp: datetime
    decision_id: str
    role: str | None = None


def review_events(
    requests: Sequence[ReviewRequest],
    run_id: str,
    current: Mapping[str, tuple[str, str]],
) -> list[DecisionEvent]:
    """Unsealed `human_decision` events; `current` maps a trace to its latest policy decision
    (decision id, output), so a review that changes that output records a full override."""
    now = utc_now()
    events = []
    for request in requests:
        output = _OUTPUT[request.decision]
        decided = current.get(request.trace_id)
        overrides = decided is not None and decided[1] != output
        actor = OverrideActor(actor_id=request.actor, actor_role=request.role)
        record = HumanOverrideRecord(
            override_occurred=overrides,
            override_type=("approval" if output == "select" else "rejection")
            if overrides
            else None,
            override_actor=actor,
            original_output=decided[1] if decided is not None else None,
            overridden_output=output if overrides else None,
            override_rationale=request.rationale,
            override_timestamp=now if overrides else None,
        )
        risk = "high" if output == "select" else ("medium" if overrides else "low")
        upstream = (
            [UpstreamDecision(decision_id=decided[0], system_id="thresher",
                              coupling_type="reviewed_decision")]
            if decided is not None else []
        )  # fmt: skip
        events.append(
            DecisionEvent(
                decision_context=DecisionContext(
                    decision_id=content_id("decision", run_id, "review", request.trace_id),
                    decision_type=REVIEW_DECISION_TYPE,
                    trigger="thresher review",
                    subject_ids=[request.trace_id],
                    run_id=run_id,
                ),
                decision_logic=DecisionLogic(
                    logic_type="human_decision",
                    output=output,
                    reason_code=f"human_review:{request.decision}",
                ),
                decision_boundary=DecisionBoundary(upstream_decisions=upstream),
                decision_quality_indicators=QualityIndicators(
                    decision_risk_level=risk,
                    uncertainty_flags=["human_override"] if overrides else [],
                ),
                human_override_record=record,
                temporal_metadata=TemporalMetadata(event_timestamp=now, evidence_tier="full"),
                evidence_json="{}",
            )
        )
    return events


def reviews_from_events(events: Iterable[dict[str, Any]]) -> dict[str, Review]:
    """The newest review of each trace, from review events in chain order (JSON form)."""
    out: dict[str, Review] = {}
    for event in events:
        logic = event.get("decision_logic", {})
        record = event.get("human_override_record", {})
        context = event.get("decision_context", {})
        if (
            logic.get("logic_type") != "human_decision"
            or logic.get("output") not in _OUTPUT.values()
        ):
            continue
        actor = record.get("override_actor") or {}
        for trace_id in context.get("subject_ids", []):
            out[trace_id] = Review(
                trace_id=trace_id,
                output=logic["output"],
                actor=str(actor.get("actor_id", "")),
                rationale=str(record.get("override_rationale", "")),
                timestamp=datetime.fromisoformat(
                    str(event["temporal_metadata"]["event_timestamp"]).replace("Z", "+00:00")
                ),
                decision_id=str(context.get("decision_id", "")),
                role=actor.get("actor_role"),
            )
    return out
