"""Selection decisions as DES 0.3.0 events, with assessed risk and confidence.

A lightweight event holds what DES requires plus what its reason rests on (risk, confidence,
flags, the few evidence fields, the link to its problem's decision); the policy's thresholds,
parameters, recipe and trigger are in the run's sampled and full events.

The evidence tier follows the risk (DES: evidence proportional to criticality): what enters a
training set, and anything assessed high or critical, is recorded `full`; medium-risk drops
`sampled`; low-risk drops `lightweight`, except a seeded `selection.sampled_fraction` of them
recorded `sampled`. Events come back unsealed: `thresher.schemas.seal_run` links them into the
chain when they are recorded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from thresher.config import SelectionConfig
from thresher.schemas import (
    ConfidenceComponent,
    DecisionBoundary,
    DecisionContext,
    DecisionEvent,
    DecisionLogic,
    DownstreamConsumer,
    HumanOverrideRecord,
    ModelInference,
    OverrideActor,
    PolicyEvaluation,
    QualityIndicators,
    TemporalMetadata,
    UpstreamDecision,
    content_id,
    utc_now,
)
from thresher.stages.assessment import CONFIDENCE_RULES, RISK_RULES, Assessment, assess
from thresher.stages.policy import POLICY_NAME, Decision, tie_break

__all__ = ["decision_events", "evidence_tier"]

Tier = Literal["lightweight", "sampled", "full"]


def evidence_tier(decision: Decision, risk: str, policy: SelectionConfig, run_id: str) -> Tier:
    """full for selections and high/critical risk, sampled for medium, else a seeded draw."""
    if decision.output == "select" or risk in ("high", "critical"):
        return "full"
    if risk == "medium":
        return "sampled"
    draw = int(tie_break(policy.seed, f"{run_id}:{decision.subject_id}")[:8], 16) / 0xFFFFFFFF
    return "sampled" if draw < policy.sampled_fraction else "lightweight"


def _policy_fields(
    policy: SelectionConfig, recipe_hash: str
) -> tuple[dict[str, float], dict[str, str]]:
    thresholds = {
        k: float(v)
        for k, v in policy.model_dump().items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k != "seed"
    }
    parameters = {
        "policy": POLICY_NAME,
        "recipe_hash": recipe_hash,
        "require_correct": str(policy.require_correct).lower(),
        "drop_flaw_severity": str(policy.drop_flaw_severity),
        "drop_near_duplicates": str(policy.drop_near_duplicates).lower(),
        "allow_conditioned": str(policy.allow_conditioned).lower(),
        "pass_rate_modes": ",".join(policy.pass_rate_modes),
        "ignore_labelers": ",".join(policy.ignore_labelers),
        "risk_rules": RISK_RULES,
        "confidence_rules": CONFIDENCE_RULES,
    }
    return thresholds, parameters


def _override(decision: Decision) -> HumanOverrideRecord:
    review = decision.review
    if review is None or not decision.overridden or decision.automated is None:
        return HumanOverrideRecord()
    return HumanOverrideRecord(
        override_occurred=True,
        override_type="approval" if decision.output == "select" else "rejection",
        override_actor=OverrideActor(actor_id=review.actor, actor_role=review.role),
        original_output=decision.automated[0],
        overridden_output=decision.output,
        override_rationale=review.rationale,
        override_timestamp=review.timestamp,
    )


def _subsystems(evidence: dict[str, Any]) -> list[str]:
    names = [v for v in str(evidence.get("verifier") or "").split(",") if v]
    names += sorted({str(f.get("labeler")) for f in evidence.get("flaws") or []})
    if evidence.get("cluster_id"):
        names.append("dedup")
    return names


def _quality(a: Assessment, tier: Tier) -> QualityIndicators:
    components = (
        [ConfidenceComponent(component=c, value=v, basis=b) for c, v, b in a.components]
        if tier != "lightweight" else None
    )  # fmt: skip
    return QualityIndicators(
        decision_risk_level=a.risk,
        confidence_score=a.confidence,
        confidence_components=components,
        uncertainty_flags=a.flags,
        ground_truth_available=a.ground_truth,
    )


def decision_events(
    decisions: Sequence[Decision],
    policy: SelectionConfig,
    run_id: str,
    recipe_hash: str,
    dataset_version: str | None = None,
    trigger: str = "thresher select",
) -> list[DecisionEvent]:
    """One unsealed DES event per decision, in the decisions' order."""
    thresholds, parameters = _policy_fields(policy, recipe_hash)
    evaluation = PolicyEvaluation(
        policy_id=POLICY_NAME, policy_version=recipe_hash, policy_engine="thresher"
    )
    problem_decision_id: dict[str, str] = {}
    now = utc_now()
    events: list[DecisionEvent] = []
    for decision in decisions:
        decision_id = content_id("decision", run_id, decision.level, decision.subject_id)
        if decision.level == "problem":
            problem_decision_id[decision.subject_id] = decision_id
        a = assess(decision)
        tier = evidence_tier(decision, a.risk, policy, run_id)
        detailed = tier != "lightweight"
        evidence = {"level": decision.level, "stage": decision.stage}
        evidence.update(
            decision.evidence if detailed or decision.level == "problem" else _light(decision)
        )
        upstream = []
        if decision.level == "trace" and decision.problem_id in problem_decision_id:
            upstream.append(
                UpstreamDecision(
                    decision_id=problem_decision_id[decision.problem_id],
                    system_id="thresher",
                    coupling_type="problem_decision",
                )
            )
        if decision.review is not None:
            upstream.append(
                UpstreamDecision(
                    decision_id=decision.review.decision_id,
                    system_id="thresher",
                    coupling_type="human_review",
                )
            )
        model = (
            ModelInference(model_id=a.model[0], confidence=a.model[1]) if a.model else None
        )  # fmt: skip
        events.append(
            DecisionEvent(
                decision_context=DecisionContext(
                    decision_id=decision_id,
                    decision_type=f"curation:{decision.level}_selection",
                    trigger=trigger if detailed else None,
                    subject_ids=[decision.subject_id],
                    run_id=run_id,
                    dataset_version=dataset_version,
                ),
                decision_logic=DecisionLogic(
                    logic_type="hybrid" if model else "policy_evaluation",
                    output=decision.output,
                    reason_code=decision.reason_code,
                    rule_version=POLICY_NAME,
                    combination_method="policy_over_model_labels" if model else None,
                    policy_evaluation=evaluation if detailed else None,
                    model_inference=model,
                    thresholds=thresholds if detailed else None,
                    parameters=parameters if detailed else None,
                ),
                decision_boundary=DecisionBoundary(
                    upstream_decisions=upstream,
                    downstream_consumers=(
                        [DownstreamConsumer(system_id="thresher-export")]
                        if decision.output == "select"
                        else []
                    ),
                    contributing_subsystems=_subsystems(decision.evidence) if detailed else [],
                ),  # fmt: skip
                decision_quality_indicators=_quality(a, tier),
                human_override_record=_override(decision),
                temporal_metadata=TemporalMetadata(event_timestamp=now, evidence_tier=tier),
                evidence_json=_dumps(evidence),
            )
        )
    return events


def _light(decision: Decision) -> dict[str, Any]:
    """The few fields a bulk drop keeps: what its reason rests on."""
    ev = decision.evidence
    keep = {"verdict_status": ev.get("verdict_status"), "correct": ev.get("correct")}
    if decision.reason_code.startswith(("flawed", "divergence")):
        keep["flaws"] = ev.get("flaws")
        keep["divergence"] = ev.get("divergence")
    if decision.reason_code.startswith("near_duplicate_of"):
        keep["cluster_id"] = ev.get("cluster_id")
    if decision.reason_code == "conditioned_on_reference":
        keep["mode"] = ev.get("mode")
        keep["conditioned"] = ev.get("conditioned")
    return keep


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
