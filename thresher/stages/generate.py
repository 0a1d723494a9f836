"""The generate stage: the rollouts a recipe asks for in one mode, minus those already stored,
in batches of whole problems (one engine call and one commit each, so a batch has the same
composition whether or not an earlier run was interrupted)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from thresher.config import GenerationConfig
from thresher.pipeline.engines.base import Engine
from thresher.pipeline.generate import PlannedTrace, engine_revision, plan_traces, run_batch
from thresher.schemas import SamplingSpec
from thresher.stages.base import Stage, StageReport, batches
from thresher.stages.engines import engine_for
from thresher.stages.facts import row_text, trace_correctness
from thresher.stages.progress import GenerationProgress
from thresher.storage import Lake, load_problems

__all__ = ["GenerateReport", "GenerateStage", "correct_prefix_sources", "run", "sampling_spec"]


def sampling_spec(gen: GenerationConfig) -> SamplingSpec:
    """The recipe's sampling settings as the SamplingSpec stored with (and hashed into) traces."""
    s = gen.sampling
    return SamplingSpec(
        temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens, seed=s.seed, stop=s.stop
    )


@dataclass
class GenerateReport(StageReport):
    """What one generate run did."""

    mode: str = "on_policy"
    planned: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    engine_s: float = 0.0

    @property
    def generated(self) -> int:
        """Rollouts committed by this run."""
        return self.rows

    @property
    def existing(self) -> int:
        """Planned rollouts already in the lake."""
        return self.planned - self.pending

    @property
    def output_tokens_per_s(self) -> float:
        """Completion tokens per second of wall time."""
        return self.completion_tokens / self.elapsed_s if self.elapsed_s else 0.0

    def summary(self) -> str:
        """One line for the console."""
        skipped = ", ".join(f"{k}={v}" for k, v in sorted(self.skipped.items())) or "none"
        return (
            f"{self.problem_set} ({self.mode}): {self.generated} rollouts generated, "
            f"{self.existing} already present of {self.planned} planned; skipped: {skipped}; "
            f"{self.completion_tokens} output tokens in {self.elapsed_s:.1f}s "
            f"({self.output_tokens_per_s:.1f} tok/s)"
        )


def correct_prefix_sources(
    lake: Lake, problem_ids: Sequence[str], model: str | None, sources: Sequence[str]
) -> dict[str, tuple[str, str]]:
    """For each problem, the first (by trace id) trace of a source mode that is correct and
    that no labeler flagged with an error (on-policy ones before privileged ones): a right
    answer reached by broken reasoning is no prefix to continue. Problem id -> (id, text)."""
    if not problem_ids:
        return {}
    sql = (
        "SELECT r.problem_id, r.trace_id, r.mode, r.completion, r.prompt, r.prefix_chars, "
        "r.reasoning, r.answer_text FROM rollouts r "
        "WHERE list_contains(?, r.mode) AND list_contains(?, r.problem_id) "
        "AND NOT EXISTS (SELECT 1 FROM flaw_labels f "
        "WHERE f.trace_id = r.trace_id AND f.severity = 'error')"
    )
    params: list[Any] = [list(sources), list(problem_ids)]
    if model is not None:
        sql += " AND r.model = ?"
        params.append(model)
    rows = lake.query(sql + " ORDER BY r.problem_id, r.mode = 'privileged', r.trace_id", params)
    candidates = rows.to_dicts()
    correct = trace_correctness(lake, trace_ids=[r["trace_id"] for r in candidates])
    found: dict[str, tuple[str, str]] = {}
    for row in candidates:
        fact = correct.get(row["trace_id"])
        if fact is not None and fact.correct:
            found.setdefault(row["problem_id"], (row["trace_id"], row_text(row)))
    return found


class GenerateStage(Stage[GenerateReport]):
    """Samples a mode's missing rollouts on the recipe's engine."""

    name = "generate"

    def __init__(
        self,
        config: GenerationConfig | None = None,
        mode: str = "on_policy",
        *,
        limit: int | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.config = config or GenerationConfig()
        self.mode = mode
        self.limit = limit
        self.engine = engine or engine_for(self.config)
        self._owns_engine = engine is None
        self._planned: dict[str, PlannedTrace] = {}
        self._report: GenerateReport | None = None

    def new_report(self, problem_set: str) -> GenerateReport:
        self._report = GenerateReport(self.name, problem_set, mode=self.mode)
        return self._report

    def _plan_all(self, lake: Lake, problem_set: str) -> list[PlannedTrace]:
        problems = load_problems(lake, problem_set, self.limit)
        gen = self.config
        sources = None
        if self.mode == "prefix":
            ids = [p.problem_id for p in problems]
            sources = correct_prefix_sources(lake, ids, gen.prefix_model, gen.prefix_sources)
        planned, skips = plan_traces(
            problems, mode=self.mode, n=gen.n, sampling=sampling_spec(gen),
            model=self.engine.model_name, model_revision=engine_revision(self.engine),
            engine=self.engine.name, prefix_fractions=gen.prefix_fractions,
            prefix_sources=gen.prefix_sources, correct_traces=sources,
        )  # fmt: skip
        if skips:
            lake.append("generation_skips", skips)
            if self._report is not None:
                for s in skips:
                    self._report.skipped[s.reason] = self._report.skipped.get(s.reason, 0) + 1
        if self._report is not None:
            self._report.planned = len(planned)
        return planned

    def pending(self, lake: Lake, problem_set: str) -> list[str]:
        """Planned trace ids not yet in `rollouts`."""
        return [b for batch in self.plan(lake, problem_set) for b in batch]

    def plan(self, lake: Lake, problem_set: str) -> list[list[str]]:
        """Pending ids grouped by batches of `batch_size` whole problems (a fixed composition)."""
        planned = self._plan_all(lake, problem_set)
        stored = set(
            lake.query(
                "SELECT trace_id FROM rollouts WHERE list_contains(?, trace_id)",
                [[p.trace_id for p in planned]],
            )["trace_id"]
        )
        self._planned = {p.trace_id: p for p in planned if p.trace_id not in stored}
        problem_order = list(dict.fromkeys(p.problem.problem_id for p in planned))
        out = []
        for group in batches(problem_order, self.config.batch_size):
            members = set(group)
            batch = [t for t, p in self._planned.items() if p.problem.problem_id in members]
            if batch:
                out.append(batch)
        return out

    def setup(self) -> None:
        self.engine.setup()

    def teardown(self) -> None:
        if self._owns_engine:
            self.engine.teardown()

    def progress(
        self, total: int, enabled: bool, report: GenerateReport
    ) -> Any:  # a context manager yielding advance(n)
        return _generation_progress(total, enabled, report)

    def process(self, lake: Lake, batch: list[str], report: GenerateReport) -> None:
        planned = [self._planned[t] for t in batch]
        gen = self.config
        out = run_batch(self.engine, planned, sampling_spec(gen), retries=gen.retries)
        if out.rollouts:
            report.rows += lake.append("rollouts", out.rollouts)
        if out.skips:
            lake.append("generation_skips", out.skips)
            for s in out.skips:
                report.skipped[s.reason] = report.skipped.get(s.reason, 0) + 1
        report.batches += 1
        report.engine_s += out.engine_s
        report.prompt_tokens += out.prompt_tokens
        report.completion_tokens += out.completion_tokens


@contextmanager
def _generation_progress(
    total: int, enabled: bool, report: GenerateReport
) -> Iterator[Callable[[int], None]]:
    with GenerationProgress(
        total=total, enabled=enabled, description=f"generate {report.mode}"
    ) as bar:
        seen = [report.completion_tokens]

        def advance(n: int) -> None:
            bar.advance(n, report.completion_tokens - seen[0])
            seen[0] = report.completion_tokens

        yield advance


def run(
    lake: Lake,
    problem_set: str,
    config: GenerationConfig | None = None,
    mode: str = "on_policy",
    *,
    limit: int | None = None,
    engine: Engine | None = None,
    progress: bool = False,
) -> GenerateReport:
    """Generate a mode's missing rollouts for a problem set (its first `limit` problems)."""
    stage = GenerateStage(config, mode, limit=limit, engine=engine)
    return stage.run(lake, problem_set, progress=progress)
