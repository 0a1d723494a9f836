"""Running lake transactions: all or nothing, and again when another writer committed first."""

from __future__ import annotations

import contextlib
import fcntl
import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import duckdb

from thresher.storage.errors import LakeError, disk_full_error, is_disk_full, one_line
from thresher.storage.location import LakeLocation

__all__ = ["in_transaction", "one_writer_at_a_time", "retrying"]

T = TypeVar("T")
# Errors after which a transaction is simply run again: another writer committed first.
_RETRYABLE = ("conflict", "database is locked", "could not serialize", "deadlock detected")
_MAX_ATTEMPTS = 60


def in_transaction(conn: duckdb.DuckDBPyConnection, work: Callable[[], T]) -> T:
    """Run `work` between BEGIN and COMMIT; roll back on any error."""
    conn.execute("BEGIN TRANSACTION")
    try:
        result = work()
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # a failed COMMIT has already ended it
            conn.execute("ROLLBACK")
        raise
    return result


@contextlib.contextmanager
def one_writer_at_a_time(location: LakeLocation) -> Iterator[None]:
    """On a SQLite catalog, hold an exclusive lock (`catalog.sqlite.lock`, an `flock`) for the
    length of a write transaction, so processes writing one lake take turns.

    SQLite admits one writer at a time anyway (the others failed with "database is locked" and
    retried), and the ducklake extension can crash a process (SIGSEGV in its name map,
    duckdb/ducklake#1431) when two processes register new files in one table at once: it killed
    a writer in `tests/storage/test_lake_concurrency.py` once. A DuckDB-file catalog has one
    writing process; a PostgreSQL catalog's writers share no file system, and keep retrying.
    """
    if not location.shared or location.catalog_file is None:
        yield
        return
    path = location.catalog_file.with_name(location.catalog_file.name + ".lock")
    with open(path, "a") as handle:  # a killed holder's lock ends with its process
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def retrying(work: Callable[[], T], what: str, location: LakeLocation) -> T:
    """Run a transaction, again after a conflict with another writer; errors in one line."""
    delay = 0.02
    attempt = 0
    while True:
        attempt += 1
        try:
            return work()
        except (duckdb.Error, OSError) as exc:
            if is_disk_full(exc):
                raise disk_full_error(location.data_path, exc) from exc
            text = str(exc).lower()
            retry = isinstance(exc, duckdb.Error) and any(part in text for part in _RETRYABLE)
            if retry and attempt < _MAX_ATTEMPTS:
                time.sleep(delay * (0.5 + random.random()))  # jitter: writers desynchronise
                delay = min(delay * 1.6, 1.0)
                continue
            raise LakeError(
                f"could not {what} in the lake at {location.display}: {one_line(exc)}"
            ) from exc
