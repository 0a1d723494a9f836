"""The lake: DuckLake catalog + Parquet data, versions, read-only SQL, import and export readers."""

from thresher.storage.errors import LakeBusyError, LakeError, ReadOnlyQueryError
from thresher.storage.lake import DEFAULT_LAKE, Lake
from thresher.storage.location import LakeLocation, parse_location
from thresher.storage.tables import TABLES, TableSpec, table_spec

__all__ = [
    "DEFAULT_LAKE",
    "TABLES",
    "Lake",
    "LakeBusyError",
    "LakeError",
    "LakeLocation",
    "ReadOnlyQueryError",
    "TableSpec",
    "parse_location",
    "table_spec",
]
