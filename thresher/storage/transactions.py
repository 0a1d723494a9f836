"""Running lake transactions: all or nothing, and again when another writer committed first."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from typing import TypeVar

import duckdb

from thresher.storage.errors import LakeError, disk_full_error, is_disk_full, one_line
from thresher.storage.location import LakeLocation

__all__ = ["in_transaction", "retrying"]

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
