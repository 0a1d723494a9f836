"""Records of thresher: pydantic v2 models and the Arrow schemas derived from them.

This package imports nothing else of thresher; every other layer imports it.
"""

from thresher.schemas.arrow import arrow_schema, arrow_type, to_arrow_table
from thresher.schemas.base import Record, utc_now
from thresher.schemas.decision import (
    FUNNEL_STAGES,
    GENESIS_HASH,
    ChainReport,
    DecisionBoundary,
    DecisionContext,
    DecisionEvent,
    DecisionLogic,
    HashChain,
    HumanOverrideRecord,
    ModelInfo,
    QualityIndicators,
    TemporalMetadata,
    event_hash,
    seal,
    verify_chain,
)
from thresher.schemas.errors import InputError, NotFoundError, ThresherError, TransientError
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
    "FUNNEL_STAGES",
    "GENESIS_HASH",
    "ChainReport",
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
    "ModelInfo",
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
    "seal",
    "sha256_hex",
    "to_arrow_table",
    "trace_id_for",
    "trace_text",
    "utc_now",
    "verify_chain",
]
