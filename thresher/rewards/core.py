"""Score responses with thresher's verifiers, under their per-item process-level time limits.

A `RewardScorer` owns one `VerifyPool` per process, created on first use: cheap checks (an
extracted number against the gold) run in the caller's process, the rest (math-verify, code in
the sandbox) in worker processes that are killed when an item overruns its limit. Calls from
several threads (verl scores in an executor) share the pool one at a time.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from thresher.filters.verify import Outcome, VerifyItem, VerifyPool, verify_items
from thresher.filters.verify.registry import DEFAULT_FOR_KIND, RETIRED

__all__ = ["RewardItem", "RewardScorer", "completion_text", "default_scorer", "verifier_name"]


@dataclass(frozen=True)
class RewardItem:
    """One response to score against its ground truth (a gold answer, or code tests as JSON)."""

    response: str
    ground_truth: str | None
    kind: str = "math"
    verifier: str | None = None  # a registered name; None: the default for `kind`


def verifier_name(kind: str, verifier: str | None) -> str:
    """The verifier to use: the one named (a retired name maps to its successor, options
    kept), else the default for the problem kind (math for an unknown kind)."""
    if verifier:
        base, sep, options = verifier.partition(":")
        return RETIRED.get(base, base) + sep + options
    return DEFAULT_FOR_KIND.get(kind, DEFAULT_FOR_KIND["math"])


def completion_text(completion: Any) -> str:
    """The text of a completion as trainers pass it: a string, or a list of chat messages
    (the assistant messages' contents, joined)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return str(completion.get("content") or "")
    if isinstance(completion, Sequence):
        parts = [
            completion_text(m)
            for m in completion
            if not isinstance(m, Mapping) or m.get("role", "assistant") == "assistant"
        ]
        return "\n".join(p for p in parts if p)
    return "" if completion is None else str(completion)


def _verify_item(index: int, item: RewardItem) -> VerifyItem:
    name = verifier_name(item.kind, item.verifier)
    if name.startswith("code"):  # tests as JSON text; bad tests come back as invalid input
        tests: Any = item.ground_truth  # parse_tests reads JSON text (as the lake stores it)
        return VerifyItem(str(index), "code", item.response, tests=tests)
    return VerifyItem(str(index), item.kind, item.response, gold=item.ground_truth)


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start verifier processes without re-running the caller's script.

    multiprocessing's forkserver imports the main script into new processes, and training
    scripts (verl, TRL, notebooks turned scripts) rarely have an ``if __name__ ==
    "__main__"`` guard: the workers would start training again. They need nothing from it (their
    work and results are thresher's own types), so the main module's file and spec are hidden
    while the pool starts or replaces a worker.
    """
    main = sys.modules.get("__main__")
    saved: dict[str, Any] = {
        k: main.__dict__[k] for k in ("__file__", "__spec__") if main and k in main.__dict__
    }
    try:
        if main is not None:
            main.__dict__.pop("__file__", None)
            if "__spec__" in saved:
                main.__dict__["__spec__"] = None
        yield
    finally:
        if main is not None:
            main.__dict__.update(saved)


class RewardScorer:
    """Verifier outcomes for reward items, with a lazily started pool of verifier workers."""

    def __init__(
        self,
        timeout_s: float = 5.0,
        workers: int = 1,
        *,
        allow_weak_sandbox: bool = False,
        memory_mb: int = 4096,
    ) -> None:
        self.timeout_s = timeout_s
        self.workers = workers
        self.allow_weak_sandbox = allow_weak_sandbox
        self.memory_mb = memory_mb
        self._pool: VerifyPool | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def _active_pool(self) -> VerifyPool:
        if self._pool is None or self._pid != os.getpid():  # a forked child starts its own
            self._pool = VerifyPool(
                workers=self.workers,
                memory_mb=self.memory_mb,
                allow_weak_sandbox=self.allow_weak_sandbox,
            )
            self._pid = os.getpid()
        return self._pool

    def outcomes(self, items: Sequence[RewardItem]) -> list[Outcome]:
        """The verifier's outcome for every item, in order (a bad item gets a status)."""
        groups: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            groups.setdefault(verifier_name(item.kind, item.verifier), []).append(i)
        results: list[Outcome | None] = [None] * len(items)
        with self._lock, _main_module_hidden():
            pool = self._active_pool()
            for name, indices in groups.items():
                checked = verify_items(
                    [_verify_item(i, items[i]) for i in indices],
                    verifier=name,
                    timeout_s=self.timeout_s,
                    pool=pool,
                )
                for i, (_, outcome) in zip(indices, checked, strict=True):
                    results[i] = outcome
        return [r if r is not None else Outcome("runtime_error", reason="lost") for r in results]

    def close(self) -> None:
        """Stop the worker processes (they also end with this process)."""
        with self._lock:
            if self._pool is not None and self._pid == os.getpid():
                self._pool.close()
            self._pool = None


_DEFAULT: dict[tuple[float, bool], RewardScorer] = {}
_DEFAULT_LOCK = threading.Lock()


def default_scorer(timeout_s: float = 5.0, allow_weak_sandbox: bool = False) -> RewardScorer:
    """The process's shared scorer for these settings (one pool each, closed at exit)."""
    key = (float(timeout_s), bool(allow_weak_sandbox))
    with _DEFAULT_LOCK:
        scorer = _DEFAULT.get(key)
        if scorer is None:
            scorer = _DEFAULT[key] = RewardScorer(timeout_s, allow_weak_sandbox=allow_weak_sandbox)
            atexit.register(scorer.close)
        return scorer
