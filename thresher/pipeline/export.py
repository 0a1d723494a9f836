"""Export writers: SFT, RL (verl), DPO and PRM rows as Parquet shards plus a dataset card.

Pure code over an `ExportSource` (what a version decided, and the rows it decided about), so it
runs and tests without a lake. Rows are ordered by content ids and written without timestamps,
so the same version exports byte for byte the same files.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from thresher.pipeline.outputs import export_folder
from thresher.schemas import InputError, sha256_hex, trace_text
from thresher.text.segment import segment

__all__ = [
    "FORMATS",
    "ExportResult",
    "ExportSource",
    "build_rows",
    "assistant_text",
    "write_export",
]

ExportFormat = Literal["sft", "rl", "dpo", "prm"]
ThinkStyle = Literal["think_tags", "reasoning_field", "plain"]
FORMATS: tuple[str, ...] = ("sft", "rl", "dpo", "prm")
_REJECTABLE = ("incorrect", "flawed_positive:")

_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
SCHEMAS: dict[str, pa.Schema] = {
    "sft": pa.schema(
        [
            ("messages", pa.list_(_MESSAGE)),
            ("reasoning", pa.string()),
            ("trace_id", pa.string()),
            ("problem_id", pa.string()),
            ("source", pa.string()),
            ("model", pa.string()),
            ("mode", pa.string()),
        ]
    ),
    "rl": pa.schema(
        [
            ("data_source", pa.string()),
            ("prompt", pa.list_(_MESSAGE)),
            ("ability", pa.string()),
            ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
            (
                "extra_info",
                pa.struct(
                    [
                        ("split", pa.string()),
                        ("index", pa.int64()),
                        ("problem_id", pa.string()),
                        ("pass_rate", pa.float64()),
                        ("selected_traces", pa.int64()),
                        ("answer", pa.string()),
                        ("question", pa.string()),
                    ]
                ),
            ),
        ]
    ),
    "dpo": pa.schema(
        [
            ("prompt", pa.list_(_MESSAGE)),
            ("chosen", pa.list_(_MESSAGE)),
            ("rejected", pa.list_(_MESSAGE)),
            ("problem_id", pa.string()),
            ("chosen_trace_id", pa.string()),
            ("rejected_trace_id", pa.string()),
            ("rejected_reason", pa.string()),
        ]
    ),
    "prm": pa.schema(
        [
            ("prompt", pa.string()),
            ("completions", pa.list_(pa.string())),
            ("labels", pa.list_(pa.bool_())),
            ("first_error_step", pa.int64()),
            ("trace_id", pa.string()),
            ("problem_id", pa.string()),
            ("reason_code", pa.string()),
        ]
    ),
}


@dataclass
class ExportSource:
    """What one version decided and the rows it decided about (plain dicts, lake-free)."""

    version: str
    snapshot_id: int
    run_id: str
    recipe_hash: str
    head_hash: str
    trace_reasons: dict[str, str]  # trace_id -> reason code ('selected' when kept)
    problem_reasons: dict[str, str]  # problem_id -> reason code
    pass_rates: dict[str, float | None]  # over the policy's pass-rate modes; None: no sample
    problems: dict[str, dict[str, Any]]  # problem_id -> problem row
    rollouts: dict[str, dict[str, Any]]  # trace_id -> rollout row
    flaws: list[dict[str, Any]] = field(default_factory=list)  # flaw label rows
    funnel: dict[str, int] = field(default_factory=dict)
    provenance: dict[str, float] = field(default_factory=dict)  # mean shares, divergence
    recipe_yaml: str = ""
    recipe_name: str = ""
    allow_conditioned: bool = False  # the recipe let reference-conditioned traces in
    created_at: str = ""


@dataclass
class ExportResult:
    """Where an export was written, what it holds, and the card."""

    out: Path
    format: str
    rows: int
    files: list[Path]
    fingerprint: str  # SHA-256 over the files' bytes, in name order


def _split_reasoning(rollout: dict[str, Any]) -> tuple[str, str]:
    reasoning = (rollout.get("reasoning") or "").strip()
    answer = (rollout.get("answer_text") or "").strip()
    if not reasoning and not answer:
        return "", (rollout.get("completion") or "").strip()
    return reasoning, answer


def assistant_text(rollout: dict[str, Any], style: ThinkStyle) -> str:
    """The assistant message for a trace in the chosen think style."""
    reasoning, answer = _split_reasoning(rollout)
    if style == "think_tags" and reasoning:
        return f"<think>\n{reasoning}\n</think>\n\n{answer}".rstrip()
    if style == "reasoning_field":
        return answer or reasoning
    return "\n\n".join(p for p in (reasoning, answer) if p)


def _user(question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}]


def _selected(source: ExportSource) -> list[str]:
    return sorted(t for t, r in source.trace_reasons.items() if r == "selected")


def _sft(source: ExportSource, style: ThinkStyle) -> list[dict[str, Any]]:
    rows = []
    for trace_id in _selected(source):
        rollout = source.rollouts[trace_id]
        problem = source.problems[rollout["problem_id"]]
        reasoning, _ = _split_reasoning(rollout)
        rows.append(
            {
                "messages": _user(problem["question"])
                + [{"role": "assistant", "content": assistant_text(rollout, style)}],
                "reasoning": reasoning if style == "reasoning_field" else None,
                "trace_id": trace_id,
                "problem_id": rollout["problem_id"],
                "source": problem["source"],
                "model": rollout["model"],
                "mode": rollout["mode"],
            }
        )
    return rows


def _rl(source: ExportSource) -> list[dict[str, Any]]:
    kept = sorted(
        pid for pid, r in source.problem_reasons.items() if r in ("selected", "no_trace_selected")
    )
    selected_per_problem: dict[str, int] = defaultdict(int)
    for trace_id in _selected(source):
        selected_per_problem[source.rollouts[trace_id]["problem_id"]] += 1
    rows = []
    for index, pid in enumerate(kept):
        problem = source.problems[pid]
        truth = problem.get("answer") if problem["kind"] != "code" else problem.get("tests_json")
        if truth is None:
            continue
        rows.append(
            {
                "data_source": problem["source"],
                "prompt": _user(problem["question"]),
                "ability": problem["kind"],
                "reward_model": {"style": "rule", "ground_truth": str(truth)},
                "extra_info": {
                    "split": "train",
                    "index": index,
                    "problem_id": pid,
                    "pass_rate": source.pass_rates.get(pid),
                    "selected_traces": selected_per_problem.get(pid, 0),
                    "answer": problem.get("answer"),
                    "question": problem["question"],
                },
            }
        )
    return rows


def _pair_key(trace_id: str) -> str:
    return sha256_hex(trace_id.encode())


def _usable(source: ExportSource, trace_id: str) -> bool:
    """Whether a trace may appear in training data at all: a trace generated with the reference
    solution in its prompt only when the recipe opted in (selected ones already passed that)."""
    rollout = source.rollouts[trace_id]
    return source.allow_conditioned or not rollout.get("conditioned_on_ground_truth")


def _dpo(source: ExportSource, style: ThinkStyle) -> list[dict[str, Any]]:
    chosen: dict[str, list[str]] = defaultdict(list)
    rejected: dict[str, list[str]] = defaultdict(list)
    for trace_id, reason in source.trace_reasons.items():
        pid = source.rollouts[trace_id]["problem_id"]
        if not _usable(source, trace_id):
            continue
        if reason == "selected":
            chosen[pid].append(trace_id)
        elif reason.startswith(_REJECTABLE):
            rejected[pid].append(trace_id)
    rows = []
    for pid in sorted(set(chosen) & set(rejected)):
        good = sorted(chosen[pid], key=_pair_key)
        bad = sorted(rejected[pid], key=_pair_key)
        question = source.problems[pid]["question"]
        # Every rejected trace is paired once; chosen traces are reused round-robin.
        for i, bad_id in enumerate(bad):
            good_id = good[i % len(good)]
            rows.append(
                {
                    "prompt": _user(question),
                    "chosen": [
                        {
                            "role": "assistant",
                            "content": assistant_text(source.rollouts[good_id], style),
                        }
                    ],
                    "rejected": [
                        {
                            "role": "assistant",
                            "content": assistant_text(source.rollouts[bad_id], style),
                        }
                    ],
                    "problem_id": pid,
                    "chosen_trace_id": good_id,
                    "rejected_trace_id": bad_id,
                    "rejected_reason": source.trace_reasons[bad_id],
                }
            )
    return rows


def _first_error(source: ExportSource) -> dict[str, int]:
    first: dict[str, int] = {}
    for flaw in source.flaws:
        step = flaw.get("step")
        if flaw.get("severity") == "error" and step is not None:
            tid = flaw["trace_id"]
            first[tid] = min(first.get(tid, step), step)
    return first


def _prm(source: ExportSource) -> list[dict[str, Any]]:
    first_error = _first_error(source)
    rows = []
    for trace_id in sorted(source.trace_reasons):
        reason = source.trace_reasons[trace_id]
        error_at = first_error.get(trace_id)
        # Per-step labels need to know where the first error is: clean selected traces (all
        # steps good) and traces with a located error; an unlocated wrong answer is left out.
        if (reason != "selected" and error_at is None) or not _usable(source, trace_id):
            continue
        rollout = source.rollouts[trace_id]
        text = trace_text(
            rollout.get("completion") or "",
            rollout.get("prompt") or "",
            rollout.get("prefix_chars"),
        ) or ((rollout.get("reasoning") or "") + (rollout.get("answer_text") or ""))
        steps = [s.text for s in segment(text)]
        if not steps:
            continue
        if error_at is not None:
            error_at = min(error_at, len(steps) - 1)
        labels = [error_at is None or i < error_at for i in range(len(steps))]
        rows.append(
            {
                "prompt": source.problems[rollout["problem_id"]]["question"],
                "completions": steps,
                "labels": labels,
                "first_error_step": error_at,
                "trace_id": trace_id,
                "problem_id": rollout["problem_id"],
                "reason_code": reason,
            }
        )
    return rows


def build_rows(source: ExportSource, fmt: str, think_style: ThinkStyle = "think_tags") -> pa.Table:
    """The rows of one export format as an Arrow table, in a deterministic order."""
    if fmt == "sft":
        rows = _sft(source, think_style)
    elif fmt == "rl":
        rows = _rl(source)
    elif fmt == "dpo":
        rows = _dpo(source, think_style)
    elif fmt == "prm":
        rows = _prm(source)
    else:
        raise InputError(
            f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}", field="--format"
        )
    return pa.Table.from_pylist(rows, schema=SCHEMAS[fmt])


def write_export(
    table: pa.Table,
    out: Path,
    fmt: str,
    card: str,
    shard_rows: int = 50_000,
    extra: dict[str, str] | None = None,
) -> ExportResult:
    """Write Parquet shards under out/data, the card as out/README.md and `extra` text files
    (name -> text, e.g. the report), all in one staged, atomic step.

    `out` must be new, empty, or an earlier thresher export (its marker says so): anything
    else is refused untouched. The files are staged beside or inside `out` and renamed into
    place when all are written; a re-export removes only files an earlier export wrote.
    """
    with export_folder(out, {"format": fmt}) as staging:
        data = staging / "data"
        data.mkdir()
        shards = max(1, -(-table.num_rows // shard_rows))
        names = []
        for index in range(shards):
            part = table.slice(index * shard_rows, shard_rows)
            name = f"data/train-{index:05d}-of-{shards:05d}.parquet"
            pq.write_table(part, staging / name, compression="zstd", write_statistics=True)
            names.append(name)
        (staging / "README.md").write_text(card, encoding="utf-8")
        names.append("README.md")
        digest = sha256_hex(  # the data and its card; extra files do not change the identity
            b"".join(sha256_hex((staging / n).read_bytes()).encode() for n in sorted(names))
        )
        for name, text in (extra or {}).items():
            (staging / name).write_text(text, encoding="utf-8")
    files = [out / n for n in names] + [out / n for n in (extra or {})]
    return ExportResult(out, fmt, table.num_rows, files, digest)


def format_names(formats: Sequence[str]) -> list[str]:
    """Validate export format names (unknown ones fail with the known list)."""
    for fmt in formats:
        if fmt not in FORMATS:
            raise InputError(
                f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}", field="--format"
            )
    return list(formats)
