"""Generation engines: offline vLLM and OpenAI-compatible HTTP servers, one contract.

Heavy imports (vllm, httpx) happen inside the engines' methods, so importing this is cheap.
"""

from __future__ import annotations

from typing import Any

from thresher.pipeline.engines.base import (
    ENGINE_ERROR,
    SKIP_PROMPT_TOO_LONG,
    Engine,
    GeneratedSample,
    GenerationRequest,
    GenerationResult,
    render_messages,
)
from thresher.schemas import NotFoundError

__all__ = [
    "ENGINES",
    "ENGINE_ERROR",
    "SKIP_PROMPT_TOO_LONG",
    "Engine",
    "GeneratedSample",
    "GenerationRequest",
    "GenerationResult",
    "make_engine",
    "render_messages",
]

ENGINES = ("vllm", "openai")


def make_engine(name: str, model: str, **options: Any) -> Engine:
    """Build an engine by name ('vllm' or 'openai'); options go to its constructor."""
    if name == "vllm":
        from thresher.pipeline.engines.vllm import VLLMEngine

        return VLLMEngine(model, **options)
    if name == "openai":
        from thresher.pipeline.engines.openai import OpenAIEngine

        return OpenAIEngine(model, **options)
    raise NotFoundError(f"unknown engine {name!r}", hint=f"known engines: {', '.join(ENGINES)}")
