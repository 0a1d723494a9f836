"""The worker process side of the verification pool: import heavy libraries once, loop."""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import signal
import time
from multiprocessing.connection import Connection

from thresher.filters.verify.types import Outcome, VerifyItem

__all__ = ["worker_main", "run_one", "preload"]


def preload() -> None:
    """Import math-verify (sympy, ANTLR) once, so forked workers start warm."""
    import logging

    import math_verify  # noqa: F401

    logging.getLogger("math_verify").setLevel(logging.ERROR)


def run_one(name: str, timeout_s: float, item: VerifyItem) -> Outcome:
    """Check one item with the named verifier; errors become statuses, never exceptions."""
    from thresher.filters.verify.registry import get_verifier

    start = time.perf_counter()
    try:
        out = get_verifier(name, timeout_s).check(item)
    except MemoryError:
        out = Outcome("memory_limit", reason="verifier ran out of memory")
    except RecursionError:
        out = Outcome("runtime_error", reason="input nested too deeply")
    except Exception as exc:  # a verifier bug must not kill the run; it is reported per item
        out = Outcome("runtime_error", reason=f"{type(exc).__name__}: {str(exc)[:200]}")
    out.elapsed_s = time.perf_counter() - start
    return out


def _bind_to_main() -> None:
    """Die with the main process, even mid-item (a C-level computation holds the GIL, so no
    thread could notice): a watcher child waits on a pidfd of the main process and SIGKILLs
    this worker when it exits; the watcher dies with the worker. Tied to the main process, not
    to the forkserver (nor to its liveness pipe, which is closed when a dead forkserver is
    restarted), so a forkserver that dies takes no item with it. Not dumpable: a program in the
    basic mode, running as our uid, cannot read this process's environment or memory."""
    import select

    from thresher.filters.sandbox.syscalls import PR_SET_DUMPABLE, PR_SET_PDEATHSIG, prctl

    prctl(PR_SET_DUMPABLE, 0)
    parent = mp.parent_process()
    if parent is None or parent.pid is None:
        return
    try:
        main = os.pidfd_open(parent.pid)
    except OSError:
        os._exit(0)  # the main process is gone already
    if not parent.is_alive():
        os._exit(0)  # pid reused: the main process is gone
    worker = os.getpid()
    if os.fork() != 0:
        os.close(main)
        return
    try:  # the watcher: holds nothing of the worker open but the pidfd
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if os.getppid() == worker:
            os.closerange(0, main)
            os.closerange(main + 1, max(os.sysconf("SC_OPEN_MAX"), 1024))
            while not select.select([main], [], [])[0]:
                pass
            os.kill(worker, signal.SIGKILL)
    finally:
        os._exit(0)


def worker_main(conn: Connection, memory_mb: int, warm: bool) -> None:
    """Receive chunks of (index, verifier, timeout, item); send one result per item."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _bind_to_main()
    if memory_mb > 0:
        limit = memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if warm:
        preload()  # a no-op when forked from the warm forkserver
    conn.send("ready")
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, OSError):
            return
        if chunk is None:
            return
        for index, name, timeout_s, item in chunk:
            conn.send((index, run_one(name, timeout_s, item)))
