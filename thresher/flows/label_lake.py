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
from thresher.schemas import FlawLabel, InputError, trace_text

__all__ = ["label_problem_set", "LabelReport"]

BATCH = 2000


@dataclass
class LabelReport:
    """What one label run did."""

    problem_set: str
    traces: int = 0
    labels: int = 0
    classes: dict[str, int] = field(default_factory=dict)
    judge: dict[str, int] = field(default_factory=dict)  # the judge's counts, when it ran

    def summary(self) -> str:
        """One line for the console."""
        classes = ", ".join(f"{k} {v}" for k, v in sorted(self.classes.items())) or "none"
        line = (
            f"{self.problem_set}: labelled {self.traces} verified rollouts, "
            f"added {self.labels} flaw labels; {classes}"
        )
        if self.judge:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(self.judge.items()) if v)
            line += f"; judge: {counts or 'nothing to judge'}"
        return line


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
    judge_base_url: str | None = None,
    judge_max_tokens: int | None = None,
) -> LabelReport:
    """Run the labelers over every verified rollout of ``name``; rows already stored are kept.

    The judge (``judge`` model, or a started ``judge_engine``) sees only traces it has not
    labelled yet, so a re-run does not judge a flagged or unparsable trace twice.
    """
    require_problem_set(lake, name)
    chosen: list[Labeler] = rule_labelers(labelers)
    judge_labeler = None
    if judge or judge_engine is not None or (labelers and JudgeLabeler.name in labelers):
        if not judge and judge_engine is None:
            raise InputError(
                f"labeler {JudgeLabeler.name} needs a judge model",
                field="labels.judge_model",
                hint="set labels.judge_model in the recipe or pass --judge MODEL",
            )
        judge_labeler = JudgeLabeler(
            judge, engine=judge_engine, base_url=judge_base_url, samples=judge_samples,
            max_tokens=judge_max_tokens,
        )  # fmt: skip
    rows = lake.query(
        "SELECT r.trace_id, r.completion, r.prompt, r.prefix_chars, r.reasoning, r.answer_text, "
        "r.finish_reason, p.question, p.answer, p.solution, p.kind, "
        # A prefix continuation of a trace written seeing the reference carries that text too.
        "(r.conditioned_on_ground_truth OR coalesce(src.conditioned_on_ground_truth, false)) "
        "AS conditioned, bool_or(v.correct) FILTER (WHERE v.status = 'ok') AS correct "
        "FROM rollouts r JOIN problems p ON r.problem_id = p.problem_id "
        "LEFT JOIN rollouts src ON src.trace_id = r.prefix_trace_id "
        "JOIN verdicts v ON v.trace_id = r.trace_id WHERE p.source = ? "
        "GROUP BY ALL ORDER BY r.trace_id",
        [name],
    ).to_dicts()
    report = LabelReport(name)
    judged = _stored_judge_labels(lake, name) if judge_labeler else {}
    try:
        _label_batches(lake, rows, chosen, judge_labeler, judged, report)
    finally:
        if judge_labeler is not None:
            judge_labeler.teardown()
            report.judge = {"already_judged": len(judged), **judge_labeler.stats}
    return report


def _stored_judge_labels(lake: Any, name: str) -> dict[str, list[FlawLabel]]:
    """The judge's labels already stored for the problem set, by trace."""
    out: dict[str, list[FlawLabel]] = {}
    for row in lake.query(
        "SELECT f.* FROM flaw_labels f JOIN rollouts r ON f.trace_id = r.trace_id "
        "JOIN problems p ON r.problem_id = p.problem_id WHERE p.source = ? AND f.labeler = ?",
        [name, JudgeLabeler.name],
    ).to_dicts():
        out.setdefault(row["trace_id"], []).append(FlawLabel.model_validate(row))
    return out


def _label_batches(
    lake: Any,
    rows: list[dict[str, Any]],
    chosen: list[Labeler],
    judge: JudgeLabeler | None,
    judged: dict[str, list[FlawLabel]],
    report: LabelReport,
) -> None:
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        traces = [
            Trace(
                r["trace_id"],
                trace_text(r["completion"], r["prompt"], r["prefix_chars"])
                or f"{r['reasoning'] or ''}\n</think>\n{r['answer_text'] or ''}",
                question=r["question"], gold=r["answer"], finish_reason=r["finish_reason"] or "",
                kind=r["kind"], conditioned=bool(r["conditioned"]),
                reference=_reference(r) if r["conditioned"] else None,
            )
            for r in batch
        ]  # fmt: skip
        per_trace = label_traces(traces, chosen)
        if judge is not None:
            index = {t.trace_id: i for i, t in enumerate(traces)}
            for label in judge.label_many([t for t in traces if t.trace_id not in judged]):
                per_trace[index[label.trace_id]].append(label)
        report.labels += lake.append("flaw_labels", [x for labels in per_trace for x in labels])
        report.traces += len(batch)
        for row, labels in zip(batch, per_trace, strict=True):
            cls = classify(row["correct"], [*labels, *judged.get(row["trace_id"], [])])
            report.classes[cls] = report.classes.get(cls, 0) + 1
