"""Verify a problem set's rollouts in the lake and store per-problem pass-rate statistics.

Takes an open lake (``thresher.storage.Lake``) as an argument; it imports nothing of storage.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from thresher.filters.stats import problem_stats
from thresher.filters.verify.pool import VerifyPool
from thresher.filters.verify.registry import DEFAULT_FOR_KIND
from thresher.filters.verify.runner import verify_items
from thresher.filters.verify.types import VerifyItem
from thresher.schemas import ProblemStats, Verdict, decided_correct, trace_text
from thresher.schemas.errors import NotFoundError

__all__ = ["verify_problem_set", "compute_stats", "VerifyReport", "require_problem_set"]

BATCH = 2000
_VERIFIER_SQL = (
    "CASE p.kind "
    + " ".join(f"WHEN '{kind}' THEN '{name}'" for kind, name in DEFAULT_FOR_KIND.items())
    + " END"
)


@dataclass
class VerifyReport:
    """What one verify run did."""

    problem_set: str
    verified: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    correct: int = 0
    stats_rows: int = 0
    difficulty: dict[str, dict[str, int]] = field(default_factory=dict)  # mode -> bucket -> n

    def summary(self) -> str:
        """One line for the console."""
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(self.by_status.items())) or "none"
        buckets = "; ".join(
            f"{mode}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            for mode, counts in sorted(self.difficulty.items())
        )
        return (
            f"{self.problem_set}: verified {self.verified} rollouts ({statuses}); "
            f"{self.correct} correct; problems by difficulty per mode: {buckets or 'none'}"
        )


def require_problem_set(lake: Any, name: str) -> None:
    """Fail with the known problem-set names when ``name`` has no problems."""
    found = lake.query("SELECT count(*) AS n FROM problems WHERE source = ?", [name])
    if int(found["n"][0]) == 0:
        known = lake.sql("SELECT DISTINCT source FROM problems ORDER BY source")["source"]
        listing = ", ".join(known.to_list()) or "none (run `thresher ingest` first)"
        raise NotFoundError(f"no problem set named {name!r}; known problem sets: {listing}")


def _response(row: dict[str, Any]) -> str:
    if row["completion"]:
        return trace_text(row["completion"], row["prompt"] or "", row["prefix_chars"])
    return f"{row['reasoning'] or ''}\n</think>\n{row['answer_text'] or ''}"


def verify_problem_set(
    lake: Any,
    name: str,
    *,
    workers: int = 2,
    timeout_s: float = 5.0,
    on_done: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Verify every rollout of problem set ``name`` that has no verdict yet; store stats."""
    require_problem_set(lake, name)
    report = VerifyReport(name)
    query = (
        "SELECT r.trace_id, r.completion, r.prompt, r.prefix_chars, r.reasoning, r.answer_text, "
        "p.kind, p.answer, "
        f"p.tests_json, {_VERIFIER_SQL} AS verifier "
        "FROM rollouts r JOIN problems p ON r.problem_id = p.problem_id "
        "WHERE p.source = ? AND NOT EXISTS (SELECT 1 FROM verdicts v "
        f"WHERE v.trace_id = r.trace_id AND v.verifier = {_VERIFIER_SQL}) ORDER BY r.trace_id"
    )
    rows = lake.query(query, [name]).to_dicts()
    with VerifyPool(workers=workers) as pool:
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            items = [
                VerifyItem(
                    r["trace_id"], r["kind"], _response(r), gold=r["answer"], tests=r["tests_json"]
                )
                for r in batch
            ]
            results = verify_items(items, timeout_s=timeout_s, pool=pool, on_done=on_done)
            verdicts = []
            for row, (verifier, out) in zip(batch, results, strict=True):
                verdicts.append(
                    Verdict(
                        trace_id=row["trace_id"], verifier=verifier or row["verifier"],
                        status=out.status, correct=out.correct,  # type: ignore[arg-type]
                        extracted=out.extracted, reason=out.reason, elapsed_s=out.elapsed_s,
                    )
                )  # fmt: skip
                report.by_status[out.status] = report.by_status.get(out.status, 0) + 1
                report.correct += bool(out.correct)
            report.verified += lake.append("verdicts", verdicts)  # durable per batch
    stats = compute_stats(lake, name)
    report.stats_rows = lake.append("problem_stats", stats) if stats else 0
    for s in stats:
        counts = report.difficulty.setdefault(s.mode, {})
        counts[s.difficulty] = counts.get(s.difficulty, 0) + 1
    return report


def compute_stats(lake: Any, name: str) -> list[ProblemStats]:
    """Current stats of every problem of a set that has verdicts: one row per (problem, model,
    mode, verifier), so shown-the-reference samples never inflate a model's own pass rate."""
    frame = lake.query(
        "SELECT p.problem_id, p.source, r.model, r.mode, v.verifier, v.status, v.correct "
        "FROM problems p JOIN rollouts r ON r.problem_id = p.problem_id "
        "JOIN verdicts v ON v.trace_id = r.trace_id WHERE p.source = ?",
        [name],
    )
    grouped: dict[tuple[str, str, str, str, str], list[bool | None]] = defaultdict(list)
    for row in frame.iter_rows(named=True):
        key = (row["problem_id"], row["source"], row["model"], row["mode"], row["verifier"])
        grouped[key].append(decided_correct(row["status"], row["correct"]))
    return [
        problem_stats(pid, src, ver, vals, model=model, mode=mode)
        for (pid, src, model, mode, ver), vals in sorted(grouped.items())
    ]
