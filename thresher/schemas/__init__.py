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
    "utc_now": "base",
    "FUNNEL_STAGES": "decision",
    "GENESIS_HASH": "decision",
    "ChainReport": "decision",
    "DecisionBoundary": "decision",
    "DecisionContext": "decision",
    "DecisionEvent": "decision",
    "DecisionLogic": "decision",
    "HashChain": "decision",
    "HumanOverrideRecord": "decision",
    "ModelInfo": "decision",
    "QualityIndicators": "decision",
    "TemporalMetadata": "decision",
    "event_hash": "decision",
    "seal": "decision",
    "verify_chain": "decision",
    "InputError": "errors",
    "NotFoundError": "errors",
    "ThresherError": "errors",
    "TransientError": "errors",
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
