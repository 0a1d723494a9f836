"""The lake's tables: one record type each, its content key, and the migration that creates it."""

from __future__ import annotations

from dataclasses import dataclass

from thresher.schemas import (
    ContaminationFlag,
    DatasetVersion,
    DecisionEvent,
    DecisionEventV1,
    DedupAssignment,
    FlawLabel,
    GenerationSkip,
    LabelPass,
    Problem,
    QuarantineRow,
    Record,
    Rollout,
    SentenceScore,
    TraceEmbedding,
    TraceScore,
    Verdict,
)
from thresher.schemas.errors import NotFoundError
from thresher.schemas.recipe import RecipeRecord
from thresher.schemas.stats import ProblemStats

__all__ = [
    "ADDED_COLUMNS",
    "DECISION_EVENTS",
    "LEGACY_DECISIONS",
    "TABLES",
    "AddedColumns",
    "TableSpec",
    "table_spec",
]

# Decision events: DES 0.3.0 events (thresher-chain/2) in one table; those recorded before it
# (thresher-chain/1) stay, read only, in the other.
DECISION_EVENTS = "decision_events"
LEGACY_DECISIONS = "decisions"


@dataclass(frozen=True)
class TableSpec:
    """A lake table: its record model, the SQL expressions of its key, and its migration name."""

    name: str
    model: type[Record]
    key: tuple[str, ...]  # column names or dotted struct paths, compared NULL-safely
    migration: str


# Append new tables at the end with the next migration number; never rename a migration.
TABLES: list[TableSpec] = [
    TableSpec("problems", Problem, ("problem_id",), "0001_create_problems"),
    TableSpec("rollouts", Rollout, ("trace_id",), "0002_create_rollouts"),
    TableSpec("verdicts", Verdict, ("trace_id", "verifier"), "0003_create_verdicts"),
    TableSpec(
        "flaw_labels",
        FlawLabel,
        ("trace_id", "labeler", "flaw_type", "step"),
        "0004_create_flaw_labels",
    ),
    TableSpec(
        "sentence_scores",
        SentenceScore,
        ("trace_id", "scorer", "sentence_index"),
        "0005_create_sentence_scores",
    ),
    TableSpec(
        "dedup_assignments",
        DedupAssignment,
        ("trace_id", "method", "embedder", "threshold"),
        "0006_create_dedup_assignments",
    ),
    TableSpec(  # the decision events of thresher-chain/1 (read only; new ones go below)
        "decisions",
        DecisionEventV1,
        ("decision_context.decision_id",),
        "0007_create_decisions",
    ),
    TableSpec("dataset_versions", DatasetVersion, ("name",), "0008_create_dataset_versions"),
    TableSpec(
        "quarantine",
        QuarantineRow,
        ("source", "location", "field", "reason"),
        "0009_create_quarantine",
    ),
    TableSpec("trace_scores", TraceScore, ("trace_id", "scorer"), "0010_create_trace_scores"),
    TableSpec("embeddings", TraceEmbedding, ("trace_id", "embedder"), "0011_create_embeddings"),
    TableSpec(
        "contamination_flags",
        ContaminationFlag,
        ("problem_id", "benchmark", "benchmark_item", "method", "n"),
        "0012_create_contamination_flags",
    ),
    TableSpec("recipes", RecipeRecord, ("recipe_hash",), "0013_create_recipes"),
    TableSpec(
        "generation_skips",
        GenerationSkip,
        ("trace_id", "reason"),
        "0014_create_generation_skips",
    ),
    TableSpec(
        "problem_stats",
        ProblemStats,
        ("problem_id", "verifier", "model", "mode", "n_samples", "n_checked", "n_correct",
         "n_undecided"),
        "0015_create_problem_stats",
    ),
    TableSpec("label_passes", LabelPass, ("trace_id", "labeler"), "0018_create_label_passes"),
    TableSpec(
        "decision_events",
        DecisionEvent,
        ("decision_context.decision_id",),
        "0019_create_decision_events",
    ),
]  # fmt: skip


@dataclass(frozen=True)
class AddedColumns:
    """Columns added to an existing table; they must be the record's last fields, in order,
    so that lakes created before and after the migration have the same column order."""

    migration: str
    table: str
    columns: tuple[str, ...]


# Run after the table migrations, in order; on a lake created fresh they are no-ops.
ADDED_COLUMNS: list[AddedColumns] = [
    AddedColumns(
        "0016_problem_stats_per_model_mode", "problem_stats", ("model", "mode", "n_undecided")
    ),
    AddedColumns("0020_dataset_versions_decisions_head", "dataset_versions", ("decisions_head",)),
]


def table_spec(name: str) -> TableSpec:
    """The spec of a table by name; unknown names fail with the list of known ones."""
    for spec in TABLES:
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in TABLES)
    raise NotFoundError(f"no lake table named {name!r}; known tables: {known}")
