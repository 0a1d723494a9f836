"""From one process to a Ray cluster: the same curate workload, run locally and on a two-node
local Ray cluster (head + worker on 127.0.0.1), with each stage's wall time.

The workload: generation with the embedded model (one mode), then verify, label and embedding
dedup of the traces (provenance, decontamination and exports off). Both runs use a fresh lake
with a SQLite catalog (one that several processes write: the Ray path needs it, and the local
path gets the same storage so only the runtime differs). Each path starts its own engine (the
local run in process, the Ray run in its engine actor), so generation includes one engine start
on both sides. Each path runs in its own fresh process (as two `thresher run` commands would), so
neither inherits the other's imports or Prefect's API server; the cluster is started before the
Ray run and its start is reported apart (a user's cluster is already up). On a 2-core machine Ray
cannot add cores: the target is overhead, the Ray path's total within 15 % of the local path's.

    .venv/bin/python benchmarks/bench_scale.py [--limit 8] [--n 2] [--max-tokens 64] [--cpus 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1.15
STAGES = ("ingest", "generate", "verify", "label", "dedup", "select")

RECIPE = """
name: bench-scale
problems: {{source: "builtin:arithmetic", limit: {limit}, seed: 0}}
generation:
  model: smollm2-135m-instruct
  n: {n}
  modes: [on_policy]
  sampling: {{temperature: 0.7, max_tokens: {max_tokens}, seed: 0}}
  batch_size: {batch}
  max_model_len: 1024
  enforce_eager: true
  dtype: float32
provenance: {{enabled: false}}
dedup: {{enabled: true, method: embedding}}
"""


def _run(recipe: object, lake: str) -> dict[str, object]:
    from thresher.flows.curate import run_curate

    start = time.perf_counter()
    summary = run_curate(recipe, lake, export=False)  # type: ignore[arg-type]
    total = time.perf_counter() - start
    return {
        "total_s": round(total, 2),
        "stages_s": {k: round(v, 2) for k, v in summary.timings.items() if k in STAGES},
        "rollouts": summary.funnel.get("rollouts", 0),
        "selected": summary.funnel.get("selected", 0),
        "nodes": len(summary.nodes),
    }


def _one_path(args: argparse.Namespace) -> dict[str, object]:
    """One path in this process: `local`, or `ray` on a fresh two-node cluster."""
    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="bench-prefect-"))
    sys.path.insert(0, str(ROOT / "tests" / "flows"))
    from ray_cluster import local_cluster  # the tests' two-node cluster on 127.0.0.1

    from thresher.config import parse_recipe

    recipe = parse_recipe(
        RECIPE.format(limit=args.limit, n=args.n, max_tokens=args.max_tokens, batch=args.batch)
    )
    lake = f"sqlite:{tempfile.mkdtemp(prefix='bench-scale-')}"
    if args.only == "local":
        return _run(recipe, lake)
    cluster_start = time.perf_counter()
    with local_cluster(head_cpus=args.cpus, worker_cpus=args.cpus) as cluster:
        started_s = time.perf_counter() - cluster_start
        on_ray = _run(recipe.on_ray(cluster.address), lake)
    return {
        **on_ray,
        "cluster": f"2 nodes x {args.cpus} CPU",
        "cluster_start_s": round(started_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=8, help="problems")
    parser.add_argument("--n", type=int, default=2, help="rollouts per problem")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--batch", type=int, default=2, help="problems per generation batch")
    parser.add_argument("--cpus", type=int, default=1, help="CPUs of each of the two nodes")
    parser.add_argument("--only", choices=["local", "ray"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        print(json.dumps(_one_path(args)))
        return

    paths = {}
    for path in ("local", "ray"):
        command = [sys.executable, __file__, "--only", path, "--limit", str(args.limit)]
        command += ["--n", str(args.n), "--max-tokens", str(args.max_tokens)]
        command += ["--batch", str(args.batch), "--cpus", str(args.cpus)]
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            sys.exit(f"the {path} path failed:\n{run.stderr[-3000:]}")
        paths[path] = json.loads(run.stdout.strip().splitlines()[-1])
    local, on_ray = paths["local"], paths["ray"]
    ratio = float(on_ray["total_s"]) / float(local["total_s"])
    per_stage = {
        k: round(on_ray["stages_s"][k] / v, 3)
        for k, v in local["stages_s"].items()
        if v and k in on_ray["stages_s"]
    }
    report = {
        "benchmark": "bench_scale",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "workload": {
            "problems": args.limit,
            "n": args.n,
            "max_tokens": args.max_tokens,
            "generation_batch_problems": args.batch,
            "stages": "generate (embedded model) + verify + label + dedup (embedding)",
            "lake": "SQLite catalog, fresh per path",
            "processes": "one fresh process per path",
        },
        "local": local,
        "ray": on_ray,
        "ray_over_local_total": round(ratio, 3),
        "ray_over_local_per_stage": per_stage,
        "same_rollout_count": local["rollouts"] == on_ray["rollouts"],
        "gpu_throughput": "not measured: no GPU lent to this task",
        "targets": [
            {
                "figure": "Ray path total over local total (same workload, 2-node local cluster)",
                "value": round(ratio, 3),
                "target": f"<= {TARGET}",
                "peer": f"local {local['total_s']} s",
                "met": ratio <= TARGET,
            }
        ],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
