"""A quiet console for long commands: engine and Prefect logs go to a file, progress and results
to the terminal.

vLLM logs to stdout (its engine core, on a GPU, from a child process), Prefect to stderr, torch's
C++ code and tqdm bars straight to file descriptor 2. So the redirection happens at the file
descriptors: for the length of a command, fds 1 and 2 point at `<lake>/logs/<command>-<time>.log`
(child processes inherit that), while thresher's own consoles and progress bars write to
duplicates of the original terminal. `--verbose` tees both descriptors to the terminal and the
file instead. An unexpected error is written to the log with its traceback and surfaces as one
`error:` line with its causes and the log's path.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from thresher.schemas import ThresherError
from thresher.storage.location import parse_location

__all__ = ["CommandFailed", "Terminal", "captured_output", "log_dir", "quiet_command"]


class CommandFailed(ThresherError):
    """An unexpected error inside a command whose logs went to a file."""


@dataclass
class Terminal:
    """Text streams on the terminal as it was before the redirection, and the log's path."""

    stdout: TextIO
    stderr: TextIO
    log_path: Path


def log_dir(lake: str) -> Path:
    """Where a lake's command logs go: `<lake>/logs` (or ./thresher-logs for a remote lake)."""
    location = parse_location(lake)
    if location.catalog_file is not None:
        return location.catalog_file.parent / "logs"
    if "://" not in location.data_path:
        return Path(location.data_path) / "logs"
    return Path("thresher-logs").resolve()


def _stream(fd: int) -> TextIO:
    return io.TextIOWrapper(
        io.FileIO(os.dup(fd), "w"), encoding="utf-8", errors="replace", line_buffering=True
    )


def _on_fd(stream: TextIO, fd: int) -> bool:
    """Whether `stream` writes to file descriptor `fd` (not, say, a test runner's buffer)."""
    try:
        return stream.fileno() == fd
    except (AttributeError, OSError, ValueError):
        return False


def _tee(source: int, targets: Sequence[int]) -> threading.Thread:
    """Copy everything read from `source` to each target fd until EOF."""

    def pump() -> None:
        with contextlib.suppress(OSError):
            while chunk := os.read(source, 65536):
                for target in targets:
                    with contextlib.suppress(OSError):
                        os.write(target, chunk)
        os.close(source)

    thread = threading.Thread(target=pump, name=f"thresher-tee-{source}", daemon=True)
    thread.start()
    return thread


@contextlib.contextmanager
def captured_output(log_path: Path, *, verbose: bool = False) -> Iterator[Terminal]:
    """Point fds 1 and 2 at the log (or tee them to it, when verbose) for the block."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(log, f"== thresher {' '.join(sys.argv[1:])} (pid {os.getpid()}, "
                  f"{time.strftime('%Y-%m-%d %H:%M:%S %z')})\n".encode())  # fmt: skip
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = (os.dup(1), os.dup(2))
    # The terminal is what sys.stdout/stderr were: the saved descriptors, or an in-process
    # stream (a caller's capture) that the redirection does not touch and must not close.
    owned = [_stream(fd) if _on_fd(stream, n) else None
             for stream, fd, n in ((sys.stdout, saved[0], 1), (sys.stderr, saved[1], 2))]  # fmt: skip
    terminal = Terminal(owned[0] or sys.stdout, owned[1] or sys.stderr, log_path)
    tees: list[threading.Thread] = []
    try:
        for fd, original in ((1, saved[0]), (2, saved[1])):
            if verbose:
                read_end, write_end = os.pipe()
                os.dup2(write_end, fd)
                os.close(write_end)
                tees.append(_tee(read_end, (original, log)))
            else:
                os.dup2(log, fd)
        yield terminal
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for thread in tees:  # a child process still holding the pipe only delays EOF
            thread.join(timeout=5)
        if not any(thread.is_alive() for thread in tees):
            for fd in (*saved, log):  # else a pump still writes to them: a reused number would
                os.close(fd)  # send its bytes to whatever file was opened next

        for stream in owned:
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()


def _causes(exc: BaseException) -> str:
    parts: list[str] = []
    seen = {id(exc)}
    cause = exc.__cause__ or exc.__context__
    while cause is not None and id(cause) not in seen and len(parts) < 5:
        seen.add(id(cause))
        parts.append(f"\n  caused by {type(cause).__name__}: {cause}")
        cause = cause.__cause__ or cause.__context__
    return "".join(parts)


def _quiet_prefect_console() -> None:
    """Keep Prefect's INFO lines off the terminal after the block too: its temporary server
    logs its shutdown at interpreter exit, through the console handler on the root logger."""
    handlers = sys.modules.get("prefect.logging.handlers")
    if handlers is None:
        return
    loggers = [logging.getLogger()] + [
        logging.getLogger(name)
        for name in list(logging.root.manager.loggerDict)
        if name.split(".")[0] in ("prefect", "uvicorn", "fastapi")
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, handlers.PrefectConsoleHandler):
                handler.setLevel(max(handler.level, logging.WARNING))


@contextlib.contextmanager
def quiet_command(
    lake: str, command: str, consoles: Sequence[Any], *, verbose: bool = False
) -> Iterator[Terminal]:
    """Run a CLI command's body with its logs in `<lake>/logs`, its consoles on the terminal."""
    from thresher.stages import progress

    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = log_dir(lake) / f"{command}-{stamp}-{os.getpid()}.log"
    with captured_output(path, verbose=verbose) as terminal:
        saved = [(c, c._file) for c in consoles]  # rich Console: None = sys.stdout/stderr
        for console in consoles:
            console.file = terminal.stderr if console.stderr else terminal.stdout
        previous = progress.set_display(_display(terminal))
        more = "" if verbose else "; --verbose also shows them here"
        terminal.stderr.write(f"engine and Prefect logs: {path}{more}\n")
        try:
            yield terminal
        except (ThresherError, KeyboardInterrupt):
            raise
        except Exception as exc:
            sys.stderr.flush()
            with open(path, "a", encoding="utf-8") as log:
                traceback.print_exc(file=log)
            raise CommandFailed(
                f"{type(exc).__name__}: {exc}{_causes(exc)}",
                hint=f"the full log, with the traceback, is {path}",
            ) from None
        finally:
            progress.set_display(previous)
            for console, file in saved:
                console.file = file
            if not verbose:
                _quiet_prefect_console()


def _display(terminal: Terminal) -> Any:
    from rich.console import Console

    return Console(file=terminal.stderr)
