"""`thresher diff` and `thresher report` on a lake with two versions; their failure modes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from typer.testing import CliRunner

from thresher.cli import app
from thresher.report import build_report
from thresher.storage import Lake

from .conftest import ReportLake  # type: ignore[import-not-found]

runner = CliRunner()


def _expected(lake: ReportLake) -> list[dict[str, str | None]]:
    """Exactly what the fixture changed between the versions (see conftest)."""
    rows = [
        {"level": "trace", "subject_id": t, "change": "added",
         "old_reason": "flawed_positive:arith_step_check", "new_reason": "selected"}
        for t in lake.flawed
    ] + [
        {"level": "trace", "subject_id": lake.new_trace, "change": "added", "old_reason": None,
         "new_reason": "selected"},
        {"level": "trace", "subject_id": lake.flawed_twice, "change": "changed",
         "old_reason": "flawed_positive:arith_step_check",
         "new_reason": "flawed_positive:operand_origin"},
    ]  # fmt: skip
    return sorted(rows, key=lambda r: str(r["subject_id"]))


def test_diff_json_shows_exactly_the_changes_made(report_lake: ReportLake) -> None:
    result = runner.invoke(
        app, ["diff", report_lake.v1, report_lake.v2, "-f", "json", "--lake", str(report_lake.path)]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["old"]["version"] == "rep-v1" and out["new"]["version"] == "rep-v2"
    assert out["old"]["snapshot_id"] < out["new"]["snapshot_id"]
    assert out["subjects"] == _expected(report_lake)
    assert out["changes"] == [
        {"level": "trace", "from": "flawed_positive:arith_step_check", "to": "selected",
         "count": 2},
        {"level": "trace", "from": "(not decided)", "to": "selected", "count": 1},
        {"level": "trace", "from": "flawed_positive:arith_step_check",
         "to": "flawed_positive:operand_origin", "count": 1},
    ]  # fmt: skip
    summary = out["summary"]
    assert summary["traces_added"] == 3 and summary["traces_changed"] == 1
    assert summary["traces_removed"] == summary["problems_added"] == 0
    assert summary["traces_unchanged"] == 7 and summary["problems_unchanged"] == 3


def test_diff_csv_and_the_reverse_direction(report_lake: ReportLake) -> None:
    result = runner.invoke(
        app, ["diff", report_lake.v2, report_lake.v1, "-f", "csv", "--lake", str(report_lake.path)]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    by_id = {r["subject_id"]: r for r in rows}
    assert set(by_id) == {r["subject_id"] for r in _expected(report_lake)}
    assert by_id[report_lake.new_trace]["change"] == "removed"
    assert by_id[report_lake.new_trace]["new_reason"] == ""  # not decided by rep-v1
    assert all(by_id[t]["change"] == "removed" for t in report_lake.flawed)


def test_diff_table_and_errors(report_lake: ReportLake) -> None:
    lake = str(report_lake.path)
    table = runner.invoke(app, ["diff", "rep-v1", "rep-v2", "--lake", lake])
    assert table.exit_code == 0, table.output
    flat = " ".join(table.stdout.split())
    assert "traces added │ 3" in flat and report_lake.new_trace[:8] in table.stdout
    same = runner.invoke(app, ["diff", "rep-v1", "rep-v1", "--lake", lake])
    assert "no subject changed its reason code" in same.stdout
    bad = runner.invoke(app, ["diff", "rep-v1", "nope", "--lake", lake])
    assert bad.exit_code != 0 and "no version named 'nope'" in str(bad.exception)
    fmt = runner.invoke(app, ["diff", "rep-v1", "rep-v2", "-f", "xml", "--lake", lake])
    assert fmt.exit_code != 0 and "unknown format 'xml'" in str(fmt.exception)


def test_report_command_writes_the_file_and_says_where(
    report_lake: ReportLake, tmp_path: Path
) -> None:
    out = tmp_path / "sub" / "r.html"
    result = runner.invoke(
        app, ["report", "--version", "rep-v1", "-o", str(out), "--lake", str(report_lake.path)]
    )
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())
    assert f"report of rep-v1: {out}" in flat and "traces in the browser" in flat
    html = out.read_text()
    assert "<title>thresher report — rep-v1</title>" in html
    assert "first version: nothing to compare with" in html  # rep-v1 has no version before it
    assert not list(out.parent.glob(".report-*"))  # no temp file left behind


def test_report_is_reproducible_and_bounded(report_lake: ReportLake) -> None:
    with Lake.open(report_lake.path, read_only=True) as lake:
        one, _, sample, other = build_report(lake, "rep-v2")
        two = build_report(lake, "rep-v2")[0]
        small, _, few, _ = build_report(lake, "rep-v2", per_group=1, max_chars=20)
    assert one == two and other is not None and other.name == "rep-v1"
    assert len(sample.traces) == 10
    assert sample.totals == {"selected": 6, "flawed_positive": 1, "incorrect": 3}
    assert len(few.traces) == 3 and all(len(t.text) <= 20 for t in few.traces)
    assert "showing the first 20 of" in small and len(small) < len(one)


def test_report_errors_name_the_problem(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    Lake.open(empty).close()
    result = runner.invoke(app, ["report", "--lake", str(empty), "-o", str(tmp_path / "r.html")])
    assert result.exit_code != 0 and "the lake has no versions yet" in str(result.exception)
    with Lake.open(empty) as lake:
        lake.tag("by-hand")
    manual = runner.invoke(app, ["report", "--lake", str(empty), "-o", str(tmp_path / "r.html")])
    assert manual.exit_code != 0
    assert "version 'by-hand' was tagged by hand and holds no decisions" in str(manual.exception)
    diff = runner.invoke(app, ["diff", "by-hand", "by-hand", "--lake", str(empty)])
    assert "tagged by hand" in str(diff.exception)
    missing = runner.invoke(app, ["report", "--lake", str(tmp_path / "nowhere")])
    assert missing.exit_code != 0 and "no lake at" in str(missing.exception)
    assert not (tmp_path / "r.html").exists()
