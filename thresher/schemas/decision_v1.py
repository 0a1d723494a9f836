"""The decision events of thresher before DES 0.3.0 (chain format ``thresher-chain/1``), kept so
that lakes and exports written by earlier versions stay readable and verifiable.

Nothing new is written in this form. Each run was one chain of its own: ``previous_hash`` of its
first event is 64 zeros, ``sequence_number`` counts from 0, and ``current_hash`` is SHA-256 over the
RFC 8785 canonical JSON of the event (every field, nulls included) without ``current_hash``.
The models below must not change: their JSON is what those hashes cover.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from thresher.schemas.base import Record, UtcDatetime, utc_now
from thresher.schemas.ids import canonical_json, sha256_hex

__all__ = [
    "DecisionEventV1",
    "DecisionContextV1",
    "DecisionLogicV1",
    "ModelInfoV1",
    "DecisionBoundaryV1",
    "QualityIndicatorsV1",
    "HumanOverrideRecordV1",
    "TemporalMetadataV1",
    "HashChainV1",
    "GENESIS_HASH_V1",
    "HASH_ALGORITHM_V1",
    "event_hash_v1",
    "seal_v1",
]

GENESIS_HASH_V1 = "0" * 64
HASH_ALGORITHM_V1 = "sha256-rfc8785"
STANDARD_LOGIC_TYPES = (
    "rule_based",
    "ml_inference",
    "hybrid",
    "policy_evaluation",
    "human_decision",
)
_NAMESPACED_LOGIC = re.compile(r"^curation:[a-z][a-z0-9_]*$")


class DecisionContextV1(Record):
    decision_id: str = Field(..., min_length=1)
    decision_type: str = Field(..., min_length=1, description="e.g. 'curation:trace_selection'")
    subject_ids: list[str] = Field(..., min_length=1, description="trace or problem ids decided")
    run_id: str = Field(..., min_length=1, description="flow run that made the decision")
    dataset_version: str | None = None


class ModelInfoV1(Record):
    model_id: str
    model_version: str = ""
    confidence: float | None = Field(None, ge=0.0, le=1.0)


class DecisionLogicV1(Record):
    logic_type: str = Field(..., description="a DES type or a namespaced 'curation:*' type")
    output: str = Field(..., min_length=1, description="the decision: 'keep', 'drop', 'select'")
    reason_code: str = Field(..., min_length=1, description="snake_case reason, e.g. 'incorrect'")
    thresholds: dict[str, float] = Field(default_factory=dict)
    parameters: dict[str, str] = Field(default_factory=dict)
    model_info: ModelInfoV1 | None = None

    @field_validator("logic_type")
    @classmethod
    def _known_logic(cls, value: str) -> str:
        if value in STANDARD_LOGIC_TYPES or _NAMESPACED_LOGIC.match(value):
            return value
        raise ValueError(
            f"unknown logic_type {value!r}; use one of {', '.join(STANDARD_LOGIC_TYPES)} "
            "or a namespaced 'curation:<name>'"
        )


class DecisionBoundaryV1(Record):
    upstream_decisions: list[str] = Field(default_factory=list)
    downstream_consumers: list[str] = Field(default_factory=list)


class QualityIndicatorsV1(Record):
    decision_risk_level: Literal["low", "medium", "high", "critical"] | None = None
    confidence: float = Field(1.0, ge=0.0, le=1.0)
    uncertainty_flags: list[str] = Field(default_factory=list)


class HumanOverrideRecordV1(Record):
    override_occurred: bool = False
    original_output: str | None = None
    new_output: str | None = None
    actor: str | None = None
    timestamp: UtcDatetime | None = None
    rationale: str | None = None

    @model_validator(mode="after")
    def _complete_when_overridden(self) -> HumanOverrideRecordV1:
        if self.override_occurred:
            missing = [
                name
                for name in ("original_output", "new_output", "actor", "timestamp", "rationale")
                if getattr(self, name) in (None, "")
            ]
            if missing:
                raise ValueError(f"an override needs {', '.join(missing)}")
        return self


class HashChainV1(Record):
    previous_hash: str = Field(GENESIS_HASH_V1, pattern=r"^[0-9a-f]{64}$")
    current_hash: str = Field("", pattern=r"^([0-9a-f]{64})?$")
    algorithm: str = HASH_ALGORITHM_V1


class TemporalMetadataV1(Record):
    event_timestamp: UtcDatetime = Field(default_factory=utc_now)
    sequence_number: int = Field(0, ge=0)
    evidence_tier: Literal["lightweight", "sampled", "full"] = "lightweight"
    hash_chain: HashChainV1 = Field(default_factory=HashChainV1)


class DecisionEventV1(Record):
    """A decision event written before DES 0.3.0 (thresher-chain/1); read only."""

    decision_context: DecisionContextV1
    decision_logic: DecisionLogicV1
    decision_boundary: DecisionBoundaryV1 = Field(default_factory=DecisionBoundaryV1)
    decision_quality_indicators: QualityIndicatorsV1 = Field(default_factory=QualityIndicatorsV1)
    human_override_record: HumanOverrideRecordV1 = Field(default_factory=HumanOverrideRecordV1)
    temporal_metadata: TemporalMetadataV1 = Field(default_factory=TemporalMetadataV1)
    evidence_json: str = Field("{}", description="evidence as JSON; fuller for higher tiers")

    @model_validator(mode="after")
    def _conditional_rules(self) -> DecisionEventV1:
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


def _hash_payload(event: DecisionEventV1) -> dict[str, Any]:
    payload = event.model_dump(mode="json")
    del payload["temporal_metadata"]["hash_chain"]["current_hash"]
    return payload


def event_hash_v1(event: DecisionEventV1) -> str:
    """SHA-256 of the event's canonical JSON without its current_hash."""
    return sha256_hex(canonical_json(_hash_payload(event)))


def seal_v1(event: DecisionEventV1, previous_hash: str, sequence_number: int) -> DecisionEventV1:
    """Return a copy of the event linked after previous_hash, with its own hash set."""
    sealed = event.model_copy(deep=True)
    sealed.temporal_metadata.sequence_number = sequence_number
    sealed.temporal_metadata.hash_chain = HashChainV1(previous_hash=previous_hash)
    sealed.temporal_metadata.hash_chain.current_hash = event_hash_v1(sealed)
    return sealed
