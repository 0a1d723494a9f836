"""What the ``thresher verify`` command does, as plain functions (progress on stderr)."""

from __future__ import annotations

import os
import signal
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from thresher.filters.verify.jsonl import MAX_LINE_BYTES, check_input, verify_jsonl
from thresher.pipeline.outputs import atomic_text_output

__all__ = ["verify_file", "verify_lake", "count_lines", "terminate_cleanly"]


def count_lines(path: str | Path) -> int | None:
    """Lines of a regular file as the JSONL contract counts them (None for pipes, FIFOs, stdin).

    Only a regular file is counted (one cheap pass over its bytes): anything else can be read
    only once, and that read belongs to the verifier.
    """
    try:
        if str(path) == "-" or not stat.S_ISREG(os.stat(path).st_mode):
            return None
        lines, last = 0, b"\n"
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
        return lines + (last != b"\n")
    except OSError:
        return None


def _progress(console: Console, label: str) -> Progress:
    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    )  # fmt: skip


@contextmanager
def terminate_cleanly() -> Iterator[None]:
    """SIGTERM ends the command like Ctrl-C: temporary outputs removed, workers stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def verify_file(
    input_path: str,
    output: str | None,
    *,
    workers: int,
    timeout_s: float,
    console: Console,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> dict[str, int]:
    """Verify a JSONL file into OUT (or stdout); prints a status summary on the console.

    OUT is replaced only when every line is done: until then the results go to a temporary
    file beside it, so a crash or an error keeps the previous OUT.
    """
    check_input(input_path)  # a clear error before anything is created (never opens a FIFO)
    show = console.is_terminal
    total = count_lines(input_path) if show else None
    with (
        terminate_cleanly(),
        atomic_text_output(output) as sink,
        _progress(console, "verify") as bar,
    ):
        task = bar.add_task("verify", total=total, visible=show)
        counts = verify_jsonl(
            input_path,
            sink,
            workers=workers,
            timeout_s=timeout_s,
            max_line_bytes=max_line_bytes,
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
