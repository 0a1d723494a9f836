"""Any OpenAI-compatible chat server (vLLM serve, SGLang, a hosted API) over async HTTP."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
from collections.abc import Sequence
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
from thresher.schemas import InputError, SamplingSpec

__all__ = ["OpenAIEngine", "RETRY_STATUS"]

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_TOO_LONG_HINTS = ("maximum context length", "context length", "too long", "context_length")


class _Retryable(Exception):
    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


class OpenAIEngine(Engine):
    """Chat completions from an OpenAI-compatible server, with bounded concurrency and retries.

    The API key is read from the environment variable `api_key_env` at request time; it is
    never stored on the engine, logged or written to the lake. The prompt recorded in a
    Rollout is the messages rendered by `render_messages`, since the server applies the chat
    template. Prefix mode sends the partial assistant message with vLLM's
    `continue_final_message`; servers without that extension may reject it.
    """

    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrency: int = 16,
        timeout_s: float = 120.0,
        max_retries: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        logprobs: bool = True,
        send_seed: bool = True,
        model_revision: str = "",
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InputError(
                f"base URL {base_url!r} is not an http(s) URL",
                field="base_url",
                hint="e.g. --base-url http://127.0.0.1:8000/v1",
            )
        if max_concurrency < 1 or max_retries < 0:
            raise InputError("max_concurrency must be >= 1 and max_retries >= 0")
        self._model = model
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.logprobs = logprobs
        self.send_seed = send_seed
        self._revision = model_revision
        self.extra_body = dict(extra_body or {})
        self.attempts = 0  # HTTP requests sent, retries included (for progress and tests)

    def setup(self) -> None:
        """Nothing to load: connections are opened per batch."""

    @property
    def model_name(self) -> str:
        return self._model

    @property
    def model_revision(self) -> str:
        return self._revision

    def generate(
        self, requests: Sequence[GenerationRequest], sampling: SamplingSpec
    ) -> list[GenerationResult]:
        """Send all requests concurrently (bounded); results in request order."""
        coro_factory = lambda: self._generate_all(requests, sampling)  # noqa: E731
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro_factory())
        # Called from inside an event loop (a notebook): run ours in a helper thread.
        box: list[list[GenerationResult]] = []
        thread = threading.Thread(target=lambda: box.append(asyncio.run(coro_factory())))
        thread.start()
        thread.join()
        return box[0]

    async def _generate_all(
        self, requests: Sequence[GenerationRequest], sampling: SamplingSpec
    ) -> list[GenerationResult]:
        import httpx

        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        limits = httpx.Limits(max_connections=self.max_concurrency)
        sem = asyncio.Semaphore(self.max_concurrency)
        async with httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=self.timeout_s, limits=limits
        ) as client:

            async def one(req: GenerationRequest) -> GenerationResult:
                async with sem:
                    return await self._one(client, req, sampling)

            return list(await asyncio.gather(*(one(r) for r in requests)))

    def _payload(self, req: GenerationRequest, sampling: SamplingSpec) -> dict[str, Any]:
        messages: list[dict[str, Any]] = [{"role": r, "content": c} for r, c in req.messages]
        body: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "n": req.n,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
        }
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if self.logprobs:
            body["logprobs"] = True
        if self.send_seed and req.seed is not None:
            body["seed"] = req.seed
        if req.assistant_prefix:
            messages.append({"role": "assistant", "content": req.assistant_prefix})
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
        body.update(self.extra_body)
        return body

    async def _one(
        self, client: Any, req: GenerationRequest, sampling: SamplingSpec
    ) -> GenerationResult:
        prompt = render_messages(req.messages, req.assistant_prefix)
        body = self._payload(req, sampling)
        start = time.perf_counter()
        last = ""
        for attempt in range(self.max_retries + 1):
            try:
                data = await self._post(client, body)
            except _Retryable as exc:
                last = exc.detail
                if attempt == self.max_retries:
                    break
                delay = min(self.max_backoff_s, self.backoff_s * 2**attempt)
                delay = delay * (0.5 + random.random() / 2)  # jitter: clients do not stampede
                if exc.retry_after is not None:
                    delay = min(self.max_backoff_s, max(delay, exc.retry_after))
                log.warning("retrying %s after %.2fs: %s", req.key, delay, exc.detail)
                await asyncio.sleep(delay)
                continue
            except _Fatal as exc:
                return GenerationResult(
                    key=req.key,
                    prompt=prompt,
                    error=exc.reason,
                    detail=exc.detail,
                    latency_s=time.perf_counter() - start,
                )
            return _result(req, prompt, data, time.perf_counter() - start)
        return GenerationResult(
            key=req.key,
            prompt=prompt,
            error=ENGINE_ERROR,
            detail=f"gave up after {self.max_retries + 1} attempts: {last}",
            latency_s=time.perf_counter() - start,
        )

    async def _post(self, client: Any, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        self.attempts += 1
        try:
            resp = await client.post("/chat/completions", json=body)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        if resp.status_code in RETRY_STATUS:
            retry_after = resp.headers.get("retry-after")
            try:
                wait = float(retry_after) if retry_after is not None else None
            except ValueError:
                wait = None
            raise _Retryable(f"HTTP {resp.status_code}: {resp.text[:300]}", wait)
        if resp.status_code >= 400:
            text = resp.text[:500]
            too_long = resp.status_code == 400 and any(h in text.lower() for h in _TOO_LONG_HINTS)
            raise _Fatal(
                SKIP_PROMPT_TOO_LONG if too_long else ENGINE_ERROR,
                f"HTTP {resp.status_code}: {text}",
            )
        try:
            data: dict[str, Any] = resp.json()
            data["choices"]  # noqa: B018 - shape check
        except (ValueError, KeyError) as exc:
            raise _Retryable(f"malformed response: {resp.text[:300]}") from exc
        return data


class _Fatal(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _result(
    req: GenerationRequest, prompt: str, data: dict[str, Any], latency: float
) -> GenerationResult:
    usage = data.get("usage") or {}
    choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
    samples = []
    for choice in choices:
        content = (choice.get("message") or {}).get("content") or ""
        lps = [
            float(t["logprob"])
            for t in ((choice.get("logprobs") or {}).get("content") or [])
            if t.get("logprob") is not None
        ]
        n_tokens = (
            len(lps) if lps else int(usage.get("completion_tokens", 0)) // max(1, len(choices))
        )
        samples.append(
            GeneratedSample(
                text=content,
                finish_reason=str(choice.get("finish_reason") or ""),
                completion_tokens=n_tokens,
                mean_logprob=(sum(lps) / len(lps)) if lps else None,
            )
        )
    return GenerationResult(
        key=req.key,
        prompt=prompt,
        prompt_tokens=int(usage.get("prompt_tokens", 0)),
        samples=samples,
        latency_s=latency,
    )
