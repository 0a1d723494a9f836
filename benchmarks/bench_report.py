"""`thresher report` and `thresher diff` on a demo lake and on a 100k-trace synthetic lake.

The synthetic lake holds N traces (10 per problem, two modes) with verdicts, flaw labels at char
spans, ~10 scored sentences per trace, trace scores, exact-dedup clusters, problem stats and a
few contamination flags; its two versions are made by the real selection policy
(`select.run`: evidence, DES events, hash chain) with two thresholds. The peer, in the same
run, is what a user does without the report: plain SELECTs of the same version's rows
(decisions, rollouts, verdicts, flaw labels, sentence scores) written out as JSON lines.
Rounds alternate report and peer; medians are printed as JSON with the output sizes.

    python benchmarks/bench_report.py --demo /path/to/demo/lake         # + the 100k lake
    python benchmarks/bench_report.py --traces 20000 --keep /tmp/lake20k
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic_core import PydanticUndefined

from thresher.config import Recipe, parse_recipe
from thresher.report import build_report, diff_versions, resolve_version, write_report
from thresher.report.versions import DECIDED
from thresher.schemas import (
    ContaminationFlag,
    DedupAssignment,
    FlawLabel,
    Problem,
    ProblemStats,
    Rollout,
    SentenceScore,
    TraceScore,
    Verdict,
    arrow_schema,
)
from thresher.stages import select
from thresher.stages.generate import sampling_spec
from thresher.storage import Lake

SET = "bench-report"
PER_PROBLEM = 10
CATEGORIES = ["shared", "novel", "teacher_originated", "student_originated"]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def recipe(max_per_problem: int) -> Recipe:
    return parse_recipe(
        f"""
name: bench
problems: {{source: "unused.jsonl", name: {SET}}}
generation: {{model: m, n: 5, modes: [on_policy, privileged], sampling: {{max_tokens: 512}}}}
dedup: {{enabled: true, method: exact}}
selection: {{max_per_problem: {max_per_problem}, allow_conditioned: true}}
"""
    )


def _table(model: type, columns: dict[str, Any]) -> pa.Table:
    """Columns as given; the others filled with the record's field defaults."""
    schema = arrow_schema(model)
    n = len(next(iter(columns.values())))
    full = {}
    for name in schema.names:
        if name not in columns:
            info = model.model_fields[name]
            default = info.default_factory() if info.default_factory else info.default
            columns[name] = [None if default is PydanticUndefined else default] * n
        full[name] = columns[name]
    return pa.Table.from_pydict(full, schema=schema)


def _trace_text(rng: np.random.Generator, sentences: int) -> tuple[str, list[tuple[int, int]]]:
    parts, spans, pos = [], [], 0
    for k in range(sentences):
        a, b = rng.integers(2, 99, 2)
        c = a + b + (1 if rng.random() < 0.05 else 0)
        s = f"Step {k + 1}: we add {a} and {b}, so {a} + {b} = {c}. "
        parts.append(s)
        spans.append((pos, pos + len(s) - 1))
        pos += len(s)
    return "".join(parts) + "The answer is 42.", spans


def build_lake(path: Path, traces: int, seed: int = 0) -> dict[str, float]:
    """Write the synthetic lake and tag two versions; returns build timings."""
    rng = np.random.default_rng(seed)
    r1, r2 = recipe(2), recipe(1)
    started = time.perf_counter()
    n_problems = traces // PER_PROBLEM
    problems = [Problem(source=SET, question=f"What is {i} + {i}? (#{i})", answer=str(2 * i))
                for i in range(n_problems)]  # fmt: skip
    sampling = sampling_spec(r1.generation).model_dump()
    ids, pids, texts, spans_all, modes = [], [], [], [], []
    for p in problems:
        for k in range(PER_PROBLEM):
            mode = "on_policy" if k < 5 else "privileged"
            text, spans = _trace_text(rng, int(rng.integers(6, 14)))
            r = Rollout(problem_id=p.problem_id, model="m", engine="vllm", sampling=sampling,
                        mode=mode, conditioned_on_ground_truth=mode == "privileged",
                        sample_index=k % 5, prompt=p.question, completion=text)  # fmt: skip
            ids.append(r.trace_id)
            pids.append(p.problem_id)
            texts.append(text)
            spans_all.append(spans)
            modes.append(mode)
    n = len(ids)
    correct = rng.random(n) < 0.4
    latency = np.repeat(rng.uniform(20, 60, n // 256 + 1), 256)[:n]
    with Lake.open(path) as lake:
        lake.append("problems", problems)
        lake.append_arrow("rollouts", _table(Rollout, {
            "trace_id": ids, "problem_id": pids, "model": ["m"] * n, "model_revision": ["r"] * n,
            "engine": ["vllm"] * n, "sampling": [sampling] * n, "mode": modes,
            "conditioned_on_ground_truth": [m == "privileged" for m in modes],
            "sample_index": [i % 5 for i in range(n)], "prompt": [""] * n, "completion": texts,
            "reasoning": texts, "answer_text": ["The answer is 42."] * n,
            "prompt_tokens": rng.integers(40, 80, n).tolist(),
            "completion_tokens": [len(t) // 4 for t in texts], "finish_reason": ["stop"] * n,
            "latency_s": latency.tolist(), "created_at": [NOW] * n,
        }))  # fmt: skip
        lake.append_arrow("verdicts", _table(Verdict, {
            "trace_id": ids, "verifier": ["math_v2"] * n, "status": ["ok"] * n,
            "correct": correct.tolist(), "extracted": ["42"] * n, "elapsed_s": [0.001] * n,
            "created_at": [NOW] * n,
        }))  # fmt: skip
        flawed = np.flatnonzero(rng.random(n) < 0.2)
        lake.append_arrow("flaw_labels", _table(FlawLabel, {
            "trace_id": [ids[i] for i in flawed], "labeler": ["arith_step_check_v1"] * len(flawed),
            "flaw_type": ["wrong_arithmetic"] * len(flawed), "severity": ["error"] * len(flawed),
            "step": [1] * len(flawed), "char_start": [spans_all[i][1][0] for i in flawed],
            "char_end": [spans_all[i][1][1] for i in flawed],
            "evidence": ["1 + 1 = 3"] * len(flawed), "created_at": [NOW] * len(flawed),
        }))  # fmt: skip
        owner = np.repeat(np.arange(n), [len(s) for s in spans_all])
        flat = [s for spans in spans_all for s in spans]
        m = len(flat)
        cats = rng.integers(0, len(CATEGORIES), m)
        lake.append_arrow("sentence_scores", _table(SentenceScore, {
            "trace_id": [ids[i] for i in owner],
            "sentence_index": (np.arange(m) - np.searchsorted(owner, owner)).tolist(),
            "char_start": [s[0] for s in flat], "char_end": [s[1] for s in flat],
            "scorer": ["provenance_v1:bench"] * m,
            "teacher_logprob": rng.uniform(-3, 0, m).tolist(),
            "student_logprob": rng.uniform(-3, 0, m).tolist(),
            "teacher_tokens": [12] * m, "student_tokens": [12] * m,
            "category": [CATEGORIES[c] for c in cats], "created_at": [NOW] * m,
        }))  # fmt: skip
        lake.append_arrow("trace_scores", _table(TraceScore, {
            "trace_id": ids, "problem_id": pids, "scorer": ["provenance_v1:bench"] * n,
            "n_sentences": [len(s) for s in spans_all], "share_shared": [0.7] * n,
            "share_novel": [0.2] * n, "share_teacher_originated": [0.1] * n,
            "share_student_originated": [0.0] * n, "share_boosted": [0.0] * n,
            "divergence": rng.normal(0, 0.2, n).tolist(), "created_at": [NOW] * n,
        }))  # fmt: skip
        rep = [ids[i - 1] if i % 50 == 1 else ids[i] for i in range(n)]  # some duplicate pairs
        lake.append_arrow("dedup_assignments", _table(DedupAssignment, {
            "trace_id": ids, "method": ["exact"] * n, "embedder": [""] * n,
            "threshold": [1.0] * n, "cluster_id": rep, "representative_trace_id": rep,
            "is_representative": [r == t for r, t in zip(rep, ids, strict=True)],
            "max_similarity": [1.0] * n, "created_at": [NOW] * n,
        }))  # fmt: skip
        stats = [ProblemStats(problem_id=p.problem_id, source=SET, verifier="math_v2", model="m",
                              mode=mode, n_samples=5, n_checked=5, n_correct=int(c),
                              pass_rate=c / 5, difficulty="medium")
                 for p in problems for mode in ("on_policy", "privileged")
                 for c in [rng.integers(0, 6)]]  # fmt: skip
        lake.append("problem_stats", stats)
        lake.append("contamination_flags", [
            ContaminationFlag(problem_id=p.problem_id, benchmark="gsm8k", benchmark_item=str(i),
                              n=13, matched_ngrams=3, overlap=0.5, evidence="what is")
            for i, p in enumerate(problems[:: max(1, n_problems // 20)])
        ])  # fmt: skip
        written = time.perf_counter() - started
        select.run(lake, r1)
        select.run(lake, r2)
    return {"write_s": written, "select_x2_s": time.perf_counter() - started - written}


def peer_export(lake: Lake, version: str, out: Path) -> int:
    """Plain SELECTs of the version's rows, written as JSON lines; returns bytes written."""
    ref = resolve_version(lake, version)
    scope = f"WITH {DECIDED}, t AS (SELECT subject AS trace_id FROM decided WHERE level = 'trace')"
    queries = {
        "decisions": "SELECT * FROM decisions WHERE decision_context.run_id = ?",
        "rollouts": f"{scope} SELECT r.* FROM rollouts r JOIN t USING (trace_id)",
        "verdicts": f"{scope} SELECT v.* FROM verdicts v JOIN t USING (trace_id)",
        "flaw_labels": f"{scope} SELECT f.* FROM flaw_labels f JOIN t USING (trace_id)",
        "sentence_scores": f"{scope} SELECT s.* FROM sentence_scores s JOIN t USING (trace_id)",
    }
    size = 0
    for name, sql in queries.items():
        frame = lake.query(sql, [ref.run_id], ref.snapshot_id)
        path = out / f"{name}.jsonl"
        frame.write_ndjson(path)
        size += path.stat().st_size
    return size


def measure(lake_path: Path, rounds: int, work: Path, label: str) -> dict[str, Any]:
    """Median seconds of the report, the diff and the peer export, alternating, on one lake."""
    report_s, peer_s, diff_s = [], [], []
    result: Any = None
    peer_bytes = 0
    with Lake.open(lake_path, read_only=True) as lake:
        versions = [v.name for v in lake.versions()]
        for _ in range(rounds):
            t = time.perf_counter()
            result = write_report(lake, work / f"{label}.html", versions[-1])
            report_s.append(time.perf_counter() - t)
            shutil.rmtree(work / "peer", ignore_errors=True)
            (work / "peer").mkdir()
            t = time.perf_counter()
            peer_bytes = peer_export(lake, versions[-1], work / "peer")
            peer_s.append(time.perf_counter() - t)
            if len(versions) > 1:
                t = time.perf_counter()
                changed = len(diff_versions(lake, versions[-2], versions[-1]).rows)
                diff_s.append(time.perf_counter() - t)
        traces = int(lake.sql("SELECT count(*) AS n FROM rollouts")["n"][0])
        build_report(lake, versions[-1])  # warm: not timed
    out: dict[str, Any] = {
        "lake": label, "traces": traces, "version": result.version,
        "report_s_median": round(statistics.median(report_s), 3),
        "report_s_rounds": [round(s, 3) for s in report_s],
        "report_bytes": result.bytes, "traces_in_browser": result.traces_shown,
        "peer_json_export_s_median": round(statistics.median(peer_s), 3),
        "peer_json_bytes": peer_bytes,
        "report_vs_peer_time": round(statistics.median(report_s) / statistics.median(peer_s), 2),
    }  # fmt: skip
    if diff_s:
        out |= {"diff_s_median": round(statistics.median(diff_s), 3), "diff_rows": changed}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--demo", type=Path, help="an existing lake to measure too (read-only)")
    parser.add_argument("--keep", type=Path, help="build (or reuse) the synthetic lake here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-report-"))
    figures: dict[str, Any] = {"cpus": os.cpu_count(), "load_avg_start": os.getloadavg()[0]}
    try:
        if args.demo:
            figures["demo"] = measure(args.demo, args.rounds, work, "demo")
        lake_path = args.keep or work / "lake"
        if not (lake_path / "catalog.ducklake").exists():
            figures["build"] = build_lake(lake_path, args.traces)
        figures["synthetic"] = measure(lake_path, args.rounds, work, "synthetic")
    finally:
        figures["load_avg_end"] = os.getloadavg()[0]
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
