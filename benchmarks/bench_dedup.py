"""Benchmark dedup at scale on a CPU, against SemHash and exact search; prints JSON.

End to end (the default): N synthetic traces (default 1,000,000, ~100 words each, with planted
near-duplicate groups: ``synthetic_traces.py``) embedded with the static embedder distilled from
MiniLM (``all-minilm-l6-v2-static``; distilled once into the cache, not counted) and clustered
(``near_clusters``, scope global: search + star clusters + one assignment per trace). Scored on
the planted pairs whose exact cosine is >= threshold (recall; "collapsed": one of the two
removed), and against exact search (FAISS ``IndexFlatIP`` over all N) on a query subsample.
Search alone over the N vectors is timed again by itself. The peer, SemHash (PyPI ``semhash``,
``benchmarks/peers/semhash_peer.py``), runs in its own process on the same traces with the same
static model as its encoder and is scored the same way.

``--vectors``: the former search benchmark on N synthetic 384-d vectors (MiniLM's dimension).
Embedding: MiniLM (thresher's embedder and its int8 backend) against plain
``SentenceTransformer.encode`` on ``--texts`` traces, and the static embedder's agreement with
model2vec's own ``StaticModel.encode``.

The 2 CPU cores may be shared with other work: compare the ratios, measured in the same run,
more than the absolute seconds. Load averages are recorded. ``targets`` lists each figure with
its target, its peer and whether it is met (for the summary table of ``make bench``).

    .venv/bin/python benchmarks/bench_dedup.py [--n 1000000] [--skip-peer] [--vectors]
        [--skip-embed] [--texts 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _unit(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def make_vectors(
    n: int, dim: int, topics: int, groups: int, seed: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Unit vectors around topic centres, with planted groups of 2-4 near-copies."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((topics, dim), dtype=np.float32)
    x = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, 100_000):
        e = min(n, s + 100_000)
        x[s:e] = centres[rng.integers(0, topics, e - s)] + rng.standard_normal(
            (e - s, dim), dtype=np.float32
        )
        _unit(x[s:e])
    sizes = rng.integers(2, 5, groups)
    members = rng.permutation(n)[: int(sizes.sum())]
    planted: list[np.ndarray] = []
    pos = 0
    for size in sizes:
        group = members[pos : pos + size]
        pos += size
        base = x[group[0]]
        # Each copy sits at cosine ~U(0.93, 0.995) from the base: copies of one trace with a
        # few words changed. Pairs of copies may fall below the threshold; truth is exact.
        target = rng.uniform(0.93, 0.995, size - 1).astype(np.float32)
        noise = _unit(rng.standard_normal((size - 1, dim), dtype=np.float32))
        noise -= (noise @ base)[:, None] * base[None, :]
        _unit(noise)
        scale = np.sqrt(1.0 / target**2 - 1.0)[:, None]
        x[group[1:]] = _unit(base[None, :] + scale * noise)
        planted.append(group)
    return x, planted


def planted_pairs(
    x: np.ndarray, groups: list[np.ndarray], threshold: float
) -> set[tuple[int, int]]:
    """Planted pairs whose exact cosine is >= threshold."""
    out: set[tuple[int, int]] = set()
    for g in groups:
        sims = x[g] @ x[g].T
        for a in range(len(g)):
            for b in range(a + 1, len(g)):
                if sims[a, b] >= threshold:
                    i, j = int(g[a]), int(g[b])
                    out.add((min(i, j), max(i, j)))
    return out


def bench_search(args: argparse.Namespace) -> dict[str, object]:
    import faiss

    from thresher.filters.neighbors import near_pairs, plan_search

    t0 = time.perf_counter()
    x, groups = make_vectors(args.n, 384, args.topics, args.groups, args.seed)
    truth = planted_pairs(x, groups, args.threshold)
    gen_s = time.perf_counter() - t0

    load_before = os.getloadavg()
    plan = plan_search(args.n, 384, nlist=args.nlist, nprobe=args.nprobe)
    t0, c0 = time.perf_counter(), time.process_time()
    pairs = near_pairs(x, args.threshold, plan=plan, seed=args.seed)
    ours_s, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
    found = set(zip(pairs.i.tolist(), pairs.j.tolist(), strict=True))
    hit = len(found & truth)

    # Peer: exact all-pairs range search, timed on a query subsample and extrapolated.
    rng = np.random.default_rng(args.seed + 1)
    queries = np.sort(rng.choice(args.n, size=min(args.exact_queries, args.n), replace=False))
    index = faiss.IndexFlatIP(384)
    index.add(x)
    t0, c0 = time.perf_counter(), time.process_time()
    lims, _, ids = index.range_search(
        x[queries], float(np.nextafter(np.float32(args.threshold), -2))
    )
    exact_sub_s, exact_sub_cpu = time.perf_counter() - t0, time.process_time() - c0
    exact_pairs = {
        (min(int(q), int(j)), max(int(q), int(j)))
        for k, q in enumerate(queries)
        for j in ids[lims[k] : lims[k + 1]]
        if int(j) != int(q)
    }
    exact_found = len(exact_pairs & found)
    load_after = os.getloadavg()
    exact_full_s = exact_sub_s * args.n / len(queries)
    return {
        "n": args.n,
        "dim": 384,
        "threshold": args.threshold,
        "planted_groups": len(groups),
        "planted_pairs_at_threshold": len(truth),
        "data_generation_s": round(gen_s, 1),
        "thresher": {
            "plan": pairs.plan.__dict__,
            "time_s": round(ours_s, 1),
            "cpu_time_s": round(ours_cpu, 1),
            "phases_s": {k: round(v, 1) for k, v in pairs.timings.items()},
            "pairs_found": len(found),
            "recall_planted": round(hit / max(len(truth), 1), 4),
            "precision_planted": round(hit / max(len(found), 1), 4),
            "recall_vs_exact_on_subsample": round(exact_found / max(len(exact_pairs), 1), 4),
            "target_recall": 0.95,
            "target_time_s": 120,
        },
        "peer_exact_all_pairs": {
            "method": "faiss IndexFlatIP range_search, all N as the base",
            "queries_timed": len(queries),
            "time_subsample_s": round(exact_sub_s, 2),
            "time_extrapolated_s": round(exact_full_s, 1),
            "cpu_time_subsample_s": round(exact_sub_cpu, 1),
            "cpu_time_extrapolated_s": round(exact_sub_cpu * args.n / len(queries), 1),
            "pairs_on_subsample": len(exact_pairs),
        },
        "speedup_vs_exact": round(exact_full_s / ours_s, 1),
        "cpu_time_ratio_exact_over_thresher": round(
            exact_sub_cpu * args.n / len(queries) / max(ours_cpu, 1e-9), 1
        ),
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
    }


def _exact_subsample(x: np.ndarray, queries: np.ndarray, threshold: float):  # type: ignore[no-untyped-def]
    """Exact pairs of a query subsample against all vectors, and the seconds it took."""
    import faiss

    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    t0 = time.perf_counter()
    lims, _, ids = index.range_search(x[queries], float(np.nextafter(np.float32(threshold), -2)))
    took = time.perf_counter() - t0
    pairs = {
        (min(int(q), int(j)), max(int(q), int(j)))
        for k, q in enumerate(queries)
        for j in ids[lims[k] : lims[k + 1]]
        if int(j) != int(q)
    }
    return pairs, took


def _collapsed(truth: set[tuple[int, int]], removed: np.ndarray, n: int) -> float:
    """Share of true duplicate pairs of which at least one trace was removed."""
    gone = np.zeros(n, dtype=bool)
    gone[removed] = True
    hit = sum(1 for a, b in truth if gone[a] or gone[b])
    return round(hit / max(len(truth), 1), 4)


def _run_peer(  # type: ignore[type-arg]
    texts: list[str], model_dir: Path, threshold: float, timeout_s: float
) -> tuple[dict, np.ndarray]:
    """SemHash on the same traces in its own process; a run past ``timeout_s`` is stopped and
    reported as such (its throughput is then below N / timeout_s)."""
    import polars as pl

    peer = Path(__file__).resolve().parent / "peers" / "semhash_peer.py"
    with tempfile.TemporaryDirectory(prefix="bench-dedup-") as tmp:
        data, removed = Path(tmp) / "traces.parquet", Path(tmp) / "removed.npy"
        pl.DataFrame({"text": texts}).write_parquet(data)
        command = [sys.executable, str(peer), "--texts", str(data), "--model", str(model_dir)]
        command += ["--threshold", str(threshold), "--removed", str(removed)]
        t0 = time.perf_counter()
        try:
            run = subprocess.run(
                command, capture_output=True, text=True, check=False, timeout=timeout_s
            )
        except subprocess.TimeoutExpired:
            took = time.perf_counter() - t0
            return {
                "peer": "semhash",
                "timed_out_after_s": round(took, 1),
                "traces_per_s_at_most": round(len(texts) / took, 1),
            }, np.zeros(0, dtype=np.int64)
        if run.returncode != 0:
            return {"error": run.stderr[-2000:]}, np.zeros(0, dtype=np.int64)
        return json.loads(run.stdout.strip().splitlines()[-1]), np.load(removed)


def bench_end_to_end(args: argparse.Namespace) -> dict[str, object]:
    """Traces -> static embeddings -> near-duplicate clusters, timed and scored; SemHash beside."""
    from synthetic_traces import make_corpus

    from thresher.filters.dedup import TraceInfo, near_clusters
    from thresher.filters.embed import STATIC_EMBEDDER, make_embedder
    from thresher.filters.neighbors import near_pairs

    t0 = time.perf_counter()
    corpus = make_corpus(args.n, args.topics, args.groups, args.seed)
    texts = corpus.texts
    traces = [TraceInfo(trace_id=f"t{k:07d}", problem_id="p", text=t) for k, t in enumerate(texts)]
    gen_s = time.perf_counter() - t0

    embedder = make_embedder(STATIC_EMBEDDER)
    t0 = time.perf_counter()
    embedder.setup()  # distils into the cache the first time only
    setup_s = time.perf_counter() - t0

    load_before = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    vectors = embedder.embed(texts)
    t1 = time.perf_counter()
    rows = near_clusters(traces, vectors, args.threshold, embedder.name, scope="global")
    e2e_s, e2e_cpu = time.perf_counter() - t0, time.process_time() - c0
    embed_s, cluster_s = t1 - t0, e2e_s - (t1 - t0)
    removed = np.array([k for k, r in enumerate(rows) if not r.is_representative], dtype=np.int64)
    del rows

    t0, c0 = time.perf_counter(), time.process_time()
    pairs = near_pairs(vectors, args.threshold, seed=args.seed)
    search_s, search_cpu = time.perf_counter() - t0, time.process_time() - c0
    found = set(zip(pairs.i.tolist(), pairs.j.tolist(), strict=True))
    truth = planted_pairs(vectors, corpus.groups, args.threshold)
    rng = np.random.default_rng(args.seed + 1)
    queries = np.sort(rng.choice(args.n, size=min(args.exact_queries, args.n), replace=False))
    exact, exact_s = _exact_subsample(vectors, queries, args.threshold)
    load_after = os.getloadavg()

    # Agreement with model2vec's own encoder on a sample (what SemHash computes).
    from model2vec import StaticModel

    sample = texts[: min(2000, len(texts))]
    reference = StaticModel.from_pretrained(str(embedder.path)).encode(sample)
    reference = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    agreement = np.sum(reference.astype(np.float32) * vectors[: len(sample)], axis=1)

    ours: dict[str, object] = {
        "embedder": embedder.name,
        "revision": embedder.revision,
        "dim": embedder.dim,
        "setup_s": round(setup_s, 1),
        "time_s": round(e2e_s, 1),
        "cpu_time_s": round(e2e_cpu, 1),
        "phases_s": {"embed": round(embed_s, 1), "search_and_cluster": round(cluster_s, 1)},
        "traces_per_s": round(args.n / e2e_s, 1),
        "embed_traces_per_s": round(args.n / embed_s, 1),
        "removed": len(removed),
        "collapsed_planted": _collapsed(truth, removed, args.n),
        "cosine_agreement_with_model2vec_encode": {
            "mean": round(float(agreement.mean()), 5),
            "min": round(float(agreement.min()), 5),
        },
        "search_alone": {
            "plan": pairs.plan.__dict__,
            "time_s": round(search_s, 1),
            "cpu_time_s": round(search_cpu, 1),
            "phases_s": {k: round(v, 1) for k, v in pairs.timings.items()},
            "pairs_found": len(found),
            "recall_planted": round(len(found & truth) / max(len(truth), 1), 4),
            "precision_planted": round(len(found & truth) / max(len(found), 1), 4),
            "recall_vs_exact_on_subsample": round(len(exact & found) / max(len(exact), 1), 4),
        },
    }
    result: dict[str, object] = {
        "n": args.n,
        "mean_words_per_trace": round(corpus.mean_words, 1),
        "threshold": args.threshold,
        "planted_groups": len(corpus.groups),
        "planted_pairs_at_threshold": len(truth),
        "data_generation_s": round(gen_s, 1),
        "thresher": ours,
        "peer_exact_search": {
            "method": "faiss IndexFlatIP range_search, all N as the base",
            "queries_timed": len(queries),
            "time_subsample_s": round(exact_s, 2),
            "time_extrapolated_s": round(exact_s * args.n / len(queries), 1),
            "pairs_on_subsample": len(exact),
        },
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
    }
    del vectors
    if not args.skip_peer:
        assert embedder.path is not None
        peer, peer_removed = _run_peer(texts, embedder.path, args.threshold, args.peer_timeout)
        if "traces_per_s" in peer:
            peer["collapsed_planted"] = _collapsed(truth, peer_removed, args.n)
        result["peer_semhash"] = peer
        result["load_average_after_peer"] = round(os.getloadavg()[0], 2)
    return result


def targets(report: dict[str, object]) -> list[dict[str, object]]:
    """Each figure with its target, its peer and whether it is met."""
    out: list[dict[str, object]] = []
    e2e = report.get("end_to_end")
    if isinstance(e2e, dict):
        ours, peer = e2e["thresher"], e2e.get("peer_semhash") or {}
        n = e2e["n"]
        has_peer = "traces_per_s" in peer
        timed_out = "timed_out_after_s" in peer
        if timed_out:
            stopped = f"SemHash stopped unfinished after {peer['timed_out_after_s']}"
            peer_time, peer_rate = f"{stopped} s", f"SemHash < {peer['traces_per_s_at_most']}"
        else:
            peer_time = f"SemHash {peer['time_s']}" if has_peer else "-"
            peer_rate = f"SemHash {peer['traces_per_s']}" if has_peer else "-"
        beats_peer = (has_peer and ours["traces_per_s"] >= peer["traces_per_s"]) or (
            timed_out and ours["traces_per_s"] >= peer["traces_per_s_at_most"]
        )
        out += [
            {
                "figure": f"dedup {n:,} traces end to end (embed + search + clusters), s",
                "value": ours["time_s"],
                "target": "<= 120",
                "peer": peer_time,
                "met": ours["time_s"] <= 120,
            },
            {
                "figure": "recall of planted duplicate pairs (exact cosine >= threshold)",
                "value": ours["search_alone"]["recall_planted"],
                "target": ">= 0.95",
                "peer": "-",
                "met": ours["search_alone"]["recall_planted"] >= 0.95,
            },
            {
                "figure": "recall against exact search (query subsample)",
                "value": ours["search_alone"]["recall_vs_exact_on_subsample"],
                "target": ">= 0.95",
                "peer": f"exact search {e2e['peer_exact_search']['time_extrapolated_s']} s",
                "met": ours["search_alone"]["recall_vs_exact_on_subsample"] >= 0.95,
            },
            {
                "figure": "planted duplicate pairs collapsed (one of the two removed)",
                "value": ours["collapsed_planted"],
                "target": ">= 0.95",
                "peer": f"SemHash {peer['collapsed_planted']}" if has_peer else "-",
                "met": ours["collapsed_planted"] >= 0.95,
            },
            {
                "figure": f"search alone over {n:,} vectors, s",
                "value": ours["search_alone"]["time_s"],
                "target": "<= 60",
                "peer": f"exact search {e2e['peer_exact_search']['time_extrapolated_s']} s",
                "met": ours["search_alone"]["time_s"] <= 60,
            },
            {
                "figure": "dedup throughput, traces/s",
                "value": ours["traces_per_s"],
                "target": ">= SemHash",
                "peer": peer_rate,
                "met": bool(beats_peer),
            },
        ]
    vec = report.get("vector_search")
    if isinstance(vec, dict):
        t = vec["thresher"]
        out.append(
            {
                "figure": f"search alone over {vec['n']:,} synthetic 384-d vectors, s",
                "value": t["time_s"],
                "target": "<= 60",
                "peer": f"exact search {vec['peer_exact_all_pairs']['time_extrapolated_s']} s",
                "met": t["time_s"] <= 60,
            }
        )
    return out


_NAMES = ["Tom", "Sara", "Li", "Ana", "Omar", "Kim", "Ravi", "Eva"]
_ITEMS = ["apples", "marbles", "books", "coins", "stickers", "pencils", "cookies", "cards"]


def make_traces(count: int, seed: int) -> list[str]:
    """Distinct reasoning traces of ~60-250 words in the style of the built-in problems."""
    rng = random.Random(seed)
    traces = []
    for k in range(count):
        name, item = rng.choice(_NAMES), rng.choice(_ITEMS)
        value = rng.randint(2, 90)
        lines = [f"{name} starts with {value} {item}. Let me work through this step by step."]
        for step in range(1, rng.randint(3, 12)):
            op, arg = rng.choice(["+", "-", "*"]), rng.randint(2, 12)
            new = value + arg if op == "+" else value - arg if op == "-" else value * arg
            verb = {"+": "gets", "-": "gives away", "*": "multiplies the pile by"}[op]
            lines.append(
                f"Step {step}: {name} {verb} {arg}, so we compute {value} {op} {arg} = {new}. "
                f"Now {name} has {new} {item}."
            )
            value = new
        lines.append(f"So the final answer is {value}. (trace {k})")
        traces.append("\n".join(lines))
    return traces


def bench_embed(args: argparse.Namespace) -> dict[str, object]:
    import torch
    from sentence_transformers import SentenceTransformer

    from thresher.filters.embed import Embedder, resolve_embedder

    texts = make_traces(args.texts, args.seed)
    path, _ = resolve_embedder("all-minilm-l6-v2")
    plain = SentenceTransformer(path, device="cpu")
    ours = Embedder(device="cpu")
    ours.setup()
    int8 = Embedder(backend="int8", device="cpu")
    int8.setup()
    warm = texts[:16]
    plain.encode(warm)
    ours.embed(warm)
    int8.embed(warm)

    def timed(fn):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out

    runs: dict[str, float] = {}
    runs["plain_1"], ref = timed(lambda: plain.encode(texts, convert_to_numpy=True))
    runs["thresher"], mine = timed(lambda: ours.embed(texts))
    runs["thresher_int8"], q8 = timed(lambda: int8.embed(texts))
    runs["plain_2"], _ = timed(lambda: plain.encode(texts, convert_to_numpy=True))
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    plain_s = min(runs["plain_1"], runs["plain_2"])

    def agreement(v: np.ndarray) -> dict[str, float]:
        cos = np.sum(v * ref, axis=1)
        return {"mean": round(float(cos.mean()), 5), "min": round(float(cos.min()), 5)}

    tokens = sum(len(plain.tokenizer(t)["input_ids"]) for t in texts[:200]) / 200
    result: dict[str, object] = {
        "texts": len(texts),
        "mean_tokens_per_text": round(tokens, 1),
        "torch_threads": torch.get_num_threads(),
        "peer_plain_encode": {
            "texts_per_s": round(len(texts) / plain_s, 1),
            "runs_s": [round(runs["plain_1"], 1), round(runs["plain_2"], 1)],
        },
        "thresher_embedder": {
            "backend": "torch",
            "texts_per_s": round(len(texts) / runs["thresher"], 1),
            "ratio_vs_plain": round(plain_s / runs["thresher"], 2),
            "cosine_agreement": agreement(mine),
        },
        "thresher_embedder_int8": {
            "backend": "int8",
            "texts_per_s": round(len(texts) / runs["thresher_int8"], 1),
            "ratio_vs_plain": round(plain_s / runs["thresher_int8"], 2),
            "cosine_agreement": agreement(q8),
        },
        "load_average": round(os.getloadavg()[0], 2),
    }
    if torch.cuda.is_available():
        gpu_plain = SentenceTransformer(path, device="cuda")
        gpu_ours = Embedder(device="cuda")
        gpu_ours.setup()
        gpu_plain.encode(warm)
        gpu_ours.embed(warm)
        gp, _ = timed(lambda: gpu_plain.encode(texts))
        go, gv = timed(lambda: gpu_ours.embed(texts))
        result["gpu"] = {
            "device": torch.cuda.get_device_name(0),
            "plain_texts_per_s": round(len(texts) / gp, 1),
            "thresher_texts_per_s": round(len(texts) / go, 1),
            "cosine_agreement_vs_cpu": agreement(gv),
        }
    else:
        result["gpu"] = None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--topics", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=20_000)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--nlist", type=int, default=None, help="cells (default: 2 sqrt(n))")
    parser.add_argument("--nprobe", type=int, default=4, help="cells searched per vector")
    parser.add_argument("--exact-queries", type=int, default=1_000)
    parser.add_argument("--texts", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-end-to-end", action="store_true")
    parser.add_argument("--skip-peer", action="store_true", help="no SemHash run")
    parser.add_argument(
        "--peer-timeout", type=float, default=3600.0, help="seconds SemHash may run (then stopped)"
    )
    parser.add_argument("--vectors", action="store_true", help="also the 384-d vector search")
    parser.add_argument("--skip-embed", action="store_true")
    args = parser.parse_args()
    report: dict[str, object] = {"benchmark": "bench_dedup", "cpu_count": os.cpu_count()}
    if not args.skip_end_to_end:
        report["end_to_end"] = bench_end_to_end(args)
    if args.vectors:
        report["vector_search"] = bench_search(args)
    if not args.skip_embed:
        report["embedding"] = bench_embed(args)
    report["targets"] = targets(report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
