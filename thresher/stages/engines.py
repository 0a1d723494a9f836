"""The one way an engine is built from the recipe: generation, provenance scoring and the judge
all get their engines here, with the same settings for the same model.

Building an engine object is cheap (nothing loads until its `setup()`), so stages build them
when they are constructed and start them only when there is work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from thresher.config import GenerationConfig, LabelConfig
from thresher.pipeline.engines import Engine, make_engine

__all__ = ["engine_for", "judge_engine_factory", "scoring_engine", "vllm_options"]


def vllm_options(gen: GenerationConfig) -> dict[str, Any]:
    """The in-process vLLM settings of a recipe (context, dtype, parallelism, eager mode)."""
    options: dict[str, Any] = {
        "max_model_len": gen.max_model_len,
        "tensor_parallel_size": gen.tensor_parallel_size,
        "data_parallel_size": gen.data_parallel_size,
        "seed": gen.sampling.seed or 0,
    }
    if gen.enforce_eager is not None:
        options["enforce_eager"] = gen.enforce_eager
    if gen.dtype:
        options["dtype"] = gen.dtype
    if gen.gpu_memory_utilization:
        options["gpu_memory_utilization"] = gen.gpu_memory_utilization
    return options


def engine_for(gen: GenerationConfig, model: str | None = None, **extra: Any) -> Engine:
    """The engine of a recipe's generation settings, for its model or another one (a teacher)
    served the same way; ``extra`` overrides single settings (e.g. ``logprobs=False``)."""
    name = model or gen.model
    if gen.engine == "openai":
        from thresher.schemas import InputError

        if not gen.base_url:
            raise InputError(
                "engine 'openai' needs the server's URL",
                field="generation.base_url",
                hint="e.g. base_url: http://127.0.0.1:8000/v1 (or --base-url)",
            )
        options: dict[str, Any] = {
            "base_url": gen.base_url,
            "api_key_env": gen.api_key_env,
            "max_concurrency": gen.max_concurrency,
            "send_seed": gen.request_seeds,
        }
        return make_engine("openai", name, **{**options, **extra})
    return make_engine("vllm", name, **{**vllm_options(gen), **extra})


def scoring_engine(gen: GenerationConfig, model: str) -> Engine:
    """An in-process vLLM engine that scores texts under `model` (prompt log-probs need the
    model in process, whichever engine generated the traces)."""
    return make_engine("vllm", model, **{**vllm_options(gen), "logprobs": False})


def judge_engine_factory(labels: LabelConfig, gen: GenerationConfig) -> Callable[[], Engine]:
    """How the judge gets its engine: its OpenAI-compatible server when it has one, else
    in-process vLLM with the recipe's engine settings."""
    from thresher.filters.flaws.judge import JUDGE_TIMEOUT_S

    model = labels.judge_model or gen.model

    def build() -> Engine:
        if labels.judge_base_url:
            # One judge answer is one non-streamed response: a thinking judge writing
            # thousands of tokens needs far longer than a generation request's default.
            return make_engine(
                "openai", model, base_url=labels.judge_base_url, timeout_s=JUDGE_TIMEOUT_S,
                api_key_env=gen.api_key_env,
            )  # fmt: skip
        return make_engine("vllm", model, **vllm_options(gen))

    return build
