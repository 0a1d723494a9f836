"""Load DuckDB extensions from their PyPI packages, so nothing is downloaded at run time."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb

from thresher.schemas.errors import ThresherError

__all__ = ["load_extension", "extension_file"]

# extension name -> the PyPI package that ships it
_PACKAGES = {
    "ducklake": "duckdb-extension-ducklake",
    "sqlite_scanner": "duckdb-extension-sqlite-scanner",
    "postgres_scanner": "duckdb-extension-postgres-scanner",
}


def extension_file(name: str) -> Path:
    """The .duckdb_extension file of an extension shipped in a PyPI package."""
    package = _PACKAGES[name]
    spec = importlib.util.find_spec(package.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        raise ThresherError(
            f"the DuckDB extension {name!r} is not installed",
            hint=f"pip install {package}=={duckdb.__version__}",
        )
    root = Path(spec.submodule_search_locations[0]) / "extensions" / f"v{duckdb.__version__}"
    path = root / f"{name}.duckdb_extension"
    if not path.exists():
        raise ThresherError(
            f"{package} has no build of {name!r} for duckdb {duckdb.__version__} (looked in {root})",
            hint=f"install matching versions: pip install duckdb=={duckdb.__version__} "
            f"{package}=={duckdb.__version__}",
        )
    return path


def load_extension(conn: duckdb.DuckDBPyConnection, name: str) -> None:
    """Load an extension into a connection from its installed package file."""
    conn.execute(f"LOAD '{extension_file(name)}'")
