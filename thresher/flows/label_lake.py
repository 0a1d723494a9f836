"""Label a problem set's verified rollouts in the lake (FlawLabels appended; no decisions).

Takes an open lake (``thresher.storage.Lake``) as an argument; it imports nothing of storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from thresher.filters.flaws.judge import JudgeLabeler
from thresher.filters.flaws.registry import rule_labelers
from thresher.filters.flaws.runner import classify, label_traces
from thresher.filters.flaws.types import Labeler, Trace
from thresher.flows.verify_lake import require_problem_set

__all__ = ["label_problem_set", "LabelReport"]

BATCH = 2000


@dataclass
class LabelReport:
    """What one label run did."""

    problem_set: str
    traces: int = 0
    labels: int = 0
    classes: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the console."""
        classes = ", ".join(f"{k} {v}" for k, v in sorted(self.classes.items())) or "none"
        return (
            f"{self.problem_set}: labelled {self.traces} verified rollouts, "
            f"added {self.labels} flaw labels; {classes}"
        )


def _reference(row: dict[str, Any]) -> str | None:
    """The reference a privileged prompt shows (``pipeline.prompts.privileged_messages``)."""
    if row["solution"]:
        return str(row["solution"])
    return f"The final answer is {row['answer']}." if row["answer"] else None


def label_problem_set(
    lake: Any,
    name: str,
    *,
    labelers: list[str] | None = None,
    judge: str | None = None,
    judge_samples: int = 3,
    judge_engine: object | None = None,
) -> LabelReport:
    """Run the labelers over every verified rollout of ``name``; rows already stored are kept."""
    require_problem_set(lake, name)
    chosen: list[Labeler] = rule_labelers(labelers)
    if judge or judge_engine is not None or (labelers and "judge_v1" in labelers):
        chosen.append(JudgeLabeler(judge, engine=judge_engine, samples=judge_samples))
    rows = lake.query(
        "SELECT r.trace_id, r.completion, r.reasoning, r.answer_text, r.finish_reason, "
        "r.conditioned_on_ground_truth AS conditioned, p.question, p.answer, p.solution, p.kind, "
        "bool_or(v.correct) FILTER (WHERE v.status = 'ok') AS correct "
        "FROM rollouts r JOIN problems p ON r.problem_id = p.problem_id "
        "JOIN verdicts v ON v.trace_id = r.trace_id WHERE p.source = ? "
        "GROUP BY ALL ORDER BY r.trace_id",
        [name],
    ).to_dicts()
    report = LabelReport(name)
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        traces = [
            Trace(
                r["trace_id"],
                r["completion"] or f"{r['reasoning'] or ''}\n</think>\n{r['answer_text'] or ''}",
                question=r["question"], gold=r["answer"], finish_reason=r["finish_reason"] or "",
                kind=r["kind"], conditioned=bool(r["conditioned"]),
                reference=_reference(r) if r["conditioned"] else None,
            )
            for r in batch
        ]  # fmt: skip
        per_trace = label_traces(traces, chosen)
        report.labels += lake.append("flaw_labels", [x for labels in per_trace for x in labels])
        report.traces += len(batch)
        for row, labels in zip(batch, per_trace, strict=True):
            cls = classify(row["correct"], labels)
            report.classes[cls] = report.classes.get(cls, 0) + 1
    return report
