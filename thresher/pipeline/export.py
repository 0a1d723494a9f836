"""Export writers: SFT, RL (verl), DPO, PRM and OPSD rows as Parquet shards plus a dataset card.

Pure code over an `ExportSource` (what a version decided, and the rows it decided about), so it
runs and tests without a lake. Rows are ordered by content ids and written without timestamps,
so the same version exports byte for byte the same files. The shard names carry a digest of the
rows (`data/train-00000-of-00001-<digest>.parquet`) and the card's `configs` name them, so two
exports never share a `datasets` cache entry (its key for a local folder ignores file contents).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from thresher.pipeline.formats import (
    ThinkStyle,
    assistant_text,
    dpo_rows,
    layout_for,
    message_type,
    opsd_rows,
    rl_rows,
    sft_rows,
)
from thresher.pipeline.outputs import export_folder
from thresher.pipeline.prm import prm_rows
from thresher.schemas import InputError, sha256_hex

__all__ = [
    "FORMATS",
    "ExportResult",
    "ExportSource",
    "Shards",
    "ThinkStyle",
    "assistant_text",
    "build_rows",
    "format_names",
    "schema_for",
    "write_export",
]

FORMATS: tuple[str, ...] = ("sft", "rl", "dpo", "prm", "opsd")

_STR = pa.string()
_EXTRA = pa.struct(
    [
        ("split", _STR),
        ("index", pa.int64()),
        ("problem_id", _STR),
        ("kind", _STR),
        ("verifier", _STR),
        ("pass_rate", pa.float64()),
        ("selected_traces", pa.int64()),
        ("answer", _STR),
        ("question", _STR),
    ]
)
_TRACE_IDS = [("trace_id", _STR), ("problem_id", _STR), ("source", _STR), ("model", _STR)]


def schema_for(fmt: str, layout: str, style: ThinkStyle = "think_tags") -> pa.Schema:
    """The Arrow schema of one format's layout (messages carry `reasoning_content` when the
    reasoning goes there)."""
    chat = pa.list_(message_type(style))
    if fmt == "sft":
        shape = (
            [("prompt", chat), ("completion", chat)]
            if layout == "prompt_completion"
            else [("messages", chat)]
        )
        return pa.schema(shape + _TRACE_IDS + [("mode", _STR)])
    if fmt == "rl":
        return pa.schema(
            [
                ("data_source", _STR),
                ("prompt", pa.list_(message_type("plain"))),
                ("ability", _STR),
                ("reward_model", pa.struct([("style", _STR), ("ground_truth", _STR)])),
                ("extra_info", _EXTRA),
                ("question", _STR),
                ("answer", _STR),
                ("solution", _STR),
            ]
        )
    if fmt == "dpo":
        text = _STR if layout == "strings" else chat
        return pa.schema(
            [("prompt", text), ("chosen", text), ("rejected", text), ("problem_id", _STR)]
            + [("chosen_trace_id", _STR), ("rejected_trace_id", _STR), ("rejected_reason", _STR)]
        )
    if fmt == "prm" and layout == "critic":
        return pa.schema(
            [
                ("id", _STR),
                ("generator", _STR),
                ("problem", _STR),
                ("steps", pa.list_(_STR)),
                ("final_answer_correct", pa.bool_()),
                ("label", pa.int64()),
                ("problem_id", _STR),
                ("reason_code", _STR),
            ]
        )
    if fmt == "prm":
        return pa.schema(
            [
                ("prompt", _STR),
                ("completions", pa.list_(_STR)),
                ("labels", pa.list_(pa.bool_())),
                ("first_error_step", pa.int64()),
                ("trace_id", _STR),
                ("problem_id", _STR),
                ("reason_code", _STR),
            ]
        )
    return pa.schema(
        [
            ("prompt", pa.list_(message_type("plain"))),
            ("privileged_context", _STR),
            ("privileged_kind", _STR),
            ("answer", _STR),
            ("problem_id", _STR),
            ("source", _STR),
        ]
    )


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
    correct: dict[str, bool | None] = field(default_factory=dict)  # trace_id -> verdict
    verifiers: dict[str, str] = field(default_factory=dict)  # problem_id -> verifier that judged
    license: str | None = None  # the recipe's export.license, else the problem source's
    license_origin: str = ""  # where the license came from, for the card
    overrides: int = 0  # decisions where a human review overrode the policy


@dataclass
class ExportResult:
    """Where an export was written, what it holds, and the card."""

    out: Path
    format: str
    rows: int
    files: list[Path]
    fingerprint: str  # SHA-256 over the files' bytes, in name order


@dataclass(frozen=True)
class Shards:
    """The data files of an export as written: what a card's `configs`/`dataset_info` need."""

    names: list[str]  # relative to the export folder, in order
    pattern: str  # a glob matching exactly these files
    digest: str  # content digest of the rows (in every shard name)
    rows: int
    num_bytes: int  # Arrow bytes of the rows (`datasets`' dataset_size)
    download_size: int  # Parquet bytes
    schema: pa.Schema


def build_rows(
    source: ExportSource,
    fmt: str,
    think_style: ThinkStyle = "think_tags",
    *,
    layout: str | None = None,
    answer_instruction: str | None = None,
) -> pa.Table:
    """The rows of one export format (in one of its layouts) as an Arrow table, in order."""
    (fmt,) = format_names([fmt])
    lay = layout_for(fmt, layout).name
    rows: list[dict[str, Any]]
    if fmt == "sft":
        rows = sft_rows(source, think_style, lay)
    elif fmt == "rl":
        rows = rl_rows(source, answer_instruction)
    elif fmt == "dpo":
        rows = dpo_rows(source, think_style, lay)
    elif fmt == "prm":
        rows = prm_rows(source, lay)
    else:
        rows = opsd_rows(source, answer_instruction)
    return pa.Table.from_pylist(rows, schema=schema_for(fmt, lay, think_style))


def write_export(
    table: pa.Table,
    out: Path,
    fmt: str,
    card: str | Callable[[Shards], str],
    shard_rows: int = 50_000,
    extra: dict[str, str] | None = None,
) -> ExportResult:
    """Write Parquet shards under out/data, the card as out/README.md and `extra` text files
    (name -> text, e.g. the report), all in one staged, atomic step.

    `card` is the text or a function of the written shards (names, sizes) that renders it.
    `out` must be new, empty, or an earlier thresher export (its marker says so): anything
    else is refused untouched. The files are staged beside or inside `out` and renamed into
    place when all are written; a re-export removes only files an earlier export wrote.
    """
    with export_folder(out, {"format": fmt}) as staging:
        data = staging / "data"
        data.mkdir()
        count = max(1, -(-table.num_rows // shard_rows))
        staged = []
        for index in range(count):
            part = table.slice(index * shard_rows, shard_rows)
            path = data / f".part-{index:05d}"
            pq.write_table(part, path, compression="zstd", write_statistics=True)
            staged.append(path)
        digest = sha256_hex(b"".join(sha256_hex(p.read_bytes()).encode() for p in staged))[:16]
        names = []
        for index, path in enumerate(staged):
            name = f"data/train-{index:05d}-of-{count:05d}-{digest}.parquet"
            path.rename(staging / name)
            names.append(name)
        shards = Shards(
            names=list(names),
            pattern=f"data/train-*-{digest}.parquet",
            digest=digest,
            rows=table.num_rows,
            num_bytes=table.nbytes,
            download_size=sum((staging / n).stat().st_size for n in names),
            schema=table.schema,
        )
        text = card(shards) if callable(card) else card
        (staging / "README.md").write_text(text, encoding="utf-8")
        names.append("README.md")
        fingerprint = sha256_hex(  # the data and its card; extra files do not change it
            b"".join(sha256_hex((staging / n).read_bytes()).encode() for n in sorted(names))
        )
        for name, extra_text in (extra or {}).items():
            (staging / name).write_text(extra_text, encoding="utf-8")
    files = [out / n for n in names] + [out / n for n in (extra or {})]
    return ExportResult(out, fmt, table.num_rows, files, fingerprint)


def format_names(formats: Sequence[str]) -> list[str]:
    """Validate export format names (unknown ones fail with the known list)."""
    for fmt in formats:
        if fmt not in FORMATS:
            raise InputError(
                f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}", field="--format"
            )
    return list(formats)
