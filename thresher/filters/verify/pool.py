"""A process pool with per-item time limits: a worker stuck on an item is killed and replaced.

Workers are forked from a forkserver that has math-verify imported, so a replacement starts
in milliseconds. Items go out in chunks; a worker reports each item as it finishes, so the
parent knows which item a worker is on and since when. An overdue worker is killed with
SIGKILL (signals inside math-verify cannot interrupt big-integer or C-level work): its current
item gets ``timeout``, the rest of its chunk goes back to the queue. "Overdue" means the item
used its limit in CPU time, or WALL_FACTOR times its limit in wall time. A worker that dies on its
own (segfault, killed by something else) gives its current item ``runtime_error``.

Workers die with the forkserver (``PR_SET_PDEATHSIG``), which exits with the main process, so a
killed ``thresher`` leaves none behind; a forkserver that died is restarted on the next start.
When code items are present, ``run`` first admits the sandbox's isolation mode (reporting it,
refusing the weak mode unless accepted) before any program runs.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import select
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from thresher.filters.sandbox import admit_code_execution
from thresher.filters.verify.types import Outcome, VerifyItem
from thresher.filters.verify.worker import worker_main

__all__ = ["VerifyPool", "Task"]

_PRELOAD = ["thresher.filters.verify.warmup"]  # math-verify loaded and exercised once


WALL_FACTOR = 3.0
_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (0.0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def _runs_code(verifier: str) -> bool:
    from thresher.filters.verify.registry import get_verifier
    from thresher.schemas.errors import NotFoundError

    try:
        return get_verifier(verifier).kind == "code"
    except NotFoundError:
        return False


@dataclass
class Task:
    """One item for a worker: its index in the caller's list, verifier and time limit."""

    index: int
    verifier: str
    timeout_s: float
    item: VerifyItem


@dataclass
class _Worker:
    proc: Any
    conn: Connection
    pidfd: int  # liveness from the kernel: the forkserver's report is lost if it dies
    inflight: deque[Task] = field(default_factory=deque)
    head_since: float = 0.0
    head_cpu: float = 0.0
    check_at: float = 0.0
    ready: bool = False


class VerifyPool:
    """Run verifier checks in worker processes, each item under its own time limit."""

    def __init__(
        self,
        workers: int = 2,
        memory_mb: int = 4096,
        chunk: int = 16,
        *,
        allow_weak_sandbox: bool = False,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.size = workers
        self.memory_mb = memory_mb
        self.chunk = chunk
        self.allow_weak_sandbox = allow_weak_sandbox
        self._admitted = False
        self._start_failures = 0
        self._ctx = mp.get_context("forkserver")
        self._workers: list[_Worker] = []
        self._queue: deque[Task] = deque()
        self._warm = False
        self._starter: threading.Thread | None = None
        self.replaced = 0

    def prestart(self, warm: bool) -> None:
        """Start the workers in the background (``warm``: with math-verify loaded), so their
        start-up overlaps the caller's own work; ``run`` waits for them."""
        if self._starter is not None or self._workers:
            return
        self._warm = warm
        if warm:
            self._ctx.set_forkserver_preload(_PRELOAD)

        def start() -> None:
            for _ in range(self.size):
                self._workers.append(self._spawn())

        self._starter = threading.Thread(target=start, name="verify-pool-start", daemon=True)
        self._starter.start()

    def __enter__(self) -> VerifyPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=worker_main, args=(child, self.memory_mb, self._warm), daemon=True
        )
        proc.start()
        child.close()
        assert proc.pid is not None  # started
        try:
            pidfd = os.pidfd_open(proc.pid)
        except ProcessLookupError:  # gone already: a pipe at EOF reads as "exited"
            pidfd, w = os.pipe()
            os.close(w)
        return _Worker(proc, parent, pidfd)

    @staticmethod
    def _alive(worker: _Worker) -> bool:
        return not select.select([worker.pidfd], [], [], 0)[0]

    def _retire(self, worker: _Worker, kill: bool) -> None:
        if kill and self._alive(worker):
            with contextlib.suppress(OSError):  # by pidfd: a reused pid is never hit
                signal.pidfd_send_signal(worker.pidfd, signal.SIGKILL)
        select.select([worker.pidfd], [], [], 5)
        worker.proc.join(timeout=1)
        worker.conn.close()
        os.close(worker.pidfd)
        self._workers.remove(worker)

    def close(self) -> None:
        """Stop every worker."""
        if self._starter is not None:
            self._starter.join()
            self._starter = None
        for worker in list(self._workers):
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        stop = time.monotonic() + 2
        for worker in list(self._workers):
            select.select([worker.pidfd], [], [], max(0.0, stop - time.monotonic()))
            self._retire(worker, kill=True)

    def run(
        self, tasks: Iterable[Task], on_result: Callable[[int, Outcome], None] | None = None
    ) -> dict[int, Outcome]:
        """Check every task; returns outcomes by task index (calls on_result as they come)."""
        if self._starter is not None:
            self._starter.join()
            self._starter = None
        queue: deque[Task] = deque(tasks)
        self._queue = queue
        if not self._admitted and any(_runs_code(t.verifier) for t in queue):
            # Before any program runs: report the isolation mode, refuse a weak one unless the
            # user accepted it (raises WeakSandboxError).
            admit_code_execution(self.allow_weak_sandbox)
            self._admitted = True
        if not self._workers:
            self._warm = any(t.verifier.startswith("math") for t in queue)
        if self._warm:
            # Only matters before the forkserver starts: then every worker forks warm.
            self._ctx.set_forkserver_preload(_PRELOAD)
        total = len(queue)
        results: dict[int, Outcome] = {}

        def done(task: Task, outcome: Outcome) -> None:
            results[task.index] = outcome
            if on_result is not None:
                on_result(task.index, outcome)

        while len(results) < total:
            while len(self._workers) < min(self.size, max(1, len(queue))) and queue:
                self._workers.append(self._spawn())
            now = time.monotonic()
            for worker in list(self._workers):
                if worker.ready and not worker.inflight and queue:
                    per = max(1, min(self.chunk, len(queue) // (2 * len(self._workers)) or 1))
                    chunk = [queue.popleft() for _ in range(min(per, len(queue)))]
                    try:
                        worker.conn.send(
                            [(t.index, t.verifier, t.timeout_s, t.item) for t in chunk]
                        )
                    except OSError:  # died while idle (its forkserver was killed): start another
                        queue.extendleft(reversed(chunk))
                        self._retire(worker, kill=True)
                        continue
                    worker.inflight.extend(chunk)
                    self._start_head(worker, now)
            busy = [w for w in self._workers if w.inflight or not w.ready]
            if not busy:
                if queue:  # a worker was retired before taking work: start a replacement
                    continue
                break
            timed = [w for w in busy if w.inflight]
            deadline = min((w.check_at for w in timed), default=None)
            waitables: list[Any] = [w.conn for w in busy] + [w.pidfd for w in busy]
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            wait(waitables, timeout=left)
            for worker in busy:
                if not worker.ready:
                    self._await_ready(worker)
                else:
                    self._drain(worker, done)
        return results

    @staticmethod
    def _start_head(worker: _Worker, now: float) -> None:
        worker.head_since = now
        worker.head_cpu = _cpu_seconds(worker.proc.pid)
        if worker.inflight:
            worker.check_at = now + worker.inflight[0].timeout_s

    @staticmethod
    def _overdue(worker: _Worker, limit: float) -> bool:
        """Over the limit in CPU time, or over WALL_FACTOR times it in wall time.

        Counting CPU time keeps a busy machine (other jobs, a loaded CI box) from turning slow
        but finite items into timeouts; the wall cap still ends items that hang without CPU."""
        now = time.monotonic()
        if now < worker.check_at:
            return False
        wall = now - worker.head_since
        used = _cpu_seconds(worker.proc.pid) - worker.head_cpu
        if used >= limit or wall >= WALL_FACTOR * limit:
            return True
        worker.check_at = now + max(
            0.05, min(limit - used, worker.head_since + WALL_FACTOR * limit - now)
        )
        return False

    def _await_ready(self, worker: _Worker) -> None:
        """A new worker says 'ready' once warm; start-up never counts against an item."""
        try:
            if worker.conn.poll():
                worker.ready = worker.conn.recv() == "ready"
                self._start_failures = 0
                return
        except (EOFError, OSError):
            pass
        if not self._alive(worker):
            self._retire(worker, kill=False)
            self._start_failures += 1
            if self._start_failures >= 3:  # once may be a killed forkserver (restarted on demand)
                raise RuntimeError(f"verifier worker failed to start (exit {worker.proc.exitcode})")

    def _drain(self, worker: _Worker, done: Callable[[Task, Outcome], None]) -> None:
        """Collect finished items; handle a dead or overdue worker."""
        died = False
        try:
            while worker.inflight and worker.conn.poll():
                index, outcome = worker.conn.recv()
                task = worker.inflight.popleft()
                assert task.index == index
                done(task, outcome)
                self._start_head(worker, time.monotonic())
        except (EOFError, OSError):
            died = True
        if not worker.inflight:
            return
        head = worker.inflight[0]
        overdue = self._overdue(worker, head.timeout_s)
        if not (died or overdue or not self._alive(worker)):
            return
        if overdue and not died and self._alive(worker):
            outcome = Outcome("timeout", reason=f"time limit ({head.timeout_s:g} s)")
        else:
            worker.proc.join(timeout=1)
            code = worker.proc.exitcode
            outcome = Outcome("runtime_error", reason=f"verifier worker died (exit {code})")
        outcome.elapsed_s = time.monotonic() - worker.head_since
        worker.inflight.popleft()
        done(head, outcome)
        rest = list(worker.inflight)
        worker.inflight.clear()
        self._retire(worker, kill=True)
        self.replaced += 1
        # The unfinished rest of the chunk is run again by another (or a fresh) worker.
        self._queue.extendleft(reversed(rest))
