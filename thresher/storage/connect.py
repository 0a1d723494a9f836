"""DuckDB connections to a lake: extensions from packages, attach with retries, then lock down.

Every connection thresher opens starts with extension autoinstall and autoload off (extensions
come only from their PyPI packages), attaches the lake with the data path resolved from where
the lake is now (so a copied or moved lake opens), and then turns external access off except for
the lake's own files and locks the configuration, so no query can read host files, reach the
network or change those settings back.

A DuckDB-file catalog has one writing process. A reader that finds it locked attaches a private,
consistent copy of the catalog file (the catalog holds only metadata; the Parquet data it points
to is never rewritten), so readers work while a writer runs and see the last committed snapshot.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from thresher.storage.errors import LakeBusyError, LakeError, one_line
from thresher.storage.extensions import load_extension
from thresher.storage.location import LakeLocation

__all__ = ["ALIAS", "Attached", "attach", "new_connection", "sql_string"]

ALIAS = "lake"
_SAFE_CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
}
# Errors two processes get when they create or commit to a fresh shared catalog at once.
_RACES = (
    "already exists",
    "database is locked",
    "duplicate key",
    "conflict",
    "could not serialize",
)
_BUSY = ("could not set lock on file", "unique file handle conflict")


def sql_string(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def new_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that never installs or autoloads an extension."""
    conn = duckdb.connect(config=dict(_SAFE_CONFIG))
    conn.execute("SET enable_progress_bar = false")
    return conn


@dataclass
class Attached:
    """A connection with the lake attached as `lake`, and how it was reached."""

    conn: duckdb.DuckDBPyConnection
    note: str = ""  # set when the reader had to use a copy of a locked catalog
    _copy_dir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def close(self) -> None:
        """Close the connection and remove a catalog copy, if one was made."""
        self.conn.close()
        if self._copy_dir is not None:
            self._copy_dir.cleanup()


def attach(loc: LakeLocation, *, read_only: bool, wait_s: float = 0.0) -> Attached:
    """Attach the lake at `loc` on a fresh, locked-down connection.

    A writer waits up to `wait_s` for a DuckDB-file catalog another process is writing; a reader
    reads a consistent copy of it instead. Creation races on a fresh shared catalog are retried.
    """
    deadline = time.monotonic() + wait_s
    delay = 0.05
    races = 0
    while True:
        conn = new_connection()
        try:
            _attach_once(conn, loc, loc.attach, read_only)
            lock_down(conn, loc)
            return Attached(conn)
        except duckdb.Error as exc:
            conn.close()
            text = str(exc).lower()
            if any(part in text for part in _BUSY) and loc.catalog_file is not None:
                if read_only:
                    return _attach_copy(loc, exc)
                if time.monotonic() < deadline:
                    time.sleep(delay)
                    delay = min(delay * 1.5, 1.0)
                    continue
                raise _busy(loc, exc) from exc
            if any(part in text for part in _RACES) and races < 20:
                races += 1
                time.sleep(delay * (1 + races % 3))
                delay = min(delay * 1.5, 1.0)
                continue
            raise LakeError(f"cannot open the lake at {loc.display}: {one_line(exc)}") from exc


def _attach_once(
    conn: duckdb.DuckDBPyConnection, loc: LakeLocation, target: str, read_only: bool
) -> None:
    load_extension(conn, "ducklake")
    for name in loc.extensions:
        load_extension(conn, name)
    # The data path comes from where the lake is now, not from the catalog: a moved lake opens.
    options = [f"DATA_PATH {sql_string(loc.data_path)}", "OVERRIDE_DATA_PATH true"]
    if loc.catalog_file is not None and loc.extensions == ("sqlite_scanner",):
        options.append("META_JOURNAL_MODE 'WAL'")  # readers never block the writer's commit
    if read_only:
        options.append("READ_ONLY")
    conn.execute(f"ATTACH {sql_string(target)} AS {ALIAS} ({', '.join(options)})")


def lock_down(conn: duckdb.DuckDBPyConnection, loc: LakeLocation) -> None:
    """External access off except the lake's own files; the configuration locked."""
    directories = [loc.data_path]
    paths: list[str] = []
    if loc.catalog_file is not None and loc.extensions == ("sqlite_scanner",):
        base = str(loc.catalog_file)
        paths = [base, base + "-wal", base + "-shm", base + "-journal"]
    conn.execute(f"SET allowed_directories = [{', '.join(map(sql_string, directories))}]")
    if paths:
        conn.execute(f"SET allowed_paths = [{', '.join(map(sql_string, paths))}]")
    conn.execute("SET enable_external_access = false")
    conn.execute("SET lock_configuration = true")


def _holder(exc: duckdb.Error) -> str:
    """Who holds a DuckDB-file catalog, from DuckDB's lock error."""
    pid = re.search(r"\(PID (\d+)\)", str(exc))
    return f"another process (PID {pid.group(1)})" if pid else "another open lake in this process"


def _busy(loc: LakeLocation, exc: duckdb.Error) -> LakeBusyError:
    return LakeBusyError(
        f"the lake at {loc.display} is being written by {_holder(exc)}; "
        "a DuckDB-file catalog has one writer at a time",
        hint="wait for that command to finish (read-only commands such as `thresher sql` work "
        "meanwhile), or keep the lake in a 'sqlite:DIR' or 'postgres:DSN|DATA_PATH' catalog, "
        "which several processes can write at once",
    )


def _attach_copy(loc: LakeLocation, busy: duckdb.Error) -> Attached:
    """Attach a private copy of a catalog another process holds for writing (read-only)."""
    assert loc.catalog_file is not None
    last: Exception = busy
    for _ in range(20):
        folder = tempfile.TemporaryDirectory(prefix="thresher-catalog-")
        try:
            copy = Path(folder.name) / loc.catalog_file.name
            _stable_copy(loc.catalog_file, copy)
            conn = new_connection()
            try:
                _attach_once(conn, loc, f"ducklake:{copy}", read_only=True)
                lock_down(conn, loc)
            except duckdb.Error:
                conn.close()
                raise
            note = (
                f"{_holder(busy)} is writing the lake at {loc.display}; "
                "this read shows its last committed snapshot"
            )
            return Attached(conn, note=note, _copy_dir=folder)
        except (duckdb.Error, OSError) as exc:  # a copy taken mid-write: take another
            folder.cleanup()
            last = exc
            time.sleep(0.1)
    raise LakeError(
        f"cannot read the lake at {loc.display} while another process writes it: {one_line(last)}",
        hint="run the read again when the writing command has finished",
    ) from last


def _stable_copy(catalog: Path, copy: Path) -> None:
    """Copy the catalog and its write-ahead log, retrying until two reads agree byte for byte."""
    sources = [catalog, catalog.with_name(catalog.name + ".wal")]
    for _ in range(50):
        first = [_read(p) for p in sources]
        second = [_read(p) for p in sources]
        if first == second:
            for source, data in zip(sources, first, strict=True):
                if data is not None:
                    (copy.parent / source.name.replace(catalog.name, copy.name)).write_bytes(data)
            return
        time.sleep(0.02)
    raise OSError(f"the catalog {catalog} kept changing while it was copied")


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
