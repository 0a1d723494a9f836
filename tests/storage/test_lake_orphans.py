"""Orphaned Parquet files of killed or disk-full commits are removed on the next open, live files
never are; a full disk is one clear error."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from thresher.schemas import Problem
from thresher.storage import Lake
from thresher.storage.orphans import live_files

from ..conftest import behind_thresher


def problems(n: int, start: int = 0, text: str = "") -> list[Problem]:
    return [
        Problem(source="s", question=f"q {i}", answer=str(i), solution=text)
        for i in range(start, start + n)
    ]


def count(lake: Lake) -> int:
    return int(lake.sql("SELECT count(*) AS n FROM problems")["n"][0])


def parquet_files(root: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.parquet"))}


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


# Commits one batch, then writes a second batch's file and stops (or waits) before its COMMIT.
PAUSED_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from thresher.schemas import Problem
    from thresher.storage import Lake

    location, release = sys.argv[1], Path(sys.argv[2])
    lake = Lake.open(location)
    lake.append("problems", [Problem(source="s", question=f"first {i}") for i in range(100)])

    class PausedCommit:
        # Delegates to the real connection, holding the batch just before it commits.
        def __init__(self, conn):
            self.conn = conn

        def __getattr__(self, name):
            return getattr(self.conn, name)

        def execute(self, sql, *args, **kwargs):
            if sql == "COMMIT":
                print("file written, about to commit", flush=True)
                while not release.exists():
                    time.sleep(0.01)
            return self.conn.execute(sql, *args, **kwargs)

    lake._conn = PausedCommit(lake._conn)
    added = lake.append("problems", [Problem(source="s", question=f"late {i}") for i in range(500)])
    print("committed", added, flush=True)
    lake.close()
    """
)


def start_paused_writer(location: str, release: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", PAUSED_WRITER, location, str(release)],
        stdout=subprocess.PIPE, text=True, env=child_env(),
    )  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + 180
    while True:
        line = proc.stdout.readline()
        assert line or proc.poll() is None, "the writer died before its commit"
        if "about to commit" in line:
            return proc
        assert time.monotonic() < deadline


def test_a_killed_commit_leaves_an_orphan_the_next_open_removes(tmp_path):
    path = tmp_path / "lake"
    with Lake.open(path) as lake:
        lake.append("problems", problems(300))  # a live file of an earlier snapshot
        lake.tag("v1")
        lake.append("problems", problems(300, start=300))
    live_before = parquet_files(path)
    proc = start_paused_writer(str(path), tmp_path / "never")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after_kill = parquet_files(path)
    new_files = set(after_kill) - set(live_before)
    assert len(new_files) == 2  # the writer's committed first batch, and the killed batch
    with Lake.open(path) as lake:
        assert len(lake.removed_orphans) == 1
        assert lake.removed_orphans[0] in new_files
        assert count(lake) == 700  # 600 + the writer's committed first batch of 100
        assert int(lake.sql("SELECT count(*) AS n FROM problems", version="v1")["n"][0]) == 300
    kept = {p: h for p, h in after_kill.items() if p not in lake.removed_orphans}
    assert parquet_files(path) == kept  # every live file kept, byte for byte


def test_an_in_flight_file_of_another_writer_is_never_removed(tmp_path):
    location = f"sqlite:{tmp_path / 'lake'}"
    with Lake.open(location) as lake:
        lake.append("problems", problems(50))
    release = tmp_path / "release"
    proc = start_paused_writer(location, release)
    try:
        in_flight = set(parquet_files(tmp_path / "lake"))
        with Lake.open(location) as other:  # a second writer opens: it cleans orphans
            assert other.removed_orphans == []
            other.append("problems", problems(20, start=50))
        assert in_flight <= set(parquet_files(tmp_path / "lake"))
        release.touch()
        out, _ = proc.communicate(timeout=120)
        assert "committed 500" in out
    finally:
        proc.kill()
        proc.wait()
    with Lake.open(location) as lake:
        assert lake.removed_orphans == []
        assert count(lake) == 50 + 100 + 20 + 500  # the late batch reads back from its file
        assert {str(p) for p in parquet_files(tmp_path / "lake")} <= live_files(
            lake._conn, "lake", lake.location.data_path
        )


def test_unknown_unreferenced_files_go_only_when_the_catalog_is_held_exclusively(tmp_path):
    path = tmp_path / "lake"
    with Lake.open(path) as lake:
        lake.append("problems", problems(100))
    # A file DuckDB itself wrote for a committed insert stays: it is referenced.
    with behind_thresher(path) as conn:
        conn.execute("INSERT INTO lake.problems SELECT * REPLACE ('x' || problem_id AS "
                     "problem_id) FROM lake.problems")  # fmt: skip
    live = parquet_files(path)
    stray = path / "data" / "main" / "problems" / "ducklake-0000-stray.parquet"
    stray.write_bytes(b"PAR1 half a file")
    with Lake.open(path) as lake:
        assert lake.removed_orphans == [stray]
        assert count(lake) == 200
    assert parquet_files(path) == live


def fill(folder: Path, leave: int) -> Path:
    """Fill the file system holding `folder` until about `leave` bytes are free."""
    filler = folder / "filler"
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    with filler.open("wb") as out:
        out.write(b"\0" * max(free - leave, 0))
    return filler


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MB tmpfs mounted for this test (needs root and mount), unmounted after."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the RLIMIT_FSIZE test covers this case")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_clear_error_and_leaves_nothing_behind(small_disk, tmp_path):
    path = small_disk / "lake"
    with Lake.open(path) as lake:
        lake.append("problems", problems(100))
    live = parquet_files(path)
    source = tmp_path / "big.jsonl"  # ~8 MB of incompressible text: more than the disk has left
    with source.open("w") as out:
        for i in range(2000):
            out.write(json.dumps({"question": f"big {i}", "solution": os.urandom(2000).hex()}))
            out.write("\n")
    filler = fill(small_disk, leave=1 << 20)
    proc = subprocess.run(
        [sys.executable, "-m", "thresher.cli", "ingest", str(source), "--name", "big",
         "--lake", str(path)],
        capture_output=True, text=True, env=child_env(),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error: no space left to write the lake's data"), proc.stderr
    assert all(line.startswith("  hint:") for line in lines[1:]), proc.stderr
    assert parquet_files(path) == live  # no 0-byte or partial file left
    filler.unlink()
    with Lake.open(path) as lake:
        assert count(lake) == 100
        assert lake.append("problems", problems(2000, start=100, text="x")) == 2000


FSIZE_WRITER = textwrap.dedent(
    """
    import os, resource, signal, sys
    from thresher.schemas import Problem
    from thresher.storage import Lake, LakeError

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    with Lake.open(sys.argv[1]) as lake:
        limit = int(sys.argv[2])
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        try:
            lake.append("problems", [Problem(source="s", question=f"big {i}",
                                             solution=os.urandom(2000).hex())
                                     for i in range(4000)])
        except LakeError as exc:
            print(str(exc).splitlines()[0])
    """
)


def test_a_file_size_limit_is_the_same_clear_error(tmp_path):
    path = tmp_path / "lake"
    with Lake.open(path) as lake:
        lake.append("problems", problems(100))
    live = parquet_files(path)
    biggest = max(p.stat().st_size for p in path.rglob("*") if p.is_file())
    limit = biggest + (256 << 10)  # the catalog can grow a little; the batch's file cannot
    proc = subprocess.run(
        [sys.executable, "-c", FSIZE_WRITER, str(path), str(limit)],
        capture_output=True, text=True, env=child_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("no space left to write the lake's data"), proc.stdout
    assert parquet_files(path) == live
    with Lake.open(path) as lake:
        assert count(lake) == 100
