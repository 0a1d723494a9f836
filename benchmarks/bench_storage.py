"""Lake append throughput against plain pyarrow.parquet and datasets, and pass rate per problem SQL.

Writes N synthetic rollout rows (~2 KB of text each) in batches through `Lake.append_arrow`,
and the same batches with `pyarrow.parquet.ParquetWriter` (the floor) and with
`datasets.Dataset.from_list(rows).to_parquet(...)` (what people do today), interleaved batch by
batch so all three see the same machine load. Before each timed write the page cache is flushed
(`os.sync()`, untimed): a lake commit fsyncs its catalog, and on ext4 that journal commit also
writes out whatever the other writers left dirty, so without the flush the lake paid for the
pyarrow and datasets files too (its COMMIT took 13-113 ms instead of ~11 ms at 1M rows). Then it appends one verdict per rollout and times
pass rate per problem through `thresher sql` (a fresh process, as a user runs it) and in process.
Prints JSON. Targets: lake rows/s >= 0.5x the pyarrow floor; the SQL under 1 s.

    python benchmarks/bench_storage.py            # 1,000,000 rows
    python benchmarks/bench_storage.py --rows 50000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from thresher.schemas import Rollout, Verdict, arrow_schema
from thresher.storage import Lake

ROLLOUTS_PER_PROBLEM = 16
PROMPT_CHARS = 256
REASONING_CHARS = 1760
# Letters with spaces at roughly English word length, so Parquet compresses it like prose, not zeros.
_ALPHABET = np.frombuffer(b"etaoinshrdlcumwfgypbvkjxqz" + b" " * 5, dtype=np.uint8)

PASS_RATE_SQL = (
    "SELECT r.problem_id, avg(CASE WHEN v.correct THEN 1.0 ELSE 0.0 END) AS pass_rate, "
    "count(*) AS n FROM rollouts r JOIN verdicts v USING (trace_id) "
    "WHERE v.verifier = 'math_v1' GROUP BY r.problem_id"
)


def _text(rng: np.random.Generator, rows: int, chars: int) -> pa.Array:
    """`rows` random strings of `chars` characters, built straight into Arrow buffers."""
    data = _ALPHABET[rng.integers(0, len(_ALPHABET), rows * chars)]
    offsets = np.arange(0, (rows + 1) * chars, chars, dtype=np.int32)
    return pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(data.tobytes()))


def _hex_ids(rng: np.random.Generator, rows: int) -> pa.Array:
    raw = rng.integers(0, 256, (rows, 16), dtype=np.uint8)
    return pa.array([bytes(r).hex() for r in raw])


def rollout_batch(rng: np.random.Generator, start: int, rows: int, problems: list[str]) -> pa.Table:
    """Synthetic rollouts: real schema, unique trace ids, ~2 KB of text per row."""
    schema = arrow_schema(Rollout)
    index = np.arange(start, start + rows)
    answers = pa.array([f"The answer is {i % 997}." for i in index])
    sampling = pa.array(
        [{"temperature": 0.7, "top_p": 1.0, "max_tokens": 1024, "seed": None, "stop": []}] * rows,
        schema.field("sampling").type,
    )
    columns = {
        "trace_id": _hex_ids(rng, rows),
        "problem_id": pa.array([problems[i // ROLLOUTS_PER_PROBLEM] for i in index]),
        "model": pa.array(["HuggingFaceTB/SmolLM2-135M-Instruct"] * rows),
        "model_revision": pa.array(["bench"] * rows),
        "engine": pa.array(["vllm"] * rows),
        "sampling": sampling,
        "mode": pa.array(["on_policy"] * rows),
        "prefix_trace_id": pa.nulls(rows, pa.string()),
        "prefix_fraction": pa.nulls(rows, pa.float64()),
        "prefix_chars": pa.nulls(rows, pa.int64()),
        "conditioned_on_ground_truth": pa.array([False] * rows),
        "sample_index": pa.array(index % ROLLOUTS_PER_PROBLEM),
        "prompt": _text(rng, rows, PROMPT_CHARS),
        "completion": pa.array([""] * rows),
        "reasoning": _text(rng, rows, REASONING_CHARS),
        "answer_text": answers,
        "prompt_tokens": pa.array(np.full(rows, PROMPT_CHARS // 4)),
        "completion_tokens": pa.array(np.full(rows, REASONING_CHARS // 4)),
        "finish_reason": pa.array(["stop"] * rows),
        "mean_logprob": pa.array(rng.uniform(-2.0, 0.0, rows)),
        "latency_s": pa.array(rng.uniform(0.1, 3.0, rows)),
        "created_at": pa.array(
            [datetime(2026, 1, 1, tzinfo=UTC)] * rows, pa.timestamp("us", "UTC")
        ),
    }
    return pa.Table.from_pydict(columns, schema=schema)


def verdict_batch(
    rng: np.random.Generator, rollouts: pa.Table, skill: dict[str, float]
) -> pa.Table:
    """One math_v1 verdict per rollout; each problem has its own chance of a correct answer."""
    problem_ids = rollouts["problem_id"].to_pylist()
    correct = rng.random(len(problem_ids)) < np.array([skill[p] for p in problem_ids])
    rows = len(problem_ids)
    columns = {
        "trace_id": rollouts["trace_id"],
        "verifier": pa.array(["math_v1"] * rows),
        "status": pa.array(["ok"] * rows),
        "correct": pa.array(correct),
        "extracted": rollouts["answer_text"],
        "reason": pa.array([""] * rows),
        "elapsed_s": pa.array(np.full(rows, 0.002)),
        "created_at": pa.array(
            [datetime(2026, 1, 1, tzinfo=UTC)] * rows, pa.timestamp("us", "UTC")
        ),
    }
    return pa.Table.from_pydict(columns, schema=arrow_schema(Verdict))


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _rate(rows: int, seconds: float) -> float:
    return round(rows / seconds, 1) if seconds else 0.0


@contextmanager
def timed(seconds: dict[str, float], writer: str) -> Iterator[None]:
    """Add the block's wall time to `seconds[writer]`, after flushing the page cache (untimed):
    each timed write starts with no other writer's data waiting to be written out."""
    os.sync()
    start = time.perf_counter()
    yield
    seconds[writer] += time.perf_counter() - start


def run(rows: int, batch: int, workdir: Path) -> dict:
    """Run the benchmark in `workdir` and return its figures."""
    from datasets import Dataset, disable_progress_bars

    disable_progress_bars()
    load_start = round(os.getloadavg()[0], 2)
    rng = np.random.default_rng(0)
    n_problems = -(-rows // ROLLOUTS_PER_PROBLEM)
    problems = [bytes(r).hex() for r in rng.integers(0, 256, (n_problems, 16), dtype=np.uint8)]
    skill = dict(zip(problems, rng.random(n_problems), strict=True))
    lake_dir, hf_dir = workdir / "lake", workdir / "datasets"
    hf_dir.mkdir(parents=True)
    floor_path = workdir / "pyarrow" / "rollouts.parquet"
    floor_path.parent.mkdir()
    seconds = {"lake": 0.0, "pyarrow": 0.0, "datasets": 0.0, "lake_verdicts": 0.0}
    added = 0
    expected_correct: dict[str, list[int]] = {}
    with Lake.open(lake_dir) as lake, pq.ParquetWriter(floor_path, arrow_schema(Rollout)) as floor:
        for start in range(0, rows, batch):
            table = rollout_batch(rng, start, min(batch, rows - start), problems)
            as_dicts = table.to_pylist()  # the input people hand to Dataset.from_list (untimed)

            with timed(seconds, "pyarrow"):
                floor.write_table(table)
            with timed(seconds, "lake"):
                added += lake.append_arrow("rollouts", table)
            with timed(seconds, "datasets"):
                Dataset.from_list(as_dicts).to_parquet(str(hf_dir / f"part-{start:09d}.parquet"))
            del as_dicts

            verdicts = verdict_batch(rng, table, skill)
            for pid, ok in zip(
                table["problem_id"].to_pylist(), verdicts["correct"].to_pylist(), strict=True
            ):
                expected_correct.setdefault(pid, []).append(int(ok))
            with timed(seconds, "lake_verdicts"):
                lake.append_arrow("verdicts", verdicts)
            print(f"  {start + len(table)}/{rows} rows", file=sys.stderr, end="\r", flush=True)
        print(file=sys.stderr)

        in_process = []
        for _ in range(3):
            t = time.perf_counter()
            frame = lake.sql(PASS_RATE_SQL)
            in_process.append(time.perf_counter() - t)
    expected = {p: sum(v) / len(v) for p, v in expected_correct.items()}
    got = dict(zip(frame["problem_id"].to_list(), frame["pass_rate"].to_list(), strict=True))
    sql_correct = len(got) == len(expected) and all(
        abs(got[p] - expected[p]) < 1e-9 for p in expected
    )

    cli = []
    thresher = [sys.executable, "-m", "thresher.cli", "sql", PASS_RATE_SQL, "--format", "csv"]
    for _ in range(3):
        t = time.perf_counter()
        done = subprocess.run(
            [*thresher, "--lake", str(lake_dir)], capture_output=True, text=True, check=True
        )
        cli.append(time.perf_counter() - t)
    cli_rows = done.stdout.count("\n") - 1
    cli_startup = []
    for _ in range(3):  # the same process start and lake open, with a trivial query
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "thresher.cli", "sql", "SELECT 1", "--format", "csv",
             "--lake", str(lake_dir)],
            capture_output=True, check=True,
        )  # fmt: skip
        cli_startup.append(time.perf_counter() - t)

    lake_rps = _rate(rows, seconds["lake"])
    floor_rps = _rate(rows, seconds["pyarrow"])
    text_bytes = rows * (PROMPT_CHARS + REASONING_CHARS)
    over_floor = round(lake_rps / floor_rps, 3) if floor_rps else None
    over_datasets = round(seconds["datasets"] / seconds["lake"], 3)
    targets = [
        {
            "figure": f"lake append rows/s / pyarrow floor ({rows:,} rows)",
            "value": over_floor,
            "target": ">= 0.5",
            "peer": "pyarrow.parquet.ParquetWriter",
            "met": bool(over_floor and over_floor >= 0.5),
        },
        {
            "figure": "lake append rows/s / datasets (from_list + to_parquet)",
            "value": over_datasets,
            "target": ">= 1",
            "peer": "datasets",
            "met": over_datasets >= 1,
        },
        {
            "figure": "pass rate per problem via `thresher sql` (s, best of 3)",
            "value": round(min(cli), 3),
            "target": "< 1.0",
            "peer": None,
            "met": min(cli) < 1.0,
        },
    ]
    return {
        "benchmark": "storage",
        "rows": rows,
        "batch_rows": batch,
        "text_bytes_per_row": PROMPT_CHARS + REASONING_CHARS,
        "problems": n_problems,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            # Other work on the machine slows every figure alike; the ratios stay comparable.
            "load_avg_1m_start_end": [load_start, round(os.getloadavg()[0], 2)],
        },
        "append": {
            "lake_rows_per_s": lake_rps,
            "pyarrow_floor_rows_per_s": floor_rps,
            "datasets_from_list_to_parquet_rows_per_s": _rate(rows, seconds["datasets"]),
            "lake_over_floor": over_floor,
            "lake_over_datasets": over_datasets,
            "lake_text_mb_per_s": round(text_bytes / seconds["lake"] / 1e6, 1),
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
            "rows_added": added,
            "bytes_on_disk": {
                "lake": _dir_bytes(lake_dir),
                "pyarrow": _dir_bytes(floor_path.parent),
                "datasets": _dir_bytes(hf_dir),
            },
            "target_lake_over_floor": 0.5,
            "meets_target": bool(floor_rps and lake_rps >= 0.5 * floor_rps),
        },
        "pass_rate_sql": {
            "query": PASS_RATE_SQL,
            "verdict_rows": rows,
            "verdicts_append_rows_per_s": _rate(rows, seconds["lake_verdicts"]),
            "thresher_sql_cli_s": {
                "best": round(min(cli), 3),
                "median": round(statistics.median(cli), 3),
            },
            "cli_startup_trivial_query_s": round(min(cli_startup), 3),
            "in_process_lake_sql_s": {
                "best": round(min(in_process), 3),
                "median": round(statistics.median(in_process), 3),
            },
            "result_rows": cli_rows,
            "matches_expected_pass_rates": sql_correct and cli_rows == n_problems,
            "target_s": 1.0,
            "meets_target": min(cli) < 1.0,
        },
        "targets": targets,
    }


def main() -> None:
    """Parse options, run in a scratch folder, print the JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rollout rows (default 1M)")
    parser.add_argument("--batch", type=int, default=10_000, help="rows per append")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="thresher-bench-storage-"))
    try:
        figures = run(args.rows, args.batch, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
