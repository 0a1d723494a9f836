"""The lake's read-only SQL cannot change the lake, read host files or fetch extensions."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from thresher.schemas import Problem
from thresher.storage import Lake, LakeError, ReadOnlyQueryError


def seed(path: Path) -> None:
    with Lake.open(path) as lake:
        for k in range(3):  # three data files and some inlined rows: work for compaction
            lake.append("problems", [Problem(source="s", question=f"{k}-{i}") for i in range(50)])
            lake.append("problems", [Problem(source="s", question=f"small {k}")])


def fingerprint(path: Path) -> dict[str, str]:
    """Every file of the lake (catalog and data) with its content hash."""
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file() and ".thresher-writers" not in p.parts
    }


def thresher(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    if home is not None:
        env["HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "thresher.cli", *args], capture_output=True, text=True, env=env
    )


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("safety") / "lake"
    seed(path)
    return path


MAINTENANCE = [
    "SELECT * FROM ducklake_cleanup_old_files('lake', cleanup_all => true)",
    "SELECT * FROM ducklake_merge_adjacent_files('lake')",
    "SELECT * FROM ducklake_flush_inlined_data('lake')",
    "SELECT * FROM ducklake_expire_snapshots('lake', older_than => now())",
    "SELECT * FROM ducklake_delete_orphaned_files('lake', cleanup_all => true)",
    "SELECT * FROM ducklake_rewrite_data_files('lake')",
    "SELECT * FROM ducklake_set_option('lake', 'parquet_compression', 'zstd')",
    "SELECT * FROM lake.merge_adjacent_files()",
    "SELECT * FROM query('SELECT * FROM ducklake_cleanup_old_files(''lake'')')",
    "WITH x AS (SELECT * FROM ducklake_flush_inlined_data('lake')) SELECT count(*) FROM x",
    "SELECT (SELECT count(*) FROM ducklake_merge_adjacent_files('lake')) AS n",
    "SELECT * FROM problems, LATERAL (SELECT * FROM ducklake_cleanup_old_files('lake'))",
    "SELECT * FROM postgres_execute('__ducklake_metadata_lake', 'DROP TABLE x')",
    "SELECT * FROM sqlite_query('__ducklake_metadata_lake', 'DELETE FROM ducklake_data_file')",
]


@pytest.mark.parametrize("query", MAINTENANCE)
def test_maintenance_functions_are_refused_and_nothing_changes(lake_dir, query):
    before = fingerprint(lake_dir)
    with Lake.open(lake_dir, read_only=True) as lake:
        with pytest.raises(ReadOnlyQueryError, match=r"table function .* is not allowed"):
            lake.sql(query)
        assert lake.sql("SELECT count(*) AS n FROM problems")["n"][0] == 153
    assert fingerprint(lake_dir) == before


def test_maintenance_through_the_cli_is_one_clear_line_and_changes_nothing(lake_dir):
    before = fingerprint(lake_dir)
    proc = thresher("sql", MAINTENANCE[0], "--lake", str(lake_dir))
    assert proc.returncode == 2
    first, *rest = proc.stderr.strip().splitlines()
    assert first.startswith("error: the table function ducklake_cleanup_old_files()")
    assert all(line.startswith("  hint:") for line in rest)
    assert fingerprint(lake_dir) == before


HOST_READS = [
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM glob('/root/*')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_blob('/etc/hostname')",
    "SELECT * FROM read_parquet('/etc/passwd')",
]


@pytest.mark.parametrize("query", HOST_READS)
def test_file_readers_are_refused(lake_dir, query):
    with Lake.open(lake_dir, read_only=True) as lake, pytest.raises(ReadOnlyQueryError):
        lake.sql(query)


def test_host_files_stay_out_of_reach_even_without_a_table_function(lake_dir):
    # A quoted path is a table reference DuckDB would turn into a reader: it finds nothing.
    with Lake.open(lake_dir, read_only=True) as lake:
        for query in ("SELECT * FROM '/etc/passwd'", "SELECT * FROM '/etc/hostname.csv'"):
            with pytest.raises(LakeError, match="query failed") as caught:
                lake.sql(query)
            assert "root:" not in str(caught.value)
        # Under the parse-tree check, the connection itself refuses host files too.
        with pytest.raises(Exception, match="disabled by configuration"):
            lake._conn.execute("SELECT * FROM read_text('/etc/passwd')")
        with pytest.raises(Exception, match="locked"):
            lake._conn.execute("SET enable_external_access = true")


def test_settings_and_writes_are_refused_by_statement_type(lake_dir):
    with Lake.open(lake_dir, read_only=True) as lake:
        for query in (
            "SET enable_external_access = true",
            "INSTALL httpfs",
            "LOAD httpfs",
            "PRAGMA enable_profiling",
            "COPY (SELECT 1) TO '/tmp/thresher-leak.csv'",
            "CALL ducklake_cleanup_old_files('lake')",
        ):
            with pytest.raises(ReadOnlyQueryError, match="only SELECT queries"):
                lake.sql(query)
        # Even past the checks, the attachment is read-only.
        with pytest.raises(Exception, match="read-only|read only|readonly"):
            lake._conn.execute("INSERT INTO lake.problems SELECT * FROM lake.problems")


def test_one_select_at_a_time_and_unverifiable_forms_are_refused(lake_dir):
    with Lake.open(lake_dir, read_only=True) as lake:
        with pytest.raises(ReadOnlyQueryError, match="one SELECT at a time"):
            lake.sql("SELECT 1; SELECT 2")
        with pytest.raises(ReadOnlyQueryError):  # PIVOT creates a type first: not a plain read
            lake.sql("PIVOT problems ON source USING count(*)")


def test_plain_reads_still_work(lake_dir):
    with Lake.open(lake_dir, read_only=True) as lake:
        assert lake.sql("SELECT count(*) AS n FROM range(5)")["n"][0] == 5
        assert lake.sql("SELECT max(snapshot_id) AS s FROM snapshots")["s"][0] >= 1
        described = lake.sql("DESCRIBE problems")
        assert "problem_id" in described["column_name"].to_list()
        assert lake.sql("SELECT count(*) AS n FROM (SELECT unnest([1, 2, 3]))")["n"][0] == 3


def test_http_paths_fetch_no_extension(lake_dir, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    for query in (
        "SELECT * FROM 'https://127.0.0.1:9/x.parquet'",
        "SELECT * FROM read_parquet('s3://bucket/x.parquet')",
    ):
        proc = thresher("sql", query, "--lake", str(lake_dir), home=home)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) <= 2  # the error and at most a hint
    assert not (home / ".duckdb").exists()  # nothing was installed


def test_every_thresher_connection_refuses_to_autoload_or_install(lake_dir, tmp_path):
    from thresher.storage.connect import new_connection

    settings = (
        "SELECT current_setting('autoinstall_known_extensions'), "
        "current_setting('autoload_known_extensions')"
    )
    with Lake.open(tmp_path / "writer") as writer, Lake.open(lake_dir, read_only=True) as reader:
        for conn in (writer._conn, reader._conn, new_connection()):
            assert conn.execute(settings).fetchone() == (False, False)
        # The writer's connection: an http path fails without any download attempt.
        with pytest.raises(Exception, match="disabled by configuration"):
            writer._conn.execute("SELECT * FROM read_parquet('https://127.0.0.1:9/x.parquet')")


def test_version_with_non_ascii_digits_is_a_clear_error(lake_dir):
    proc = thresher("sql", "SELECT 1", "--version", "²", "--lake", str(lake_dir))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "no version named '²'" in proc.stderr


def test_csv_of_struct_and_map_columns_is_json_text(lake_dir, tmp_path):
    import csv
    import io
    import json

    path = tmp_path / "lake"
    with Lake.open(path) as lake:
        lake.append("problems", [Problem(source="s", question="q", metadata={"a": "1"})])
        lake.tag("v1")
    query = (
        "SELECT name, counts, {'x': 1, 'y': [1, 2]} AS s, metadata FROM dataset_versions, problems"
    )
    proc = thresher("sql", query, "--lake", str(path), "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    row = next(csv.DictReader(io.StringIO(proc.stdout)))
    assert json.loads(row["s"]) == {"x": 1, "y": [1, 2]}
    assert json.loads(row["counts"])["problems"] == 1
    assert row["name"] == "v1"


def test_query_errors_are_one_line(lake_dir):
    for query, expected in (
        ("SELEC 1", "cannot parse the query"),
        ("SELECT * FROM nope", "query failed: Catalog Error"),
        ("SELECT 1 +", "cannot parse the query"),
    ):
        proc = thresher("sql", query, "--lake", str(lake_dir))
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert lines[0].startswith("error: ") and expected in lines[0], proc.stderr
        assert all(line.startswith("  hint:") for line in lines[1:]), proc.stderr
