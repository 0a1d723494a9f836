"""Decision trace throughput: recording, exporting and verifying lightweight DES events.

Builds N lightweight drop decisions (bulk `incorrect` drops, the commonest event), records them
into a fresh lake as chained runs of `--run-size` events (build the DES events, seal them,
append), exports the chain as JSON lines, verifies that file as a third party would
(`thresher audit verify --file`: parse, DES conformance, hash, links, counts) and verifies the
lake itself. The floor is `hashlib.sha256(json.dumps(event))` over the same events, timed on the
parsed events (hashing only) and on the lines (parse + hash), in the same process.
Prints JSON. Target: verifying 1,000,000 events in <= 60 s.

    python benchmarks/bench_audit.py                 # 1,000,000 events
    python benchmarks/bench_audit.py --events 50000
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from thresher.config import SelectionConfig
from thresher.stages.audit import audit_verify, export_events, record_run, verify_file
from thresher.stages.decision_events import decision_events
from thresher.stages.policy import Decision
from thresher.storage import Lake

EVIDENCE = {"verdict_status": "ok", "correct": False, "verifier": "math_v1"}


def _decisions(start: int, count: int) -> list[Decision]:
    return [
        Decision(
            f"t{i:012d}", "trace", "drop", "incorrect", "correct", dict(EVIDENCE), f"p{i // 16}"
        )
        for i in range(start, start + count)
    ]


def record(lake: Lake, events: int, run_size: int) -> dict[str, float]:
    """Build, seal and append `events` events as chained runs; seconds per phase."""
    policy = SelectionConfig(sampled_fraction=0.0)
    build = seal_and_append = 0.0
    for start in range(0, events, run_size):
        t0 = time.perf_counter()
        batch = decision_events(
            _decisions(start, min(run_size, events - start)), policy, f"bench-{start}", "h" * 64
        )
        t1 = time.perf_counter()
        record_run(lake, batch)
        t2 = time.perf_counter()
        build += t1 - t0
        seal_and_append += t2 - t1
        del batch
        gc.collect()
    return {"build_s": build, "seal_and_append_s": seal_and_append}


def floor(path: Path) -> dict[str, float]:
    """sha256 over json.dumps of the same events: hashing the parsed events, and parse + hash."""
    with path.open(encoding="utf-8") as handle:
        lines = handle.readlines()
    t0 = time.perf_counter()
    parsed = [json.loads(line) for line in lines]
    t1 = time.perf_counter()
    for event in parsed:
        hashlib.sha256(json.dumps(event).encode()).hexdigest()
    t2 = time.perf_counter()
    return {"parse_s": t1 - t0, "hash_s": t2 - t1, "parse_and_hash_s": t2 - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--run-size", type=int, default=50_000, help="events per recorded run")
    parser.add_argument("--skip-lake-verify", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    try:
        out: dict[str, Any] = {
            "benchmark": "bench_audit",
            "events": args.events,
            "run_size": args.run_size,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        }
        with Lake.open(root / "lake") as lake:
            t0 = time.perf_counter()
            phases = record(lake, args.events, args.run_size)
            recorded = time.perf_counter() - t0
            out["record"] = {
                "seconds": round(recorded, 2),
                "events_per_s": round(args.events / recorded),
                **{k: round(v, 2) for k, v in phases.items()},
            }
            path = root / "events.jsonl"
            t0 = time.perf_counter()
            exported = export_events(lake, None, path)
            elapsed = time.perf_counter() - t0
            out["export"] = {"seconds": round(elapsed, 2), "events_per_s": round(exported.events / elapsed),
                             "bytes": path.stat().st_size}  # fmt: skip
            if not args.skip_lake_verify:
                t0 = time.perf_counter()
                result = audit_verify(lake)
                elapsed = time.perf_counter() - t0
                out["verify_lake"] = {"seconds": round(elapsed, 2), "ok": result.ok,
                                      "events_per_s": round(result.checked / elapsed)}  # fmt: skip
        gc.collect()
        t0 = time.perf_counter()
        result = verify_file(path)
        elapsed = time.perf_counter() - t0
        assert result.ok and result.checked == args.events, result.findings[:3]
        out["verify_file"] = {"seconds": round(elapsed, 2), "events_per_s": round(args.events / elapsed),
                              "ok": result.ok, "runs": len(result.segments)}  # fmt: skip
        gc.collect()
        base = floor(path)
        out["floor_sha256_json_dumps"] = {k: round(v, 2) for k, v in base.items()}
        out["ratio_verify_file_to_floor_hash"] = round(elapsed / base["hash_s"], 2)
        out["ratio_verify_file_to_floor_parse_and_hash"] = round(
            elapsed / base["parse_and_hash_s"], 2
        )
        scale = 1_000_000 / args.events
        out["verify_file_projected_1m_s"] = round(elapsed * scale, 1)
        out["target_1m_verify_s"] = 60
        print(json.dumps(out, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
