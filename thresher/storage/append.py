"""How a batch becomes rows of a lake table: drop keys already present, then write the rest.

Idempotency rests on a per-table set of key hashes held in memory, valid while only this process
has written since it was loaded (checked against the latest snapshot id). A hash hit is confirmed
with an exact key comparison in SQL, so a hash collision can never drop a row. Large batches are
written by pyarrow straight into the table's data folder and registered with
`ducklake_add_data_files` inside the batch's transaction: until COMMIT the file is invisible, and a
crash leaves at most an orphan file that no snapshot references.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["KeyIndex", "new_rows", "write_rows", "FILE_ROWS"]

# From this many rows on, a batch is written as its own Parquet file; smaller ones are inserted
# through DuckDB (which may inline them in the catalog rather than write a tiny file).
FILE_ROWS = 2048
_BATCH = "_thresher_batch"


class KeyIndex:
    """Hashes of the keys present in each table, as of one snapshot."""

    def __init__(self) -> None:
        self._hashes: dict[str, set[int]] = {}
        self._snapshot: int | None = None

    def sync(self, snapshot: int) -> None:
        """Forget everything if another writer committed since this index was last updated."""
        if snapshot != self._snapshot:
            self._hashes.clear()
            self._snapshot = snapshot

    def mark(self, snapshot: int) -> None:
        """Record the snapshot this index is now current for (after our own commit)."""
        self._snapshot = snapshot

    def get(
        self, conn: duckdb.DuckDBPyConnection, table_sql: str, keys: tuple[str, ...]
    ) -> set[int]:
        """The key hashes of a table, loaded once from the lake."""
        if table_sql not in self._hashes:
            hashes = conn.execute(
                f"SELECT hash({', '.join(keys)}) AS h FROM {table_sql}"
            ).fetchnumpy()["h"]
            self._hashes[table_sql] = set(hashes.tolist())
        return self._hashes[table_sql]

    def forget(self, table_sql: str) -> None:
        """Drop one table's hashes (after a failed write)."""
        self._hashes.pop(table_sql, None)


def new_rows(
    conn: duckdb.DuckDBPyConnection,
    table_sql: str,
    keys: tuple[str, ...],
    data: pa.Table,
    present: set[int],
) -> tuple[pa.Table, list[int]]:
    """The rows of `data` whose key is neither in the table nor earlier in the batch."""
    conn.register(_BATCH, data)
    try:
        hashes = conn.execute(f"SELECT hash({', '.join(keys)}) AS h FROM {_BATCH}").fetchnumpy()[
            "h"
        ]
        keep: list[int] = []
        suspects: list[int] = []
        seen: set[int] = set()
        for row, value in enumerate(hashes.tolist()):
            if value in present or value in seen:
                suspects.append(row)  # already stored, repeated in the batch, or a collision
            else:
                seen.add(value)
                keep.append(row)
        if suspects:
            keep = _confirm(conn, table_sql, keys, keep, suspects)
    finally:
        conn.unregister(_BATCH)
    kept = data.take(pa.array(keep, pa.int64())) if len(keep) != data.num_rows else data
    return kept, [int(hashes[i]) for i in keep]


def _confirm(
    conn: duckdb.DuckDBPyConnection,
    table_sql: str,
    keys: tuple[str, ...],
    keep: list[int],
    suspects: list[int],
) -> list[int]:
    """Settle hash hits exactly: keep a suspect only if its key is truly new."""
    match = " AND ".join(f"t.{k} IS NOT DISTINCT FROM b.{k}" for k in keys)
    numbered = f"(SELECT row_number() OVER () - 1 AS _row, * FROM {_BATCH}) AS b"
    rows = ", ".join(str(i) for i in suspects)
    in_table = {
        r[0]
        for r in conn.execute(
            f"SELECT b._row FROM {numbered} WHERE b._row IN ({rows}) "
            f"AND EXISTS (SELECT 1 FROM {table_sql} AS t WHERE {match})"
        ).fetchall()
    }
    key_columns = ", ".join(f"b.{k}" for k in keys)
    key_of = {
        r[0]: tuple(r[1:])
        for r in conn.execute(
            f"SELECT b._row, {key_columns} FROM {numbered} "
            f"WHERE b._row IN ({', '.join(str(i) for i in sorted({*keep, *suspects}))})"
        ).fetchall()
    }
    kept_keys = {key_of[i] for i in keep}
    for row in suspects:
        key = key_of[row]
        if row not in in_table and key not in kept_keys:
            kept_keys.add(key)
            keep.append(row)
    return sorted(keep)


def write_rows(
    conn: duckdb.DuckDBPyConnection,
    catalog: str,
    table: str,
    table_sql: str,
    rows: pa.Table,
    data_path: str,
) -> Path | None:
    """Write rows inside the open transaction; returns the Parquet file it created, if any."""
    if rows.num_rows < FILE_ROWS or "://" in data_path:
        conn.register(_BATCH, rows)
        try:
            conn.execute(f"INSERT INTO {table_sql} SELECT * FROM {_BATCH}")
        finally:
            conn.unregister(_BATCH)
        return None
    folder = Path(data_path) / "main" / table
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"thresher-{uuid.uuid4().hex}.parquet"
    pq.write_table(rows, path)
    conn.execute(f"CALL ducklake_add_data_files('{catalog}', '{table}', ?)", [str(path)])
    return path
