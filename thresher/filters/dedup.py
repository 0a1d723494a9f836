"""Duplicate clusters of traces: exact (normalised-text hash) and near (embeddings + FAISS).

Dedup only labels: every trace gets a :class:`DedupAssignment` naming its cluster and the
cluster's representative, chosen by a versioned policy (correct and unflawed first, then
shorter, or higher divergence). The selection policy decides what to keep. Clusters are stars
around their representative: every member is at cosine >= threshold to the representative, so
a chain of small paraphrase steps never merges two distant traces.

Scope ``problem`` (the default) compares traces of the same problem only: the same text under
two different questions is two different training examples. Scope ``global`` compares all.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from thresher.filters.neighbors import SearchPlan, near_pairs
from thresher.schemas import DedupAssignment, TraceEmbedding, content_id, sha256_hex
from thresher.schemas.errors import InputError, NotFoundError

__all__ = [
    "TraceInfo",
    "REPRESENTATIVE_POLICIES",
    "Scope",
    "normalize_text",
    "text_hash",
    "representative_key",
    "exact_clusters",
    "near_clusters",
    "diverse_subset",
    "diverse_per_problem",
    "embed_traces",
    "vectors_of",
]

Scope = Literal["problem", "global"]


@dataclass(frozen=True)
class TraceInfo:
    """What dedup needs to know of a trace: its text and the labels that rank representatives."""

    trace_id: str
    problem_id: str
    text: str
    correct: bool | None = None
    n_flaws: int = 0
    divergence: float | None = None


def normalize_text(text: str) -> str:
    """Text as compared for exact duplicates: NFKC, lower case, whitespace collapsed."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().lower()


def text_hash(text: str) -> str:
    """Hash of the normalised text."""
    return sha256_hex(normalize_text(text).encode("utf-8"))[:32]


SortKey = tuple[object, ...]


def _shortest(t: TraceInfo) -> SortKey:
    return (t.correct is not True, t.n_flaws > 0, len(t.text), t.trace_id)


def _divergence(t: TraceInfo) -> SortKey:
    div = t.divergence if t.divergence is not None else float("-inf")
    return (t.correct is not True, t.n_flaws > 0, -div, len(t.text), t.trace_id)


REPRESENTATIVE_POLICIES: dict[str, Callable[[TraceInfo], SortKey]] = {
    "correct_unflawed_shortest_v1": _shortest,
    "correct_unflawed_divergence_v1": _divergence,
}


def representative_key(policy: str) -> Callable[[TraceInfo], SortKey]:
    """The sort key of a representative policy (smallest key wins); unknown names fail."""
    try:
        return REPRESENTATIVE_POLICIES[policy]
    except KeyError:
        known = ", ".join(sorted(REPRESENTATIVE_POLICIES))
        raise NotFoundError(
            f"unknown representative policy {policy!r}; known policies: {known}"
        ) from None


def _check_unique(traces: Sequence[TraceInfo]) -> None:
    seen: set[str] = set()
    for t in traces:
        if t.trace_id in seen:
            raise InputError(f"trace {t.trace_id} appears twice", field="trace_id")
        seen.add(t.trace_id)


def exact_clusters(
    traces: Sequence[TraceInfo],
    policy: str = "correct_unflawed_shortest_v1",
    scope: Scope = "problem",
) -> list[DedupAssignment]:
    """One assignment per trace: traces with the same normalised text form a cluster."""
    _check_unique(traces)
    key = representative_key(policy)
    groups: dict[tuple[str, str], list[TraceInfo]] = defaultdict(list)
    for t in traces:
        groups[(t.problem_id if scope == "problem" else "", text_hash(t.text))].append(t)
    rows: list[DedupAssignment] = []
    for (_, digest), members in groups.items():
        rep = min(members, key=key)
        cluster = content_id("dedup_cluster", "exact", scope, rep.trace_id, digest)
        for t in members:
            rows.append(
                DedupAssignment(
                    trace_id=t.trace_id,
                    method="exact",
                    embedder="",
                    threshold=1.0,
                    cluster_id=cluster,
                    representative_trace_id=rep.trace_id,
                    is_representative=t.trace_id == rep.trace_id,
                    max_similarity=1.0 if len(members) > 1 else 0.0,
                )
            )
    return rows


def _pairs_in_scope(
    traces: Sequence[TraceInfo],
    vectors: np.ndarray,
    threshold: float,
    scope: Scope,
    plan: SearchPlan | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if scope == "global":
        p = near_pairs(vectors, threshold, plan=plan)
        return p.i, p.j, p.sim
    # Per problem: each group is small, so each search is exact and cheap.
    by_problem: dict[str, list[int]] = defaultdict(list)
    for idx, t in enumerate(traces):
        by_problem[t.problem_id].append(idx)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for members in by_problem.values():
        if len(members) < 2:
            continue
        ids = np.asarray(members)
        p = near_pairs(vectors[ids], threshold, plan=plan)
        parts.append((ids[p.i], ids[p.j], p.sim))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    return tuple(np.concatenate(c) for c in zip(*parts, strict=True))  # type: ignore[return-value]


def near_clusters(
    traces: Sequence[TraceInfo],
    vectors: np.ndarray,
    threshold: float,
    embedder: str,
    policy: str = "correct_unflawed_shortest_v1",
    scope: Scope = "problem",
    plan: SearchPlan | None = None,
) -> list[DedupAssignment]:
    """One assignment per trace: star clusters of traces at cosine >= threshold."""
    _check_unique(traces)
    if vectors.shape[0] != len(traces):
        raise InputError(f"{vectors.shape[0]} vectors for {len(traces)} traces", field="vectors")
    key = representative_key(policy)
    i, j, sim = _pairs_in_scope(traces, vectors, threshold, scope, plan)
    n = len(traces)
    neighbours: list[list[int]] = [[] for _ in range(n)]
    best = np.zeros(n, dtype=np.float64)
    for a, b, s in zip(i.tolist(), j.tolist(), sim.tolist(), strict=True):
        neighbours[a].append(b)
        neighbours[b].append(a)
        best[a] = max(best[a], s)
        best[b] = max(best[b], s)
    rep_of = [-1] * n
    for idx in sorted(range(n), key=lambda k: key(traces[k])):
        if rep_of[idx] >= 0:
            continue
        rep_of[idx] = idx
        for nb in neighbours[idx]:
            if rep_of[nb] < 0:
                rep_of[nb] = idx
    rows: list[DedupAssignment] = []
    for idx, t in enumerate(traces):
        rep = traces[rep_of[idx]]
        rows.append(
            DedupAssignment(
                trace_id=t.trace_id,
                method="embedding",
                embedder=embedder,
                threshold=threshold,
                cluster_id=content_id(
                    "dedup_cluster", "embedding", embedder, threshold, scope, rep.trace_id
                ),
                representative_trace_id=rep.trace_id,
                is_representative=rep_of[idx] == idx,
                max_similarity=float(min(best[idx], 1.0)),
            )
        )
    return rows


def diverse_subset(vectors: np.ndarray, k: int, max_similarity: float) -> list[int]:
    """Row indices, in priority order, of at most k rows mutually below ``max_similarity``.

    Rows are taken greedily in the order given (put the best first); a row is skipped when it
    is too similar to one already taken.
    """
    if k < 0:
        raise InputError(f"k must be >= 0, got {k}", field="k")
    chosen: list[int] = []
    for idx in range(vectors.shape[0]):
        if len(chosen) >= k:
            break
        if chosen and float(np.max(vectors[chosen] @ vectors[idx])) >= max_similarity:
            continue
        chosen.append(idx)
    return chosen


def diverse_per_problem(
    traces: Sequence[TraceInfo],
    vectors: np.ndarray,
    k: int,
    max_similarity: float,
    policy: str = "correct_unflawed_shortest_v1",
) -> dict[str, list[str]]:
    """Per problem, at most k mutually dissimilar trace ids, best first by the policy."""
    key = representative_key(policy)
    by_problem: dict[str, list[int]] = defaultdict(list)
    for idx in sorted(range(len(traces)), key=lambda k_: key(traces[k_])):
        by_problem[traces[idx].problem_id].append(idx)
    out: dict[str, list[str]] = {}
    for problem, members in by_problem.items():
        picked = diverse_subset(vectors[np.asarray(members)], k, max_similarity)
        out[problem] = [traces[members[p]].trace_id for p in picked]
    return out


def embed_traces(
    traces: Sequence[TraceInfo], embed: Callable[[list[str]], np.ndarray], embedder: str
) -> list[TraceEmbedding]:
    """Embedding rows for traces; each distinct normalised text is embedded once."""
    hashes = [text_hash(t.text) for t in traces]
    first: dict[str, int] = {}
    for idx, h in enumerate(hashes):
        first.setdefault(h, idx)
    unique = list(first)
    vectors = embed([traces[first[h]].text for h in unique]) if unique else np.zeros((0, 1))
    row_of = {h: vectors[pos] for pos, h in enumerate(unique)}
    return [
        TraceEmbedding(
            trace_id=t.trace_id,
            problem_id=t.problem_id,
            embedder=embedder,
            text_hash=h,
            dim=int(row_of[h].shape[0]),
            vector=[float(v) for v in row_of[h]],
        )
        for t, h in zip(traces, hashes, strict=True)
    ]


def vectors_of(rows: Sequence[TraceEmbedding], order: Sequence[str]) -> np.ndarray:
    """The float32 matrix of stored embeddings, one row per trace id in ``order``."""
    by_id = {r.trace_id: r.vector for r in rows}
    missing = [t for t in order if t not in by_id]
    if missing:
        raise NotFoundError(f"{len(missing)} traces have no stored embedding, e.g. {missing[0]}")
    return np.asarray([by_id[t] for t in order], dtype=np.float32)
