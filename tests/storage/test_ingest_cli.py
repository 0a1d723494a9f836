"""`thresher ingest` as a user runs it: a summary on success, a one-line error and exit 2 on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thresher.cli import app
from thresher.storage import Lake


def _thresher(*args: str, lake: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "thresher.cli", *args, "--lake", str(lake)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def lake_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "lake"
    Lake.open(path).close()
    return path


def test_builtin_ingest_prints_a_summary_and_commits(lake_path):
    done = _thresher("ingest", "builtin:arithmetic", "--n", "12", "--seed", "3", lake=lake_path)
    assert done.returncode == 0, done.stderr
    assert "arithmetic-n12-s3: read 12 rows, added 12 problems" in " ".join(done.stdout.split())
    with Lake.open(lake_path, read_only=True) as lake:
        frame = lake.sql("SELECT count(*) AS n FROM problems WHERE source = 'arithmetic-n12-s3'")
        assert frame["n"][0] == 12


def test_bad_input_is_one_error_line_without_traceback(lake_path, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "q?"}\n{"problem": 3}\n')
    done = _thresher(
        "ingest", str(bad), "--name", "bad", "--map", "question=problem", lake=lake_path
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    err = " ".join(done.stderr.split())  # rich wraps long lines
    assert f"error: {bad}:2: field 'problem': expected a string, got int 3" in err
    assert "nothing was committed" in err


def test_quarantine_mode_reports_the_first_bad_row(lake_path, tmp_path):
    bad = tmp_path / "mixed.csv"
    bad.write_text("question,answer\nq1?,1\nq2?\n")
    args = ["ingest", str(bad), "--name", "mixed", "--on-error", "quarantine"]
    done = CliRunner().invoke(app, [*args, "--lake", str(lake_path)])  # in-process: faster
    assert done.exit_code == 0, done.output
    out = " ".join(done.stdout.split())
    assert "added 1 problems" in out and "quarantined 1" in out
    assert f"first quarantined row: {bad}:3: expected 2 fields" in out
