"""The lake: a DuckLake lakehouse (catalog + Parquet data) with atomic, idempotent appends,
named versions on snapshots, and read-only SQL over any version."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from thresher.schemas import DatasetVersion, Record, arrow_schema, to_arrow_table
from thresher.schemas.errors import NotFoundError, ThresherError
from thresher.storage.append import KeyIndex, new_rows, write_rows
from thresher.storage.extensions import load_extension
from thresher.storage.location import DEFAULT_LAKE, LakeLocation, parse_location, resolve_lake
from thresher.storage.tables import ADDED_COLUMNS, TABLES, AddedColumns, TableSpec, table_spec

__all__ = ["Lake", "LakeError", "ReadOnlyQueryError", "DEFAULT_LAKE"]

_ALIAS = "lake"
_MIGRATIONS = "_thresher_migrations"


class LakeError(ThresherError):
    """The lake could not be opened, read or written."""


class ReadOnlyQueryError(LakeError):
    """A statement other than a read was sent to the read-only SQL interface."""


class Lake:
    """A DuckLake lakehouse opened by location; use `Lake.open(...)` as a context manager."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, location: LakeLocation, read_only: bool):
        self._conn = conn
        self.location = location
        self.read_only = read_only
        self._lock = threading.RLock()
        self._exposed: tuple[int | None, tuple[str, ...]] = (None, ())
        self._keys = KeyIndex()

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, location: str | Path | None = None, *, read_only: bool = False) -> Lake:
        """Open (creating if needed, unless read-only) the lake at a location."""
        raw = resolve_lake(str(location) if location else None)
        loc = parse_location(raw)
        if read_only and not loc.exists():
            raise NotFoundError(
                f"no lake at {loc.display}",
                hint="create one with `thresher ingest ...` or pass --lake / THRESHER_LAKE",
            )
        if not read_only:
            loc.prepare()
        conn = duckdb.connect()
        try:
            conn.execute("SET enable_progress_bar = false")
            load_extension(conn, "ducklake")
            for name in loc.extensions:
                load_extension(conn, name)
            options = [f"DATA_PATH '{loc.data_path}'"]
            if read_only:
                options.append("READ_ONLY")
            conn.execute(f"ATTACH '{loc.attach}' AS {_ALIAS} ({', '.join(options)})")
        except duckdb.Error as exc:
            conn.close()
            raise LakeError(
                f"cannot open the lake at {loc.display}: {exc}",
                hint="a DuckDB-file catalog allows one writing process; other processes can read "
                "with read-only commands, or use a 'sqlite:' / 'postgres:' catalog for several writers",
            ) from exc
        lake = cls(conn, loc, read_only)
        if not read_only:
            lake._migrate()
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
            self._conn.close()

    # -- migrations ----------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._lock:
            self._conn.execute(
                f"CREATE TABLE IF NOT EXISTS {_ALIAS}.{_MIGRATIONS} "
                "(name VARCHAR, applied_at TIMESTAMP WITH TIME ZONE)"
            )
            applied = {
                r[0]
                for r in self._conn.execute(f"SELECT name FROM {_ALIAS}.{_MIGRATIONS}").fetchall()
            }
            pending = [spec for spec in TABLES if spec.migration not in applied]
            if pending:
                self._run_in_transaction(lambda: self._create_tables(pending))
            added = [m for m in ADDED_COLUMNS if m.migration not in applied]
            if added:
                self._run_in_transaction(lambda: self._add_columns(added))

    def _create_tables(self, specs: list[TableSpec]) -> None:
        for spec in specs:
            self._create_table(spec)

    def _create_table(self, spec: TableSpec) -> None:
        empty = to_arrow_table(spec.model, [])
        self._conn.register("_thresher_empty", empty)
        try:
            self._conn.execute(
                f"CREATE TABLE IF NOT EXISTS {_ALIAS}.{spec.name} AS SELECT * FROM _thresher_empty LIMIT 0"
            )
        finally:
            self._conn.unregister("_thresher_empty")
        self._conn.execute(
            f"INSERT INTO {_ALIAS}.{_MIGRATIONS} VALUES (?, now())", [spec.migration]
        )

    def _add_columns(self, migrations: list[AddedColumns]) -> None:
        for migration in migrations:
            empty = to_arrow_table(table_spec(migration.table).model, [])
            self._conn.register("_thresher_empty", empty)
            try:
                rows = self._conn.execute("DESCRIBE _thresher_empty").fetchall()
                types = {row[0]: row[1] for row in rows}
            finally:
                self._conn.unregister("_thresher_empty")
            for column in migration.columns:
                self._conn.execute(
                    f"ALTER TABLE {_ALIAS}.{migration.table} "
                    f"ADD COLUMN IF NOT EXISTS {column} {types[column]}"
                )
            self._conn.execute(
                f"INSERT INTO {_ALIAS}.{_MIGRATIONS} VALUES (?, now())", [migration.migration]
            )

    def migrations(self) -> list[str]:
        """Names of the migrations recorded in this lake, in the order they ran."""
        rows = self._fetch(f"SELECT name FROM {_ALIAS}.{_MIGRATIONS} ORDER BY applied_at, name")
        return [r[0] for r in rows]

    # -- writing -------------------------------------------------------------------------------

    def append(self, table: str, records: Sequence[Record]) -> int:
        """Append records atomically; rows whose key is already present are skipped."""
        spec = table_spec(table)
        for record in records:
            if not isinstance(record, spec.model):
                raise LakeError(
                    f"table {table!r} takes {spec.model.__name__} records, got {type(record).__name__}"
                )
        return self.append_arrow(table, to_arrow_table(spec.model, records))

    def append_arrow(self, table: str, data: pa.Table) -> int:
        """Append an Arrow table atomically (all rows or none); returns the number of rows added."""
        spec = table_spec(table)
        self._require_writable()
        if data.num_rows == 0:
            return 0
        try:
            data = data.select(arrow_schema(spec.model).names).cast(arrow_schema(spec.model))
        except (KeyError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise LakeError(f"rows for table {table!r} do not match its schema: {exc}") from exc
        table_sql = f"{_ALIAS}.{table}"
        with self._lock:
            self._keys.sync(self.snapshot_id())
            present = self._keys.get(self._conn, table_sql, spec.key)
            written: list[Path] = []

            def insert() -> tuple[int, list[int]]:
                rows, hashes = new_rows(self._conn, table_sql, spec.key, data, present)
                if rows.num_rows:
                    path = write_rows(
                        self._conn, _ALIAS, table, table_sql, rows, self.location.data_path
                    )
                    written.extend([path] if path else [])
                return rows.num_rows, hashes

            try:
                added, hashes = self._run_in_transaction(insert)
            except BaseException:
                for path in written:  # never referenced by a snapshot: remove it now
                    path.unlink(missing_ok=True)
                self._keys.forget(table_sql)
                raise
            present.update(hashes)
            self._keys.mark(self.snapshot_id())
            return added

    def _run_in_transaction(self, work: Any) -> Any:
        with self._lock:
            self._conn.execute("BEGIN TRANSACTION")
            try:
                result = work()
                self._conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):  # a failed COMMIT has already ended it
                    self._conn.execute("ROLLBACK")
                raise
            return result

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
    ) -> DatasetVersion:
        """Name the current (or a given) snapshot as a dataset version."""
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
            )
            self.append("dataset_versions", [version])
            return version

    def versions(self) -> list[DatasetVersion]:
        """Every named version, oldest first."""
        frame = self.query("SELECT * FROM dataset_versions ORDER BY created_at, name")
        return [
            DatasetVersion.model_validate({**row, "counts": dict(_map_items(row["counts"]))})
            for row in frame.to_dicts()
        ]

    def resolve_version(self, version: str | int) -> int:
        """The snapshot id of a version name or snapshot number."""
        if isinstance(version, int) or (isinstance(version, str) and version.isdigit()):
            return self._check_snapshot(int(version))
        for known in self.versions():
            if known.name == version:
                return known.snapshot_id
        names = ", ".join(v.name for v in self.versions()) or "(none yet)"
        raise NotFoundError(
            f"no version named {version!r}; known versions: {names}",
            hint="`thresher versions` lists versions and snapshots",
        )

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
        """Run a read-only parameterised query at a version; writes are refused."""
        self._refuse_writes(query)
        with self._lock:
            self._expose_tables(version)
            try:
                return self._conn.execute(query, list(params) if params else None).pl()
            except duckdb.Error as exc:
                raise LakeError(f"query failed: {exc}") from exc

    def _refuse_writes(self, query: str) -> None:
        try:
            statements = self._conn.extract_statements(query)
        except duckdb.Error as exc:
            raise LakeError(f"cannot parse the query: {exc}") from exc
        if not statements:
            raise LakeError("the query is empty")
        for statement in statements:
            if statement.type != duckdb.StatementType.SELECT:
                kind = str(statement.type).rsplit(".", 1)[-1]
                raise ReadOnlyQueryError(
                    f"only SELECT queries are allowed here, got a {kind} statement; "
                    "the lake was not changed",
                    hint="the lake is written only by thresher commands (ingest, generate, run, ...)",
                )

    def _table_names(self, version: str | int | None) -> list[str]:
        """User tables present now, or at a version: ours in TABLES order, then any others."""
        snapshot = self.snapshot_id() if version is None else self.resolve_version(version)
        present = {
            r[0]
            for r in self._fetch(
                f"SELECT table_name FROM __ducklake_metadata_{_ALIAS}.ducklake_table "
                "WHERE begin_snapshot <= ? AND (end_snapshot IS NULL OR end_snapshot > ?)",
                [snapshot, snapshot],
            )
        } - {_MIGRATIONS}
        ordered = [spec.name for spec in TABLES if spec.name in present]
        return ordered + sorted(present - set(ordered))

    def _expose_tables(self, version: str | int | None) -> None:
        """Point one temp view per table at the lake (at a snapshot), so SQL uses bare names."""
        snapshot = None if version is None else self.resolve_version(version)
        names = self._table_names(snapshot)
        if self._exposed == (snapshot, tuple(names)):
            return
        at = "" if snapshot is None else f" AT (VERSION => {snapshot})"
        self._conn.execute("USE memory")
        for stale in set(self._exposed[1]) - set(names):
            self._conn.execute(f"DROP VIEW IF EXISTS temp.main.{stale}")
        for name in names:
            self._conn.execute(
                f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {_ALIAS}.{name}{at}"
            )
        self._conn.execute(
            f"CREATE OR REPLACE TEMP VIEW snapshots AS SELECT * FROM {_ALIAS}.snapshots()"
        )
        self._exposed = (snapshot, tuple(names))

    def _fetch(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, list(params) if params else None).fetchall()


def _map_items(value: Any) -> list[tuple[str, int]]:
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.items())
    return [(item["key"], item["value"]) for item in value]
