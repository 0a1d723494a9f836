"""Several processes writing one lake at once: real SQLite and PostgreSQL catalogs.

Rows are counted against distinct ids: idempotency must hold at commit, across processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import thresher.storage.lake as lake_module
from thresher.storage import Lake, migrations
from thresher.storage.migrations import MIGRATIONS_TABLE, migration_names
from thresher.storage.tables import TABLES

ALL_STEPS = migrations._steps()
SEEDS = migrations._SEEDS

# Waits for the go file, then ingests problems [start, start + n) in batches (some inlined,
# most written as files), as `thresher ingest` would: the same ids from every writer.
WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from thresher.schemas import Problem
    from thresher.storage import Lake

    location, go, start, n, batch = sys.argv[1], Path(sys.argv[2]), *map(int, sys.argv[3:6])
    while not go.exists():
        time.sleep(0.005)
    added = 0
    with Lake.open(location) as lake:
        for lo in range(start, start + n, batch):
            hi = min(lo + batch, start + n)
            added += lake.append(
                "problems", [Problem(source="set", question=f"q {i}", answer=str(i))
                             for i in range(lo, hi)],
            )
            # A handful of single-row batches: these are inlined in the catalog.
            added += lake.append("problems", [Problem(source="set", question=f"q {lo}")])
    print(added)
    """
)


def run_writers(location: str, tmp_path: Path, jobs: list[tuple[int, int, int]]) -> list[int]:
    """Start one writer per (start, n, batch) job, release them together, return rows added."""
    go = tmp_path / f"go-{time.monotonic_ns()}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "THRESHER_LAKE_WAIT": "300"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, location, str(go), *map(str, job)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        for job in jobs
    ]
    time.sleep(1.0)  # let every writer import and wait at the barrier
    go.touch()
    added = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err
        added.append(int(out.strip().splitlines()[-1]))
    return added


def rows_and_ids(location: str) -> tuple[int, int]:
    with Lake.open(location, read_only=True) as lake:
        row = lake.sql("SELECT count(*) AS n, count(DISTINCT problem_id) AS ids FROM problems").row(
            0
        )
    return int(row[0]), int(row[1])


def check_writers_never_duplicate(location: str, tmp_path: Path) -> None:
    Lake.open(location).close()  # created first: this test is about appends
    total = 0
    for round_ in range(3):  # the same set from three writers at once, three rounds
        start = round_ * 600
        added = run_writers(location, tmp_path, [(start, 600, 150)] * 3)
        total += 600
        assert sum(added) == 600, added  # each row was added by exactly one writer
        assert rows_and_ids(location) == (total, total)
    # Overlapping, not identical, sets.
    added = run_writers(location, tmp_path, [(1500, 600, 200), (1700, 600, 40)])
    assert sum(added) == 2300 - 1800
    assert rows_and_ids(location) == (2300, 2300)


def check_fresh_lake_created_at_once(location: str, tmp_path: Path) -> None:
    added = run_writers(location, tmp_path, [(0, 30, 15)] * 3)
    assert sum(added) == 30
    with Lake.open(location, read_only=True) as lake:
        counts = lake.query(
            f"SELECT name, count(*) AS n FROM lake.{MIGRATIONS_TABLE} GROUP BY name ORDER BY name"
        ).rows()
        tables = lake.query(
            "SELECT table_name, count(*) AS n FROM duckdb_tables() "
            "WHERE database_name = 'lake' GROUP BY table_name HAVING count(*) > 1"
        ).rows()
    assert counts == [(name, 1) for name in migration_names()]
    assert tables == []
    assert rows_and_ids(location) == (30, 30)


def test_sqlite_writers_never_duplicate_an_id(tmp_path):
    check_writers_never_duplicate(f"sqlite:{tmp_path / 'lake'}", tmp_path)


def test_postgres_writers_never_duplicate_an_id(postgres_lake, tmp_path):
    check_writers_never_duplicate(postgres_lake, tmp_path)


def test_sqlite_lake_created_by_three_processes_at_once(tmp_path):
    check_fresh_lake_created_at_once(f"sqlite:{tmp_path / 'lake'}", tmp_path)


def test_postgres_lake_created_by_three_processes_at_once(postgres_lake, tmp_path):
    check_fresh_lake_created_at_once(postgres_lake, tmp_path)


def test_duckdb_lake_created_by_three_processes_at_once(tmp_path):
    # One writer at a time: the others wait for the catalog (THRESHER_LAKE_WAIT) and then run.
    check_fresh_lake_created_at_once(str(tmp_path / "lake"), tmp_path)


def name_maps(location: str) -> dict[str, int]:
    """Column name maps DuckLake holds per table (files registered by `ducklake_add_data_files`
    need one; migrations.py commits it with the table)."""
    with Lake.open(location, read_only=True) as lake:
        rows = lake._conn.execute(
            "SELECT t.table_name, count(DISTINCT m.mapping_id) "
            "FROM __ducklake_metadata_lake.ducklake_column_mapping m "
            "JOIN __ducklake_metadata_lake.ducklake_table t USING (table_id) "
            "WHERE t.end_snapshot IS NULL GROUP BY t.table_name"
        ).fetchall()
    return dict(rows)


def check_tables_have_name_maps_from_creation(location: str, data: Path, tmp_path: Path) -> None:
    Lake.open(location).close()
    before = name_maps(location)
    assert before == {spec.name: 1 for spec in TABLES}
    assert not list(data.rglob("*.parquet"))  # the empty files that made them are gone
    run_writers(location, tmp_path, [(0, 300, 60)] * 3)
    assert name_maps(location) == before  # every file re-used its table's map
    assert rows_and_ids(location) == (300, 300)


def test_a_sqlite_lake_holds_each_tables_name_map_from_its_creation(tmp_path):
    # Two writers committing a table's first map at once crash the ducklake extension
    # (duckdb/ducklake#1431): a map made with the table leaves them nothing to race for.
    check_tables_have_name_maps_from_creation(
        f"sqlite:{tmp_path / 'lake'}", tmp_path / "lake" / "data", tmp_path
    )


def test_a_postgres_lake_holds_each_tables_name_map_from_its_creation(postgres_lake, tmp_path):
    data = Path(postgres_lake.split("|", 1)[1])
    check_tables_have_name_maps_from_creation(postgres_lake, data, tmp_path)


def test_a_sqlite_lake_made_before_name_maps_gets_them_on_open(tmp_path, monkeypatch):
    location = f"sqlite:{tmp_path / 'lake'}"
    with monkeypatch.context() as old:  # as the previous version made lakes: no name maps
        old.setattr(migrations, "_steps", lambda: [s for s in ALL_STEPS if s[0] != SEEDS])
        old.setattr(lake_module, "Seed", lambda *args: None)
        Lake.open(location).close()
    assert name_maps(location) == {}
    with Lake.open(location) as lake:
        assert lake.migrations()[-1] == SEEDS
    assert name_maps(location) == {spec.name: 1 for spec in TABLES}


@pytest.mark.slow
def test_writers_on_fresh_sqlite_lakes_never_crash(tmp_path):
    # Before name maps were made with the tables, 16 of 48 such writers died of SIGSEGV here.
    for round_ in range(4):
        location = f"sqlite:{tmp_path / f'lake-{round_}'}"
        Lake.open(location).close()
        run_writers(location, tmp_path, [(i * 40, 120, 20) for i in range(6)])  # all exit 0
        rows, ids = rows_and_ids(location)
        assert rows == ids >= 320
