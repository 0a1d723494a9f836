"""The lake: DuckLake catalog + Parquet data, versions, read-only SQL, import and export readers."""

from thresher.storage.errors import LakeBusyError, LakeError, ReadOnlyQueryError
from thresher.storage.lake import Lake
from thresher.storage.location import DEFAULT_LAKE, LakeLocation, parse_location, resolve_lake
from thresher.storage.problem_sets import (
    known_problem_sets,
    load_problems,
    problem_ids,
    require_problem_set,
)
from thresher.storage.tables import (
    DECISION_EVENTS,
    LEGACY_DECISIONS,
    TABLES,
    TableSpec,
    table_spec,
)

__all__ = [
    "DECISION_EVENTS",
    "LEGACY_DECISIONS",
    "DEFAULT_LAKE",
    "TABLES",
    "Lake",
    "LakeBusyError",
    "LakeError",
    "LakeLocation",
    "ReadOnlyQueryError",
    "TableSpec",
    "known_problem_sets",
    "load_problems",
    "parse_location",
    "problem_ids",
    "require_problem_set",
    "resolve_lake",
    "table_spec",
]
