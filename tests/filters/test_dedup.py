"""Dedup: exact and near-duplicate clusters, representatives by policy, diversity budget."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.filters.dedup import (
    TraceInfo,
    diverse_per_problem,
    diverse_subset,
    embed_traces,
    exact_clusters,
    near_clusters,
    normalize_text,
    vectors_of,
)
from thresher.filters.neighbors import near_pairs, plan_search
from thresher.schemas.errors import InputError, NotFoundError


def unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def info(tid: str, text: str = "x", problem: str = "P", **kw: object) -> TraceInfo:
    return TraceInfo(trace_id=tid, problem_id=problem, text=text, **kw)  # type: ignore[arg-type]


def by_id(rows):  # type: ignore[no-untyped-def]
    return {r.trace_id: r for r in rows}


def test_exact_clusters_normalise_and_pick_correct_unflawed_then_shortest() -> None:
    traces = [
        info("a", "The answer is 7.", correct=False),
        info("b", "the  ANSWER is 7.\n", correct=True, n_flaws=1),
        info("c", "The answer is 7. ", correct=True),
        info("d", "Something else."),
    ]
    assert normalize_text(" The  ANSWER\nis ") == "the answer is"
    rows = by_id(exact_clusters(traces))
    assert rows["a"].cluster_id == rows["b"].cluster_id == rows["c"].cluster_id
    assert rows["a"].representative_trace_id == "c" and rows["c"].is_representative
    assert not rows["a"].is_representative and rows["a"].max_similarity == 1.0
    assert rows["d"].is_representative and rows["d"].cluster_id != rows["a"].cluster_id
    assert rows["d"].max_similarity == 0.0


def test_exact_scope_problem_keeps_same_text_under_different_problems() -> None:
    traces = [info("a", "same", problem="P"), info("b", "same", problem="Q")]
    assert len({r.cluster_id for r in exact_clusters(traces)}) == 2
    assert len({r.cluster_id for r in exact_clusters(traces, scope="global")}) == 1


def test_duplicate_ids_and_unknown_policy_fail() -> None:
    with pytest.raises(InputError, match="appears twice"):
        exact_clusters([info("a"), info("a")])
    with pytest.raises(NotFoundError, match="known policies: correct_unflawed_divergence_v1"):
        exact_clusters([info("a")], policy="nope")


def planted(n: int, groups: int, seed: int = 0) -> tuple[np.ndarray, set[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    x = unit(rng.standard_normal((n, 64)))
    truth: set[tuple[int, int]] = set()
    for g in range(groups):
        a, b = 2 * g, 2 * g + 1
        x[b] = unit((x[a] + 0.15 * unit(rng.standard_normal((1, 64)))[0])[None])[0]
        truth.add((a, b))
    return x, truth


def test_exact_search_finds_planted_pairs_only() -> None:
    x, truth = planted(500, 40)
    pairs = near_pairs(x, 0.9)
    assert pairs.plan.method == "exact"
    assert set(zip(pairs.i.tolist(), pairs.j.tolist(), strict=True)) == truth
    assert np.all(pairs.sim >= 0.9) and np.all(pairs.i < pairs.j)


def test_partitioned_search_agrees_with_exact() -> None:
    x, truth = planted(4000, 200)
    plan = plan_search(4000, dim=64, exact_max=0, nlist=40, nprobe=3, pca_dim=16, gpu=False)
    assert plan.method == "partitioned"
    pairs = near_pairs(x, 0.9, plan=plan)
    found = set(zip(pairs.i.tolist(), pairs.j.tolist(), strict=True))
    assert found <= truth  # similarities are exact: no false pairs
    assert len(found & truth) / len(truth) >= 0.95


def test_threshold_is_inclusive_and_validated() -> None:
    x = unit(np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]))
    pairs = near_pairs(x, 0.8)  # cos(0,1) = 0.6, cos(1,2) = 0.8 exactly, cos(0,2) = 0
    assert (pairs.i.tolist(), pairs.j.tolist()) == ([1], [2])
    assert len(near_pairs(x, 0.81)) == 0
    with pytest.raises(InputError, match="threshold"):
        near_pairs(x, 1.5)


def test_near_clusters_are_stars_around_the_policy_representative() -> None:
    # b ~ a, c ~ b but c is far from a: a chain must not put a and c together.
    x = unit(np.array([[1.0, 0.0, 0.0], [0.95, 0.31, 0.0], [0.81, 0.59, 0.0], [0.0, 0.0, 1.0]]))
    traces = [
        info("a", "long trace text", correct=True),
        info("b", "mid", correct=True, n_flaws=2),
        info("c", "c", correct=False),
        info("d", "far"),
    ]
    rows = by_id(near_clusters(traces, x, 0.94, embedder="e"))
    assert rows["a"].is_representative and rows["b"].representative_trace_id == "a"
    assert rows["c"].is_representative and rows["c"].cluster_id != rows["a"].cluster_id
    assert rows["d"].is_representative and rows["d"].max_similarity == 0.0
    assert rows["b"].max_similarity == pytest.approx(float(x[1] @ x[2]), abs=1e-5)
    assert {r.threshold for r in rows.values()} == {0.94}
    div = by_id(
        near_clusters(
            [info("a", correct=True, divergence=0.1), info("b", correct=True, divergence=0.9)],
            x[:2],
            0.9,
            embedder="e",
            policy="correct_unflawed_divergence_v1",
        )
    )
    assert div["a"].representative_trace_id == "b"


def test_near_cluster_scope() -> None:
    x = unit(np.array([[1.0, 0.0], [1.0, 0.01]]))
    traces = [info("a", problem="P"), info("b", problem="Q")]
    assert len({r.cluster_id for r in near_clusters(traces, x, 0.9, "e")}) == 2
    assert len({r.cluster_id for r in near_clusters(traces, x, 0.9, "e", scope="global")}) == 1
    with pytest.raises(InputError, match="1 vectors for 2 traces"):
        near_clusters(traces, x[:1], 0.9, "e")


def test_diversity_budget_keeps_k_mutually_dissimilar() -> None:
    x = unit(np.array([[1.0, 0.0, 0.0], [0.99, 0.1, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    assert diverse_subset(x, k=2, max_similarity=0.9) == [0, 2]
    assert diverse_subset(x, k=10, max_similarity=0.9) == [0, 2, 3]
    assert diverse_subset(x, k=0, max_similarity=0.9) == []
    traces = [
        info("p1", "aaaa", problem="P", correct=True),
        info("p2", "aa", problem="P", correct=True),  # correct and shortest: ranked first
        info("p3", "a", problem="P", correct=False),
        info("q1", "b", problem="Q"),
    ]
    picked = diverse_per_problem(traces, x, k=2, max_similarity=0.9)
    # p2 first (shortest), p1 is a near-copy of p2, p3 (x[2]) is different.
    assert picked == {"P": ["p2", "p3"], "Q": ["q1"]}


def test_embed_traces_embeds_each_distinct_text_once_and_round_trips() -> None:
    calls: list[list[str]] = []

    def fake(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return unit(np.array([[len(t), 1.0] for t in texts]))

    traces = [info("a", "Same text"), info("b", "same  TEXT"), info("c", "other")]
    rows = embed_traces(traces, fake, "fake")
    assert calls == [["Same text", "other"]]
    assert rows[0].vector == rows[1].vector and rows[0].text_hash == rows[1].text_hash
    m = vectors_of(rows, ["c", "a"])
    assert m.shape == (2, 2) and m.dtype == np.float32
    with pytest.raises(NotFoundError, match="no stored embedding"):
        vectors_of(rows, ["zz"])
