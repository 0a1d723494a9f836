"""The HTML report of a dataset version: figures, a trace browser and the diff to the version
before it, rendered from what the lake holds at the version's snapshot (read-only)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from thresher.report.data import Figures, collect_figures
from thresher.report.diff import VersionDiff, diff_versions
from thresher.report.page import render_page
from thresher.report.traces import TraceSample, sample_traces
from thresher.report.versions import VersionRef, resolve_version
from thresher.storage import Lake

__all__ = [
    "Figures",
    "ReportResult",
    "TraceSample",
    "VersionDiff",
    "VersionRef",
    "build_report",
    "diff_versions",
    "previous_version",
    "resolve_version",
    "write_html",
    "write_report",
]


@dataclass(frozen=True)
class ReportResult:
    """Where a report was written and what it holds."""

    path: Path
    version: str
    bytes: int
    traces_shown: int
    compared_to: str | None


def previous_version(lake: Lake, version: VersionRef) -> VersionRef | None:
    """The version tagged before this one by the same recipe (any, for untagged recipes)."""
    names = [v.name for v in lake.versions()]
    recipe = version.note.get("recipe")
    for name in reversed(names[: names.index(version.name)]):
        earlier = resolve_version(lake, name)
        if earlier.run_id and (recipe is None or earlier.note.get("recipe") == recipe):
            return earlier
    return None


def build_report(
    lake: Lake,
    version: str | None = None,
    *,
    per_group: int = 30,
    max_chars: int = 20_000,
    compare_to: str | None = None,
) -> tuple[str, VersionRef, TraceSample, VersionRef | None]:
    """The report's HTML for a version (default: the newest) and what it was made from."""
    ref = resolve_version(lake, version, decided=True)
    figures = collect_figures(lake, ref)
    sample = sample_traces(lake, ref, per_group=per_group, max_chars=max_chars)
    other = (
        resolve_version(lake, compare_to, decided=True)
        if compare_to
        else previous_version(lake, ref)
    )
    diff = diff_versions(lake, other, ref) if other is not None else None
    return render_page(ref, figures, sample, diff), ref, sample, other


def write_report(
    lake: Lake,
    out: str | Path,
    version: str | None = None,
    *,
    per_group: int = 30,
    max_chars: int = 20_000,
    compare_to: str | None = None,
) -> ReportResult:
    """Render a version's report and write it atomically to `out` (a temp file renamed)."""
    html, ref, sample, other = build_report(
        lake, version, per_group=per_group, max_chars=max_chars, compare_to=compare_to
    )
    path = write_html(out, html)
    size = len(html.encode("utf-8"))
    return ReportResult(path, ref.name, size, len(sample.traces), other.name if other else None)


def write_html(out: str | Path, html: str) -> Path:
    """Write a report atomically: a temp file in the same folder, renamed over `out`."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(html.encode("utf-8"))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
