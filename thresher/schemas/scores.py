"""Per-trace provenance scores, stored embeddings and contamination flags (labels, not decisions)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from thresher.schemas.base import Record, utc_now

__all__ = ["TraceScore", "TraceEmbedding", "ContaminationFlag"]


class TraceScore(Record):
    """Provenance shares and teacher-student divergence of one trace under one scorer."""

    trace_id: str
    problem_id: str
    scorer: str = Field(..., description="versioned provenance scorer name + model roles")
    n_sentences: int = Field(..., ge=0)
    share_teacher_originated: float = Field(0.0, ge=0.0, le=1.0)
    share_student_originated: float = Field(0.0, ge=0.0, le=1.0)
    share_shared: float = Field(0.0, ge=0.0, le=1.0)
    share_boosted: float = Field(0.0, ge=0.0, le=1.0)
    share_novel: float = Field(0.0, ge=0.0, le=1.0)
    teacher_logprob: float | None = Field(None, description="token-weighted mean under teacher")
    student_logprob: float | None = Field(None, description="token-weighted mean under student")
    distilled_logprob: float | None = None
    divergence: float | None = Field(
        None, description="token-weighted mean of log p_teacher - log p_student"
    )
    divergence_sentence_mean: float | None = Field(
        None, description="mean over sentences of the per-sentence divergence"
    )
    created_at: datetime = Field(default_factory=utc_now)


class TraceEmbedding(Record):
    """One trace's normalised embedding under one embedder (so thresholds never re-embed)."""

    trace_id: str
    problem_id: str
    embedder: str = Field(..., description="embedder name incl. backend, e.g. 'all-minilm-l6-v2'")
    text_hash: str = Field(..., description="hash of the normalised text that was embedded")
    dim: int = Field(..., gt=0)
    vector: list[float]
    created_at: datetime = Field(default_factory=utc_now)


class ContaminationFlag(Record):
    """A problem whose text overlaps a benchmark item by word n-grams."""

    problem_id: str
    benchmark: str = Field(..., description="benchmark set name (file stem or dataset id)")
    benchmark_item: str = Field(..., description="id or row index of the matching item")
    method: str = Field("ngram_overlap_v1", description="versioned detector name")
    n: int = Field(..., gt=0, description="n-gram length in words")
    matched_ngrams: int = Field(..., ge=1)
    overlap: float = Field(..., ge=0.0, le=1.0, description="share of the problem's n-grams")
    evidence: str = Field("", description="one matching n-gram, normalised")
    benchmark_text: str = Field("", description="the matching benchmark item (truncated)")
    created_at: datetime = Field(default_factory=utc_now)
