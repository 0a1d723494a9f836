"""The report is written beside each export, linked from its card, and uploaded with it."""

from __future__ import annotations

from pathlib import Path

from thresher.report import build_report
from thresher.stages.export import export_version
from thresher.storage import Lake

from .conftest import ReportLake  # type: ignore[import-not-found]


def test_export_folder_holds_the_versions_report(report_lake: ReportLake, tmp_path: Path) -> None:
    with Lake.open(report_lake.path, read_only=True) as lake:
        result = export_version(lake, "rep-v1", "sft", tmp_path / "sft")
        expected = build_report(lake, "rep-v1")[0]
    report = result.out / "report.html"
    assert report.read_text(encoding="utf-8") == expected
    card = (result.out / "README.md").read_text()
    assert "## Report" in card and "[report.html](report.html)" in card
    names = sorted(p.name for p in result.out.iterdir())
    assert names == [".thresher-export.json", "README.md", "data", "report.html"]
