"""The dedup stage: embed the traces that have no embedding from this embedder (a commit per
batch, so a kill loses at most one batch), then cluster exact and near duplicates and store one
assignment per trace, method, embedder and threshold. A new threshold or policy re-clusters
from the stored embeddings without embedding again. Embedder ``auto`` is resolved once the set's
size is known (:func:`embedder_for`): the static model above ``static_above`` traces on CPU."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from thresher.config import DedupConfig
from thresher.filters.dedup import (
    TraceInfo,
    embed_traces,
    exact_clusters,
    near_clusters,
    vectors_of,
)
from thresher.filters.embed import make_embedder, pick_embedder
from thresher.schemas import NotFoundError, TraceEmbedding
from thresher.stages.base import Stage, StageReport
from thresher.stages.facts import TEXT_COLUMNS, row_text, trace_correctness, trace_divergence
from thresher.storage import Lake, known_problem_sets

__all__ = ["DedupReport", "DedupStage", "embedder_for", "load_trace_infos", "run"]


@dataclass
class DedupReport(StageReport):
    """What a dedup run found and stored."""

    traces: int = 0
    embedder: str = ""
    threshold: float = 0.0
    exact_clusters: int = 0
    exact_duplicates: int = 0
    near_clusters: int = 0
    near_duplicates: int = 0
    embeddings_reused: int = 0

    @property
    def embedded_now(self) -> int:
        """Traces embedded by this run."""
        return self.processed

    def summary(self) -> str:
        """One line for the console."""
        return (
            f"{self.problem_set}: {self.traces} traces; exact: {self.exact_duplicates} duplicates "
            f"in {self.exact_clusters} clusters; near ({self.embedder or 'off'} >= "
            f"{self.threshold}): {self.near_duplicates} in {self.near_clusters} clusters; "
            f"embedded {self.embedded_now}, reused {self.embeddings_reused}; "
            f"{self.rows} rows added in {self.elapsed_s:.1f}s"
        )


def load_trace_infos(lake: Lake, problem_set: str) -> list[TraceInfo]:
    """Traces of a problem set with their text, correctness, error-flaw count and divergence."""
    rows = lake.query(
        f"SELECT r.trace_id, r.problem_id, {TEXT_COLUMNS}, coalesce(f.n, 0) AS n_flaws "
        "FROM rollouts r JOIN problems p ON r.problem_id = p.problem_id "
        "LEFT JOIN (SELECT trace_id, count(*) AS n FROM flaw_labels WHERE severity = 'error' "
        "GROUP BY trace_id) f ON f.trace_id = r.trace_id WHERE p.source = ? ORDER BY r.trace_id",
        [problem_set],
    ).to_dicts()
    if not rows:
        raise NotFoundError(
            f"no traces for a problem set named {problem_set!r}",
            hint=f"problem sets: {', '.join(known_problem_sets(lake)) or '(none)'}; "
            "generate rollouts with `thresher generate`",
        )
    ids = [r["trace_id"] for r in rows]
    correct = trace_correctness(lake, trace_ids=ids)
    divergence = trace_divergence(lake, ids)
    return [
        TraceInfo(
            trace_id=r["trace_id"],
            problem_id=r["problem_id"],
            text=row_text(r),
            correct=correct[r["trace_id"]].correct if r["trace_id"] in correct else None,
            n_flaws=int(r["n_flaws"]),
            divergence=divergence.get(r["trace_id"]),
        )
        for r in rows
    ]


class DedupStage(Stage[DedupReport]):
    """Embeds what is missing, batch by batch, then clusters the whole set."""

    name = "dedup"

    def __init__(self, config: DedupConfig | None = None, *, embedder: Any = None):
        self.config = config or DedupConfig()
        self.batch_size = self.config.batch_size
        self.embedding = self.config.method == "embedding"
        self._owns_embedder = embedder is None
        self.embedder: Any = embedder if self.embedding else None
        self._traces: dict[str, TraceInfo] = {}

    def new_report(self, problem_set: str) -> DedupReport:
        name = self.embedder.name if self.embedder is not None else ""
        return DedupReport(self.name, problem_set, embedder=name, threshold=self.config.threshold)

    def pending(self, lake: Lake, problem_set: str) -> list[str]:
        """The set's traces with no embedding from this embedder (none for exact-only)."""
        self._traces = {t.trace_id: t for t in load_trace_infos(lake, problem_set)}
        if not self.embedding:
            return []
        if self.embedder is None:  # the set's size decides what 'auto' means
            self.embedder = embedder_for(self.config, len(self._traces))
        stored = set(
            lake.query(
                "SELECT trace_id FROM embeddings WHERE embedder = ? AND list_contains(?, trace_id)",
                [self.embedder.name, list(self._traces)],
            )["trace_id"]
        )
        return [t for t in self._traces if t not in stored]

    def setup(self) -> None:
        if self.embedder is not None:
            self.embedder.setup()

    def teardown(self) -> None:
        if self.embedder is not None and self._owns_embedder:
            self.embedder.teardown()

    def process(self, lake: Lake, batch: list[str], report: DedupReport) -> None:
        assert self.embedder is not None
        rows = embed_traces(
            [self._traces[t] for t in batch], self.embedder.embed, self.embedder.name
        )
        report.rows += lake.append("embeddings", rows)

    def finish(self, lake: Lake, report: DedupReport) -> None:
        traces = list(self._traces.values())
        report.traces = len(traces)
        cfg = self.config
        exact = exact_clusters(traces, policy=cfg.policy, scope=cfg.scope)
        report.exact_clusters = len({r.cluster_id for r in exact})
        report.exact_duplicates = sum(not r.is_representative for r in exact)
        report.rows += lake.append("dedup_assignments", exact)
        if self.embedder is None or not traces:
            return
        report.embedder = self.embedder.name
        stored = [
            TraceEmbedding.model_validate(r)
            for r in lake.query(
                "SELECT * FROM embeddings WHERE embedder = ? AND list_contains(?, trace_id)",
                [self.embedder.name, list(self._traces)],
            ).to_dicts()
        ]
        report.embeddings_reused = len(stored) - report.processed
        vectors: np.ndarray = vectors_of(stored, [t.trace_id for t in traces])
        near = near_clusters(
            traces, vectors, cfg.threshold, self.embedder.name, policy=cfg.policy, scope=cfg.scope
        )
        report.near_clusters = len({r.cluster_id for r in near})
        report.near_duplicates = sum(not r.is_representative for r in near)
        report.rows += lake.append("dedup_assignments", near)


def embedder_for(config: DedupConfig, n_traces: int) -> Any:
    """The embedder (not loaded) a dedup of a set of ``n_traces`` traces uses."""
    name = pick_embedder(
        config.embedder, n_traces, config.static_above, config.device, config.backend
    )
    return make_embedder(name, backend=config.backend, device=config.device)


def run(
    lake: Lake,
    problem_set: str,
    config: DedupConfig | None = None,
    *,
    embedder: Any = None,
    progress: bool = False,
) -> DedupReport:
    """Exact and near-duplicate clusters of a problem set's traces, stored as assignments."""
    return DedupStage(config, embedder=embedder).run(lake, problem_set, progress=progress)
