"""The lake's named schema migrations: each runs once, recorded in `_thresher_migrations`.

Migrations run in one transaction that re-reads what is already applied. Two processes creating
a fresh lake at once both try to create the same tables; DuckLake lets only one commit, the other
retries (lake.py), finds every migration recorded and does nothing. So each is recorded once.

On a catalog several processes write (SQLite, PostgreSQL) with local data files, each migration
that creates or changes a table also registers an empty file of the table's new schema (`Seed`,
append.py): DuckLake then holds the table's column name map before any writer appends, so no
two writers race to commit the first one (that race crashes the ducklake extension,
duckdb/ducklake#1431).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import duckdb

from thresher.storage.append import Seed, ticket_table
from thresher.storage.connect import ALIAS
from thresher.storage.tables import ADDED_COLUMNS, TABLES, AddedColumns, TableSpec

__all__ = ["MIGRATIONS_TABLE", "migration_names", "pending", "apply_pending"]

MIGRATIONS_TABLE = "_thresher_migrations"
# Migrations that are not the creation of one table, by name (sorted in with the table ones).
_TICKETS = "0017_create_append_tickets"
_SEEDS = "0021_seed_column_name_maps"

Step = Callable[[duckdb.DuckDBPyConnection, Seed | None], None]


def _steps() -> list[tuple[str, Step]]:
    steps: list[tuple[str, Step]] = [
        (spec.migration, functools.partial(_create_table, spec=spec)) for spec in TABLES
    ]
    steps += [(m.migration, functools.partial(_add_columns, added=m)) for m in ADDED_COLUMNS]
    steps.append((_TICKETS, _create_all_tickets))
    steps.append((_SEEDS, _seed_all_tables))
    return sorted(steps, key=lambda step: step[0])


def migration_names() -> list[str]:
    """Every migration this version of thresher knows, in the order they run."""
    return [name for name, _ in _steps()]


def _applied(conn: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in conn.execute(f"SELECT name FROM {ALIAS}.{MIGRATIONS_TABLE}").fetchall()}


def pending(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether any migration is missing (a cheap check outside a transaction)."""
    try:
        applied = _applied(conn)
    except duckdb.CatalogException:
        return True  # a fresh lake: not even the migrations table exists yet
    return any(name not in applied for name, _ in _steps())


def apply_pending(conn: duckdb.DuckDBPyConnection, seed: Seed | None = None) -> list[str]:
    """Inside an open transaction: create the record table, run what is missing, record it.

    `seed` registers a table's empty file (shared catalogs with local data files only).
    """
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {ALIAS}.{MIGRATIONS_TABLE} "
        "(name VARCHAR, applied_at TIMESTAMP WITH TIME ZONE)"
    )
    applied = _applied(conn)
    ran = []
    for name, step in _steps():
        if name in applied:
            continue
        step(conn, seed)
        conn.execute(f"INSERT INTO {ALIAS}.{MIGRATIONS_TABLE} VALUES (?, now())", [name])
        ran.append(name)
    return ran


def _create_table(conn: duckdb.DuckDBPyConnection, seed: Seed | None, spec: TableSpec) -> None:
    from thresher.schemas import to_arrow_table  # pyarrow: only when a migration runs

    empty = to_arrow_table(spec.model, [])
    conn.register("_thresher_empty", empty)
    try:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {ALIAS}.{spec.name} AS "
            "SELECT * FROM _thresher_empty LIMIT 0"
        )
    finally:
        conn.unregister("_thresher_empty")
    _create_ticket(conn, spec.name)
    if seed is not None:
        seed(conn, spec)


def _add_columns(conn: duckdb.DuckDBPyConnection, seed: Seed | None, added: AddedColumns) -> None:
    """New columns at the end of an existing table, typed as the record declares them (a no-op
    on a lake whose table was created with them)."""
    from thresher.schemas import to_arrow_table

    spec = next(s for s in TABLES if s.name == added.table)
    conn.register("_thresher_empty", to_arrow_table(spec.model, []))
    try:
        types = {row[0]: row[1] for row in conn.execute("DESCRIBE _thresher_empty").fetchall()}
    finally:
        conn.unregister("_thresher_empty")
    for column in added.columns:
        conn.execute(
            f"ALTER TABLE {ALIAS}.{added.table} ADD COLUMN IF NOT EXISTS {column} {types[column]}"
        )
    if seed is not None:
        seed(conn, spec)


def _create_ticket(conn: duckdb.DuckDBPyConnection, table: str) -> None:
    ticket = f"{ALIAS}.{ticket_table(table)}"
    conn.execute(f"CREATE TABLE IF NOT EXISTS {ticket} (n BIGINT)")
    conn.execute(f"INSERT INTO {ticket} SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM {ticket})")


def _create_all_tickets(conn: duckdb.DuckDBPyConnection, seed: Seed | None) -> None:
    """Lakes made before tickets existed get one per table (new tables make their own)."""
    for spec in TABLES:
        _create_ticket(conn, spec.name)


def _seed_all_tables(conn: duckdb.DuckDBPyConnection, seed: Seed | None) -> None:
    """Shared lakes made before seeding get each table's name map (tables seeded by a migration
    in this same transaction are skipped by the seed itself)."""
    if seed is not None:
        for spec in TABLES:
            seed(conn, spec)
