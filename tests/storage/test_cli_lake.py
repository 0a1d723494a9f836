"""The sql / versions / tag commands as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime

from typer.testing import CliRunner

from thresher.cli import app
from thresher.schemas import Problem
from thresher.storage import Lake

runner = CliRunner()


def seed(path) -> None:
    with Lake.open(path) as lake:
        lake.append(
            "problems", [Problem(source="s", question=f"q{i}", answer=str(i)) for i in range(3)]
        )


def test_sql_prints_csv_and_json(tmp_path):
    path = tmp_path / "lake"
    seed(path)
    result = runner.invoke(
        app,
        [
            "sql",
            "SELECT answer FROM problems ORDER BY answer",
            "--lake",
            str(path),
            "--format",
            "csv",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["answer", "0", "1", "2"]
    result = runner.invoke(
        app, ["sql", "SELECT count(*) AS n FROM problems", "--lake", str(path), "-f", "json"]
    )
    assert json.loads(result.stdout) == {"n": 3}


def test_tag_then_query_the_old_version(tmp_path):
    path = tmp_path / "lake"
    seed(path)
    assert runner.invoke(app, ["tag", "v1", "--note", "three", "--lake", str(path)]).exit_code == 0
    with Lake.open(path) as lake:
        lake.append("problems", [Problem(source="s", question="late", answer="9")])
    old = runner.invoke(
        app,
        [
            "sql",
            "SELECT count(*) AS n FROM problems",
            "--version",
            "v1",
            "--lake",
            str(path),
            "-f",
            "csv",
        ],
    )
    assert old.stdout.splitlines()[1] == "3"
    listing = runner.invoke(app, ["versions", "--lake", str(path)])
    assert "v1" in listing.stdout and "three" in listing.stdout


def test_write_statement_is_refused_without_traceback(tmp_path):
    path = tmp_path / "lake"
    seed(path)
    proc = subprocess.run(
        [sys.executable, "-m", "thresher.cli", "sql", "DELETE FROM problems", "--lake", str(path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "only SELECT queries are allowed" in proc.stderr
    assert "Traceback" not in proc.stderr
    with Lake.open(path, read_only=True) as lake:
        assert lake.sql("SELECT count(*) AS n FROM problems")["n"][0] == 3


def test_every_command_has_help_text():
    for command in app.registered_commands:
        assert command.callback.__doc__, f"{command.name or command.callback.__name__} has no help"


def test_sql_csv_and_json_write_every_type_plainly(tmp_path):
    """NULL, booleans, numbers, decimals, times, text with commas and quotes, nested values."""
    path = tmp_path / "lake"
    seed(path)
    query = (
        "SELECT NULL AS nothing, true AS yes, 3 AS n, 0.1::DOUBLE AS x, 1.50 AS dec, "
        "TIMESTAMPTZ '2026-01-02 03:04:05+00' AS at, DATE '2026-01-02' AS day, "
        "'a, \"b\"' AS text, {'k': [1, 2]} AS nested, [true, NULL] AS list"
    )
    csv_out = runner.invoke(app, ["sql", query, "--lake", str(path), "-f", "csv"])
    assert csv_out.exit_code == 0, csv_out.output
    [header, row] = list(csv.reader(io.StringIO(csv_out.stdout)))
    assert header == ["nothing", "yes", "n", "x", "dec", "at", "day", "text", "nested", "list"]
    assert row[:5] == ["", "true", "3", "0.1", "1.50"]
    assert datetime.fromisoformat(row[5]) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert row[6:] == ["2026-01-02", 'a, "b"', '{"k": [1, 2]}', "[true, null]"]
    json_out = runner.invoke(app, ["sql", query, "--lake", str(path), "-f", "json"])
    assert json_out.exit_code == 0, json_out.output
    got = json.loads(json_out.stdout)
    assert got["nothing"] is None and got["yes"] is True and got["n"] == 3 and got["x"] == 0.1
    assert got["dec"] == 1.5 and got["day"] == "2026-01-02" and got["text"] == 'a, "b"'
    assert datetime.fromisoformat(got["at"]) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert got["nested"] == {"k": [1, 2]} and got["list"] == [True, None]
