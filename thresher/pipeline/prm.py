"""Process-reward rows from real step evidence only: clean traces, or a located first error.

A step label is only as good as the evidence that places it. Flaws that name the wrong step
itself (`STEP_LOCATING`: a wrong equation, an operand from nowhere, the judge's first-error
paragraph) give a first error; steps before it count as good, it and the rest as bad. A flaw
that holds for the whole trace or only for its final answer (an answer never derived, a guess,
a truncation) places no step: a trace whose only errors are of that kind, or that has one at or
before its first located error, gives no rows. A clean trace is a correct one with no error
flaw at all. Two layouts: TRL's `PRMTrainer` (`prompt`, `completions`, `labels`) and the
ProcessBench / FAPO critic layout (`problem`, `steps`, `label` = first error index or -1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from thresher.pipeline.formats import usable
from thresher.schemas import trace_text
from thresher.text.segment import segment

if TYPE_CHECKING:
    from thresher.pipeline.export import ExportSource

__all__ = ["STEP_LOCATING", "StepEvidence", "prm_rows", "step_evidence"]

# Flaw types whose step is the wrong step itself (labeler docs in the README).
STEP_LOCATING = frozenset({"wrong_arithmetic", "operand_from_nowhere", "judge_first_error"})


@dataclass(frozen=True)
class StepEvidence:
    """What the flaw labels say about a trace's steps."""

    first_error: int | None  # the first located wrong step, if any
    unplaced_before: bool  # an error flaw that places no step, at or before that step (or none)
    errors: int  # error-severity flaws of any kind


def step_evidence(flaws: list[dict[str, Any]]) -> StepEvidence:
    """Summarise one trace's flaw labels for step labelling."""
    errors = [f for f in flaws if f.get("severity") == "error"]
    located = [
        f["step"]
        for f in errors
        if f.get("flaw_type") in STEP_LOCATING and f.get("step") is not None
    ]
    first = min(located) if located else None
    unplaced = [f for f in errors if f.get("flaw_type") not in STEP_LOCATING]
    before = any(f.get("step") is None or first is None or f["step"] <= first for f in unplaced)
    return StepEvidence(first, before, len(errors))


def _steps(rollout: dict[str, Any]) -> list[str]:
    text = trace_text(
        rollout.get("completion") or "", rollout.get("prompt") or "", rollout.get("prefix_chars"),
        rollout.get("reasoning") or "", rollout.get("answer_text") or "",
    )  # fmt: skip
    return [s.text for s in segment(text)]


def _correct(source: ExportSource, trace_id: str) -> bool | None:
    if trace_id in source.correct:
        return source.correct[trace_id]
    reason = source.trace_reasons.get(trace_id, "")
    if reason == "selected" or reason.startswith("flawed_positive:"):
        return True
    return False if reason.startswith("incorrect") else None


def prm_rows(source: ExportSource, layout: str) -> list[dict[str, Any]]:
    """Step-labelled traces: clean correct ones (all steps good) and located first errors."""
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for flaw in source.flaws:
        by_trace.setdefault(flaw["trace_id"], []).append(flaw)
    rows = []
    for trace_id in sorted(source.trace_reasons):
        if not usable(source, trace_id):
            continue
        evidence = step_evidence(by_trace.get(trace_id, []))
        correct = _correct(source, trace_id)
        clean = evidence.errors == 0 and correct is True
        if not clean and (evidence.first_error is None or evidence.unplaced_before):
            continue
        rollout = source.rollouts[trace_id]
        steps = _steps(rollout)
        if not steps:
            continue
        first = None if clean else min(evidence.first_error or 0, len(steps) - 1)
        problem = source.problems[rollout["problem_id"]]
        reason = source.trace_reasons[trace_id]
        if layout == "critic":
            rows.append(
                {
                    "id": trace_id,
                    "generator": rollout["model"],
                    "problem": problem["question"],
                    "steps": steps,
                    "final_answer_correct": correct,
                    "label": -1 if first is None else first,
                    "problem_id": rollout["problem_id"],
                    "reason_code": reason,
                }
            )
            continue
        rows.append(
            {
                "prompt": problem["question"],
                "completions": steps,
                "labels": [first is None or i < first for i in range(len(steps))],
                "first_error_step": first,
                "trace_id": trace_id,
                "problem_id": rollout["problem_id"],
                "reason_code": reason,
            }
        )
    return rows
