"""What the ``thresher label`` command does: the JSONL contract and the lake path."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from thresher.filters.flaws.judge import JudgeLabeler
from thresher.filters.flaws.registry import rule_labelers
from thresher.filters.flaws.runner import is_flawed_positive, label_traces
from thresher.filters.flaws.types import Labeler, Trace
from thresher.filters.verify.jsonl import KINDS, read_object
from thresher.filters.verify.pool import VerifyPool
from thresher.filters.verify.runner import verify_items
from thresher.filters.verify.types import VerifyItem
from thresher.schemas.errors import InputError

__all__ = ["label_file", "label_lake", "parse_label_line"]


def parse_label_line(text: str, line_no: int) -> tuple[Any, dict[str, Any] | None, str]:
    """(id, fields, '') for a good line; (id or None, None, reason) for a bad one."""
    ident, obj, reason = read_object(text, line_no)
    if obj is None:
        return ident, None, reason
    if not isinstance(obj.get("response"), str):
        return ident, None, f"line {line_no}: field 'response' must be a string"
    kind = obj.get("kind", "math")
    if kind not in KINDS or kind == "code":
        return ident, None, f"line {line_no}: field 'kind' must be math, choice or exact"
    gold = obj.get("gold")
    if gold is not None and (isinstance(gold, bool) or not isinstance(gold, str | int | float)):
        return ident, None, f"line {line_no}: field 'gold' must be a string or number"
    question = obj.get("question", "")
    if not isinstance(question, str):
        return ident, None, f"line {line_no}: field 'question' must be a string"
    reference = obj.get("reference")
    if reference is not None and not isinstance(reference, str):
        return ident, None, f"line {line_no}: field 'reference' must be a string"
    # a reference is, by this field's meaning, one the prompt showed: conditioned by default
    conditioned = obj.get("conditioned", reference is not None)
    if not isinstance(conditioned, bool):
        return ident, None, f"line {line_no}: field 'conditioned' must be true or false"
    fields = {"response": obj["response"], "kind": kind, "question": question}
    fields["gold"] = None if gold is None else str(gold)
    fields |= {"reference": reference, "conditioned": conditioned}
    return ident, fields, ""


def label_file(
    input_path: str,
    output: str | None,
    *,
    judge: str | None,
    judge_samples: int,
    workers: int,
    console: Console,
) -> dict[str, int]:
    """Label every line of a JSONL file; one output line per input line, same order."""
    path = Path(input_path)
    if path.is_dir() or not path.exists():
        raise InputError("no such file (or a directory)", source=input_path)
    try:
        raw = path.read_bytes().decode("utf-8", errors="surrogateescape").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read input: {exc.strerror}", source=input_path) from exc
    lines = [(n, t) for n, t in enumerate(raw, start=1) if t.strip()]
    parsed = [parse_label_line(t, n) for n, t in lines]
    good = [(i, ident, f) for i, (ident, f, _) in enumerate(parsed) if f is not None]
    items = [
        VerifyItem(str(ident), f["kind"], f["response"], gold=f["gold"])
        for _, ident, f in good
        if f["gold"] is not None
    ]
    with VerifyPool(workers=workers) as pool:
        verdicts = iter(verify_items(items, pool=pool))
    traces = [Trace(str(i), f["response"], question=f["question"], gold=f["gold"],
                    kind=f["kind"], reference=f["reference"], conditioned=f["conditioned"])
              for i, _, f in good]  # fmt: skip
    labelers: list[Labeler] = rule_labelers()
    if judge:
        labelers.append(JudgeLabeler(judge, samples=judge_samples))
    per_trace = label_traces(traces, labelers)
    results: dict[int, dict[str, Any]] = {}
    counts = {"lines": len(lines), "flawed_positive": 0, "invalid": 0}
    for (i, ident, f), labels in zip(good, per_trace, strict=True):
        correct = next(verdicts)[1].correct if f["gold"] is not None else None
        flawed = is_flawed_positive(correct, labels)
        counts["flawed_positive"] += flawed
        results[i] = {
            "id": ident,
            "correct": correct,
            "flawed_positive": flawed,
            "flaws": [
                {
                    "type": x.flaw_type,
                    "severity": x.severity,
                    "step": x.step,
                    "evidence": x.evidence,
                }  # fmt: skip
                for x in labels
            ],
        }
    sink = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
    try:
        for i, (ident, _, reason) in enumerate(parsed):
            row = results.get(i)
            if row is None:
                counts["invalid"] += 1
                row = {"id": ident, "correct": None, "flawed_positive": False, "flaws": [],
                       "error": reason}  # fmt: skip
            sink.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if output:
            sink.close()
    console.print(
        f"labelled {counts['lines']} lines: {counts['flawed_positive']} flawed positives, "
        f"{counts['invalid']} invalid",
        highlight=False,
    )
    return counts


def label_lake(
    lake: str, problems: str, *, judge: str | None, judge_samples: int, console: Console
) -> None:
    """Label the verified rollouts of a problem set in the lake."""
    from thresher.flows.label_lake import label_problem_set
    from thresher.storage import Lake

    with Lake.open(lake) as opened:
        report = label_problem_set(opened, problems, judge=judge, judge_samples=judge_samples)
    console.print(report.summary(), highlight=False)
