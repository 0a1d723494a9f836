"""What the ``thresher verify`` command does, as plain functions (progress on stderr)."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from thresher.filters.verify.jsonl import verify_jsonl
from thresher.schemas.errors import InputError

__all__ = ["verify_file", "verify_lake", "count_lines"]


def count_lines(path: Path) -> int | None:
    """Non-blank lines of a file, for the progress bar (None if unreadable)."""
    try:
        with path.open("rb") as fh:
            return sum(1 for line in fh if line.strip())
    except OSError:
        return None


def _progress(console: Console, label: str) -> Progress:
    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    )  # fmt: skip


def verify_file(
    input_path: str, output: str | None, *, workers: int, timeout_s: float, console: Console
) -> dict[str, int]:
    """Verify a JSONL file into OUT (or stdout); prints a status summary on the console."""
    path = Path(input_path)
    if not path.exists():
        raise InputError("no such file", source=input_path, hint="check the path")
    total = count_lines(path)
    sink: IO[str]
    opened = open(output, "w", encoding="utf-8") if output else None  # noqa: SIM115
    sink = opened or sys.stdout
    show = console.is_terminal
    with opened or nullcontext(), _progress(console, "verify") as bar:
        task = bar.add_task("verify", total=total, visible=show)
        counts = verify_jsonl(
            path,
            sink,
            workers=workers,
            timeout_s=timeout_s,
            on_done=lambda n: bar.update(task, advance=n),
        )
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    console.print(f"verified {sum(counts.values())} lines: {summary}", highlight=False)
    return counts


def verify_lake(
    lake: str, problems: str, *, workers: int, timeout_s: float, console: Console
) -> None:
    """Verify every unverified rollout of a problem set, then store its pass-rate statistics."""
    from thresher.flows.verify_lake import verify_problem_set
    from thresher.storage import Lake

    with Lake.open(lake) as opened, _progress(console, "verify") as bar:
        task = bar.add_task("verify", total=None)
        report = verify_problem_set(
            opened,
            problems,
            workers=workers,
            timeout_s=timeout_s,
            on_done=lambda n: bar.update(task, advance=n),
        )
    console.print(report.summary(), highlight=False)
