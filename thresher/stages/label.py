"""The label stage: every verified rollout that a chosen labeler has not looked at yet gets that
labeler's flaw labels (and a `label_passes` row, so a rerun skips it, flawed or clean); and
`label_file`, the same labelers over a JSONL file (``thresher label INPUT.jsonl``)."""

from __future__ import annotations

from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from thresher.config import GenerationConfig, LabelConfig
from thresher.filters.flaws.jsonl import LINE_TIMEOUT_S, label_jsonl
from thresher.filters.flaws.judge import JudgeLabeler
from thresher.filters.flaws.registry import rule_labelers
from thresher.filters.flaws.runner import classify, label_traces
from thresher.filters.flaws.types import Labeler, Trace
from thresher.filters.verify.jsonl import MAX_LINE_BYTES, check_input, open_input
from thresher.filters.verify.pool import VerifyPool
from thresher.pipeline.outputs import atomic_text_output
from thresher.pipeline.prompts import reference_text
from thresher.schemas import FlawLabel, InputError, LabelPass
from thresher.stages.base import Stage, StageReport
from thresher.stages.engines import judge_engine_factory
from thresher.stages.facts import TEXT_COLUMNS, row_text, trace_correctness
from thresher.stages.progress import terminate_cleanly
from thresher.storage import Lake, require_problem_set

__all__ = ["LabelReport", "LabelStage", "label_file", "run"]


@dataclass
class LabelReport(StageReport):
    """What one label run did."""

    classes: dict[str, int] = field(default_factory=dict)
    judge: dict[str, int] = field(default_factory=dict)  # the judge's counts, when it ran

    @property
    def labels(self) -> int:
        """Flaw labels added."""
        return int(self.notes.get("labels", 0))

    def summary(self) -> str:
        """One line for the console."""
        classes = ", ".join(f"{k} {v}" for k, v in sorted(self.classes.items())) or "none"
        line = (
            f"{self.problem_set}: labelled {self.processed} verified rollouts, "
            f"added {self.labels} flaw labels; {classes}"
        )
        if self.judge:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(self.judge.items()) if v)
            line += f"; judge: {counts or 'nothing to judge'}"
        return line


class LabelStage(Stage[LabelReport]):
    """Runs the rule labelers (and the judge, when the config names one) over verified rollouts."""

    name = "label"
    batch_size = 2000

    def __init__(
        self,
        config: LabelConfig | None = None,
        *,
        generation: GenerationConfig | None = None,
        judge_engine: Any = None,
    ) -> None:
        self.config = config or LabelConfig()
        chosen = [n for n in self.config.labelers if n != JudgeLabeler.name]
        self.rules: list[Labeler] = rule_labelers(chosen or None)
        wants_judge = bool(self.config.judge_model) or JudgeLabeler.name in self.config.labelers
        if wants_judge and not self.config.judge_model and judge_engine is None:
            raise InputError(
                f"labeler {JudgeLabeler.name} needs a judge model",
                field="labels.judge_model",
                hint="set labels.judge_model in the recipe or pass --judge MODEL",
            )
        self.judge = (
            JudgeLabeler(
                self.config.judge_model, engine=judge_engine,
                engine_factory=judge_engine_factory(self.config, generation or GenerationConfig()),
                samples=self.config.judge_samples, max_tokens=self.config.judge_max_tokens,
            )
            if wants_judge
            else None
        )  # fmt: skip

    @property
    def labeler_names(self) -> list[str]:
        """Every labeler this stage runs."""
        return [lab.name for lab in self.rules] + ([JudgeLabeler.name] if self.judge else [])

    def new_report(self, problem_set: str) -> LabelReport:
        return LabelReport(self.name, problem_set)

    def pending(self, lake: Lake, problem_set: str) -> list[str]:
        """Verified rollouts that one of this stage's labelers has not looked at."""
        require_problem_set(lake, problem_set)
        return list(
            lake.query(
                "SELECT r.trace_id FROM rollouts r JOIN problems p ON r.problem_id = p.problem_id "
                "WHERE p.source = ? AND EXISTS (SELECT 1 FROM verdicts v "
                "WHERE v.trace_id = r.trace_id) AND (SELECT count(DISTINCT s.labeler) "
                "FROM label_passes s WHERE s.trace_id = r.trace_id "
                "AND list_contains(?, s.labeler)) < ? ORDER BY r.trace_id",
                [problem_set, self.labeler_names, len(self.labeler_names)],
            )["trace_id"]
        )

    def teardown(self) -> None:
        if self.judge is not None:
            self.judge.teardown()

    def process(self, lake: Lake, batch: list[str], report: LabelReport) -> None:
        rows = lake.query(
            f"SELECT r.trace_id, {TEXT_COLUMNS}, r.finish_reason, p.question, p.answer, "
            "p.solution, p.kind, "
            # A prefix continuation of a trace written seeing the reference carries that text.
            "(r.conditioned_on_ground_truth OR coalesce(src.conditioned_on_ground_truth, false)) "
            "AS conditioned FROM rollouts r JOIN problems p ON r.problem_id = p.problem_id "
            "LEFT JOIN rollouts src ON src.trace_id = r.prefix_trace_id "
            "WHERE list_contains(?, r.trace_id) ORDER BY r.trace_id",
            [batch],
        ).to_dicts()
        seen: dict[str, set[str]] = defaultdict(set)
        for row in lake.query(
            "SELECT trace_id, labeler FROM label_passes WHERE list_contains(?, trace_id)", [batch]
        ).to_dicts():
            seen[row["trace_id"]].add(row["labeler"])
        traces = [_trace(r) for r in rows]
        found: dict[str, list[FlawLabel]] = defaultdict(list)
        passes: list[LabelPass] = []
        for labeler in self.rules:
            todo = [t for t in traces if labeler.name not in seen[t.trace_id]]
            for trace, labels in zip(todo, label_traces(todo, [labeler]), strict=True):
                found[trace.trace_id].extend(labels)
                passes.append(LabelPass(trace_id=trace.trace_id, labeler=labeler.name, labels=len(labels)))  # fmt: skip
        if self.judge is not None:
            todo = [t for t in traces if JudgeLabeler.name not in seen[t.trace_id]]
            judged: dict[str, list[FlawLabel]] = defaultdict(list)
            for label in self.judge.label_many(todo):
                judged[label.trace_id].append(label)
            for trace in todo:
                found[trace.trace_id].extend(judged[trace.trace_id])
                passes.append(LabelPass(trace_id=trace.trace_id, labeler=JudgeLabeler.name, labels=len(judged[trace.trace_id])))  # fmt: skip
            report.judge = dict(self.judge.stats)
        added = lake.append("flaw_labels", [x for labels in found.values() for x in labels])
        report.notes["labels"] = report.labels + added
        report.rows += added + lake.append("label_passes", passes)
        stored: dict[str, list[FlawLabel]] = defaultdict(list)
        for row in lake.query(
            "SELECT * FROM flaw_labels WHERE list_contains(?, trace_id)", [batch]
        ).to_dicts():
            stored[row["trace_id"]].append(FlawLabel.model_validate(row))
        correct = trace_correctness(lake, trace_ids=batch)
        for trace in traces:
            fact = correct.get(trace.trace_id)
            cls = classify(fact.correct if fact else None, stored[trace.trace_id])
            report.classes[cls] = report.classes.get(cls, 0) + 1


def _trace(row: dict[str, Any]) -> Trace:
    conditioned = bool(row["conditioned"])
    return Trace(
        row["trace_id"], row_text(row), question=row["question"], gold=row["answer"],
        finish_reason=row["finish_reason"] or "", kind=row["kind"], conditioned=conditioned,
        reference=reference_text(row["solution"], row["answer"]) if conditioned else None,
    )  # fmt: skip


def run(
    lake: Lake,
    problem_set: str,
    config: LabelConfig | None = None,
    *,
    generation: GenerationConfig | None = None,
    judge_engine: Any = None,
    progress: bool = False,
) -> LabelReport:
    """Label every verified rollout of a problem set that a chosen labeler has not seen."""
    stage = LabelStage(config, generation=generation, judge_engine=judge_engine)
    return stage.run(lake, problem_set, progress=progress)


def label_file(
    input_path: str,
    output: str | None,
    config: LabelConfig | None = None,
    *,
    workers: int = 2,
    console: Console,
    max_line_bytes: int = MAX_LINE_BYTES,
    line_timeout_s: float | None = LINE_TIMEOUT_S,
) -> dict[str, int]:
    """Label every line of a JSONL file; one output line per input line, same order.

    The input is streamed in chunks; OUT is replaced only when every line is done. A line over
    `max_line_bytes` or whose rule labelling takes over `line_timeout_s` gets its own status.
    """
    from thresher.stages.plan import check_model

    config = config or LabelConfig()
    check_input(input_path)
    if config.judge_model and not config.judge_base_url:  # a served judge is the server's
        check_model(config.judge_model, "--judge")  # before any work, not after a chunk
    stage = LabelStage(config)
    try:
        with terminate_cleanly(), atomic_text_output(output) as sink:
            fh = open_input(input_path)
            with fh if input_path != "-" else nullcontext(fh), VerifyPool(workers=workers) as pool:
                counts = label_jsonl(
                    fh, sink, pool=pool, labelers=stage.rules, judge=stage.judge,
                    source=input_path, max_line_bytes=max_line_bytes,
                    line_timeout_s=line_timeout_s,
                )  # fmt: skip
    finally:
        stage.teardown()
    judged = ""
    if stage.judge is not None:
        judged = "; judge: " + ", ".join(f"{k} {v}" for k, v in sorted(stage.judge.stats.items()))
    console.print(
        f"labelled {counts['lines']} lines: {counts['flawed_positive']} flawed positives, "
        f"{counts['invalid']} invalid, {counts['timeout']} over the time limit{judged}",
        highlight=False,
    )
    return counts
