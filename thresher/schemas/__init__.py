"""Records of thresher: pydantic v2 models and the Arrow schemas derived from them.

This package imports nothing else of thresher; every other layer imports it. Names are loaded
on first use (PEP 562), so `from thresher.schemas.errors import InputError` (the CLI's start-up)
builds no record model and imports no pyarrow.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from thresher.schemas.arrow import arrow_schema, arrow_type, to_arrow_table
    from thresher.schemas.base import Record, UtcDatetime, utc_iso, utc_now
    from thresher.schemas.chain import (
        CHAIN_V1,
        CHAIN_V2,
        ChainHead,
        chain_format_of,
        event_hash,
        seal_run,
    )
    from thresher.schemas.chain_verify import ChainVerification, Finding, Segment, verify_events
    from thresher.schemas.decision import (
        DES_VERSION,
        FUNNEL_STAGES,
        ConfidenceComponent,
        DecisionBoundary,
        DecisionContext,
        DecisionEvent,
        DecisionLogic,
        DigitalSignature,
        DownstreamConsumer,
        HashChain,
        HumanOverrideRecord,
        ModelInference,
        OverrideActor,
        PolicyEvaluation,
        QualityIndicators,
        RiskLevel,
        TemporalMetadata,
        UpstreamDecision,
        prune,
    )
    from thresher.schemas.decision_v1 import GENESIS_HASH_V1, DecisionEventV1, seal_v1
    from thresher.schemas.des_rules import Violation, des_violations
    from thresher.schemas.errors import InputError, NotFoundError, ThresherError, TransientError
    from thresher.schemas.event_rows import row_to_event
    from thresher.schemas.generation import GenerationSkip
    from thresher.schemas.ids import canonical_json, content_id, sha256_hex
    from thresher.schemas.labels import (
        DedupAssignment,
        FlawLabel,
        LabelPass,
        ProvenanceCategory,
        SentenceScore,
        Severity,
        Verdict,
        VerdictStatus,
        decided_correct,
    )
    from thresher.schemas.problem import Problem, ProblemKind, problem_id_for
    from thresher.schemas.quarantine import QuarantineRow
    from thresher.schemas.rollout import (
        Rollout,
        RolloutMode,
        SamplingSpec,
        trace_id_for,
        trace_text,
    )
    from thresher.schemas.scores import ContaminationFlag, TraceEmbedding, TraceScore
    from thresher.schemas.stats import Difficulty, ProblemStats
    from thresher.schemas.version import DatasetVersion

# Where each public name lives (its submodule is imported on first access).
_SUBMODULE: dict[str, str] = {
    "arrow_schema": "arrow",
    "arrow_type": "arrow",
    "to_arrow_table": "arrow",
    "Record": "base",
    "UtcDatetime": "base",
    "utc_iso": "base",
    "utc_now": "base",
    "CHAIN_V1": "chain",
    "CHAIN_V2": "chain",
    "ChainHead": "chain",
    "chain_format_of": "chain",
    "event_hash": "chain",
    "seal_run": "chain",
    "ChainVerification": "chain_verify",
    "Finding": "chain_verify",
    "Segment": "chain_verify",
    "verify_events": "chain_verify",
    "DES_VERSION": "decision",
    "FUNNEL_STAGES": "decision",
    "ConfidenceComponent": "decision",
    "DecisionBoundary": "decision",
    "DecisionContext": "decision",
    "DecisionEvent": "decision",
    "DecisionLogic": "decision",
    "DigitalSignature": "decision",
    "DownstreamConsumer": "decision",
    "HashChain": "decision",
    "HumanOverrideRecord": "decision",
    "ModelInference": "decision",
    "OverrideActor": "decision",
    "PolicyEvaluation": "decision",
    "QualityIndicators": "decision",
    "RiskLevel": "decision",
    "TemporalMetadata": "decision",
    "UpstreamDecision": "decision",
    "prune": "decision",
    "GENESIS_HASH_V1": "decision_v1",
    "DecisionEventV1": "decision_v1",
    "seal_v1": "decision_v1",
    "Violation": "des_rules",
    "des_violations": "des_rules",
    "InputError": "errors",
    "NotFoundError": "errors",
    "ThresherError": "errors",
    "TransientError": "errors",
    "row_to_event": "event_rows",
    "GenerationSkip": "generation",
    "canonical_json": "ids",
    "content_id": "ids",
    "sha256_hex": "ids",
    "DedupAssignment": "labels",
    "FlawLabel": "labels",
    "LabelPass": "labels",
    "ProvenanceCategory": "labels",
    "SentenceScore": "labels",
    "Severity": "labels",
    "Verdict": "labels",
    "VerdictStatus": "labels",
    "decided_correct": "labels",
    "Problem": "problem",
    "ProblemKind": "problem",
    "problem_id_for": "problem",
    "QuarantineRow": "quarantine",
    "Rollout": "rollout",
    "RolloutMode": "rollout",
    "SamplingSpec": "rollout",
    "trace_id_for": "rollout",
    "trace_text": "rollout",
    "ContaminationFlag": "scores",
    "TraceEmbedding": "scores",
    "TraceScore": "scores",
    "Difficulty": "stats",
    "ProblemStats": "stats",
    "DatasetVersion": "version",
}


def __getattr__(name: str) -> Any:
    module = _SUBMODULE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "CHAIN_V1",
    "CHAIN_V2",
    "DES_VERSION",
    "FUNNEL_STAGES",
    "GENESIS_HASH_V1",
    "ChainHead",
    "ChainVerification",
    "ConfidenceComponent",
    "DecisionEventV1",
    "DigitalSignature",
    "DownstreamConsumer",
    "Finding",
    "ModelInference",
    "OverrideActor",
    "PolicyEvaluation",
    "RiskLevel",
    "Segment",
    "UpstreamDecision",
    "UtcDatetime",
    "Violation",
    "chain_format_of",
    "des_violations",
    "prune",
    "row_to_event",
    "seal_run",
    "seal_v1",
    "utc_iso",
    "verify_events",
    "ContaminationFlag",
    "DatasetVersion",
    "GenerationSkip",
    "DecisionBoundary",
    "DecisionContext",
    "DecisionEvent",
    "DecisionLogic",
    "DedupAssignment",
    "FlawLabel",
    "LabelPass",
    "HashChain",
    "HumanOverrideRecord",
    "InputError",
    "NotFoundError",
    "Problem",
    "ProblemStats",
    "Difficulty",
    "ProblemKind",
    "ProvenanceCategory",
    "QualityIndicators",
    "QuarantineRow",
    "Record",
    "Rollout",
    "RolloutMode",
    "SamplingSpec",
    "SentenceScore",
    "Severity",
    "TemporalMetadata",
    "TraceEmbedding",
    "TraceScore",
    "ThresherError",
    "TransientError",
    "Verdict",
    "VerdictStatus",
    "decided_correct",
    "arrow_schema",
    "arrow_type",
    "canonical_json",
    "content_id",
    "event_hash",
    "problem_id_for",
    "sha256_hex",
    "to_arrow_table",
    "trace_id_for",
    "trace_text",
    "utc_now",
]
