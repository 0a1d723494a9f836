"""How a batch becomes rows of a lake table: drop keys already present, then write the rest.

Idempotency is enforced at commit, across processes. Each table has a one-row *ticket* table
(`_thresher_ticket_<table>`) whose counter every append to the table bumps in the same
transaction, on catalogs several processes may write (SQLite, PostgreSQL; a DuckDB-file catalog
has a single writing process, whose appends are serialised by the lake's lock). DuckLake refuses to commit a transaction that changed a table's inlined rows when
another transaction changed them since it began, so two writers that append to the same table at
once cannot both commit: the second gets a transaction conflict and retries, and on its retry it
sees the first one's rows and skips them (lake.py runs the retry loop).

The key check reads the table at the transaction's own snapshot. A per-table set of key hashes is
kept in memory and trusted only while the ticket counter it was loaded at is unchanged (no other
writer appended since). A hash hit is confirmed with an exact key comparison in SQL, so a hash
collision can never drop a row. Batches beyond DuckLake's inlining limit are written by pyarrow
into the table's data folder under this writer's token (orphans.py) and registered with
`ducklake_add_data_files` inside the transaction: until COMMIT the file is invisible, and a crash
leaves at most an orphan file that the next open removes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:  # loaded on first append: opening a lake to read needs no pyarrow
    import pyarrow as pa

    from thresher.storage.tables import TableSpec

__all__ = [
    "INLINE_ROWS",
    "BatchFile",
    "KeyIndex",
    "Seed",
    "new_rows",
    "ticket_table",
    "write_rows",
]

# Batches of at most this many rows are inserted through DuckDB, which inlines them in the
# catalog (DuckLake's default `data_inlining_row_limit`); larger ones are written as a file.
INLINE_ROWS = 10
_BATCH = "_thresher_batch"


def ticket_table(table: str) -> str:
    """The name of a table's ticket table (its append counter)."""
    return f"_thresher_ticket_{table}"


class KeyIndex:
    """Hashes of the keys present in each table, each as of one value of the table's ticket."""

    def __init__(self) -> None:
        self._hashes: dict[str, tuple[int, set[int]]] = {}

    def get(
        self, conn: duckdb.DuckDBPyConnection, table_sql: str, keys: tuple[str, ...], ticket: int
    ) -> set[int]:
        """The key hashes of a table, reloaded when another writer appended since (ticket moved)."""
        cached = self._hashes.get(table_sql)
        if cached is None or cached[0] != ticket:
            hashes = conn.execute(
                f"SELECT hash({', '.join(keys)}) AS h FROM {table_sql}"
            ).fetchnumpy()["h"]
            cached = (ticket, set(hashes.tolist()))
            self._hashes[table_sql] = cached
        return cached[1]

    def committed(self, table_sql: str, ticket: int) -> None:
        """After our own commit: the cached hashes (the batch's added) now hold at this ticket.

        The append adds its batch's hashes to the set returned by `get` while its file is still
        being written, off the commit's path; a failed append calls `forget`.
        """
        cached = self._hashes.get(table_sql)
        if cached is not None:
            self._hashes[table_sql] = (ticket, cached[1])

    def forget(self, table_sql: str) -> None:
        """Drop one table's hashes (after a failed or conflicting write)."""
        self._hashes.pop(table_sql, None)


def new_rows(
    conn: duckdb.DuckDBPyConnection,
    table_sql: str,
    keys: tuple[str, ...],
    data: pa.Table,
    present: set[int],
) -> tuple[pa.Table, list[int]]:
    """The rows of `data` whose key is neither in the table nor earlier in the batch."""
    import pyarrow as pa

    conn.register(_BATCH, data)
    try:
        hashes = conn.execute(f"SELECT hash({', '.join(keys)}) AS h FROM {_BATCH}").fetchnumpy()[
            "h"
        ]
        values: list[int] = hashes.tolist()
        if present.isdisjoint(values) and len(set(values)) == len(values):
            return data, values  # the usual batch: every key new, none repeated (C-speed check)
        keep: list[int] = []
        suspects: list[int] = []
        seen: set[int] = set()
        for row, value in enumerate(values):
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
    return kept, [values[i] for i in keep]


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


# A string column averaging more bytes than this per value is text (a prompt, a completion).
_TEXT_BYTES = 64


def _write_parquet(rows: pa.Table, path: Path, key: tuple[str, ...]) -> None:
    """Write a batch's Parquet file, dictionary-encoding only the columns whose values repeat.

    A table's key is unique per row and long text never repeats: for those pyarrow would build
    a dictionary per page and then abandon it, pure cost (measured 5-9% of a 10,000-row append
    of 2 KB rows, `benchmarks/bench_storage.py`). Nested columns are written plain.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    text_size = _TEXT_BYTES * max(rows.num_rows, 1)
    repeating = [
        field.name
        for field, column in zip(rows.schema, rows.columns, strict=True)
        if field.name not in key
        and not (pa.types.is_string(field.type) and column.nbytes > text_size)
    ]
    pq.write_table(rows, path, use_dictionary=repeating)


def _data_file(data_path: str, table: str, name: str) -> Path:
    """Where a file of a table's rows lives in the lake's data folder."""
    return Path(data_path) / "main" / table / name


def _write_file(rows: pa.Table, path: Path, key: tuple[str, ...]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_parquet(rows, path, key)


def _register(conn: duckdb.DuckDBPyConnection, catalog: str, table: str, path: Path) -> None:
    """Add a written file to the table in the open transaction (visible at COMMIT)."""
    conn.execute(f"CALL ducklake_add_data_files('{catalog}', '{table}', ?)", [str(path)])


class BatchFile:
    """A batch's Parquet file, written by a background thread while the append checks keys.

    The append starts writing the whole batch into the table's data folder before it knows
    which rows are new (usually all of them): the Parquet encoding and DuckDB's key hashing
    both release the GIL, so on two cores they overlap. `write_rows` registers the file when
    the batch is kept whole; otherwise the caller discards it and the kept rows are written.
    """

    def __init__(
        self,
        rows: pa.Table,
        data_path: str,
        table: str,
        name: str,
        written: list[Path],
        *,
        key: tuple[str, ...],
    ):
        self.rows = rows
        self.key = key
        self.path = _data_file(data_path, table, name)
        written.append(self.path)  # listed before the first byte: a failed write is removed too
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write, name="thresher-batch-file")
        self._thread.start()

    def _write(self) -> None:
        try:
            _write_file(self.rows, self.path, self.key)
        except BaseException as exc:  # re-raised in the appending thread by `wait`
            self._error = exc

    def wait(self) -> Path:
        """The written file (raises what the write raised)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.path

    def discard(self) -> None:
        """Wait for the write to end and remove the file (its rows were not kept whole)."""
        self._thread.join()
        self.path.unlink(missing_ok=True)

    @staticmethod
    def wanted(rows: pa.Table, data_path: str) -> bool:
        """Whether a batch of this size is written as a file (not inlined) at this data path."""
        return rows.num_rows > INLINE_ROWS and "://" not in data_path


def write_rows(
    conn: duckdb.DuckDBPyConnection,
    catalog: str,
    table: str,
    table_sql: str,
    rows: pa.Table,
    data_path: str,
    file_name: str,
    written: list[Path],
    prepared: BatchFile | None = None,
    *,
    key: tuple[str, ...],
) -> None:
    """Write rows inside the open transaction; a file it creates is listed in `written` first.

    The path is recorded before the first byte is written, so a write that fails half-way (a
    full disk) still leaves the caller knowing which file to remove. A `prepared` file of
    exactly these rows is registered instead of writing them again.
    """
    if not BatchFile.wanted(rows, data_path):
        conn.register(_BATCH, rows)
        try:
            conn.execute(f"INSERT INTO {table_sql} SELECT * FROM {_BATCH}")
        finally:
            conn.unregister(_BATCH)
        return
    if prepared is not None and prepared.rows is rows:
        path = prepared.wait()
    else:
        path = _data_file(data_path, table, file_name)
        written.append(path)
        _write_file(rows, path, key)
    _register(conn, catalog, table, path)


class Seed:
    """Registers an empty file of a table's current schema, inside the migration that creates or
    changes the table (migrations.py), on catalogs several processes write.

    DuckLake gives each file `ducklake_add_data_files` registers a column name map, re-using a
    compatible one. Two processes registering a table's first files at once can each commit a
    new map, and a process that loads a map committed after its own transaction began adds it to
    its in-memory set twice and crashes (SIGSEGV in `DuckLakeNameMapSet::Add`,
    duckdb/ducklake#1431; 16 of 48 writers on fresh SQLite lakes here). A map committed with the
    table, before any writer appends, is re-used by every later file: no new map is committed.
    """

    def __init__(
        self, catalog: str, data_path: str, file_name: Callable[[], str], written: list[Path]
    ) -> None:
        self.catalog = catalog
        self.data_path = data_path
        self.file_name = file_name
        self.written = written  # removed by the caller if the migration does not commit
        self._seeded: set[str] = set()

    def __call__(self, conn: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
        if spec.name in self._seeded:  # already seeded in this transaction, same schema
            return
        from thresher.schemas import to_arrow_table

        path = _data_file(self.data_path, spec.name, self.file_name())
        self.written.append(path)
        _write_file(to_arrow_table(spec.model, []), path, spec.key)
        _register(conn, self.catalog, spec.name, path)
        self._seeded.add(spec.name)
