"""DecisionEvent: one keep/drop/select decision, following the Decision Event Schema (DES).

Every event is hash-chained: ``current_hash`` is SHA-256 over the RFC 8785 canonical JSON of the
event without ``current_hash``, and ``previous_hash`` is the prior event's ``current_hash``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, PlainSerializer, field_validator, model_validator

from thresher.schemas.base import Record, utc_now
from thresher.schemas.ids import canonical_json, sha256_hex

__all__ = [
    "FUNNEL_STAGES",
    "DecisionEvent",
    "DecisionContext",
    "DecisionLogic",
    "ModelInfo",
    "DecisionBoundary",
    "QualityIndicators",
    "HumanOverrideRecord",
    "TemporalMetadata",
    "HashChain",
    "ChainReport",
    "GENESIS_HASH",
    "event_hash",
    "seal",
    "verify_chain",
]

# The funnel a decision trace is counted into; a trace decision's `stage` is the first of
# these (after "rollouts") it did not reach.
FUNNEL_STAGES = (
    "problems", "rollouts", "correct", "clean", "unconditioned", "after_dedup", "selected",
)  # fmt: skip

GENESIS_HASH = "0" * 64
HASH_ALGORITHM = "sha256-rfc8785"
STANDARD_LOGIC_TYPES = (
    "rule_based",
    "ml_inference",
    "hybrid",
    "policy_evaluation",
    "human_decision",
)
_NAMESPACED_LOGIC = re.compile(r"^curation:[a-z][a-z0-9_]*$")


def _utc_iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# One text form for timestamps, so a hash survives a round trip through Parquet.
UtcDatetime = Annotated[datetime, PlainSerializer(_utc_iso, return_type=str, when_used="json")]


class DecisionContext(Record):
    decision_id: str = Field(..., min_length=1)
    decision_type: str = Field(..., min_length=1, description="e.g. 'curation:trace_selection'")
    subject_ids: list[str] = Field(..., min_length=1, description="trace or problem ids decided")
    run_id: str = Field(..., min_length=1, description="flow run that made the decision")
    dataset_version: str | None = None


class ModelInfo(Record):
    model_id: str
    model_version: str = ""
    confidence: float | None = Field(None, ge=0.0, le=1.0)


class DecisionLogic(Record):
    logic_type: str = Field(..., description="a DES type or a namespaced 'curation:*' type")
    output: str = Field(..., min_length=1, description="the decision: 'keep', 'drop', 'select'")
    reason_code: str = Field(..., min_length=1, description="snake_case reason, e.g. 'incorrect'")
    thresholds: dict[str, float] = Field(default_factory=dict)
    parameters: dict[str, str] = Field(default_factory=dict)
    model_info: ModelInfo | None = None

    @field_validator("logic_type")
    @classmethod
    def _known_logic(cls, value: str) -> str:
        if value in STANDARD_LOGIC_TYPES or _NAMESPACED_LOGIC.match(value):
            return value
        raise ValueError(
            f"unknown logic_type {value!r}; use one of {', '.join(STANDARD_LOGIC_TYPES)} "
            "or a namespaced 'curation:<name>'"
        )


class DecisionBoundary(Record):
    upstream_decisions: list[str] = Field(default_factory=list)
    downstream_consumers: list[str] = Field(default_factory=list)


class QualityIndicators(Record):
    decision_risk_level: Literal["low", "medium", "high", "critical"] | None = None
    confidence: float = Field(1.0, ge=0.0, le=1.0)
    uncertainty_flags: list[str] = Field(default_factory=list)


class HumanOverrideRecord(Record):
    override_occurred: bool = False
    original_output: str | None = None
    new_output: str | None = None
    actor: str | None = None
    timestamp: UtcDatetime | None = None
    rationale: str | None = None

    @model_validator(mode="after")
    def _complete_when_overridden(self) -> HumanOverrideRecord:
        if self.override_occurred:
            missing = [
                name
                for name in ("original_output", "new_output", "actor", "timestamp", "rationale")
                if getattr(self, name) in (None, "")
            ]
            if missing:
                raise ValueError(f"an override needs {', '.join(missing)}")
        return self


class HashChain(Record):
    previous_hash: str = Field(GENESIS_HASH, pattern=r"^[0-9a-f]{64}$")
    current_hash: str = Field("", pattern=r"^([0-9a-f]{64})?$")
    algorithm: str = HASH_ALGORITHM


class TemporalMetadata(Record):
    event_timestamp: UtcDatetime = Field(default_factory=utc_now)
    sequence_number: int = Field(0, ge=0)
    evidence_tier: Literal["lightweight", "sampled", "full"] = "lightweight"
    hash_chain: HashChain = Field(default_factory=HashChain)


class DecisionEvent(Record):
    """One auditable decision about one or more traces or problems."""

    decision_context: DecisionContext
    decision_logic: DecisionLogic
    decision_boundary: DecisionBoundary = Field(default_factory=DecisionBoundary)
    decision_quality_indicators: QualityIndicators = Field(default_factory=QualityIndicators)
    human_override_record: HumanOverrideRecord = Field(default_factory=HumanOverrideRecord)
    temporal_metadata: TemporalMetadata = Field(default_factory=TemporalMetadata)
    evidence_json: str = Field("{}", description="evidence as JSON; fuller for higher tiers")

    @model_validator(mode="after")
    def _conditional_rules(self) -> DecisionEvent:
        tier = self.temporal_metadata.evidence_tier
        if (
            tier in ("sampled", "full")
            and self.decision_quality_indicators.decision_risk_level is None
        ):
            raise ValueError(f"evidence tier '{tier}' needs decision_risk_level")
        if self.decision_logic.logic_type == "human_decision":
            override = self.human_override_record
            if not override.actor or not override.rationale:
                raise ValueError("a human_decision needs human_override_record.actor and rationale")
        return self

    @property
    def current_hash(self) -> str:
        return self.temporal_metadata.hash_chain.current_hash


def _hash_payload(event: DecisionEvent) -> dict[str, Any]:
    payload = event.model_dump(mode="json")
    del payload["temporal_metadata"]["hash_chain"]["current_hash"]
    return payload


def event_hash(event: DecisionEvent) -> str:
    """SHA-256 of the event's canonical JSON without its current_hash."""
    return sha256_hex(canonical_json(_hash_payload(event)))


def seal(event: DecisionEvent, previous_hash: str, sequence_number: int) -> DecisionEvent:
    """Return a copy of the event linked after previous_hash, with its own hash set."""
    sealed = event.model_copy(deep=True)
    sealed.temporal_metadata.sequence_number = sequence_number
    sealed.temporal_metadata.hash_chain = HashChain(previous_hash=previous_hash)
    sealed.temporal_metadata.hash_chain.current_hash = event_hash(sealed)
    return sealed


@dataclass(frozen=True)
class ChainReport:
    """The outcome of checking a hash chain: ok, or the first broken link and why."""

    ok: bool
    checked: int
    broken_index: int | None = None
    broken_decision_id: str | None = None
    reason: str = ""


def verify_chain(events: list[DecisionEvent], start_hash: str = GENESIS_HASH) -> ChainReport:
    """Check events in sequence order; report the first edited, removed or reordered link."""
    previous = start_hash
    for index, event in enumerate(events):
        meta = event.temporal_metadata
        decision_id = event.decision_context.decision_id
        if meta.sequence_number != index:
            return ChainReport(
                False,
                index,
                index,
                decision_id,
                f"sequence_number {meta.sequence_number} where {index} was expected "
                "(an event was removed or reordered)",
            )
        if meta.hash_chain.previous_hash != previous:
            return ChainReport(
                False,
                index,
                index,
                decision_id,
                "previous_hash does not match the prior event (removed or reordered)",
            )
        recomputed = event_hash(event)
        if recomputed != meta.hash_chain.current_hash:
            return ChainReport(
                False,
                index,
                index,
                decision_id,
                "current_hash does not match the event's content (the event was edited)",
            )
        previous = recomputed
    return ChainReport(True, len(events))
