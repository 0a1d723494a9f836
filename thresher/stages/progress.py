"""Progress on long work, drawn on stderr: a counted bar per stage, generation's bar
(prompts/s, output tokens/s, ETA), and the line counting and clean termination of the
file commands."""

from __future__ import annotations

import os
import signal
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "HEARTBEAT_S",
    "GenerationProgress",
    "count_lines",
    "counted_progress",
    "display",
    "progress_bar",
    "set_display",
    "terminate_cleanly",
]

_DISPLAY: Any = None  # a rich Console set by the CLI (the terminal, while logs go to a file)


def set_display(console: Any) -> Any:
    """Draw progress on this rich Console (None: stderr); returns the previous one."""
    global _DISPLAY
    previous, _DISPLAY = _DISPLAY, console
    return previous


def display() -> Any:
    """The rich Console progress is drawn on."""
    if _DISPLAY is not None:
        return _DISPLAY
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def progress_bar(
    description: str, total: int, enabled: bool = True
) -> Iterator[Callable[..., None]]:
    """Yields ``advance(n=1)``; draws nothing when disabled."""
    if not enabled:
        yield lambda n=1: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=display(),
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


# Where no bar is drawn, a line at least this often while a batch runs: one batch of the embedded
# model on a CPU takes minutes (`make demo` printed nothing for three before this).
HEARTBEAT_S = 30.0


class GenerationProgress:
    """Rich progress bar on a terminal; otherwise (logs, CI, pipes) one plain line per batch and
    a line every `heartbeat_s` while a batch is still running."""

    def __init__(
        self,
        total: int,
        *,
        enabled: bool = True,
        description: str = "generate",
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self.total = total
        self.enabled = enabled
        self.description = description
        self.heartbeat_s = heartbeat_s
        self.done = 0
        self.tokens = 0
        self._start = 0.0
        self._progress: Any = None
        self._task: Any = None
        self._console: Any = None
        self._write_lock = threading.Lock()
        self._last_line = 0.0
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def __enter__(self) -> GenerationProgress:
        self._start = time.perf_counter()
        self._console = display()
        if self.enabled and self._console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rates]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self._console,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total, rates="")
        elif self.enabled:
            self._last_line = self._start
            self._heartbeat = threading.Thread(
                target=self._beat, name="thresher-progress", daemon=True
            )
            self._heartbeat.start()
        return self

    def _line(self, text: str) -> None:
        # Through the console's file, not print(): Prefect's log_prints would log a print.
        with self._write_lock:
            file = self._console.file
            file.write(f"{self.description}: {text}\n")
            file.flush()
            self._last_line = time.perf_counter()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s / 4):
            now = time.perf_counter()
            if now - self._last_line >= self.heartbeat_s:
                self._line(
                    f"{self.done}/{self.total} prompts, {now - self._start:.0f}s elapsed, "
                    "a batch is running"
                )

    def rates(self) -> tuple[float, float, float | None]:
        """(prompts/s, output tokens/s, ETA seconds or None) so far."""
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        pps = self.done / elapsed
        eta = (self.total - self.done) / pps if pps > 0 else None
        return pps, self.tokens / elapsed, eta

    def advance(self, prompts: int, tokens: int) -> None:
        """Record a finished batch."""
        self.done += prompts
        self.tokens += tokens
        pps, tps, eta = self.rates()
        text = f"{pps:.2f} prompts/s {tps:.1f} tok/s"
        if self._progress is not None:
            self._progress.update(self._task, advance=prompts, rates=text)
        elif self.enabled:
            eta_text = f"{eta:.0f}s" if eta is not None else "?"
            self._line(f"{self.done}/{self.total} prompts, {text}, ETA {eta_text}")

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
        if self._heartbeat is not None:
            self._stop.set()
            self._heartbeat.join()


@contextmanager
def counted_progress(
    console: Any, description: str, total: int | None, *, visible: bool = True
) -> Iterator[Callable[[int], None]]:
    """A transient counted bar on `console` (total None: unknown); yields ``advance(n)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task(description, total=total, visible=visible)
        yield lambda n: bar.update(task, advance=n)


def count_lines(path: str | Path) -> int | None:
    """Lines of a regular file as the JSONL contract counts them (None for pipes, FIFOs, stdin).

    Only a regular file is counted (one cheap pass over its bytes): anything else can be read
    only once, and that read belongs to the command.
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


@contextmanager
def terminate_cleanly() -> Iterator[None]:
    """SIGTERM ends a command like Ctrl-C: temporary outputs removed, workers stopped."""
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
