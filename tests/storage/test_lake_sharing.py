"""A lake that moves and shares: copied lakes open, readers query while a writer runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from thresher.schemas import Problem
from thresher.storage import Lake, LakeBusyError


def problems(n: int, start: int = 0) -> list[Problem]:
    return [Problem(source="s", question=f"q {i}", answer=str(i)) for i in range(start, start + n)]


def count(lake: Lake, version: str | None = None) -> int:
    return int(lake.sql("SELECT count(*) AS n FROM problems", version=version)["n"][0])


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


@pytest.mark.parametrize("scheme", ["", "sqlite:"])
def test_a_moved_lake_opens_reads_every_version_and_takes_writes(tmp_path, scheme):
    old = tmp_path / "old"
    with Lake.open(f"{scheme}{old}") as lake:
        lake.append("problems", problems(500))  # a data file
        lake.append("problems", problems(3, start=500))  # inlined rows
        lake.tag("v1")
        lake.append("problems", problems(100, start=600))
    new = tmp_path / "elsewhere" / "new"
    shutil.copytree(old, new)
    shutil.rmtree(old)  # nothing may still point at the old folder
    with Lake.open(f"{scheme}{new}", read_only=True) as lake:
        assert count(lake) == 603
        assert count(lake, version="v1") == 503
    with Lake.open(f"{scheme}{new}") as lake:
        assert lake.removed_orphans == []
        assert lake.append("problems", problems(700)) == 97
        assert count(lake) == 700
    assert not old.exists()
    assert all(str(new) in str(p) for p in new.rglob("*.parquet"))


# Holds the lake open for writing: commits a batch, reports, then waits for the release file.
HOLDING_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from thresher.schemas import Problem
    from thresher.storage import Lake

    location, release = sys.argv[1], Path(sys.argv[2])
    with Lake.open(location) as lake:
        lake.append("problems", [Problem(source="s", question=f"w {i}") for i in range(40)])
        print("committed", flush=True)
        while not release.exists():
            time.sleep(0.02)
        lake.append("problems", [Problem(source="s", question=f"later {i}") for i in range(5)])
    print("done", flush=True)
    """
)


def start_writer(location: str, release: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDING_WRITER, location, str(release)],
        stdout=subprocess.PIPE, text=True, env=child_env(),
    )  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while "committed" not in proc.stdout.readline():
        assert proc.poll() is None, "the writer died"
        assert time.monotonic() < deadline
    return proc


def test_readers_query_a_duckdb_catalog_while_a_writer_holds_it(tmp_path):
    path = tmp_path / "lake"
    with Lake.open(path) as lake:
        lake.append("problems", problems(10))
    release = tmp_path / "release"
    copies = set(Path(tempfile.gettempdir()).glob("thresher-catalog-*"))
    proc = start_writer(str(path), release)
    try:
        cli = subprocess.run(
            [sys.executable, "-m", "thresher.cli", "sql", "SELECT count(*) AS n FROM problems",
             "--lake", str(path), "-f", "csv"],
            capture_output=True, text=True, env=child_env(),
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        assert cli.stdout.splitlines() == ["n", "50"]  # the writer's committed batch is seen
        assert re.search(r"another process \(PID \d+\) is writing the lake", cli.stderr)
        with Lake.open(path, read_only=True) as reader:
            assert count(reader) == 50
            assert reader.versions() == []
        with pytest.raises(LakeBusyError, match=r"being written by another process \(PID \d+\)"):
            Lake.open(path, wait=0)
        release.touch()
        out, _ = proc.communicate(timeout=120)
        assert "done" in out
    finally:
        proc.kill()
        proc.wait()
    with Lake.open(path, read_only=True) as reader:
        assert reader.note == ""  # no writer now: the catalog itself is read
        assert count(reader) == 55
    assert set(Path(tempfile.gettempdir()).glob("thresher-catalog-*")) == copies  # removed


def test_a_writer_waits_for_the_catalog_then_writes(tmp_path):
    path = tmp_path / "lake"
    release = tmp_path / "release"
    proc = start_writer(str(path), release)
    try:
        subprocess.Popen(["sh", "-c", f"sleep 2; touch {release}"])
        with Lake.open(path, wait=120) as lake:  # blocks until the first writer is done
            assert lake.append("problems", problems(5)) == 5
            assert count(lake) == 50
        proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()


def test_readers_and_writers_of_a_sqlite_catalog_run_together(tmp_path):
    location = f"sqlite:{tmp_path / 'lake'}"
    release = tmp_path / "release"
    proc = start_writer(location, release)
    try:
        with Lake.open(location, read_only=True) as reader, Lake.open(location) as writer:
            assert reader.note == ""
            assert writer.append("problems", problems(3)) == 3
            assert count(reader) == 43
        release.touch()
        proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    with Lake.open(location, read_only=True) as reader:
        assert count(reader) == 48
