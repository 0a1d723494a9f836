"""Benchmark: thresher's judgment on real model traces nobody here wrote.

Reads a JSONL of GSM8K questions answered by real models (the development split in
``../shared/data/gsm8k_model_solutions_dev.jsonl``: ``question``, ``ground_truth`` = a worked
solution ending ``A: N``, and per model ``{"is_correct", "solution"}``) and prints one JSON object:

- ``verify``: agreement of `thresher verify` with the dataset's ``is_correct`` in two forms,
  the solutions as written and with calculator annotations (``<<16-3=13>>``) removed; the
  confusion matrix and the statuses. The gold given to the verifier is the raw worked solution,
  so answer extraction from a gold is measured too.
- ``labels``: for each rule labeler, the share of correct and of incorrect traces it flags with
  an ``error`` and with a ``warning`` (by the dataset's ``is_correct``), in both forms; with
  ``--dump-flags N`` also the first N correct traces flagged with an error, with the evidence
  and critique of each error, to read (``--labels-only`` skips the verify part).
- ``disagreements``: the first few verify disagreements, to read.

    .venv/bin/python benchmarks/bench_judgment.py ../shared/data/gsm8k_model_solutions_dev.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

_ANNOTATION = re.compile(r"<<[^<>]*>>")


def strip_annotations(text: str) -> str:
    """The solution without calculator annotations (``= <<16-3=13>>13`` -> ``= 13``)."""
    return _ANNOTATION.sub("", text)


def load(path: Path) -> list[dict[str, Any]]:
    """One record per (question, model): question, gold, solution, is_correct."""
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            obj = json.loads(line)
            for model, answer in obj.items():
                if isinstance(answer, dict) and "solution" in answer:
                    rows.append(
                        {
                            "id": f"{obj.get('index', line_no)}:{model}",
                            "model": model,
                            "question": obj["question"],
                            "gold": obj["ground_truth"],
                            "solution": answer["solution"],
                            "is_correct": bool(answer["is_correct"]),
                        }
                    )
    return rows


def run_verify(rows: list[dict[str, Any]], form: str, workers: int) -> dict[str, Any]:
    """Verify every row in one form; agreement with is_correct, confusion and statuses."""
    from thresher.filters.verify import VerifyItem, VerifyPool, verify_items

    def response(row: dict[str, Any]) -> str:
        return strip_annotations(row["solution"]) if form == "stripped" else row["solution"]

    items = [VerifyItem(r["id"], "math", response(r), gold=r["gold"]) for r in rows]
    start = time.perf_counter()
    with VerifyPool(workers=workers) as pool:
        results = verify_items(items, pool=pool)
    elapsed = time.perf_counter() - start
    confusion: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    disagreements = []
    agree = 0
    for row, (_verifier, outcome) in zip(rows, results, strict=True):
        statuses[outcome.status] += 1
        said = outcome.correct
        truth = row["is_correct"]
        key = f"truth_{str(truth).lower()}_said_{'none' if said is None else str(said).lower()}"
        confusion[key] += 1
        if said is truth:
            agree += 1
        elif len(disagreements) < 15:
            disagreements.append(
                {
                    "id": row["id"],
                    "truth": truth,
                    "said": said,
                    "status": outcome.status,
                    "extracted": outcome.extracted,
                    "reason": outcome.reason,
                    "tail": response(row)[-160:],
                }
            )
    return {
        "items": len(rows),
        "agreement": round(agree / len(rows), 5) if rows else None,
        "confusion": dict(sorted(confusion.items())),
        "statuses": dict(sorted(statuses.items())),
        "seconds": round(elapsed, 3),
        "disagreements": disagreements,
    }


def run_labels(rows: list[dict[str, Any]], form: str, dump: int = 0) -> dict[str, Any]:
    """Per labeler: error and warning flag rates on correct and on incorrect traces; the
    first `dump` correct traces flagged with an error, with their errors."""
    from thresher.filters.flaws import Trace, label_traces, rule_labelers

    traces = [
        Trace(
            r["id"],
            strip_annotations(r["solution"]) if form == "stripped" else r["solution"],
            question=r["question"],
            gold=r["gold"],
        )
        for r in rows
    ]
    labelers = rule_labelers()
    start = time.process_time()
    labels = label_traces(traces, labelers)
    cpu = time.process_time() - start
    totals = Counter("correct" if r["is_correct"] else "incorrect" for r in rows)
    flagged: dict[str, Counter[str]] = defaultdict(Counter)
    any_error: Counter[str] = Counter()
    flagged_correct: list[dict[str, Any]] = []
    for row, found in zip(rows, labels, strict=True):
        truth = "correct" if row["is_correct"] else "incorrect"
        seen: set[tuple[str, str]] = set()
        for label in found:
            seen.add((label.labeler, label.severity))
        for labeler, severity in seen:
            flagged[labeler][f"{truth}_{severity}"] += 1
        if any(sev == "error" for _, sev in seen):
            any_error[truth] += 1
            if truth == "correct" and len(flagged_correct) < dump:
                flagged_correct.append(
                    {
                        "id": row["id"],
                        "errors": [
                            {
                                "labeler": x.labeler,
                                "flaw": x.flaw_type,
                                "evidence": x.evidence,
                                "critique": x.critique,
                            }
                            for x in found
                            if x.severity == "error"
                        ],
                    }
                )
    per_labeler = {}
    for labeler in sorted({lab.name for lab in labelers}):
        counts = flagged.get(labeler, Counter())
        per_labeler[labeler] = {
            f"{truth}_{sev}_rate": round(counts[f"{truth}_{sev}"] / totals[truth], 4)
            if totals[truth]
            else None
            for truth in ("correct", "incorrect")
            for sev in ("error", "warning")
        }
    out = {
        "traces": len(rows),
        "correct": totals["correct"],
        "incorrect": totals["incorrect"],
        "any_error_rate_on_correct": round(any_error["correct"] / totals["correct"], 4)
        if totals["correct"]
        else None,
        "any_error_rate_on_incorrect": round(any_error["incorrect"] / totals["incorrect"], 4)
        if totals["incorrect"]
        else None,
        "traces_per_cpu_s": round(len(rows) / cpu, 1) if cpu > 0 else None,
        "per_labeler": per_labeler,
    }
    if dump:
        out["flagged_correct"] = flagged_correct
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the judgment figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="JSONL of questions with model solutions")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--show", type=int, default=15, help="verify disagreements to print per form"
    )
    parser.add_argument(
        "--dump-flags", type=int, default=0, help="correct traces flagged with an error to print"
    )
    parser.add_argument("--labels-only", action="store_true", help="skip the verify part")
    args = parser.parse_args(argv)
    if not args.path.is_file():
        print(f"error: no such file: {args.path}", file=sys.stderr)
        return 2
    rows = load(args.path)
    out: dict[str, Any] = {"benchmark": "judgment", "source": str(args.path), "rows": len(rows)}
    if not args.labels_only:
        out["verify"] = {
            form: run_verify(rows, form, args.workers) for form in ("as_written", "stripped")
        }
        for form in out["verify"].values():
            form["disagreements"] = form["disagreements"][: args.show]
    out["labels"] = {
        form: run_labels(rows, form, args.dump_flags) for form in ("as_written", "stripped")
    }
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
