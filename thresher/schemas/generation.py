"""The engine contract's records (a request, its samples, its result) and GenerationSkip: a
(problem, sample) that produced no rollout, and why.

Here, below every layer, so generation, provenance scoring and the judge share one contract
without the filters importing the engines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Protocol

from pydantic import Field

from thresher.schemas.base import Record, utc_now
from thresher.schemas.rollout import SamplingSpec

__all__ = [
    "ENGINE_ERROR",
    "SKIP_PROMPT_TOO_LONG",
    "GeneratedSample",
    "GenerationRequest",
    "GenerationResult",
    "GenerationSkip",
    "TextEngine",
]

# Stable reason codes for requests that produced no sample.
SKIP_PROMPT_TOO_LONG = "prompt_too_long"
ENGINE_ERROR = "engine_error"


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt to sample from; `key` is echoed back so results never shift onto other prompts."""

    key: str
    messages: tuple[tuple[str, str], ...]  # (role, content) pairs: system / user
    assistant_prefix: str = ""  # the assistant turn starts with this text (prefix mode)
    n: int = 1
    seed: int | None = None  # per-request seed where the engine supports it


@dataclass(frozen=True)
class GeneratedSample:
    """One sampled completion."""

    text: str
    finish_reason: str
    completion_tokens: int
    mean_logprob: float | None = None


@dataclass
class GenerationResult:
    """The outcome of one request: samples, or an error reason code and its detail."""

    key: str
    prompt: str  # the prompt text as the model saw it (after the chat template, if known)
    prompt_tokens: int = 0
    samples: list[GeneratedSample] = dataclass_field(default_factory=list)
    latency_s: float = 0.0
    error: str | None = None  # SKIP_PROMPT_TOO_LONG, ENGINE_ERROR, ...
    detail: str = ""

    @property
    def ok(self) -> bool:
        """True when the request produced its samples."""
        return self.error is None


class TextEngine(Protocol):
    """What a consumer of an engine needs (the engines implement `pipeline.engines.Engine`)."""

    def setup(self) -> None:
        """Load the model / open the connection."""

    def teardown(self) -> None:
        """Release resources."""

    @property
    def model_name(self) -> str:
        """The model as the user named it."""

    def generate(
        self, requests: Sequence[GenerationRequest], sampling: SamplingSpec
    ) -> list[GenerationResult]:
        """Sample every request; results in request order."""


class GenerationSkip(Record):
    """A trace that was not generated: its would-be trace id, a reason code and the detail."""

    trace_id: str = Field(..., description="the id the rollout would have had")
    problem_id: str
    model: str
    engine: str
    mode: str
    sample_index: int = Field(0, ge=0)
    reason: str = Field(..., description="'prompt_too_long', 'engine_error', 'no_reference', ...")
    detail: str = ""
    attempts: int = Field(1, ge=0, description="engine calls tried before giving up")
    created_at: datetime = Field(default_factory=utc_now)
