"""The lake: a DuckLake lakehouse (catalog + Parquet data) with atomic, idempotent appends,
named versions on snapshots, and read-only SQL over any version.

Opening (connect.py) resolves the data path from where the lake is now and locks the connection
down; a writer then runs pending migrations (migrations.py) and removes orphaned data files of
killed commits (orphans.py). Appends (append.py) are idempotent across processes: a transaction
conflict on the table's ticket makes the later writer retry here, after which it skips the rows
the earlier one committed.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb

from thresher.schemas.errors import NotFoundError
from thresher.storage import migrations
from thresher.storage.append import (
    BatchFile,
    KeyIndex,
    Seed,
    new_rows,
    ticket_table,
    write_rows,
)
from thresher.storage.connect import ALIAS, Attached, attach
from thresher.storage.errors import (
    LakeBusyError,
    LakeError,
    ReadOnlyQueryError,
    disk_full_error,
    is_disk_full,
    one_line,
)
from thresher.storage.location import DEFAULT_LAKE, LakeLocation, parse_location, resolve_lake
from thresher.storage.orphans import WriterToken, clean_orphans, live_files
from thresher.storage.sql_guard import check_read_only
from thresher.storage.tables import TABLES, table_spec
from thresher.storage.transactions import in_transaction, retrying

if TYPE_CHECKING:  # loaded on use: `thresher sql` needs neither polars nor pyarrow
    import polars as pl
    import pyarrow as pa

    from thresher.schemas import DatasetVersion, Record

__all__ = ["Lake", "LakeBusyError", "LakeError", "ReadOnlyQueryError", "DEFAULT_LAKE"]

_ALIAS = ALIAS
_MIGRATIONS = migrations.MIGRATIONS_TABLE
T = TypeVar("T")


def _remove(written: list[Path]) -> None:
    """Remove files a failed transaction wrote: no snapshot references them."""
    for path in written:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def _wait() -> float:
    """How long a writer waits for a DuckDB-file catalog another process is writing."""
    raw = os.environ.get("THRESHER_LAKE_WAIT", "10")
    try:
        return max(float(raw), 0.0)
    except ValueError:
        raise LakeError(
            f"THRESHER_LAKE_WAIT must be a number of seconds, got {raw!r}", hint="e.g. 30"
        ) from None


class Lake:
    """A DuckLake lakehouse opened by location; use `Lake.open(...)` as a context manager."""

    def __init__(self, attached: Attached, location: LakeLocation, read_only: bool):
        self._attached = attached
        self._conn = attached.conn
        self.location = location
        self.read_only = read_only
        self.note = attached.note  # why a read shows an earlier snapshot, if it does
        self.removed_orphans: list[Path] = []
        self._token: WriterToken | None = None
        self._lock = threading.RLock()
        self._exposed: tuple[int | None, tuple[str, ...]] = (None, ())
        self._keys = KeyIndex()

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        location: str | Path | None = None,
        *,
        read_only: bool = False,
        wait: float | None = None,
    ) -> Lake:
        """Open (creating if needed, unless read-only) the lake at a location.

        A writer waits up to `wait` seconds (default `THRESHER_LAKE_WAIT`, 10) for a DuckDB-file
        catalog that another process is writing; a reader never waits.
        """
        raw = resolve_lake(str(location) if location else None)
        loc = parse_location(raw)
        if read_only and not loc.exists():
            raise NotFoundError(
                f"no lake at {loc.display}",
                hint="create one with `thresher ingest ...` or pass --lake / THRESHER_LAKE",
            )
        if not read_only:
            try:
                loc.prepare()
            except OSError as exc:
                if is_disk_full(exc):
                    raise disk_full_error(loc.data_path, exc) from exc
                raise LakeError(f"cannot create the lake at {loc.display}: {exc}") from exc
        attached = attach(loc, read_only=read_only, wait_s=_wait() if wait is None else wait)
        lake = cls(attached, loc, read_only)
        if read_only:
            return lake
        try:
            if "://" not in loc.data_path:
                lake._token = WriterToken(loc.data_path)
            lake._migrate()
            lake.removed_orphans = clean_orphans(
                lake._conn, _ALIAS, loc.data_path, exclusive=not loc.shared
            )
        except (OSError, duckdb.Error) as exc:
            lake.close()
            if is_disk_full(exc):
                raise disk_full_error(loc.data_path, exc) from exc
            raise LakeError(f"cannot open the lake at {loc.display}: {one_line(exc)}") from exc
        except BaseException:
            lake.close()
            raise
        return lake

    def __enter__(self) -> Lake:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Detach the lake and close the connection."""
        with self._lock:
            self._attached.close()
            if self._token is not None:
                self._token.release()
                self._token = None

    # -- migrations ----------------------------------------------------------------------------

    def _migrate(self) -> None:
        def attempt() -> list[str]:
            written: list[Path] = []
            seed = (
                Seed(_ALIAS, self.location.data_path, self._token.file_name, written)
                if self.location.shared and self._token is not None
                else None
            )  # a single-writer catalog has no race to prevent (migrations.py)
            try:
                ran = self._run_in_transaction(lambda: migrations.apply_pending(self._conn, seed))
            except BaseException:
                _remove(written)
                raise
            if written:  # DuckLake keeps an empty file's name map but not the file itself
                live = live_files(self._conn, _ALIAS, self.location.data_path)
                _remove([p for p in written if os.path.realpath(p) not in live])
            return ran

        with self._lock:
            if migrations.pending(self._conn):
                self._retrying(attempt, "create the lake's tables")

    def migrations(self) -> list[str]:
        """Names of the migrations recorded in this lake, in the order they ran."""
        rows = self._fetch(f"SELECT name FROM {_ALIAS}.{_MIGRATIONS} ORDER BY applied_at, name")
        return [r[0] for r in rows]

    # -- writing -------------------------------------------------------------------------------

    def append(self, table: str, records: Sequence[Record]) -> int:
        """Append records atomically; rows whose key is already present are skipped."""
        from thresher.schemas import to_arrow_table

        spec = table_spec(table)
        for record in records:
            if not isinstance(record, spec.model):
                raise LakeError(
                    f"table {table!r} takes {spec.model.__name__} records, got {type(record).__name__}"
                )
        return self.append_arrow(table, to_arrow_table(spec.model, records))

    def append_arrow(self, table: str, data: pa.Table) -> int:
        """Append an Arrow table atomically (all rows or none); returns the number of rows added."""
        import pyarrow as pa

        from thresher.schemas import arrow_schema

        spec = table_spec(table)
        self._require_writable()
        if data.num_rows == 0:
            return 0
        try:
            data = data.select(arrow_schema(spec.model).names).cast(arrow_schema(spec.model))
        except (KeyError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise LakeError(f"rows for table {table!r} do not match its schema: {exc}") from exc
        table_sql = f"{_ALIAS}.{table}"
        ticket_sql = f"{_ALIAS}.{ticket_table(table)}"

        def attempt() -> int:
            written: list[Path] = []

            def work() -> tuple[int, int]:
                # Only this process can write a DuckDB-file catalog: its cache needs no ticket.
                shared = self.location.shared
                data_path = self.location.data_path
                # The batch's file is written while its keys are checked (usually all are new).
                prepared = (
                    BatchFile(
                        data, data_path, table, self._token.file_name(), written, key=spec.key
                    )
                    if self._token and BatchFile.wanted(data, data_path)
                    else None
                )
                used = False
                try:
                    ticket = int(self._fetch(f"SELECT n FROM {ticket_sql}")[0][0]) if shared else 0
                    present = self._keys.get(self._conn, table_sql, spec.key, ticket)
                    rows, hashes = new_rows(self._conn, table_sql, spec.key, data, present)
                    # Counted now, while the file is still being written; a failure forgets all.
                    present.update(hashes)
                    if rows.num_rows:
                        name = self._token.file_name() if self._token else ""
                        write_rows(
                            self._conn, _ALIAS, table, table_sql, rows, data_path, name, written,
                            prepared, key=spec.key,
                        )  # fmt: skip
                        used = prepared is not None and prepared.rows is rows
                        if shared:  # bumping the ticket makes a concurrent append here conflict
                            self._conn.execute(f"UPDATE {ticket_sql} SET n = n + 1")
                            ticket += 1
                finally:  # no write goes on after the append returns or fails
                    if prepared is not None and not used:
                        prepared.discard()
                return rows.num_rows, ticket

            try:
                added, ticket = self._run_in_transaction(work)
            except BaseException:
                _remove(written)
                self._keys.forget(table_sql)
                raise
            if added:
                self._keys.committed(table_sql, ticket)
            return added

        with self._lock:
            return self._retrying(attempt, f"append to {table!r}")

    def _retrying(self, work: Callable[[], T], what: str) -> T:
        return retrying(work, what, self.location)

    def _run_in_transaction(self, work: Callable[[], T]) -> T:
        with self._lock:
            return in_transaction(self._conn, work)

    def _require_writable(self) -> None:
        if self.read_only:
            raise LakeError(f"the lake at {self.location.display} was opened read-only")

    # -- versions ------------------------------------------------------------------------------

    def snapshot_id(self) -> int:
        """The id of the latest committed snapshot."""
        row = self._fetch(
            f"SELECT max(snapshot_id) FROM __ducklake_metadata_{_ALIAS}.ducklake_snapshot"
        )
        return int(row[0][0])

    def snapshots(self) -> pl.DataFrame:
        """Every snapshot with its time and what changed."""
        with self._lock:
            return self._conn.execute(
                f"SELECT snapshot_id, snapshot_time, changes FROM {_ALIAS}.snapshots() "
                "ORDER BY snapshot_id"
            ).pl()

    def tag(
        self,
        name: str,
        note: str = "",
        counts: dict[str, int] | None = None,
        recipe_hash: str | None = None,
        flow_run_id: str | None = None,
        snapshot_id: int | None = None,
        decisions_head: str | None = None,
    ) -> DatasetVersion:
        """Name the current (or a given) snapshot as a dataset version."""
        from thresher.schemas import DatasetVersion

        self._require_writable()
        with self._lock:
            if name in {v.name for v in self.versions()}:
                raise LakeError(f"version {name!r} already exists", hint="pick another name")
            snapshot = (
                self.snapshot_id() if snapshot_id is None else self._check_snapshot(snapshot_id)
            )
            version = DatasetVersion(
                name=name,
                snapshot_id=snapshot,
                note=note,
                recipe_hash=recipe_hash,
                flow_run_id=flow_run_id,
                counts=counts if counts is not None else self.table_counts(snapshot),
                decisions_head=decisions_head,
            )
            if self.append("dataset_versions", [version]) == 0:  # another process won the race
                raise LakeError(f"version {name!r} already exists", hint="pick another name")
            return version

    def versions(self) -> list[DatasetVersion]:
        """Every named version, oldest first."""
        from thresher.schemas import DatasetVersion

        columns, rows = self.rows("SELECT * FROM dataset_versions ORDER BY created_at, name")
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        return [
            DatasetVersion.model_validate({**r, "counts": dict(_map_items(r["counts"]))})
            for r in records
        ]

    def version(self, name: str | None = None) -> DatasetVersion:
        """A named version (default: the newest); unknown names fail listing the known ones."""
        versions = self.versions()
        if name is None and versions:
            return versions[-1]
        for known in versions:
            if known.name == name:
                return known
        names = ", ".join(v.name for v in versions) or "(none yet)"
        raise NotFoundError(
            "the lake has no versions yet" if name is None
            else f"no version named {name!r}; known versions: {names}",
            hint="`thresher versions` lists versions; `thresher run RECIPE` tags one",
        )  # fmt: skip

    def resolve_version(self, version: str | int) -> int:
        """The snapshot id of a version name or snapshot number."""
        if isinstance(version, int):
            return self._check_snapshot(version)
        if re.fullmatch(r"[0-9]+", version):  # ASCII digits only: '²'.isdigit() is True
            return self._check_snapshot(int(version))
        return self.version(version).snapshot_id

    def _check_snapshot(self, snapshot: int) -> int:
        latest = self.snapshot_id()
        if not 0 <= snapshot <= latest:
            raise NotFoundError(f"no snapshot {snapshot}; snapshots run from 0 to {latest}")
        return snapshot

    def table_counts(self, version: str | int | None = None) -> dict[str, int]:
        """Row counts of every data table at a version (default: now)."""
        counts: dict[str, int] = {}
        for name in self._table_names(version):
            if name == "dataset_versions":
                continue
            counts[name] = int(
                self.query(f"SELECT count(*) AS n FROM {name}", version=version)["n"][0]
            )
        return counts

    # -- reading -------------------------------------------------------------------------------

    def sql(self, query: str, version: str | int | None = None) -> pl.DataFrame:
        """Run a read-only SQL query over the lake's tables (by bare name) at a version."""
        return self.query(query, version=version)

    def query(
        self, query: str, params: Sequence[Any] | None = None, version: str | int | None = None
    ) -> pl.DataFrame:
        """Run a read-only parameterised query at a version; anything that could write is refused."""
        return self._read(query, params, version, lambda result: result.pl())

    def rows(
        self, query: str, params: Sequence[Any] | None = None, version: str | int | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """`query` as column names and Python rows (no polars or pyarrow is imported)."""
        return self._read(
            query,
            params,
            version,
            lambda result: ([d[0] for d in result.description], result.fetchall()),
        )

    def _read(
        self,
        query: str,
        params: Sequence[Any] | None,
        version: str | int | None,
        collect: Callable[[duckdb.DuckDBPyConnection], T],
    ) -> T:
        with self._lock:
            check_read_only(self._conn, query)
            self._expose_tables(query, version)
            try:
                return collect(self._conn.execute(query, list(params) if params else None))
            except duckdb.Error as exc:
                raise LakeError(f"query failed: {one_line(exc)}") from exc

    def _table_names(self, version: str | int | None) -> list[str]:
        """User tables present now, or at a version: ours in TABLES order, then any others."""
        snapshot = self.snapshot_id() if version is None else self.resolve_version(version)
        at = int(snapshot)  # inlined: a bound parameter would make DuckDB import numpy/pandas
        present = {
            r[0]
            for r in self._fetch(
                f"SELECT table_name FROM __ducklake_metadata_{_ALIAS}.ducklake_table "
                f"WHERE begin_snapshot <= {at} AND (end_snapshot IS NULL OR end_snapshot > {at})"
            )
        }
        present = {name for name in present if not name.startswith("_thresher_")}
        ordered = [spec.name for spec in TABLES if spec.name in present]
        return ordered + sorted(present - set(ordered))

    def _expose_tables(self, query: str, version: str | int | None) -> None:
        """Point a temp view at each lake table (at a snapshot) that the query names, so SQL
        uses bare names. Only tables whose name occurs in the query's text get a view (a
        superset of those it reads): `SELECT 1` creates none."""
        snapshot = None if version is None else self.resolve_version(version)
        names = [*self._table_names(snapshot), "snapshots"]
        exposed_at, exposed = self._exposed
        keep = set(exposed) & set(names) if exposed_at == snapshot else set()
        for stale in set(exposed) - keep:
            self._conn.execute(f"DROP VIEW IF EXISTS temp.main.{stale}")
        at = "" if snapshot is None else f" AT (VERSION => {snapshot})"
        for name in names:
            if name in keep or not re.search(rf"\b{re.escape(name)}\b", query, re.IGNORECASE):
                continue
            source = f"{_ALIAS}.snapshots()" if name == "snapshots" else f"{_ALIAS}.{name}{at}"
            self._conn.execute("USE memory")
            self._conn.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {source}")
            keep.add(name)
        self._exposed = (snapshot, tuple(sorted(keep)))

    def _fetch(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, list(params) if params else None).fetchall()


def _map_items(value: Any) -> list[tuple[str, int]]:
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.items())
    return [(item["key"], item["value"]) for item in value]
