"""CLI start-up: the import time of `thresher.cli`, and the wall time of `thresher --help` and of a
trivial `thresher sql 'SELECT 1'` on a small lake, each in a fresh process as a user runs it.

Each figure is the median of --runs runs after one uncounted warm-up run, next to the floor (a bare
`python -c pass`) and the CPU time of the same runs (the machine may be shared: CPU time moves
less than wall time when other processes compete for the cores). An environment that keeps no
bytecode (PYTHONDONTWRITEBYTECODE with an install that compiled none, e.g. `uv pip install`
without --compile-bytecode) recompiles every module on every start; the benchmark measures what an
installed tool does, so it lets Python cache bytecode in a private folder (PYTHONPYCACHEPREFIX)
and says so in the JSON. Prints JSON; targets: --help <= 0.3 s, sql <= 0.7 s wall.

    python benchmarks/bench_cli.py
    python benchmarks/bench_cli.py --runs 15
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HELP_TARGET_S = 0.3
SQL_TARGET_S = 0.7
IMPORT_PROBE = (
    "import time; t = time.perf_counter(); import thresher.cli; print(time.perf_counter() - t)"
)


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system of the child) and stdout of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, done.stdout


def _measure(cmd: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    first, _, _ = _run(cmd, env)  # warm-up: fills the bytecode cache and the page cache
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu, _ = _run(cmd, env)
        walls.append(wall)
        cpus.append(cpu)
    return {
        "wall_s": round(statistics.median(walls), 3),
        "wall_min_s": round(min(walls), 3),
        "cpu_s": round(statistics.median(cpus), 3),
        "first_run_s": round(first, 3),
    }


def _environment(cache: str) -> tuple[dict[str, str], str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    if env.get("PYTHONDONTWRITEBYTECODE"):
        env.pop("PYTHONDONTWRITEBYTECODE")
        env["PYTHONPYCACHEPREFIX"] = cache
        return env, f"cached in a private PYTHONPYCACHEPREFIX ({cache})"
    return env, "as installed (Python writes and reads __pycache__)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="Counted runs per figure.")
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        env, bytecode = _environment(str(Path(tmp) / "pycache"))
        lake = str(Path(tmp) / "lake")
        cli = [python, "-m", "thresher.cli"]
        _run([*cli, "ingest", "builtin:arithmetic", "--n", "16", "--lake", lake], env)
        load = os.getloadavg()[0]
        floor = _measure([python, "-c", "pass"], env, args.runs)
        imports = [float(_run([python, "-c", IMPORT_PROBE], env)[2]) for _ in range(args.runs)]
        help_ = _measure([*cli, "--help"], env, args.runs)
        sql = _measure([*cli, "sql", "SELECT 1", "--lake", lake], env, args.runs)
    figures = {
        "benchmark": "cli",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_1min": round(load, 2),
        "runs": args.runs,
        "bytecode": bytecode,
        "python_floor": floor,
        "import_thresher_cli_s": round(statistics.median(imports), 3),
        "help": help_,
        "sql_select_1": sql,
        "targets": [
            {
                "figure": "thresher --help wall (s)",
                "value": help_["wall_s"],
                "target": f"<= {HELP_TARGET_S}",
                "peer": None,
                "met": help_["wall_s"] <= HELP_TARGET_S,
            },
            {
                "figure": "thresher sql 'SELECT 1' wall (s)",
                "value": sql["wall_s"],
                "target": f"<= {SQL_TARGET_S}",
                "peer": None,
                "met": sql["wall_s"] <= SQL_TARGET_S,
            },
        ],
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
