"""All pairs of vectors with cosine >= threshold, with FAISS: exact for small sets, partitioned for large.

Small sets: one exact inner-product range search (``IndexFlatIP``). Large sets: FAISS k-means
splits the vectors into ``nlist`` cells; each vector is searched, exactly and with BLAS, in the
cells of its ``nprobe`` nearest centroids. Near duplicates sit in the same or a neighbouring
cell, so recall stays high while the work drops from n^2 to about n * nprobe * n / nlist.
Found pairs are always true pairs (their similarity is computed exactly); only misses are
possible. On a machine with a FAISS GPU build, k-means and cell assignment run on the GPU.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from thresher.schemas.errors import InputError, ThresherError

__all__ = ["SearchPlan", "Pairs", "near_pairs", "plan_search"]

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class SearchPlan:
    """How to search: exact, or partitioned into ``nlist`` cells probing ``nprobe`` of them."""

    method: str  # "exact" or "partitioned"
    nlist: int = 0
    nprobe: int = 0
    train_size: int = 0
    pca_dim: int = 0  # partition in a PCA projection of this many dims (0: full dims)
    gpu: bool = False


@dataclass(frozen=True)
class Pairs:
    """Index pairs i < j with their cosine similarity."""

    i: np.ndarray
    j: np.ndarray
    sim: np.ndarray
    plan: SearchPlan
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase

    def __len__(self) -> int:
        return int(self.i.shape[0])


def _faiss():  # type: ignore[no-untyped-def]
    try:
        import faiss
    except ImportError as exc:
        raise ThresherError(
            "near-duplicate search needs FAISS",
            hint="pip install faiss-cpu (or faiss-gpu-cu12 on a GPU machine)",
        ) from exc
    return faiss


def _gpu_count(faiss) -> int:  # type: ignore[no-untyped-def]
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get is not None else 0


def plan_search(
    n: int,
    dim: int = 384,
    exact_max: int = 20_000,
    nlist: int | None = None,
    nprobe: int = 4,
    pca_dim: int = 64,
    gpu: bool | None = None,
) -> SearchPlan:
    """Pick exact search for small sets and k-means partitioned search for large ones."""
    use_gpu = bool(gpu) if gpu is not None else _gpu_count(_faiss()) > 0
    if n <= exact_max:
        return SearchPlan("exact", gpu=use_gpu)
    # Partitioning runs in a PCA projection, so assigning a vector to a cell costs little and
    # more, smaller cells pay off: the exact search inside cells dominates the time.
    cells = nlist or max(16, int(2 * math.sqrt(n)))
    cells = min(cells, n // 8)
    return SearchPlan(
        "partitioned",
        nlist=cells,
        nprobe=max(1, min(nprobe, cells)),
        train_size=min(n, 32 * cells),
        pca_dim=pca_dim if 0 < pca_dim < dim else 0,
        gpu=use_gpu,
    )


def _check(vectors: np.ndarray, threshold: float) -> np.ndarray:
    if vectors.ndim != 2:
        raise InputError(f"vectors must be a 2-d array, got shape {vectors.shape}", field="vectors")
    if not -1.0 <= threshold <= 1.0:
        raise InputError(
            f"threshold must be a cosine in [-1, 1], got {threshold}", field="threshold"
        )
    return np.ascontiguousarray(vectors, dtype=np.float32)


def _range_pairs(faiss, base: np.ndarray, queries: np.ndarray, threshold: float):  # type: ignore[no-untyped-def]
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    # FAISS keeps results strictly above the radius; step just below so sim == threshold counts.
    lims, dist, ids = index.range_search(queries, float(np.nextafter(np.float32(threshold), -2)))
    rows = np.repeat(np.arange(queries.shape[0]), np.diff(lims.astype(np.int64)))
    return rows, ids.astype(np.int64), dist


def _unique_pairs(i: np.ndarray, j: np.ndarray, sim: np.ndarray, n: int):  # type: ignore[no-untyped-def]
    keep = i != j
    i, j, sim = i[keep], j[keep], sim[keep]
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    key = lo.astype(np.int64) * n + hi
    key, first = np.unique(key, return_index=True)
    return lo[first], hi[first], sim[first]


def near_pairs(
    vectors: np.ndarray,
    threshold: float,
    *,
    plan: SearchPlan | None = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> Pairs:
    """All pairs (i < j) of L2-normalised vectors whose cosine similarity is >= threshold."""
    faiss = _faiss()
    x = _check(vectors, threshold)
    n = x.shape[0]
    plan = plan or plan_search(n, x.shape[1])
    empty = np.zeros(0, dtype=np.int64)
    if n < 2:
        return Pairs(empty, empty, np.zeros(0, dtype=np.float32), plan)
    if plan.method == "exact":
        parts_i, parts_j, parts_s = [], [], []
        block = 4096
        for start in range(0, n, block):
            rows, ids, dist = _range_pairs(faiss, x, x[start : start + block], threshold)
            parts_i.append(rows + start)
            parts_j.append(ids)
            parts_s.append(dist)
            if progress:
                progress(min(start + block, n), n)
        i, j, s = _unique_pairs(
            np.concatenate(parts_i), np.concatenate(parts_j), np.concatenate(parts_s), n
        )
        return Pairs(i, j, s, plan)
    return _partitioned_pairs(faiss, x, threshold, plan, seed, progress)


def _partitioned_pairs(  # type: ignore[no-untyped-def]
    faiss, x: np.ndarray, threshold: float, plan: SearchPlan, seed: int, progress
) -> Pairs:
    n, d = x.shape
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    rng = np.random.default_rng(seed)
    sample = x[np.sort(rng.choice(n, size=plan.train_size, replace=False))]
    low = x
    if plan.pca_dim:
        # A projection only shortens the distance between near duplicates, so they still
        # share cells, while cell assignment gets d / pca_dim times cheaper.
        pca = faiss.PCAMatrix(d, plan.pca_dim)
        pca.train(sample)
        sample = pca.apply(sample)
        low = np.concatenate([pca.apply(x[s : s + 65536]) for s in range(0, n, 65536)])
    kmeans = faiss.Kmeans(
        low.shape[1], plan.nlist, niter=10, seed=seed, gpu=plan.gpu, verbose=False
    )
    kmeans.train(sample)
    timings["train_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    assign_index = faiss.IndexFlatL2(low.shape[1])
    assign_index.add(kmeans.centroids)
    if plan.gpu:
        assign_index = faiss.index_cpu_to_all_gpus(assign_index)
    _, cells = assign_index.search(low, plan.nprobe)  # cells[:, 0] is each vector's home cell
    del low
    timings["assign_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    home = cells[:, 0]
    order = np.argsort(home, kind="stable")
    home_bounds = np.searchsorted(home[order], np.arange(plan.nlist + 1))
    probe_flat = cells.reshape(-1)
    probe_owner = np.repeat(np.arange(n), plan.nprobe)
    probe_order = np.argsort(probe_flat, kind="stable")
    probe_bounds = np.searchsorted(probe_flat[probe_order], np.arange(plan.nlist + 1))
    parts_i, parts_j, parts_s = [], [], []

    def search_cell(c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        members = order[home_bounds[c] : home_bounds[c + 1]]
        if members.size == 0:
            return None
        queries = probe_owner[probe_order[probe_bounds[c] : probe_bounds[c + 1]]]
        rows, ids, dist = _range_pairs(faiss, x[members], x[queries], threshold)
        return queries[rows], members[ids], dist

    # Each cell's search is small: OpenMP's fork/join per call costs more than it saves
    # (measured 3-4x slower with 2 threads on a busy 2-core machine), so each cell runs on one
    # OpenMP thread and the cells are spread over one Python thread per core (FAISS releases
    # the GIL while it searches).
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
            for done, found in enumerate(pool.map(search_cell, range(plan.nlist)), start=1):
                if found is not None:
                    parts_i.append(found[0])
                    parts_j.append(found[1])
                    parts_s.append(found[2])
                if progress:
                    progress(done, plan.nlist)
    finally:
        faiss.omp_set_num_threads(threads)
    timings["search_s"] = time.perf_counter() - clock
    if not parts_i:
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(empty, empty, np.zeros(0, dtype=np.float32), plan, timings)
    i, j, s = _unique_pairs(
        np.concatenate(parts_i), np.concatenate(parts_j), np.concatenate(parts_s), n
    )
    return Pairs(i, j, s, plan, timings)
