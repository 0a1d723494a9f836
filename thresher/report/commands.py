"""`thresher report` and `thresher diff`: a few lines each over the report package."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.table import Table

from thresher.report import diff_versions, write_report
from thresher.schemas import InputError
from thresher.storage import Lake

__all__ = ["diff_command", "report_command"]


def report_command(
    lake: str,
    version: str | None,
    out: str,
    *,
    samples: int,
    compare_to: str | None,
    console: Console,
) -> None:
    """Write the HTML report of a version and say where it is."""
    if samples < 0:
        raise InputError("must be 0 or more", field="--samples")
    with Lake.open(lake, read_only=True) as opened:
        result = write_report(opened, out, version, per_group=samples, compare_to=compare_to)
    compared = f", compared with {result.compared_to}" if result.compared_to else ""
    console.print(
        f"report of {result.version}: {result.path} ({result.bytes / 1024:,.0f} KiB, "
        f"{result.traces_shown} traces in the browser{compared})",
        highlight=False,
        soft_wrap=True,
    )


def diff_command(lake: str, old: str, new: str, fmt: str, *, limit: int, console: Console) -> None:
    """Print what changed between two versions as a table, CSV or JSON."""
    if fmt not in ("table", "csv", "json"):
        raise InputError(f"unknown format {fmt!r}; use table, csv or json", field="--format")
    with Lake.open(lake, read_only=True) as opened:
        diff = diff_versions(opened, old, new)
    if fmt == "csv":
        sys.stdout.write(diff.frame().write_csv())
        return
    if fmt == "json":
        sys.stdout.write(json.dumps(diff.as_json(), indent=1) + "\n")
        return
    console.print(
        f"{diff.old.name} (snapshot {diff.old.snapshot_id}) -> {diff.new.name} "
        f"(snapshot {diff.new.snapshot_id})",
        highlight=False,
    )
    summary = Table("change", "count", header_style="bold", title="summary")
    for key, n in diff.summary().items():
        summary.add_row(key.replace("_", " "), str(n))
    console.print(summary)
    changes = Table("level", "from", "to", "count", header_style="bold", title="reason changes")
    for column in changes.columns[1:3]:
        column.overflow = "fold"
    for c in diff.changes():
        changes.add_row(c["level"], c["from"], c["to"], str(c["count"]))
    console.print(changes if diff.rows else "no subject changed its reason code")
    if not diff.rows or limit == 0:
        return
    listed = Table("level", "change", "subject", "from", "to", header_style="bold",
                   title="changed subjects")  # fmt: skip
    for column in listed.columns[2:]:
        column.overflow = "fold"
    for r in diff.rows[:limit]:
        listed.add_row(r.level, r.change, r.subject_id, r.old_reason or "(not decided)",
                       r.new_reason or "(not decided)")  # fmt: skip
    console.print(listed)
    if len(diff.rows) > limit:
        console.print(f"{len(diff.rows) - limit} more; --format csv lists every one", style="dim")
