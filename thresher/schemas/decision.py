"""DecisionEvent: one keep/drop/select decision as a Decision Event Schema (DES) 0.3.0 event.

The groups and field names are DES's (`governance-evidence/decision-event-schema`, version
0.3.0). Thresher's own fields are documented extensions where DES has none (the schema allows
additional properties): `decision_context.subject_ids`, `run_id`, `dataset_version`,
`decision_logic.reason_code`, `decision_quality_indicators` components, `hash_chain.chain_format`
and `run_events`, `digital_signature.public_key`, and the top-level `evidence_json`.

`to_des` gives the event's JSON form, the form that is hashed, exported and checked: absent
optional fields and empty lists are left out (DES allows them absent, not null), except
`previous_hash`, which is null for the first event of a chain. Hashing and sealing live in `thresher.schemas.chain`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from thresher.schemas.base import Record, UtcDatetime, utc_now

__all__ = [
    "CHAIN_FORMAT",
    "FUNNEL_STAGES",
    "DES_VERSION",
    "HASH_ALGORITHM",
    "LOGIC_TYPES",
    "ConfidenceComponent",
    "DecisionBoundary",
    "DecisionContext",
    "DecisionEvent",
    "DecisionLogic",
    "DigitalSignature",
    "DownstreamConsumer",
    "HashChain",
    "HumanOverrideRecord",
    "ModelInference",
    "OverrideActor",
    "PolicyEvaluation",
    "QualityIndicators",
    "RiskLevel",
    "TemporalMetadata",
    "UpstreamDecision",
    "prune",
]

# The funnel a decision trace is counted into; a trace decision's `stage` is the first of
# these (after "rollouts") it did not reach.
FUNNEL_STAGES = (
    "problems", "rollouts", "correct", "clean", "unconditioned", "after_dedup", "selected",
)  # fmt: skip

DES_VERSION: Literal["0.3.0"] = "0.3.0"
CHAIN_FORMAT = "thresher-chain/2"
HASH_ALGORITHM = "SHA-256"
LOGIC_TYPES = ("rule_based", "ml_inference", "hybrid", "policy_evaluation", "human_decision")
_NAMESPACED = re.compile(r"^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$")
_HEX64 = r"^[0-9a-f]{64}$"
RiskLevel = Literal["low", "medium", "high", "critical"]


class _Group(Record):
    # Assignments are validated too: an event edited after construction stays well-typed.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=True)


class DecisionContext(_Group):
    """DES decision_context: what was decided, about which subjects, in which run."""

    decision_id: str = Field(..., min_length=1)
    decision_type: str = Field(..., min_length=1, description="e.g. 'curation:trace_selection'")
    trigger: str | None = Field(None, description="the command or flow that made the decision")
    subject_ids: list[str] = Field(..., min_length=1, description="trace or problem ids decided")
    run_id: str = Field(..., min_length=1, description="the run whose chain segment holds it")
    dataset_version: str | None = Field(None, description="the version the run tagged")


class PolicyEvaluation(_Group):
    """DES decision_logic.policy_evaluation: which policy decided."""

    policy_id: str
    policy_version: str | None = None
    policy_engine: str | None = None


class ModelInference(_Group):
    """DES decision_logic.model_inference: the model whose output the decision rests on."""

    model_id: str
    model_version: str | None = None
    confidence: float | None = Field(None, ge=0.0, le=1.0)


class DecisionLogic(_Group):
    """DES decision_logic: how the decision was made and its output."""

    logic_type: str = Field(..., description="a DES core type or a namespaced 'ns:type'")
    output: str = Field(..., min_length=1, description="the decision: 'select' or 'drop'")
    reason_code: str = Field(..., min_length=1, description="snake_case reason, e.g. 'incorrect'")
    rule_version: str | None = Field(
        None, description="the versioned policy, e.g. 'selection_policy_v1'"
    )
    combination_method: str | None = None
    policy_evaluation: PolicyEvaluation | None = None
    model_inference: ModelInference | None = None
    thresholds: dict[str, float] | None = None
    parameters: dict[str, str] | None = None

    @field_validator("logic_type")
    @classmethod
    def _known_logic(cls, value: str) -> str:
        if value in LOGIC_TYPES or _NAMESPACED.match(value):
            return value
        raise ValueError(
            f"unknown logic_type {value!r}; use one of {', '.join(LOGIC_TYPES)} "
            "or a namespaced 'namespace:type'"
        )


class UpstreamDecision(_Group):
    """A decision this one rests on (its problem's decision, a human review)."""

    decision_id: str
    system_id: str | None = None
    coupling_type: str | None = None


class DownstreamConsumer(_Group):
    """A system expected to consume the decision."""

    system_id: str
    contract_version: str | None = None


class DecisionBoundary(_Group):
    """DES decision_boundary: the decisions and subsystems around this one."""

    upstream_decisions: list[UpstreamDecision] = Field(
        default_factory=list, description="its problem's decision, a human review it honours"
    )
    downstream_consumers: list[DownstreamConsumer] = Field(
        default_factory=list, description="'thresher-export' for selections"
    )
    contributing_subsystems: list[str] = Field(
        default_factory=list, description="verifiers, labelers and dedup whose labels it used"
    )


class ConfidenceComponent(_Group):
    """One part of the confidence: what it measures, its value, what it rests on."""

    component: str
    value: float = Field(..., ge=0.0, le=1.0)
    basis: str | None = None


class QualityIndicators(_Group):
    """DES decision_quality_indicators: assessed risk and confidence (rules in the README)."""

    decision_risk_level: RiskLevel | None = None
    confidence_score: float | None = Field(None, ge=0.0, le=1.0)
    confidence_components: list[ConfidenceComponent] | None = Field(
        None, description="the parts of the confidence (sampled and full tiers)"
    )
    uncertainty_flags: list[str] = Field(default_factory=list)
    ground_truth_available: bool | None = None


class OverrideActor(_Group):
    """Who reviewed or overrode a decision."""

    actor_id: str = Field(..., min_length=1)
    actor_role: str | None = None


class HumanOverrideRecord(_Group):
    """DES human_override_record; a complete record whenever an override occurred."""

    override_occurred: bool = False
    override_type: str | None = None
    override_actor: OverrideActor | None = None
    original_output: str | None = None
    overridden_output: str | None = None
    override_rationale: str | None = None
    override_timestamp: UtcDatetime | None = None

    @model_validator(mode="after")
    def _complete_when_overridden(self) -> HumanOverrideRecord:
        if self.override_occurred:
            needed = ("original_output", "overridden_output", "override_timestamp")
            missing = [n for n in (*needed, "override_actor", "override_rationale")
                       if getattr(self, n) in (None, "")]  # fmt: skip
            if missing:
                raise ValueError(f"an override needs {', '.join(missing)}")
        return self


class HashChain(_Group):
    """DES hash_chain, with the chain format and the run's event count as extensions."""

    previous_hash: str | None = Field(None, pattern=_HEX64)
    current_hash: str = Field("", pattern=r"^([0-9a-f]{64})?$")
    algorithm: str = HASH_ALGORITHM
    chain_format: str = CHAIN_FORMAT
    run_events: int = Field(1, ge=1, description="events in this run's segment of the chain")


class DigitalSignature(_Group):
    """DES digital_signature over the event (Ed25519; the public key is an extension)."""

    signer_id: str
    signature_value: str
    algorithm: str = "Ed25519"
    public_key: str = Field(..., description="base64 of the raw 32-byte Ed25519 public key")


class TemporalMetadata(_Group):
    """DES temporal_metadata: when, in which order, at which evidence tier, chained how."""

    event_timestamp: UtcDatetime = Field(default_factory=utc_now)
    sequence_number: int = Field(0, ge=0)
    evidence_tier: Literal["lightweight", "sampled", "full"] = "lightweight"
    hash_chain: HashChain = Field(default_factory=HashChain)
    digital_signature: DigitalSignature | None = None


class DecisionEvent(_Group):
    """One auditable decision about a trace or problem (DES 0.3.0; chain thresher-chain/2)."""

    schema_version: Literal["0.3.0"] = DES_VERSION
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
        if tier != "lightweight" and self.decision_quality_indicators.decision_risk_level is None:
            raise ValueError(f"evidence tier '{tier}' needs decision_risk_level")
        if self.decision_logic.logic_type == "human_decision":
            record = self.human_override_record
            if record.override_actor is None or not record.override_rationale:
                raise ValueError(
                    "a human_decision needs human_override_record.override_actor and "
                    "override_rationale"
                )
        return self

    @property
    def current_hash(self) -> str:
        """This event's hash once sealed ('' before)."""
        return self.temporal_metadata.hash_chain.current_hash

    def to_des(self) -> dict[str, Any]:
        """The event's JSON form: what is hashed, exported and checked against DES."""
        return prune(self.model_dump(mode="json"))


def prune(event: dict[str, Any]) -> dict[str, Any]:
    """An event dict without nulls, empty lists or empty objects; `previous_hash` stays (null:
    the chain's first event)."""
    out = _prune(event)
    chain = out.get("temporal_metadata", {}).get("hash_chain")
    if isinstance(chain, dict):
        chain.setdefault("previous_hash", None)
    return out


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if item is None:
                continue
            item = _prune(item)
            if isinstance(item, dict | list) and not item:
                continue  # empty lists, and structs read back with every field null: absent
            out[key] = item
        return out
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value
