"""Log-probability of given texts under a model and a context (vLLM `prompt_logprobs`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from thresher.pipeline.engines.vllm import VLLMEngine
from thresher.pipeline.models import DEFAULT_MODEL
from thresher.schemas import InputError

__all__ = ["ScoreRequest", "ScoreResult", "Scorer", "SKIP_TOO_LONG", "span_means"]

SKIP_TOO_LONG = "too_long"


@dataclass(frozen=True)
class ScoreRequest:
    """Score `text` given `context`; aggregate over char `spans` of `text` (e.g. sentences)."""

    context: str
    text: str
    spans: Sequence[tuple[int, int]] = ()


@dataclass(frozen=True)
class ScoreResult:
    """Per-token log-probs of a text, their char offsets, and per-span means.

    `error` is None when scored; `"too_long"` when context + text do not fit the model's
    context window (then every list is empty / None per span).
    """

    token_logprobs: list[float]
    token_offsets: list[tuple[int, int]]
    span_mean_logprobs: list[float | None]
    span_token_counts: list[int]
    error: str | None = None
    context_tokens: int = 0

    @property
    def mean_logprob(self) -> float | None:
        """Mean log-prob over all tokens of the text (None when it has none)."""
        if not self.token_logprobs:
            return None
        return math.fsum(self.token_logprobs) / len(self.token_logprobs)


def span_means(
    token_logprobs: Sequence[float],
    token_offsets: Sequence[tuple[int, int]],
    spans: Sequence[tuple[int, int]],
) -> tuple[list[float | None], list[int]]:
    """Mean log-prob over the tokens overlapping each char span, and how many tokens that is."""
    means: list[float | None] = []
    counts: list[int] = []
    for start, end in spans:
        vals = [
            lp
            for lp, (a, b) in zip(token_logprobs, token_offsets, strict=True)
            if a < end and b > start
        ]
        counts.append(len(vals))
        means.append(math.fsum(vals) / len(vals) if vals else None)
    return means, counts


@dataclass
class Scorer:
    """Scores texts under one model; shares a VLLMEngine or builds its own in `setup()`."""

    engine: VLLMEngine | None = None
    model: str = DEFAULT_MODEL
    batch_size: int = 64
    engine_kwargs: dict[str, Any] = field(default_factory=dict)

    def setup(self) -> None:
        """Start the engine if this scorer owns one."""
        if self.engine is None:
            self.engine = VLLMEngine(self.model, logprobs=False, **self.engine_kwargs)
        self.engine.setup()

    @property
    def model_name(self) -> str:
        """The model the texts are scored under."""
        return self.engine.model_name if self.engine else self.model

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        """Log-probs of each request's text given its context, in request order."""
        if self.engine is None:
            self.setup()
        assert self.engine is not None
        out: list[ScoreResult] = []
        for i in range(0, len(requests), self.batch_size):
            out.extend(self._score_batch(requests[i : i + self.batch_size], offset=i))
        return out

    def _score_batch(self, requests: Sequence[ScoreRequest], offset: int) -> list[ScoreResult]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        assert self.engine is not None
        tok = self.engine.tokenizer
        max_len = self.engine.max_model_len
        results: list[ScoreResult | None] = [None] * len(requests)
        todo: list[tuple[int, int, list[tuple[int, int]]]] = []
        prompts: list[Any] = []
        for j, req in enumerate(requests):
            _check_spans(req, offset + j)
            ctx_ids = list(tok.encode(req.context, add_special_tokens=False))
            if not ctx_ids:
                # The first token needs something to be conditioned on: the BOS token.
                if tok.bos_token_id is None:
                    raise InputError(
                        "empty context and the tokenizer has no BOS token to condition on",
                        source=f"score request {offset + j}",
                        field="context",
                        hint="pass a non-empty context (e.g. the chat-templated prompt)",
                    )
                ctx_ids = [int(tok.bos_token_id)]
            enc = tok(req.text, add_special_tokens=False, return_offsets_mapping=True)
            text_ids = list(enc["input_ids"])
            offsets = [(int(a), int(b)) for a, b in enc["offset_mapping"]]
            if len(ctx_ids) + len(text_ids) >= max_len:
                results[j] = ScoreResult(
                    [], [], [None] * len(req.spans), [0] * len(req.spans), SKIP_TOO_LONG
                )
                continue
            if not text_ids:
                results[j] = ScoreResult(
                    [], [], [None] * len(req.spans), [0] * len(req.spans), None, len(ctx_ids)
                )
                continue
            todo.append((j, len(ctx_ids), offsets))
            prompts.append(TokensPrompt(prompt_token_ids=ctx_ids + text_ids))
        if prompts:
            params = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
            outputs = self.engine.llm.generate(prompts, params, use_tqdm=False)
            for (j, n_ctx, offsets), out in zip(todo, outputs, strict=True):
                ids = out.prompt_token_ids
                plp = out.prompt_logprobs
                lps = [float(plp[k][ids[k]].logprob) for k in range(n_ctx, len(ids))]
                spans = list(requests[j].spans)
                means, counts = span_means(lps, offsets, spans)
                results[j] = ScoreResult(lps, offsets, means, counts, None, n_ctx)
        return [r for r in results if r is not None]


def _check_spans(req: ScoreRequest, index: int) -> None:
    for k, (start, end) in enumerate(req.spans):
        if not (0 <= start <= end <= len(req.text)):
            raise InputError(
                f"span {k} = ({start}, {end}) is outside the text (length {len(req.text)})",
                source=f"score request {index}",
                field="spans",
            )
