"""The shape of a stage: a config section, the ids still pending for a problem set, and a
``run`` that owns the batch loop (pending anti-join, batches, one atomic append per batch,
progress), so each stage writes only what it does to one batch.

    class VerifyStage(Stage[VerifyReport]):
        name = "verify"
        def pending(self, lake, problem_set) -> list[str]: ...   # ids without a verdict
        def process(self, lake, batch, report) -> None: ...      # verify, append, count

Heavy objects (a vLLM engine, a process pool, an embedder) are built in ``setup`` and freed
in ``teardown``, never in ``__init__``: a stage is cheap to construct and to pickle.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from thresher.stages.progress import progress_bar
from thresher.storage import Lake

__all__ = ["Stage", "StageReport", "batches"]


@dataclass
class StageReport:
    """What one run of a stage did; stages extend it with their own figures."""

    stage: str
    problem_set: str
    pending: int = 0  # ids that had work to do when the run started
    processed: int = 0  # of those, handled by this run
    rows: int = 0  # rows committed to the lake
    elapsed_s: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the console."""
        return (
            f"{self.stage} {self.problem_set}: {self.processed} of {self.pending} pending done, "
            f"{self.rows} rows committed in {self.elapsed_s:.1f}s"
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures: the fields and the figures a report derives from them (its
        properties, e.g. `generated` and `existing` of a generate run)."""
        out = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        for cls in type(self).__mro__:
            for name, attr in vars(cls).items():
                if isinstance(attr, property) and not name.startswith("_") and name not in out:
                    out[name] = getattr(self, name)
        out["elapsed_s"] = round(self.elapsed_s, 3)
        return out


R = TypeVar("R", bound=StageReport)
Advance = Callable[..., None]


def batches(ids: Sequence[str], size: int) -> list[list[str]]:
    """Fixed consecutive batches of ids (the unit of work and of commit)."""
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


class Stage(ABC, Generic[R]):
    """A stage over a problem set: subclasses say what is pending and how to do one batch."""

    name: ClassVar[str]
    batch_size: int = 256

    @abstractmethod
    def new_report(self, problem_set: str) -> R:
        """An empty report for a run over ``problem_set``."""

    @abstractmethod
    def pending(self, lake: Lake, problem_set: str) -> list[str]:
        """Ids of the set that still need this stage (stored work is never redone)."""

    @abstractmethod
    def process(self, lake: Lake, batch: list[str], report: R) -> None:
        """Do one batch, append its rows (one atomic commit) and count them in ``report``."""

    def setup(self) -> None:
        """Build heavy objects (engines, pools); called once, only when work is pending."""

    def teardown(self) -> None:
        """Free what ``setup`` built."""

    def finish(self, lake: Lake, report: R) -> None:
        """Work over the whole set after the batches (statistics, clustering)."""

    def plan(self, lake: Lake, problem_set: str) -> list[list[str]]:
        """The pending ids in batches, the unit a flow task (or a Ray task) does."""
        return batches(self.pending(lake, problem_set), self.batch_size)

    def progress(self, total: int, enabled: bool, report: R) -> AbstractContextManager[Advance]:
        """The progress display of a run: yields ``advance(ids_done)``."""
        return progress_bar(self.name, total, enabled=enabled)

    def run(self, lake: Lake, problem_set: str, *, progress: bool = False) -> R:
        """Do every pending id of the set, batch by batch; a crash loses at most one batch."""
        start = time.perf_counter()
        report = self.new_report(problem_set)
        planned = self.plan(lake, problem_set)
        report.pending = sum(len(b) for b in planned)
        if planned:
            self.setup()
            try:
                with self.progress(report.pending, progress, report) as advance:
                    for batch in planned:
                        self.process(lake, batch, report)
                        report.processed += len(batch)
                        advance(len(batch))
            finally:
                self.teardown()
        self.finish(lake, report)
        report.elapsed_s = time.perf_counter() - start
        return report
