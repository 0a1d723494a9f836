"""Dedup over a problem set in the lake: embed what is missing, cluster, store assignments.

The Python API behind ``thresher dedup``. Embeddings are stored per (trace, embedder), so a
rerun with another threshold or policy only searches and clusters again: it never re-embeds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from thresher.filters.dedup import (
    Scope,
    TraceInfo,
    embed_traces,
    exact_clusters,
    near_clusters,
    vectors_of,
)
from thresher.filters.embed import Embedder
from thresher.pipeline.progress import progress_bar
from thresher.schemas import TraceEmbedding
from thresher.schemas.errors import InputError, NotFoundError

__all__ = ["DedupReport", "load_trace_infos", "run_dedup"]


@dataclass
class DedupReport:
    """What a dedup run found and stored."""

    traces: int = 0
    exact_clusters: int = 0
    exact_duplicates: int = 0
    embedder: str = ""
    threshold: float = 0.0
    embedded_now: int = 0
    embeddings_reused: int = 0
    near_clusters: int = 0
    near_duplicates: int = 0
    rows_added: int = 0
    search: str = ""
    elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def load_trace_infos(lake: Any, problems: str) -> list[TraceInfo]:
    """Traces of a problem set with their correctness, error-flaw count and divergence."""
    sql = """
        SELECT r.trace_id, r.problem_id,
               CASE WHEN r.completion <> '' THEN r.completion
                    ELSE r.reasoning || r.answer_text END AS text,
               v.correct, coalesce(f.n_flaws, 0) AS n_flaws, s.divergence
        FROM rollouts r
        JOIN problems p ON r.problem_id = p.problem_id
        LEFT JOIN (SELECT trace_id, bool_or(correct) AS correct FROM verdicts
                   WHERE status = 'ok' GROUP BY trace_id) v ON v.trace_id = r.trace_id
        LEFT JOIN (SELECT trace_id, count(*) AS n_flaws FROM flaw_labels
                   WHERE severity = 'error' GROUP BY trace_id) f ON f.trace_id = r.trace_id
        LEFT JOIN (SELECT trace_id, avg(divergence) AS divergence FROM trace_scores
                   GROUP BY trace_id) s ON s.trace_id = r.trace_id
        WHERE p.source = ?
        ORDER BY r.trace_id
    """
    rows = lake.query(sql, params=[problems]).to_dicts()
    if not rows:
        known = lake.sql("SELECT DISTINCT source FROM problems ORDER BY source")["source"]
        raise NotFoundError(
            f"no traces for a problem set named {problems!r}",
            hint=f"problem sets: {', '.join(known.to_list()) or '(none)'}; "
            "generate rollouts with `thresher generate`",
        )
    return [
        TraceInfo(
            trace_id=r["trace_id"],
            problem_id=r["problem_id"],
            text=r["text"] or "",
            correct=r["correct"],
            n_flaws=int(r["n_flaws"]),
            divergence=r["divergence"],
        )
        for r in rows
    ]


def _stored(lake: Any, embedder: str, ids: set[str]) -> list[TraceEmbedding]:
    df = lake.query("SELECT * FROM embeddings WHERE embedder = ?", params=[embedder])
    return [TraceEmbedding.model_validate(r) for r in df.to_dicts() if r["trace_id"] in ids]


def run_dedup(
    lake: Any,
    problems: str,
    *,
    embedder: Embedder | None = None,
    threshold: float = 0.95,
    policy: str = "correct_unflawed_shortest_v1",
    scope: Scope = "problem",
    exact_only: bool = False,
    batch_size: int = 256,
    progress: bool = True,
) -> DedupReport:
    """Exact and near-duplicate clusters of a problem set's traces, stored as assignments."""
    if not 0.0 < threshold <= 1.0:
        raise InputError(f"threshold must be in (0, 1], got {threshold}", field="--threshold")
    start = time.perf_counter()
    traces = load_trace_infos(lake, problems)
    report = DedupReport(traces=len(traces), threshold=threshold)
    exact = exact_clusters(traces, policy=policy, scope=scope)
    report.exact_clusters = len({r.cluster_id for r in exact})
    report.exact_duplicates = sum(not r.is_representative for r in exact)
    report.rows_added += lake.append("dedup_assignments", exact)
    if not exact_only:
        emb = embedder or Embedder()
        report.embedder = emb.name
        ids = {t.trace_id for t in traces}
        stored = _stored(lake, emb.name, ids)
        have = {r.trace_id for r in stored}
        missing = [t for t in traces if t.trace_id not in have]
        report.embeddings_reused = len(stored)
        with progress_bar("embed", len(missing), progress and bool(missing)) as advance:
            for i in range(0, len(missing), batch_size):
                batch = missing[i : i + batch_size]
                rows = embed_traces(batch, emb.embed, emb.name)
                lake.append("embeddings", rows)
                stored.extend(rows)
                report.embedded_now += len(rows)
                advance(len(batch))
        vectors: np.ndarray = vectors_of(stored, [t.trace_id for t in traces])
        near = near_clusters(traces, vectors, threshold, emb.name, policy=policy, scope=scope)
        report.near_clusters = len({r.cluster_id for r in near})
        report.near_duplicates = sum(not r.is_representative for r in near)
        report.rows_added += lake.append("dedup_assignments", near)
        report.search = "exact per problem" if scope == "problem" else "global"
    report.elapsed_s = time.perf_counter() - start
    return report
