"""Verify many items: cheap paths in-process, the rest deduplicated and sent to the pool."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from thresher.filters.verify.pool import Task, VerifyPool
from thresher.filters.verify.registry import get_verifier, verifier_for_kind
from thresher.filters.verify.types import Outcome, Verifier, VerifyItem
from thresher.schemas.errors import NotFoundError

__all__ = ["verify_items", "resolve_verifier"]


def resolve_verifier(
    item: VerifyItem, override: str | None, by_kind: Mapping[str, str] | None = None
) -> str:
    """The verifier name for an item: the override, else its kind's choice, else the default."""
    return override or (by_kind or {}).get(item.kind) or verifier_for_kind(item.kind)


def verify_items(
    items: Sequence[VerifyItem],
    *,
    workers: int = 2,
    timeout_s: float = 5.0,
    verifier: str | None = None,
    by_kind: Mapping[str, str] | None = None,
    pool: VerifyPool | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list[tuple[str | None, Outcome]]:
    """(verifier name, outcome) for every item, in order; never raises for a bad item."""
    results: list[tuple[str | None, Outcome] | None] = [None] * len(items)
    instances: dict[str, Verifier] = {}
    leaders: dict[tuple[str, ...], int] = {}
    followers: dict[int, list[int]] = {}
    tasks: list[Task] = []
    for i, item in enumerate(items):
        start = time.perf_counter()
        try:
            name = resolve_verifier(item, verifier, by_kind)
            v = instances.get(name) or instances.setdefault(name, get_verifier(name, timeout_s))
        except NotFoundError as exc:
            results[i] = (None, Outcome("invalid_input", reason=exc.message))
            continue
        try:
            quick = v.quick(item)
            key = None if quick is not None else v.cache_key(item)
        except Exception as exc:  # a verifier bug is one item's problem, not the run's
            quick, key = Outcome("runtime_error", reason=f"{type(exc).__name__}: {exc}"), None
        if quick is not None:
            quick.elapsed_s = time.perf_counter() - start
            results[i] = (name, quick)
            continue
        if key is not None and key in leaders:
            followers.setdefault(leaders[key], []).append(i)
            continue
        if key is not None:
            leaders[key] = i
        tasks.append(Task(i, name, v.time_limit(item, timeout_s), item))
    if on_done is not None:
        on_done(len(items) - len(tasks) - sum(len(f) for f in followers.values()))
    if tasks:
        own = pool is None
        active = pool or VerifyPool(workers=workers)
        try:

            def record(index: int, outcome: Outcome) -> None:
                name = tasks_by_index[index].verifier
                results[index] = (name, outcome)
                for j in followers.get(index, []):
                    results[j] = (name, outcome)
                if on_done is not None:
                    on_done(1 + len(followers.get(index, [])))

            tasks_by_index = {t.index: t for t in tasks}
            active.run(tasks, on_result=record)
        finally:
            if own:
                active.close()
    return [
        r if r is not None else (None, Outcome("runtime_error", reason="lost")) for r in results
    ]
