"""The CLI starts without the heavy libraries: `--help` and a plain `thresher sql` run in a fresh
interpreter, which then reports the modules it loaded (a behaviour test; benchmarks/bench_cli.py
measures the time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from thresher.schemas import Problem
from thresher.storage import Lake

REPO = Path(__file__).resolve().parents[1]

# Imported by the commands that need them (generate, dedup, export, ...), never at start-up.
HEAVY = (
    "polars",
    "pyarrow",
    "numpy",
    "pandas",
    "torch",
    "vllm",
    "prefect",
    "faiss",
    "datasets",
    "transformers",
    "sentence_transformers",
)

# Runs the CLI in this interpreter, then prints the heavy modules it loaded as JSON on stderr.
_PROBE = """
import json, sys
sys.argv = ["thresher", *json.loads(sys.argv[1])]
import thresher.cli
code = 0
try:
    thresher.cli.main()
except SystemExit as exc:
    code = exc.code or 0
sys.stderr.write("PROBE " + json.dumps({"code": code, "loaded": sorted(
    m for m in sys.modules if m.split(".")[0] in HEAVY)}) + "\\n")
"""


def _probe(*args: str) -> tuple[dict[str, object], str]:
    code = f"HEAVY = {HEAVY!r}\n" + _PROBE
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(list(args))],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("PROBE ")]
    assert lines, done.stderr
    return json.loads(lines[-1].removeprefix("PROBE ")), done.stdout


def test_importing_the_cli_loads_no_heavy_module():
    code = f"import json, sys, thresher.cli\nprint(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize("args", [["--help"], ["sql", "--help"], ["generate", "--help"]])
def test_help_loads_no_heavy_module(args):
    report, stdout = _probe(*args)
    assert report == {"code": 0, "loaded": []}
    assert "Usage:" in stdout


def test_plain_sql_loads_no_heavy_module(tmp_path):
    lake = tmp_path / "lake"
    with Lake.open(lake) as opened:
        opened.append("problems", [Problem(source="s", question="q", answer="42")])
    report, stdout = _probe("sql", "SELECT 1 AS one", "--lake", str(lake))
    assert report == {"code": 0, "loaded": []}
    assert "one" in stdout and "1 row" in stdout
    report, stdout = _probe("sql", "SELECT answer FROM problems", "--lake", str(lake))
    assert report == {"code": 0, "loaded": []}
    assert "42" in stdout and "1 row" in stdout


def test_csv_and_json_lines_load_no_heavy_module_either(tmp_path):
    """CSV and JSON lines are written from DuckDB's rows with the standard library."""
    lake = tmp_path / "lake"
    with Lake.open(lake) as opened:
        opened.append("problems", [Problem(source="s", question="q", answer="42")])
    report, stdout = _probe("sql", "SELECT answer FROM problems", "-f", "csv", "--lake", str(lake))
    assert report == {"code": 0, "loaded": []}
    assert stdout.splitlines() == ["answer", "42"]
    report, stdout = _probe("sql", "SELECT answer FROM problems", "-f", "json", "--lake", str(lake))
    assert report == {"code": 0, "loaded": []}
    assert stdout.splitlines() == ['{"answer": "42"}']
