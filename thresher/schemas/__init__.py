"""Records of thresher: pydantic v2 models and the Arrow schemas derived from them.

This package imports nothing else of thresher; every other layer imports it.
"""

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
from thresher.schemas.rollout import Rollout, RolloutMode, SamplingSpec, trace_id_for, trace_text
from thresher.schemas.scores import ContaminationFlag, TraceEmbedding, TraceScore
from thresher.schemas.stats import Difficulty, ProblemStats
from thresher.schemas.version import DatasetVersion

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
