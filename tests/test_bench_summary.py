"""benchmarks/summary.py: one table of every benchmark's targets, from bench-results/*.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SUMMARY = Path(__file__).resolve().parents[1] / "benchmarks" / "summary.py"


def test_summary_lists_each_target_and_counts_the_met_ones(tmp_path):
    target = {"figure": "lake / floor", "value": 0.61, "target": ">= 0.5", "peer": "pyarrow"}
    (tmp_path / "bench_storage.json").write_text(
        json.dumps({"benchmark": "storage", "targets": [{**target, "met": True}]})
    )
    cli = {"figure": "--help wall (s)", "value": 0.41, "target": "<= 0.3", "peer": None}
    # A benchmark whose stdout had a line before its JSON object still counts.
    (tmp_path / "bench_cli.json").write_text(
        "warming up\n" + json.dumps({"targets": [{**cli, "met": False}]}, indent=2)
    )
    (tmp_path / "bench_flow.json").write_text(json.dumps({"seconds": 3}))
    (tmp_path / "bench_verify.json").write_text("Traceback (most recent call last): boom")
    done = subprocess.run(
        [sys.executable, str(SUMMARY), str(tmp_path)], capture_output=True, text=True, check=True
    )
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["benchmark", "figure", "value", "target", "peer", "met"]
    storage = next(line for line in lines if line.startswith("bench_storage"))
    assert "0.61" in storage and ">= 0.5" in storage and "pyarrow" in storage
    assert storage.rstrip().endswith("yes")
    cli_line = next(line for line in lines if line.startswith("bench_cli"))
    assert "0.41" in cli_line and cli_line.rstrip().endswith("NO")
    assert any(line.startswith("bench_flow") and "(no targets)" in line for line in lines)
    assert any(line.startswith("bench_verify") and "(no JSON" in line for line in lines)
    assert lines[-1] == "1 of 2 targets met"


def test_summary_without_results_says_what_to_run(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SUMMARY), str(tmp_path / "missing")], capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "make bench" in done.stderr
