"""Generation as library code: plan the (problem, sample) traces of a mode with their content
ids, and run one batch of them on an engine into Rollouts (engine failures retried, then
recorded as skips). What is already stored and what gets committed is the generate stage's."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from thresher.pipeline.engines.base import Engine
from thresher.pipeline.prompts import on_policy_messages, prefix_cut, privileged_messages
from thresher.schemas import (
    GenerationSkip,
    InputError,
    Problem,
    Rollout,
    RolloutMode,
    SamplingSpec,
    content_id,
    trace_id_for,
)
from thresher.schemas.generation import ENGINE_ERROR, GenerationRequest, GenerationResult
from thresher.text.split import THINK_MARKERS, SplitMarkers, split_reasoning

__all__ = [
    "BatchOutcome",
    "MODES",
    "PREFIX_SOURCES",
    "PlannedTrace",
    "SKIP_NO_CORRECT_TRACE",
    "SKIP_NO_REFERENCE",
    "engine_revision",
    "plan_traces",
    "run_batch",
    "sample_seed",
]

log = logging.getLogger(__name__)

SKIP_NO_REFERENCE = "no_reference"
SKIP_NO_CORRECT_TRACE = "no_correct_trace"
MODES: tuple[str, ...] = ("on_policy", "prefix", "privileged")
PREFIX_SOURCES: tuple[str, ...] = ("on_policy", "privileged")


@dataclass(frozen=True)
class PlannedTrace:
    """One (problem, sample) to generate, with everything that determines its trace id."""

    trace_id: str
    problem: Problem
    sample_index: int
    messages: tuple[tuple[str, str], ...]
    mode: RolloutMode = "on_policy"
    assistant_prefix: str = ""
    prefix_trace_id: str | None = None
    prefix_fraction: float | None = None
    seed: int | None = None


def sample_seed(seed: int | None, trace_id: str) -> int | None:
    """The per-trace seed derived from the user's seed (None when no seed was given)."""
    if seed is None:
        return None
    return int(content_id("sample-seed", seed, trace_id)[:8], 16)


def check_mode(mode: str, prefix_fractions: Sequence[float], prefix_sources: Sequence[str]) -> None:
    """Fail with the field when a mode or its prefix settings are not usable."""
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}", field="mode", hint=f"modes: {', '.join(MODES)}")
    unknown = set(prefix_sources) - set(PREFIX_SOURCES)
    if unknown or not prefix_sources:
        raise InputError(
            f"prefix sources must be some of {', '.join(PREFIX_SOURCES)}, "
            f"got {', '.join(prefix_sources) or 'none'}",
            field="prefix_sources",
        )
    for f in prefix_fractions:
        if not 0.0 < f < 1.0:
            raise InputError(
                f"prefix fraction {f} is not strictly between 0 and 1",
                field="prefix_fractions",
                hint="e.g. --prefix-fractions 0.25,0.5,0.75",
            )


def plan_traces(
    problems: Sequence[Problem],
    *,
    mode: str,
    n: int,
    sampling: SamplingSpec,
    model: str,
    model_revision: str,
    engine: str,
    prefix_fractions: Sequence[float] = (0.5,),
    prefix_sources: Sequence[str] = ("on_policy",),
    correct_traces: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[list[PlannedTrace], list[GenerationSkip]]:
    """Every trace a mode asks for (problem order, then fraction, then sample), and skips for
    those that cannot be built. ``correct_traces``: problem id -> (trace id, text) to continue
    in prefix mode."""
    check_mode(mode, prefix_fractions, prefix_sources)
    planned: list[PlannedTrace] = []
    skips: list[GenerationSkip] = []

    def tid(problem: Problem, i: int, prefix_id: str | None, frac: float | None) -> str:
        return trace_id_for(
            problem.problem_id, model, model_revision, sampling, mode, prefix_id, frac, i
        )

    def skip(problem: Problem, i: int, reason: str, detail: str, frac: float | None) -> None:
        skips.append(
            GenerationSkip(
                trace_id=tid(problem, i, None, frac), problem_id=problem.problem_id, model=model,
                engine=engine, mode=mode, sample_index=i, reason=reason, detail=detail, attempts=0,
            )
        )  # fmt: skip

    for problem in problems:
        if mode == "on_policy":
            msgs = on_policy_messages(problem)
            for i in range(n):
                t = tid(problem, i, None, None)
                planned.append(
                    PlannedTrace(t, problem, i, msgs, seed=sample_seed(sampling.seed, t))
                )
        elif mode == "privileged":
            priv = privileged_messages(problem)
            for i in range(n):
                if priv is None:
                    skip(problem, i, SKIP_NO_REFERENCE, "problem has no solution or answer", None)
                    continue
                t = tid(problem, i, None, None)
                seed = sample_seed(sampling.seed, t)
                planned.append(PlannedTrace(t, problem, i, priv, "privileged", seed=seed))
        else:
            msgs = on_policy_messages(problem)
            source = (correct_traces or {}).get(problem.problem_id)
            for frac in prefix_fractions:
                for i in range(n):
                    if source is None:
                        detail = (
                            "no stored trace judged correct and unflawed for this problem "
                            f"(prefix sources: {', '.join(prefix_sources)})"
                        )
                        skip(problem, i, SKIP_NO_CORRECT_TRACE, detail, frac)
                        continue
                    prefix_id, text = source
                    t = tid(problem, i, prefix_id, frac)
                    planned.append(
                        PlannedTrace(
                            t, problem, i, msgs, "prefix", prefix_cut(text, frac), prefix_id, frac,
                            sample_seed(sampling.seed, t),
                        )
                    )  # fmt: skip
    return planned, skips


def engine_revision(engine: Engine) -> str:
    """The revision of the engine's weights, known before the engine starts where possible."""
    resolve = getattr(engine, "resolve", None)
    if callable(resolve):  # the vllm engine resolves the model without starting
        return str(resolve().revision)
    return engine.model_revision


@dataclass
class BatchOutcome:
    """One engine batch: its rollouts, its skips and what it cost."""

    rollouts: list[Rollout]
    skips: list[GenerationSkip]
    engine_s: float
    prompt_tokens: int
    completion_tokens: int


def run_batch(
    engine: Engine,
    batch: Sequence[PlannedTrace],
    sampling: SamplingSpec,
    *,
    retries: int = 2,
    retry_backoff_s: float = 2.0,
    markers: SplitMarkers = THINK_MARKERS,
) -> BatchOutcome:
    """Sample one batch in one engine call (retried on failure), as Rollouts and skips."""
    requests = [
        GenerationRequest(
            key=p.trace_id, messages=p.messages, assistant_prefix=p.assistant_prefix, seed=p.seed
        )
        for p in batch
    ]
    results: list[GenerationResult] | None = None
    attempts = 0
    error = ""
    t0 = time.perf_counter()
    while results is None and attempts <= retries:
        attempts += 1
        try:
            results = engine.generate(requests, sampling)
        except Exception as exc:  # engine failures are retried, then recorded, never fatal
            error = f"{type(exc).__name__}: {exc}"[:1000]
            log.warning("engine call failed (attempt %d): %s", attempts, error)
            if attempts <= retries:
                time.sleep(retry_backoff_s * 2 ** (attempts - 1))
    engine_s = time.perf_counter() - t0
    if results is None:
        results = [
            GenerationResult(key=r.key, prompt="", error=ENGINE_ERROR, detail=error)
            for r in requests
        ]
    by_key = {r.key: r for r in results}
    out = BatchOutcome([], [], engine_s, 0, 0)
    model, revision = engine.model_name, engine_revision(engine)
    for plan in batch:
        res = by_key.get(plan.trace_id)
        if res is None or not res.ok or not res.samples:
            out.skips.append(
                GenerationSkip(
                    trace_id=plan.trace_id, problem_id=plan.problem.problem_id, model=model,
                    engine=engine.name, mode=plan.mode, sample_index=plan.sample_index,
                    reason=ENGINE_ERROR if res is None or res.error is None else res.error,
                    detail="engine returned no result" if res is None else res.detail,
                    attempts=attempts,
                )
            )  # fmt: skip
            continue
        sample = res.samples[0]
        # A prefix continuation's reasoning starts with the prefix it was given.
        reasoning, answer = split_reasoning(plan.assistant_prefix + sample.text, markers)
        rollout = Rollout(
            trace_id="",  # filled from content; checked against the planned id below
            problem_id=plan.problem.problem_id, model=model, model_revision=revision,
            engine=engine.name, sampling=sampling, mode=plan.mode,
            prefix_trace_id=plan.prefix_trace_id, prefix_fraction=plan.prefix_fraction,
            prefix_chars=len(plan.assistant_prefix) if plan.mode == "prefix" else None,
            conditioned_on_ground_truth=plan.mode == "privileged",
            sample_index=plan.sample_index, prompt=res.prompt, completion=sample.text,
            reasoning=reasoning, answer_text=answer, prompt_tokens=res.prompt_tokens,
            completion_tokens=sample.completion_tokens, finish_reason=sample.finish_reason,
            mean_logprob=sample.mean_logprob, latency_s=res.latency_s,
        )  # fmt: skip
        if rollout.trace_id != plan.trace_id:  # the planned id must be the record's content id
            raise AssertionError(f"trace id drift: {rollout.trace_id} != {plan.trace_id}")
        out.rollouts.append(rollout)
        out.prompt_tokens += res.prompt_tokens
        out.completion_tokens += sample.completion_tokens
    return out
