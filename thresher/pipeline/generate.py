"""The generation job: plan (problem, sample) traces, generate only the missing ones, commit
each batch to the lake."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from thresher.pipeline.engines.base import (
    ENGINE_ERROR,
    Engine,
    GenerationRequest,
    GenerationResult,
)
from thresher.pipeline.progress import GenerationProgress
from thresher.pipeline.prompts import on_policy_messages, prefix_cut, privileged_messages
from thresher.pipeline.split import THINK_MARKERS, SplitMarkers, split_reasoning
from thresher.schemas import (
    GenerationSkip,
    InputError,
    NotFoundError,
    Problem,
    Rollout,
    RolloutMode,
    SamplingSpec,
    content_id,
    trace_id_for,
)

__all__ = [
    "GenerateOptions",
    "GenerateReport",
    "PlannedTrace",
    "plan_traces",
    "generate",
    "load_problems",
    "sample_seed",
]

log = logging.getLogger(__name__)

SKIP_NO_REFERENCE = "no_reference"
SKIP_NO_CORRECT_TRACE = "no_correct_trace"
MODES: tuple[str, ...] = ("on_policy", "prefix", "privileged")
PREFIX_SOURCES: tuple[str, ...] = ("on_policy", "privileged")


@dataclass(frozen=True)
class GenerateOptions:
    """What to generate: problem set, samples per problem, mode and sampling."""

    problems: str
    n: int = 4
    mode: RolloutMode = "on_policy"
    sampling: SamplingSpec = field(default_factory=lambda: SamplingSpec.model_validate({}))
    prefix_fractions: tuple[float, ...] = (0.25, 0.5, 0.75)
    prefix_model: str | None = None  # take prefixes only from this model's traces
    # Modes whose correct traces give prefixes; "privileged" lets a model continue reasoning it
    # wrote with the reference in view (its continuations are checked by reference_leak_v1).
    prefix_sources: tuple[str, ...] = ("on_policy",)
    batch_size: int = 256  # requests (one per trace) per engine call and lake commit
    limit: int | None = None  # at most this many problems (in problem_id order)
    retries: int = 2  # engine-call retries per batch before its traces are recorded failed
    retry_backoff_s: float = 2.0
    markers: SplitMarkers = THINK_MARKERS

    def __post_init__(self) -> None:
        if self.n < 1:
            raise InputError(f"n must be >= 1, got {self.n}", field="n")
        if self.mode not in MODES:
            raise InputError(
                f"unknown mode {self.mode!r}", field="mode", hint=f"modes: {', '.join(MODES)}"
            )
        if self.batch_size < 1:
            raise InputError("batch_size must be >= 1", field="batch_size")
        unknown = set(self.prefix_sources) - set(PREFIX_SOURCES)
        if unknown or not self.prefix_sources:
            raise InputError(
                f"prefix sources must be some of {', '.join(PREFIX_SOURCES)}, "
                f"got {', '.join(self.prefix_sources) or 'none'}",
                field="prefix_sources",
            )
        for f in self.prefix_fractions:
            if not 0.0 < f < 1.0:
                raise InputError(
                    f"prefix fraction {f} is not strictly between 0 and 1",
                    field="prefix_fractions",
                    hint="e.g. --prefix-fractions 0.25,0.5,0.75",
                )


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


@dataclass
class GenerateReport:
    """What a run did."""

    planned: int = 0
    existing: int = 0
    generated: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    elapsed_s: float = 0.0
    engine_s: float = 0.0

    @property
    def output_tokens_per_s(self) -> float:
        """Completion tokens per second of wall time."""
        return self.completion_tokens / self.elapsed_s if self.elapsed_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary."""
        return {
            "planned": self.planned,
            "existing": self.existing,
            "generated": self.generated,
            "skipped": dict(self.skipped),
            "batches": self.batches,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "elapsed_s": round(self.elapsed_s, 3),
            "output_tokens_per_s": round(self.output_tokens_per_s, 2),
        }


def sample_seed(seed: int | None, trace_id: str) -> int | None:
    """The per-trace seed derived from the user's seed (None when no seed was given)."""
    if seed is None:
        return None
    return int(content_id("sample-seed", seed, trace_id)[:8], 16)


def load_problems(lake: Any, name: str, limit: int | None = None) -> list[Problem]:
    """The problems of a named set (`source = name`), in problem_id order."""
    sql = "SELECT * FROM problems WHERE source = ? ORDER BY problem_id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    df = lake.query(sql, params=[name])
    if df.height == 0:
        known = lake.sql("SELECT DISTINCT source FROM problems ORDER BY source")["source"]
        raise NotFoundError(
            f"no problems named {name!r} in the lake",
            hint=f"known problem sets: {', '.join(known.to_list()) or '(none)'}; "
            "add some with `thresher ingest`",
        )
    return [Problem.model_validate(row) for row in df.to_dicts()]


def _correct_traces(
    lake: Any,
    problem_ids: Sequence[str],
    model: str | None,
    sources: Sequence[str] = ("on_policy",),
) -> dict[str, tuple[str, str]]:
    """For each problem, the first (by trace id) trace of a source mode that a verifier judged
    correct and no labeler flagged with an error (on-policy ones before privileged ones): a
    right answer reached by broken reasoning is no prefix to continue."""
    if not problem_ids:
        return {}
    sql = (
        "SELECT r.problem_id, r.trace_id, r.completion FROM rollouts r "
        "JOIN verdicts v ON v.trace_id = r.trace_id "
        "WHERE v.correct AND list_contains(?, r.mode) AND list_contains(?, r.problem_id) "
        "AND NOT EXISTS (SELECT 1 FROM flaw_labels f "
        "WHERE f.trace_id = r.trace_id AND f.severity = 'error')"
    )
    params: list[Any] = [list(sources), list(problem_ids)]
    if model is not None:
        sql += " AND r.model = ?"
        params.append(model)
    sql += " ORDER BY r.problem_id, r.mode = 'privileged', r.trace_id"
    found: dict[str, tuple[str, str]] = {}
    for row in lake.query(sql, params=params).iter_rows():
        found.setdefault(row[0], (row[1], row[2]))
    return found


def plan_traces(
    problems: Sequence[Problem],
    options: GenerateOptions,
    model: str,
    model_revision: str,
    engine: str,
    correct_traces: dict[str, tuple[str, str]] | None = None,
) -> tuple[list[PlannedTrace], list[GenerationSkip]]:
    """Every trace the options ask for, and skips for those that cannot be built."""
    planned: list[PlannedTrace] = []
    skips: list[GenerationSkip] = []
    spec = options.sampling

    def tid(problem: Problem, i: int, prefix_id: str | None, frac: float | None) -> str:
        return trace_id_for(
            problem.problem_id, model, model_revision, spec, options.mode, prefix_id, frac, i
        )

    def skip(problem: Problem, i: int, reason: str, detail: str, frac: float | None) -> None:
        skips.append(
            GenerationSkip(
                trace_id=tid(problem, i, None, frac),
                problem_id=problem.problem_id,
                model=model,
                engine=engine,
                mode=options.mode,
                sample_index=i,
                reason=reason,
                detail=detail,
                attempts=0,
            )
        )

    for problem in problems:
        if options.mode == "on_policy":
            msgs = on_policy_messages(problem)
            for i in range(options.n):
                t = tid(problem, i, None, None)
                planned.append(PlannedTrace(t, problem, i, msgs, seed=sample_seed(spec.seed, t)))
        elif options.mode == "privileged":
            priv = privileged_messages(problem)
            for i in range(options.n):
                if priv is None:
                    skip(problem, i, SKIP_NO_REFERENCE, "problem has no solution or answer", None)
                    continue
                t = tid(problem, i, None, None)
                planned.append(
                    PlannedTrace(t, problem, i, priv, "privileged", seed=sample_seed(spec.seed, t))
                )
        else:
            msgs = on_policy_messages(problem)
            source = (correct_traces or {}).get(problem.problem_id)
            for frac in options.prefix_fractions:
                for i in range(options.n):
                    if source is None:
                        skip(
                            problem,
                            i,
                            SKIP_NO_CORRECT_TRACE,
                            "no stored trace judged correct for this problem (prefix sources: "
                            f"{', '.join(options.prefix_sources)})",
                            frac,
                        )
                        continue
                    prefix_id, completion = source
                    t = tid(problem, i, prefix_id, frac)
                    planned.append(
                        PlannedTrace(
                            t,
                            problem,
                            i,
                            msgs,
                            "prefix",
                            prefix_cut(completion, frac),
                            prefix_id,
                            frac,
                            sample_seed(spec.seed, t),
                        )
                    )
    return planned, skips


def _existing_trace_ids(lake: Any, problem_ids: Sequence[str], model: str) -> set[str]:
    df = lake.query(
        "SELECT trace_id FROM rollouts WHERE model = ? AND list_contains(?, problem_id)",
        params=[model, list(problem_ids)],
    )
    return set(df["trace_id"].to_list())


def generate(
    lake: Any,
    engine: Engine,
    options: GenerateOptions,
    *,
    progress: bool = True,
    on_batch: Callable[[int, GenerateReport], None] | None = None,
) -> GenerateReport:
    """Generate the missing rollouts of a problem set and commit them batch by batch."""
    started = time.perf_counter()
    report = GenerateReport()
    problems = load_problems(lake, options.problems, options.limit)
    model, revision = engine.model_name, _revision(engine)
    correct = (
        _correct_traces(
            lake, [p.problem_id for p in problems], options.prefix_model, options.prefix_sources
        )
        if options.mode == "prefix"
        else None
    )
    planned, plan_skips = plan_traces(problems, options, model, revision, engine.name, correct)
    report.planned = len(planned)
    if plan_skips:
        lake.append("generation_skips", plan_skips)
        for s in plan_skips:
            report.skipped[s.reason] = report.skipped.get(s.reason, 0) + 1
    existing = _existing_trace_ids(lake, [p.problem_id for p in problems], model)
    todo = [p for p in planned if p.trace_id not in existing]
    report.existing = len(planned) - len(todo)
    if not todo:
        report.elapsed_s = time.perf_counter() - started
        return report
    engine.setup()
    with GenerationProgress(total=len(todo), enabled=progress) as bar:
        for start in range(0, len(todo), options.batch_size):
            batch = todo[start : start + options.batch_size]
            rollouts, skips = _run_batch(engine, batch, options, report)
            if rollouts:
                lake.append("rollouts", rollouts)
            if skips:
                lake.append("generation_skips", skips)
            report.batches += 1
            report.generated += len(rollouts)
            for s in skips:
                report.skipped[s.reason] = report.skipped.get(s.reason, 0) + 1
            bar.advance(len(batch), sum(r.completion_tokens for r in rollouts))
            if on_batch is not None:
                on_batch(report.batches, report)
    report.elapsed_s = time.perf_counter() - started
    return report


def _revision(engine: Engine) -> str:
    resolve = getattr(engine, "resolve", None)
    if callable(resolve):  # the vllm engine resolves the model without starting
        return str(resolve().revision)
    return engine.model_revision


def _run_batch(
    engine: Engine,
    batch: Sequence[PlannedTrace],
    options: GenerateOptions,
    report: GenerateReport,
) -> tuple[list[Rollout], list[GenerationSkip]]:
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
    while results is None and attempts <= options.retries:
        attempts += 1
        try:
            results = engine.generate(requests, options.sampling)
        except Exception as exc:  # engine failures are retried, then recorded, never fatal
            error = f"{type(exc).__name__}: {exc}"[:1000]
            log.warning("engine call failed (attempt %d): %s", attempts, error)
            if attempts <= options.retries:
                time.sleep(options.retry_backoff_s * 2 ** (attempts - 1))
    report.engine_s += time.perf_counter() - t0
    if results is None:
        results = [
            GenerationResult(key=r.key, prompt="", error=ENGINE_ERROR, detail=error)
            for r in requests
        ]
    by_key = {r.key: r for r in results}
    rollouts: list[Rollout] = []
    skips: list[GenerationSkip] = []
    model, revision = engine.model_name, _revision(engine)
    for plan in batch:
        res = by_key.get(plan.trace_id)
        if res is None or not res.ok or not res.samples:
            reason = ENGINE_ERROR if res is None or res.error is None else res.error
            detail = "engine returned no result" if res is None else res.detail
            skips.append(
                GenerationSkip(
                    trace_id=plan.trace_id,
                    problem_id=plan.problem.problem_id,
                    model=model,
                    engine=engine.name,
                    mode=plan.mode,
                    sample_index=plan.sample_index,
                    reason=reason,
                    detail=detail,
                    attempts=attempts,
                )
            )
            continue
        sample = res.samples[0]
        # A prefix continuation's reasoning starts with the prefix it was given.
        reasoning, answer = split_reasoning(plan.assistant_prefix + sample.text, options.markers)
        rollout = Rollout(
            trace_id="",  # filled from content; checked against the planned id below
            problem_id=plan.problem.problem_id,
            model=model,
            model_revision=revision,
            engine=engine.name,
            sampling=options.sampling,
            mode=plan.mode,
            prefix_trace_id=plan.prefix_trace_id,
            prefix_fraction=plan.prefix_fraction,
            prefix_chars=len(plan.assistant_prefix) if plan.mode == "prefix" else None,
            conditioned_on_ground_truth=plan.mode == "privileged",
            sample_index=plan.sample_index,
            prompt=res.prompt,
            completion=sample.text,
            reasoning=reasoning,
            answer_text=answer,
            prompt_tokens=res.prompt_tokens,
            completion_tokens=sample.completion_tokens,
            finish_reason=sample.finish_reason,
            mean_logprob=sample.mean_logprob,
            latency_s=res.latency_s,
        )
        if rollout.trace_id != plan.trace_id:  # the planned id must be the record's content id
            raise AssertionError(f"trace id drift: {rollout.trace_id} != {plan.trace_id}")
        rollouts.append(rollout)
        report.prompt_tokens += res.prompt_tokens
        report.completion_tokens += sample.completion_tokens
    return rollouts, skips
