"""Provenance over a problem set in the lake: score unscored traces, store sentence and trace rows.

The Python API behind ``thresher provenance``. Idempotent: traces that already have a
``trace_scores`` row under the same scorer name are skipped, so a rerun after a crash scores
only what is missing. Each batch is committed as it completes.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from thresher.pipeline.progress import progress_bar
from thresher.pipeline.provenance import (
    CATEGORIES,
    ProvenanceThresholds,
    ProvenanceTracer,
    Role,
    privileged_context,
)
from thresher.schemas import Problem, Rollout
from thresher.schemas.errors import InputError

__all__ = ["ProvenanceReport", "run_provenance", "embedded_tracer", "make_tracer"]


@dataclass
class ProvenanceReport:
    """What a provenance run did: traces scored or skipped, and the category mix."""

    scorer: str
    traces_total: int = 0
    traces_scored: int = 0
    traces_existing: int = 0
    sentences: int = 0
    categories: Counter[str] = field(default_factory=Counter)
    mean_divergence: float | None = None
    elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "scorer": self.scorer,
            "traces_total": self.traces_total,
            "traces_scored": self.traces_scored,
            "traces_existing": self.traces_existing,
            "sentences": self.sentences,
            "category_shares": {
                c: (self.categories[c] / self.sentences if self.sentences else 0.0)
                for c in CATEGORIES
            },
            "mean_divergence": self.mean_divergence,
            "elapsed_s": round(self.elapsed_s, 2),
        }


def make_tracer(
    teacher: str | None,
    student: str,
    distilled: str | None = None,
    thresholds: ProvenanceThresholds | None = None,
    engine_kwargs: dict[str, Any] | None = None,
) -> ProvenanceTracer:
    """A tracer over vLLM scorers. Without a separate teacher (or with the student's own name),
    one model plays both roles and the teacher sees the reference solution (privileged)."""
    from thresher.pipeline.scoring import Scorer

    kwargs = dict(engine_kwargs or {})
    student_scorer = Scorer(model=student, engine_kwargs=kwargs)
    if teacher is None or teacher == student:
        teacher_role = Role("teacher", student, student_scorer, privileged_context)
    else:
        teacher_role = Role("teacher", teacher, Scorer(model=teacher, engine_kwargs=kwargs))
    distilled_role = (
        Role("distilled", distilled, Scorer(model=distilled, engine_kwargs=kwargs))
        if distilled
        else None
    )
    return ProvenanceTracer(
        teacher=teacher_role,
        student=Role("student", student, student_scorer),
        distilled=distilled_role,
        thresholds=thresholds,
    )


def embedded_tracer(
    engine: Any, thresholds: ProvenanceThresholds | None = None
) -> ProvenanceTracer:
    """The embedded default over an already started engine: one model, privileged teacher."""
    from thresher.pipeline.scoring import Scorer

    scorer = Scorer(engine=engine)
    return ProvenanceTracer(
        teacher=Role("teacher", engine.model_name, scorer, privileged_context),
        student=Role("student", engine.model_name, scorer),
        thresholds=thresholds,
    )


def _pending(
    lake: Any, problems: str, scorer: str, limit: int | None
) -> tuple[list[tuple[Problem, Rollout]], int]:
    from thresher.pipeline.generate import load_problems

    by_id = {p.problem_id: p for p in load_problems(lake, problems)}
    sql = (
        "SELECT r.* FROM rollouts r JOIN problems p ON r.problem_id = p.problem_id "
        "WHERE p.source = ? AND (r.completion <> '' OR r.reasoning <> '') "
        "ORDER BY r.trace_id"
    )
    rows = lake.query(sql, params=[problems]).to_dicts()
    done = set(
        lake.query("SELECT trace_id FROM trace_scores WHERE scorer = ?", params=[scorer])[
            "trace_id"
        ].to_list()
    )
    pairs = []
    for row in rows:
        if row["trace_id"] not in done:
            rollout = Rollout.model_validate(row)
            pairs.append((by_id[rollout.problem_id], rollout))
    existing = len(rows) - len(pairs)
    return (pairs if limit is None else pairs[:limit]), existing


def run_provenance(
    lake: Any,
    problems: str,
    tracer: ProvenanceTracer,
    *,
    limit: int | None = None,
    batch_size: int = 32,
    progress: bool = True,
) -> ProvenanceReport:
    """Score every not-yet-scored trace of a problem set; commit sentence and trace rows."""
    if batch_size < 1:
        raise InputError(f"batch size must be >= 1, got {batch_size}", field="--batch-size")
    start = time.perf_counter()
    report = ProvenanceReport(scorer=tracer.name)
    pairs, existing = _pending(lake, problems, tracer.name, limit)
    report.traces_existing = existing
    report.traces_total = existing + len(pairs)
    divergences: list[float] = []
    with progress_bar("provenance", len(pairs), enabled=progress) as advance:
        for i in range(0, len(pairs), batch_size):
            batch = pairs[i : i + batch_size]
            sentences, traces = tracer.trace(batch)
            lake.append("sentence_scores", sentences)
            lake.append("trace_scores", traces)
            report.traces_scored += len(traces)
            report.sentences += len(sentences)
            report.categories.update(s.category for s in sentences)
            divergences.extend(t.divergence for t in traces if t.divergence is not None)
            advance(len(batch))
    report.mean_divergence = sum(divergences) / len(divergences) if divergences else None
    report.elapsed_s = time.perf_counter() - start
    return report
