"""Parquet files no snapshot references (a killed or disk-full commit), removed on the next open.

A writer holds an exclusive `flock` on `<data>/.thresher-writers/<token>.lock` for as long as its
lake is open and names every data file it writes `thresher-<token>-<uuid>.parquet`. An
unreferenced file is removed only when its writer's lock is free (that writer has exited, so every
commit it made is already in the catalog) or, for files of unknown origin, when this process
holds the catalog exclusively (a DuckDB-file catalog) or the file is a day old. The catalog is read
after the writers' locks are checked, so a file committed by a writer that just exited is seen as
live. A live file (referenced by any snapshot, old ones included) is never removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import socket
import time
import uuid
from pathlib import Path
from typing import IO

import duckdb

__all__ = ["WRITERS_DIR", "WriterToken", "clean_orphans", "live_files"]

WRITERS_DIR = ".thresher-writers"
_OURS = re.compile(r"^thresher-([0-9a-f]{16})-[0-9a-f]{32}\.parquet$")
_STALE_S = 24 * 3600  # files of unknown origin on a shared catalog: removed when this old


class WriterToken:
    """This writer's id and its lock: other writers leave its unreferenced files alone."""

    def __init__(self, data_path: str) -> None:
        self.token = uuid.uuid4().hex[:16]
        self._folder = Path(data_path) / WRITERS_DIR
        self._folder.mkdir(parents=True, exist_ok=True)
        self._path = self._folder / f"{self.token}.lock"
        # Locked before it gets its name, so no cleaner ever sees this lock file unlocked.
        pending = self._folder / f"{self.token}.pending"
        self._file: IO[str] | None = pending.open("w")
        fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._file.write(f"{socket.gethostname()} {os.getpid()}\n")
        self._file.flush()
        pending.rename(self._path)

    def file_name(self) -> str:
        """A fresh data file name carrying this writer's token."""
        return f"thresher-{self.token}-{uuid.uuid4().hex}.parquet"

    def release(self) -> None:
        """Drop the lock (the process is done writing)."""
        if self._file is not None:
            self._path.unlink(missing_ok=True)
            self._file.close()
            self._file = None


def _writer_alive(folder: Path, token: str) -> bool:
    """Whether the writer with this token still holds its lock (on this host)."""
    path = folder / f"{token}.lock"
    try:
        handle = path.open("r+")
    except FileNotFoundError:
        return False
    with handle:
        owner = handle.readline().split(" ", 1)[0]
        if owner and owner != socket.gethostname():
            return True  # another host's lock cannot be tested here: assume it is alive
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def live_files(conn: duckdb.DuckDBPyConnection, alias: str, data_path: str) -> set[str]:
    """Absolute paths of every file any snapshot of the lake references."""
    meta = f"__ducklake_metadata_{alias}"
    root = data_path.rstrip("/") + "/"
    rows = conn.execute(
        f"""
        WITH s AS (SELECT DISTINCT schema_id, path, path_is_relative FROM {meta}.ducklake_schema),
        t AS (SELECT DISTINCT table_id, schema_id, path, path_is_relative FROM {meta}.ducklake_table),
        f AS (SELECT table_id, path, path_is_relative FROM {meta}.ducklake_data_file
              UNION ALL SELECT table_id, path, path_is_relative FROM {meta}.ducklake_delete_file)
        SELECT s.path, s.path_is_relative, t.path, t.path_is_relative, f.path, f.path_is_relative
        FROM f JOIN t USING (table_id) JOIN s USING (schema_id)
        """
    ).fetchall()
    live: set[str] = set()
    for s_path, s_rel, t_path, t_rel, f_path, f_rel in rows:
        path = f_path
        if f_rel:
            table = t_path if not t_rel else (s_path if not s_rel else root + s_path) + t_path
            path = table + f_path
        live.add(os.path.realpath(path))
    scheduled = conn.execute(
        f"SELECT path, path_is_relative FROM {meta}.ducklake_files_scheduled_for_deletion"
    ).fetchall()
    live.update(os.path.realpath(root + p if rel else p) for p, rel in scheduled)
    return live


def clean_orphans(
    conn: duckdb.DuckDBPyConnection, alias: str, data_path: str, *, exclusive: bool
) -> list[Path]:
    """Remove unreferenced Parquet files under a local data path; returns what was removed."""
    if "://" in data_path or not Path(data_path).is_dir():
        return []
    folder = Path(data_path) / WRITERS_DIR
    now = time.time()
    candidates: list[Path] = []
    alive: dict[str, bool] = {}
    for path in Path(data_path).rglob("*.parquet"):
        match = _OURS.match(path.name)
        if match:
            token = match.group(1)
            if token not in alive:
                alive[token] = _writer_alive(folder, token)
            if not alive[token]:
                candidates.append(path)
        elif exclusive or _age(path, now) > _STALE_S:
            candidates.append(path)
    removed: list[Path] = []
    if candidates:
        live = live_files(conn, alias, data_path)  # read after the locks: see the note above
        for path in candidates:
            if os.path.realpath(path) not in live:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
    _sweep_locks(folder, now)
    return removed


def _sweep_locks(folder: Path, now: float) -> None:
    """Drop the lock files of writers that have exited (their files are settled above)."""
    if not folder.is_dir():
        return
    for lock in folder.glob("*.lock"):
        if not _writer_alive(folder, lock.stem):
            lock.unlink(missing_ok=True)
    for pending in folder.glob("*.pending"):  # a writer killed while taking its lock
        if _age(pending, now) > 3600:
            pending.unlink(missing_ok=True)


def _age(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
