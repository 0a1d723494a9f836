"""The decontaminate stage: flag the problems of a set whose text shares word n-grams with an
item of a benchmark set (the flags are labels; the selection policy decides what they drop)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from thresher.config import DecontamConfig
from thresher.filters.decontam import BenchmarkItem, NgramIndex, load_benchmark
from thresher.schemas import InputError, Problem
from thresher.stages.base import Stage, StageReport
from thresher.storage import Lake, load_problems

__all__ = ["DecontamReport", "DecontaminateStage", "run"]


@dataclass
class DecontamReport(StageReport):
    """Per benchmark: items loaded and problems flagged."""

    n: int = 13
    items: dict[str, int] = field(default_factory=dict)
    flagged: Counter[str] = field(default_factory=Counter)
    examples: list[Any] = field(default_factory=list)  # the first flags, for the console

    def summary(self) -> str:
        """One line for the console."""
        per = ", ".join(
            f"{b}: {self.flagged[b]} of {self.processed} problems ({k} items)"
            for b, k in self.items.items()
        )
        return f"{self.problem_set}: {per or 'no benchmark'}; {self.rows} flags stored ({self.n}-grams)"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        out = super().as_dict()
        out.pop("examples", None)
        out["benchmarks"] = {
            b: {"items": k, "problems_flagged": self.flagged[b]} for b, k in self.items.items()
        }
        return out


class DecontaminateStage(Stage[DecontamReport]):
    """Checks every problem of the set against the configured benchmarks (flags are keyed, so
    checking again adds nothing)."""

    name = "decontaminate"
    batch_size = 10_000

    def __init__(self, config: DecontamConfig | None = None) -> None:
        self.config = config or DecontamConfig()
        if not self.config.benchmarks:
            raise InputError("give at least one benchmark", field="decontam.benchmarks")
        self._index: NgramIndex | None = None
        self._items: dict[str, int] = {}
        self._problems: dict[str, Problem] = {}

    def new_report(self, problem_set: str) -> DecontamReport:
        return DecontamReport(self.name, problem_set, n=self.config.ngram)

    def pending(self, lake: Lake, problem_set: str) -> list[str]:
        """Every problem of the set (benchmarks may change between runs)."""
        self._problems = {p.problem_id: p for p in load_problems(lake, problem_set)}
        return list(self._problems)

    def setup(self) -> None:
        items: list[BenchmarkItem] = []
        for spec in self.config.benchmarks:
            loaded = load_benchmark(spec, field=self.config.field)
            if loaded:
                name = loaded[0].benchmark
                self._items[name] = self._items.get(name, 0) + len(loaded)
            items.extend(loaded)
        self._index = NgramIndex(items, self.config.ngram)

    def process(self, lake: Lake, batch: list[str], report: DecontamReport) -> None:
        assert self._index is not None
        report.items = dict(self._items)
        flags = []
        for problem_id in batch:
            found = self._index.check(self._problems[problem_id], self.config.min_overlap)
            flags.extend(found)
            for bench in {f.benchmark for f in found}:
                report.flagged[bench] += 1
        report.examples.extend(flags[: max(0, 20 - len(report.examples))])
        report.rows += lake.append("contamination_flags", flags)


def run(
    lake: Lake, problem_set: str, config: DecontamConfig | None = None, *, progress: bool = False
) -> DecontamReport:
    """Flag the problems of a set that share word n-grams with any benchmark item."""
    return DecontaminateStage(config).run(lake, problem_set, progress=progress)
