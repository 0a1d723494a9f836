"""Orchestration overhead of the curate flow: Prefect flow vs the same stages called directly.

Runs a recipe twice on fresh lakes with one shared engine: once as the stage functions in a
plain loop (the peer), once as the Prefect `curate` flow (ephemeral server). Prints JSON with the
wall time of every stage in both runs, the flow total, and the overhead relative to the direct
run (target <= 10 %). The Prefect ephemeral server start is reported separately.

    .venv/bin/python benchmarks/bench_flow.py [--recipe recipes/default.yaml] [--limit N] [--n K]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="recipes/default.yaml")
    parser.add_argument("--limit", type=int, default=None, help="override problems.limit")
    parser.add_argument("--n", type=int, default=None, help="override generation.n")
    parser.add_argument("--no-export", action="store_true", help="skip the export stage")
    args = parser.parse_args()

    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="bench-prefect-"))
    from thresher.config import load_recipe
    from thresher.flows.curate import run_curate, run_stages_directly

    recipe = load_recipe(args.recipe)
    if args.limit is not None:
        recipe.problems.limit = args.limit
    if args.n is not None:
        recipe.generation.n = args.n
    root = Path(tempfile.mkdtemp(prefix="bench-flow-"))
    recipe.export.out = str(root / "exports")

    t0 = time.perf_counter()
    from thresher.stages.engines import engine_for

    engine = engine_for(recipe.generation)  # build + start the engine once, outside both runs
    engine.setup()
    engine_start_s = time.perf_counter() - t0

    # Prefect's ephemeral API server starts on first use; time it apart from the flow.
    t0 = time.perf_counter()
    from prefect import flow

    @flow(name="bench-warmup", persist_result=False)
    def warmup() -> int:
        return 1

    warmup()
    prefect_start_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    direct = run_stages_directly(
        recipe, str(root / "direct"), engine=engine, export=not args.no_export
    )
    direct_total = time.perf_counter() - t0

    t0 = time.perf_counter()
    flowed = run_curate(recipe, str(root / "flow"), engine=engine, export=not args.no_export)
    flow_total = time.perf_counter() - t0
    engine.teardown()

    stages_sum = sum(direct.timings.values())
    overhead = flow_total - stages_sum
    print(
        json.dumps(
            {
                "benchmark": "bench_flow",
                "recipe": recipe.name,
                "recipe_hash": recipe.hash(),
                "problems": direct.problems,
                "rollouts": direct.funnel.get("rollouts"),
                "funnel": direct.funnel,
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                "engine_start_s": round(engine_start_s, 2),
                "prefect_server_start_s": round(prefect_start_s, 2),
                "peer": "the same stage functions called directly in a loop, no Prefect",
                "direct_stage_s": {k: round(v, 2) for k, v in direct.timings.items()},
                "direct_total_s": round(direct_total, 2),
                "direct_stages_sum_s": round(stages_sum, 2),
                "flow_stage_s": {k: round(v, 2) for k, v in flowed.timings.items()},
                "flow_total_s": round(flow_total, 2),
                "orchestration_overhead_s": round(overhead, 2),
                "orchestration_overhead_pct": round(100 * overhead / stages_sum, 2),
                "target_overhead_pct": 10.0,
                "same_funnel": direct.funnel == flowed.funnel,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
