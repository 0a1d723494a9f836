"""The verify stage: a verdict for every rollout that has none from its kind's verifier, then
pass-rate statistics per (problem, model, mode, verifier); and `verify_file`, the same
verifiers over a JSONL file (``thresher verify INPUT.jsonl``)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from rich.console import Console

from thresher.config import VerifyConfig
from thresher.filters.stats import problem_stats
from thresher.filters.verify.jsonl import MAX_LINE_BYTES, check_input, verify_jsonl
from thresher.filters.verify.pool import VerifyPool
from thresher.filters.verify.registry import DEFAULT_FOR_KIND, get_verifier
from thresher.filters.verify.runner import verify_items
from thresher.filters.verify.types import VerifyItem
from thresher.pipeline.outputs import atomic_text_output
from thresher.schemas import ProblemStats, Verdict, decided_correct
from thresher.stages.base import Stage, StageReport
from thresher.stages.facts import TEXT_COLUMNS, row_text
from thresher.stages.progress import count_lines, counted_progress, terminate_cleanly
from thresher.storage import Lake, require_problem_set

__all__ = ["VerifyReport", "VerifyStage", "compute_stats", "run", "verify_file"]


@dataclass
class VerifyReport(StageReport):
    """What one verify run did."""

    by_status: dict[str, int] = field(default_factory=dict)
    correct: int = 0
    stats_rows: int = 0
    difficulty: dict[str, dict[str, int]] = field(default_factory=dict)  # mode -> bucket -> n

    @property
    def verified(self) -> int:
        """Rollouts that got a verdict in this run."""
        return self.rows

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


class VerifyStage(Stage[VerifyReport]):
    """Verifies rollouts in a process pool; code runs in the sandbox."""

    name = "verify"
    batch_size = 2000

    def __init__(self, config: VerifyConfig | None = None) -> None:
        self.config = config or VerifyConfig()
        for name in self.config.verifiers.values():
            get_verifier(name)  # unknown names and options fail before any work
        self._pool: VerifyPool | None = None

    def verifier_for(self) -> dict[str, str]:
        """The verifier name used for each problem kind."""
        return {**DEFAULT_FOR_KIND, **self.config.verifiers}

    def _verifier_sql(self) -> str:
        cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in self.verifier_for().items())
        return f"CASE p.kind {cases} END"

    def new_report(self, problem_set: str) -> VerifyReport:
        return VerifyReport(self.name, problem_set)

    def pending(self, lake: Lake, problem_set: str) -> list[str]:
        """Rollouts of the set without a verdict from their kind's verifier."""
        require_problem_set(lake, problem_set)
        verifier = self._verifier_sql()
        return list(
            lake.query(
                "SELECT r.trace_id FROM rollouts r JOIN problems p ON r.problem_id = p.problem_id "
                "WHERE p.source = ? AND NOT EXISTS (SELECT 1 FROM verdicts v "
                f"WHERE v.trace_id = r.trace_id AND v.verifier = {verifier}) ORDER BY r.trace_id",
                [problem_set],
            )["trace_id"]
        )

    def setup(self) -> None:
        self._pool = VerifyPool(workers=self.config.workers)

    def teardown(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def process(self, lake: Lake, batch: list[str], report: VerifyReport) -> None:
        rows = lake.query(
            f"SELECT r.trace_id, {TEXT_COLUMNS}, p.kind, p.answer, p.tests_json "
            "FROM rollouts r JOIN problems p ON r.problem_id = p.problem_id "
            "WHERE list_contains(?, r.trace_id) ORDER BY r.trace_id",
            [batch],
        ).to_dicts()
        items = [
            VerifyItem(r["trace_id"], r["kind"], row_text(r), gold=r["answer"], tests=r["tests_json"])
            for r in rows
        ]  # fmt: skip
        results = verify_items(
            items, timeout_s=self.config.timeout_s, by_kind=self.config.verifiers, pool=self._pool
        )
        verdicts = []
        for row, (verifier, out) in zip(rows, results, strict=True):
            verdicts.append(
                Verdict(
                    trace_id=row["trace_id"], verifier=verifier or self.verifier_for()[row["kind"]],
                    status=out.status, correct=out.correct,  # type: ignore[arg-type]
                    extracted=out.extracted, reason=out.reason, elapsed_s=out.elapsed_s,
                )
            )  # fmt: skip
            report.by_status[out.status] = report.by_status.get(out.status, 0) + 1
            report.correct += bool(out.correct)
        report.rows += lake.append("verdicts", verdicts)

    def finish(self, lake: Lake, report: VerifyReport) -> None:
        stats = compute_stats(lake, report.problem_set)
        report.stats_rows = lake.append("problem_stats", stats) if stats else 0
        for s in stats:
            counts = report.difficulty.setdefault(s.mode, {})
            counts[s.difficulty] = counts.get(s.difficulty, 0) + 1


def compute_stats(lake: Lake, problem_set: str) -> list[ProblemStats]:
    """Current stats of every problem of a set that has verdicts: one row per (problem, model,
    mode, verifier), so shown-the-reference samples never inflate a model's own pass rate."""
    frame = lake.query(
        "SELECT p.problem_id, p.source, r.model, r.mode, v.verifier, v.status, v.correct "
        "FROM problems p JOIN rollouts r ON r.problem_id = p.problem_id "
        "JOIN verdicts v ON v.trace_id = r.trace_id WHERE p.source = ?",
        [problem_set],
    )
    grouped: dict[tuple[str, str, str, str, str], list[bool | None]] = defaultdict(list)
    for row in frame.iter_rows(named=True):
        key = (row["problem_id"], row["source"], row["model"], row["mode"], row["verifier"])
        grouped[key].append(decided_correct(row["status"], row["correct"]))
    return [
        problem_stats(pid, src, ver, vals, model=model, mode=mode)
        for (pid, src, model, mode, ver), vals in sorted(grouped.items())
    ]


def run(
    lake: Lake, problem_set: str, config: VerifyConfig | None = None, *, progress: bool = False
) -> VerifyReport:
    """Verify every unverified rollout of a problem set and store its pass-rate statistics."""
    from thresher.filters.sandbox import weak_sandbox_allowed

    stage = VerifyStage(config)
    with weak_sandbox_allowed(stage.config.allow_weak_sandbox):
        return stage.run(lake, problem_set, progress=progress)


def verify_file(
    input_path: str,
    output: str | None,
    config: VerifyConfig | None = None,
    *,
    console: Console,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> dict[str, int]:
    """Verify a JSONL file into OUT (or stdout); prints a status summary on the console.

    OUT is replaced only when every line is done: until then the results go to a temporary
    file beside it, so a crash or an error keeps the previous OUT.
    """
    config = config or VerifyConfig()
    check_input(input_path)  # a clear error before anything is created (never opens a FIFO)
    show = console.is_terminal
    total = count_lines(input_path) if show else None
    with (
        terminate_cleanly(),
        atomic_text_output(output) as sink,
        counted_progress(console, "verify", total, visible=show) as advance,
    ):
        counts = verify_jsonl(
            input_path,
            sink,
            workers=config.workers,
            timeout_s=config.timeout_s,
            by_kind=config.verifiers,
            max_line_bytes=max_line_bytes,
            on_done=advance,
        )
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    console.print(f"verified {sum(counts.values())} lines: {summary}", highlight=False)
    return counts
