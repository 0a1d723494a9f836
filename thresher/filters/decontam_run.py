"""Decontamination of a problem set in the lake against benchmark sets: store flags.

The Python API behind ``thresher decontaminate``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from thresher.filters.decontam import BenchmarkItem, NgramIndex, load_benchmark
from thresher.pipeline.progress import progress_bar
from thresher.schemas import ContaminationFlag, Problem
from thresher.schemas.errors import InputError, NotFoundError

__all__ = ["DecontamReport", "run_decontam"]


@dataclass
class DecontamReport:
    """Per benchmark: items loaded and problems flagged."""

    problems: int = 0
    n: int = 13
    items: dict[str, int] = field(default_factory=dict)
    flagged: Counter[str] = field(default_factory=Counter)
    flags: list[ContaminationFlag] = field(default_factory=list)
    rows_added: int = 0
    elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "problems": self.problems,
            "n": self.n,
            "benchmarks": {
                b: {"items": k, "problems_flagged": self.flagged[b]} for b, k in self.items.items()
            },
            "rows_added": self.rows_added,
            "elapsed_s": round(self.elapsed_s, 2),
        }


def _problems(lake: Any, name: str) -> list[Problem]:
    df = lake.query("SELECT * FROM problems WHERE source = ? ORDER BY problem_id", params=[name])
    if df.height == 0:
        known = lake.sql("SELECT DISTINCT source FROM problems ORDER BY source")["source"]
        raise NotFoundError(
            f"no problems named {name!r} in the lake",
            hint=f"known problem sets: {', '.join(known.to_list()) or '(none)'}",
        )
    return [Problem.model_validate(r) for r in df.to_dicts()]


def run_decontam(
    lake: Any,
    problems: str,
    benchmarks: Sequence[str],
    *,
    n: int = 13,
    field_name: str | None = None,
    min_overlap: float = 0.0,
    progress: bool = True,
) -> DecontamReport:
    """Flag the problems of a set that share word n-grams with any benchmark item."""
    if not benchmarks:
        raise InputError("give at least one benchmark", field="--benchmark")
    start = time.perf_counter()
    items: list[BenchmarkItem] = []
    report = DecontamReport(n=n)
    for spec in benchmarks:
        loaded = load_benchmark(spec, field=field_name)
        if loaded:
            report.items[loaded[0].benchmark] = report.items.get(loaded[0].benchmark, 0) + len(
                loaded
            )
        items.extend(loaded)
    rows = _problems(lake, problems)
    report.problems = len(rows)
    index = NgramIndex(items, n)
    with progress_bar("decontaminate", len(rows), enabled=progress) as advance:
        for problem in rows:
            flags = index.check(problem, min_overlap)
            report.flags.extend(flags)
            for bench in {f.benchmark for f in flags}:
                report.flagged[bench] += 1
            advance(1)
    report.rows_added = lake.append("contamination_flags", report.flags)
    report.elapsed_s = time.perf_counter() - start
    return report
