"""Rollout: one generated reasoning trace for a problem, with how it was produced."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from thresher.schemas.base import Record, utc_now
from thresher.schemas.ids import content_id

__all__ = ["Rollout", "SamplingSpec", "RolloutMode", "trace_id_for", "trace_text"]

RolloutMode = Literal["on_policy", "prefix", "privileged"]


class SamplingSpec(Record):
    """Sampling parameters that shape a trace (part of its content id)."""

    temperature: float = Field(0.7, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(512, gt=0)
    seed: int | None = None
    stop: list[str] = Field(default_factory=list)


def trace_id_for(
    problem_id: str,
    model: str,
    model_revision: str,
    sampling: SamplingSpec,
    mode: str,
    prefix_trace_id: str | None,
    prefix_fraction: float | None,
    sample_index: int,
) -> str:
    """Content id of a trace: hash of everything that determines how it was sampled."""
    return content_id(
        "trace",
        problem_id,
        model,
        model_revision,
        sampling.model_dump(mode="json"),
        mode,
        prefix_trace_id,
        prefix_fraction,
        sample_index,
    )


def trace_text(
    completion: str,
    prompt: str = "",
    prefix_chars: int | None = None,
    reasoning: str = "",
    answer_text: str = "",
) -> str:
    """A trace's whole text, as every stage reads it: for a prefix continuation, the prefix it
    was given (the end of its prompt) followed by what the model generated; otherwise the
    generated text; a rollout imported without a completion is its reasoning and answer joined
    by ``</think>``."""
    if completion:
        if prefix_chars:
            return prompt[max(0, len(prompt) - prefix_chars) :] + completion
        return completion
    if reasoning or answer_text:
        return f"{reasoning}\n</think>\n{answer_text}"
    return ""


class Rollout(Record):
    """One trace: prompt, reasoning, final answer text, and its provenance."""

    trace_id: str = Field("", description="content id; filled when empty")
    problem_id: str
    model: str = Field(..., description="model name or path as given by the user")
    model_revision: str = Field("", description="revision / content hash of the weights")
    engine: str = Field(..., description="'vllm' or 'openai'")
    sampling: SamplingSpec = Field(default_factory=SamplingSpec)
    mode: RolloutMode = "on_policy"
    prefix_trace_id: str | None = Field(None, description="trace whose prefix conditioned this")
    prefix_fraction: float | None = Field(None, ge=0.0, le=1.0)
    prefix_chars: int | None = Field(None, ge=0, description="length of the prefix in characters")
    conditioned_on_ground_truth: bool = Field(
        False, description="True when the model saw the reference solution (privileged)"
    )
    sample_index: int = Field(0, ge=0)
    prompt: str = Field(..., description="the full prompt text after the chat template")
    completion: str = Field("", description="the raw generated text")
    reasoning: str = Field("", description="the reasoning part (inside think markers, if any)")
    answer_text: str = Field("", description="the final-answer part after the reasoning")
    prompt_tokens: int = Field(0, ge=0)
    completion_tokens: int = Field(0, ge=0)
    finish_reason: str = Field("", description="'stop', 'length', 'abort', ...")
    mean_logprob: float | None = Field(None, description="mean sampled-token log-prob")
    latency_s: float = Field(0.0, ge=0.0)
    created_at: datetime = Field(default_factory=utc_now)

    @model_validator(mode="after")
    def _fill_id(self) -> Rollout:
        if self.prefix_chars and len(self.prompt) < self.prefix_chars:
            raise ValueError("prefix_chars is longer than the prompt that ends with the prefix")
        if self.mode == "privileged" and not self.conditioned_on_ground_truth:
            raise ValueError("privileged rollouts must set conditioned_on_ground_truth=True")
        if not self.trace_id:
            self.trace_id = trace_id_for(
                self.problem_id,
                self.model,
                self.model_revision,
                self.sampling,
                self.mode,
                self.prefix_trace_id,
                self.prefix_fraction,
                self.sample_index,
            )
        return self
