"""The engine contract: chat requests in, completions out, in the same order."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from thresher.schemas import SamplingSpec

__all__ = [
    "Engine",
    "GenerationRequest",
    "GenerationResult",
    "GeneratedSample",
    "SKIP_PROMPT_TOO_LONG",
    "ENGINE_ERROR",
    "render_messages",
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
    samples: list[GeneratedSample] = field(default_factory=list)
    latency_s: float = 0.0
    error: str | None = None  # SKIP_PROMPT_TOO_LONG, ENGINE_ERROR, ...
    detail: str = ""

    @property
    def ok(self) -> bool:
        """True when the request produced its samples."""
        return self.error is None


class Engine(ABC):
    """A text-generation backend. Heavy objects are built in `setup()`, never in `__init__`."""

    name: ClassVar[str]

    @abstractmethod
    def setup(self) -> None:
        """Load the model / open the connection."""

    def teardown(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""

    @property
    @abstractmethod
    def model_name(self) -> str:
        """The model as the user named it."""

    @property
    @abstractmethod
    def model_revision(self) -> str:
        """Content revision of the weights ('' when the backend cannot say)."""

    @abstractmethod
    def generate(
        self, requests: Sequence[GenerationRequest], sampling: SamplingSpec
    ) -> list[GenerationResult]:
        """Sample every request; results come back in request order, one per request."""

    def __enter__(self) -> Engine:
        self.setup()
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()


def render_messages(messages: Sequence[tuple[str, str]], assistant_prefix: str = "") -> str:
    """A readable prompt text for backends that apply the chat template server-side."""
    parts = [f"<|{role}|>\n{content}" for role, content in messages]
    parts.append(f"<|assistant|>\n{assistant_prefix}")
    return "\n".join(parts)
