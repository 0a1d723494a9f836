"""The lake: idempotent atomic appends, versions and time travel, crash safety, read-only SQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from thresher.schemas import NotFoundError, Problem, Verdict
from thresher.storage import Lake, LakeError, ReadOnlyQueryError
from thresher.storage.migrations import migration_names


def problems(n: int, source: str = "set", start: int = 0) -> list[Problem]:
    return [
        Problem(source=source, question=f"question {i}", answer=str(i))
        for i in range(start, start + n)
    ]


def count(lake: Lake, table: str = "problems", version=None) -> int:
    return int(lake.sql(f"SELECT count(*) AS n FROM {table}", version=version)["n"][0])


@pytest.fixture
def lake(tmp_path):
    with Lake.open(tmp_path / "lake") as opened:
        yield opened


def test_new_lake_records_every_named_migration(lake):
    assert lake.migrations() == migration_names()


def test_reopening_runs_no_migration_twice(tmp_path):
    Lake.open(tmp_path / "lake").close()
    with Lake.open(tmp_path / "lake") as again:
        assert again.migrations() == migration_names()


def test_appending_the_same_rows_again_adds_nothing(lake):
    rows = problems(10)
    assert lake.append("problems", rows) == 10
    assert lake.append("problems", rows) == 0
    assert lake.append("problems", rows + problems(2, start=10)) == 2
    assert count(lake) == 12


def test_duplicates_inside_one_batch_are_stored_once(lake):
    rows = problems(3)
    assert lake.append("problems", rows + rows) == 3


def test_composite_keys_allow_one_row_per_verifier(lake):
    verdicts = [
        Verdict(trace_id="t1", verifier="math_v1", status="ok", correct=True),
        Verdict(trace_id="t1", verifier="exact_v1", status="ok", correct=False),
    ]
    assert lake.append("verdicts", verdicts) == 2
    assert lake.append("verdicts", verdicts[:1]) == 0


def test_a_batch_that_fails_leaves_no_rows(lake):
    lake.append("problems", problems(2))
    bad = problems(3, start=2)
    with pytest.raises(LakeError, match="takes Problem records"):
        lake.append("problems", [*bad, Verdict(trace_id="t", verifier="v", status="no_answer")])
    assert count(lake) == 2


def test_unknown_table_lists_known_ones(lake):
    with pytest.raises(NotFoundError, match="known tables: problems, rollouts"):
        lake.append("problemz", [])


def test_version_tag_reads_old_rows_after_later_writes(lake):
    lake.append("problems", problems(5))
    v1 = lake.tag("v1", note="five problems")
    assert v1.counts["problems"] == 5
    lake.append("problems", problems(3, start=5))
    lake.tag("v2")
    assert count(lake, version="v1") == 5
    assert count(lake, version="v2") == 8
    assert count(lake, version=v1.snapshot_id) == 5
    assert count(lake) == 8
    assert [v.name for v in lake.versions()] == ["v1", "v2"]


def test_unknown_version_and_duplicate_tag_are_clear_errors(lake):
    lake.append("problems", problems(1))
    lake.tag("v1")
    with pytest.raises(NotFoundError, match="known versions: v1"):
        lake.sql("SELECT 1", version="nope")
    with pytest.raises(LakeError, match="already exists"):
        lake.tag("v1")
    with pytest.raises(NotFoundError, match="no snapshot 9999"):
        lake.sql("SELECT 1", version=9999)


def test_a_snapshot_before_a_table_existed_does_not_show_it(lake):
    lake.append("problems", problems(1))
    assert count(lake) == 1
    with pytest.raises(LakeError, match="problems"):
        lake.sql("SELECT count(*) FROM problems", version=0)


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM problems",
        "DROP TABLE problems",
        "INSERT INTO problems SELECT * FROM problems",
        "UPDATE problems SET answer = 'x'",
        "CREATE TABLE evil AS SELECT 1",
        "SELECT 1; DELETE FROM problems",
        "COPY problems TO '/tmp/x.csv'",
        "ATTACH ':memory:' AS other",
    ],
)
def test_read_only_sql_refuses_writes_and_leaves_the_lake_unchanged(lake, statement):
    lake.append("problems", problems(4))
    before = lake.snapshot_id()
    with pytest.raises(ReadOnlyQueryError, match="only SELECT queries"):
        lake.sql(statement)
    assert count(lake) == 4
    assert lake.snapshot_id() == before


def test_read_only_open_of_a_missing_lake_says_where_it_looked(tmp_path):
    with pytest.raises(NotFoundError, match="no lake at"):
        Lake.open(tmp_path / "missing", read_only=True)
    assert not (tmp_path / "missing").exists()


def test_sqlite_catalog_works_like_the_default(tmp_path):
    with Lake.open(f"sqlite:{tmp_path / 'lake'}") as lake:
        assert lake.append("problems", problems(3)) == 3
        lake.tag("v1")
        lake.append("problems", problems(1, start=3))
        assert count(lake, version="v1") == 3
    assert (tmp_path / "lake" / "catalog.sqlite").exists()


def test_postgres_location_needs_a_data_path():
    with pytest.raises(Exception, match="needs a data path"):
        Lake.open("postgres:dbname=lake")


WRITER = textwrap.dedent(
    """
    import sys, time
    from thresher.schemas import Problem
    from thresher.storage import Lake

    lake = Lake.open(sys.argv[1])
    lake.append("problems", [Problem(source="s", question=f"q{i}") for i in range(10)])

    class SlowCommit:
        # Delegates to the real connection, stalling just before the batch commits.
        def __init__(self, conn):
            self.conn = conn

        def __getattr__(self, name):
            return getattr(self.conn, name)

        def execute(self, sql, *args, **kwargs):
            if sql == "COMMIT":
                print("inserted, about to commit", flush=True)
                time.sleep(60)
            return self.conn.execute(sql, *args, **kwargs)

    lake._conn = SlowCommit(lake._conn)
    print("first batch committed", flush=True)
    lake.append("problems", [Problem(source="s", question=f"big {i}", solution="x" * 500)
                             for i in range(5000)])
    """
)


def test_sigkill_in_the_middle_of_a_batch_leaves_none_of_it_visible(tmp_path):
    path = tmp_path / "lake"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 120
        while "about to commit" not in "".join(lines):
            line = proc.stdout.readline()
            assert line or proc.poll() is None, f"writer died early: {lines}"
            lines.append(line)
            assert time.monotonic() < deadline
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    with Lake.open(path) as lake:
        assert count(lake) == 10
        assert lake.append("problems", problems(2)) == 2  # writable again
        assert count(lake) == 12


def test_large_batches_are_written_as_files_and_stay_idempotent(lake):
    from thresher.storage.append import INLINE_ROWS

    rows = problems(INLINE_ROWS + 2000)
    assert lake.append("problems", rows) == INLINE_ROWS + 2000
    assert lake.append("problems", rows) == 0
    assert lake.append("problems", problems(INLINE_ROWS + 2000 + INLINE_ROWS)) == INLINE_ROWS
    assert count(lake) == INLINE_ROWS * 2 + 2000
    data = lake.location.catalog_file.parent / "data"
    assert len(list(data.rglob("*.parquet"))) == 1  # the last call's rows were inlined, not filed
    assert [p.name.startswith("thresher-") for p in data.rglob("*.parquet")] == [True]


def test_a_batch_file_dictionary_encodes_only_columns_whose_values_repeat(lake):
    """The key is unique per row and long text never repeats: those are written plain."""
    import pyarrow.parquet as pq

    rows = [
        Problem(source="gsm8k", question=f"question {i}: " + "words " * 20, answer=str(i % 3))
        for i in range(500)
    ]
    assert lake.append("problems", rows) == 500
    [path] = (lake.location.catalog_file.parent / "data").rglob("*.parquet")
    meta = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {
        meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)
    }
    dictionary = {name for name, used in encodings.items() if "RLE_DICTIONARY" in used}
    assert {"source", "answer"} <= dictionary
    assert not {"problem_id", "question"} & dictionary
    stored = lake.sql("SELECT question FROM problems ORDER BY question")["question"].to_list()
    assert stored == sorted(p.question for p in rows)


def test_a_hash_hit_is_confirmed_exactly_before_a_row_is_dropped(lake):
    from thresher.schemas import to_arrow_table
    from thresher.storage.append import new_rows

    batch = to_arrow_table(Problem, problems(4))
    conn = lake._conn
    conn.register("b", batch)
    hashes = set(conn.execute("SELECT hash(problem_id) AS h FROM b").fetchnumpy()["h"].tolist())
    conn.unregister("b")
    # Pretend every hash is already stored (as a collision would): nothing is in the table, so all stay.
    kept, _ = new_rows(conn, "lake.problems", ("problem_id",), batch, hashes)
    assert kept.num_rows == 4


def test_another_writers_commit_invalidates_the_key_cache(tmp_path):
    location = f"sqlite:{tmp_path / 'lake'}"
    with Lake.open(location) as first, Lake.open(location) as second:
        assert first.append("problems", problems(2)) == 2
        assert second.append("problems", problems(2, start=2)) == 2
        assert first.append("problems", problems(4)) == 0
        assert count(first) == 4
