"""The engine contract: chat requests in, completions out, in the same order."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from thresher.schemas import SamplingSpec
from thresher.schemas.generation import (
    ENGINE_ERROR,
    SKIP_PROMPT_TOO_LONG,
    GeneratedSample,
    GenerationRequest,
    GenerationResult,
)

__all__ = [
    "Engine",
    "GenerationRequest",
    "GenerationResult",
    "GeneratedSample",
    "SKIP_PROMPT_TOO_LONG",
    "ENGINE_ERROR",
    "render_messages",
]


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
