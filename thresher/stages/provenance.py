"""The provenance stage: every rollout without scores from this recipe's scorer gets its
sentences scored under teacher, student (and distilled student) and a per-trace divergence."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from thresher.config import GenerationConfig, ProvenanceConfig
from thresher.pipeline.engines.base import Engine
from thresher.pipeline.provenance import (
    CATEGORIES,
    ProvenanceThresholds,
    ProvenanceTracer,
    Role,
    privileged_context,
)
from thresher.pipeline.scoring import Scorer
from thresher.schemas import Rollout
from thresher.stages.base import Stage, StageReport
from thresher.stages.engines import scoring_engine
from thresher.storage import Lake, load_problems, require_problem_set

__all__ = ["ProvenanceReport", "ProvenanceStage", "run"]


@dataclass
class ProvenanceReport(StageReport):
    """What a provenance run did: traces scored and the sentence category mix."""

    scorer: str = ""
    sentences: int = 0
    categories: Counter[str] = field(default_factory=Counter)
    divergence_sum: float = 0.0
    divergence_n: int = 0

    @property
    def mean_divergence(self) -> float | None:
        """Mean teacher-student divergence of the traces scored (nats/token)."""
        return self.divergence_sum / self.divergence_n if self.divergence_n else None

    def category_shares(self) -> dict[str, float]:
        """Share of the scored sentences in each provenance category."""
        return {
            c: self.categories[c] / self.sentences if self.sentences else 0.0 for c in CATEGORIES
        }

    def summary(self) -> str:
        """One line for the console."""
        div = "n/a" if self.mean_divergence is None else f"{self.mean_divergence:+.3f}"
        return (
            f"{self.problem_set}: {self.processed} traces scored ({self.sentences} sentences) "
            f"by {self.scorer}; mean divergence {div} nats/token; {self.elapsed_s:.1f}s"
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        out = super().as_dict()
        out["categories"] = dict(self.categories)
        out["category_shares"] = self.category_shares()
        out["mean_divergence"] = self.mean_divergence
        return out


class ProvenanceStage(Stage[ProvenanceReport]):
    """Scores the set's unscored traces with one tracer (its name keys the stored rows)."""

    name = "provenance"

    def __init__(
        self,
        config: ProvenanceConfig | None = None,
        generation: GenerationConfig | None = None,
        *,
        engine: Engine | None = None,
    ) -> None:
        """`engine`: an engine already serving the generation model, shared when the tracer
        scores under that same model (the embedded default: one model plays both roles)."""
        self.config = config or ProvenanceConfig()
        self.generation = generation or GenerationConfig()
        self.batch_size = self.config.batch_size
        self._engines: dict[str, Any] = {}
        self._owned: list[Any] = []
        self.tracer = self._tracer(engine)

    def _engine(self, model: str, shared: Engine | None) -> Any:
        if model not in self._engines:
            if shared is not None and shared.name == "vllm" and model == shared.model_name:
                self._engines[model] = shared
            else:
                built = scoring_engine(self.generation, model)
                self._engines[model] = built
                self._owned.append(built)
        return self._engines[model]

    def _tracer(self, shared: Engine | None) -> ProvenanceTracer:
        prov = self.config
        teacher = prov.teacher or self.generation.model
        thresholds = ProvenanceThresholds(likely=prov.likely, gap=prov.gap, boost=prov.boost)

        def scorer(model: str) -> Scorer:
            return Scorer(engine=self._engine(model, shared), model=model)

        student = scorer(prov.student)
        if teacher == prov.student:  # one model in both roles: the teacher sees the reference
            teacher_role = Role("teacher", prov.student, student, privileged_context)
        else:
            teacher_role = Role("teacher", teacher, scorer(teacher))
        distilled = (
            Role("distilled", prov.distilled, scorer(prov.distilled)) if prov.distilled else None
        )
        return ProvenanceTracer(
            teacher=teacher_role,
            student=Role("student", prov.student, student),
            distilled=distilled,
            thresholds=thresholds,
        )

    def new_report(self, problem_set: str) -> ProvenanceReport:
        return ProvenanceReport(self.name, problem_set, scorer=self.tracer.name)

    def pending(self, lake: Lake, problem_set: str) -> list[str]:
        """Rollouts with text and without a `trace_scores` row from this tracer."""
        require_problem_set(lake, problem_set)
        ids = lake.query(
            "SELECT r.trace_id FROM rollouts r JOIN problems p ON r.problem_id = p.problem_id "
            "WHERE p.source = ? AND (r.completion <> '' OR r.reasoning <> '') AND NOT EXISTS "
            "(SELECT 1 FROM trace_scores s WHERE s.trace_id = r.trace_id AND s.scorer = ?) "
            "ORDER BY r.trace_id",
            [problem_set, self.tracer.name],
        )["trace_id"]
        limit = self.config.max_traces
        return list(ids) if limit is None else list(ids)[:limit]

    def setup(self) -> None:
        for engine in self._engines.values():
            engine.setup()  # a shared engine is already started: setup is a no-op

    def teardown(self) -> None:
        for engine in self._owned:
            engine.teardown()

    def process(self, lake: Lake, batch: list[str], report: ProvenanceReport) -> None:
        rows = lake.query(
            "SELECT * FROM rollouts WHERE list_contains(?, trace_id) ORDER BY trace_id", [batch]
        ).to_dicts()
        rollouts = [Rollout.model_validate(r) for r in rows]
        problems = {p.problem_id: p for p in load_problems(lake, report.problem_set)}
        sentences, traces = self.tracer.trace([(problems[r.problem_id], r) for r in rollouts])
        lake.append("sentence_scores", sentences)
        report.rows += lake.append("trace_scores", traces)
        report.sentences += len(sentences)
        report.categories.update(s.category for s in sentences)
        for t in traces:
            if t.divergence is not None:
                report.divergence_sum += t.divergence
                report.divergence_n += 1


def run(
    lake: Lake,
    problem_set: str,
    config: ProvenanceConfig | None = None,
    generation: GenerationConfig | None = None,
    *,
    engine: Engine | None = None,
    progress: bool = False,
) -> ProvenanceReport:
    """Score every not-yet-scored trace of a problem set; commit sentence and trace rows."""
    stage = ProvenanceStage(config, generation, engine=engine)
    return stage.run(lake, problem_set, progress=progress)
