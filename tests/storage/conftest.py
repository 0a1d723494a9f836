"""A real PostgreSQL server for lake tests, started once per run on 127.0.0.1 in a temp folder.

initdb/pg_ctl come from PATH or /usr/lib/postgresql/*/bin (`make postgres` installs them). The
server refuses to run as root, so under root it runs as the `postgres` system user that the
Debian package creates. Tests that need it skip, saying why, only where no server can be started.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return versions[0].parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """A running server: make a fresh database per test with `new_database()`."""

    bin_dir: Path
    port: int
    user: str = "thresher"
    _names: Iterator[int] = field(default_factory=itertools.count)

    def dsn(self, database: str) -> str:
        return f"dbname={database} host=127.0.0.1 port={self.port} user={self.user}"

    def new_database(self) -> str:
        """Create an empty database; returns its DSN."""
        name = f"lake{next(self._names)}_{os.getpid()}"
        subprocess.run(
            [str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
             "-U", self.user, name],
            check=True, capture_output=True,
        )  # fmt: skip
        return self.dsn(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Start PostgreSQL (initdb + pg_ctl) for this test run; stop it at the end."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL is not installed: no initdb on PATH or in /usr/lib/postgresql/*/bin "
            "(run `make postgres` to install it)"
        )
    run_as: dict[str, Any] = {}
    root = Path(tempfile.mkdtemp(prefix="thresher-pg-"))
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            pytest.skip("PostgreSQL refuses to run as root and there is no 'postgres' user")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        root.chmod(0o755)
        run_as = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
    data, port = root / "data", _free_port()

    def pg(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=root, capture_output=True, text=True, check=False, **run_as)

    init = pg(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "thresher",
              "-E", "UTF8", "--no-sync")  # fmt: skip
    assert init.returncode == 0, init.stderr
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c max_connections=200"
    )
    start = pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", options,
               "-w", "-t", "60", "start")  # fmt: skip
    assert start.returncode == 0, start.stderr + (root / "log").read_text(errors="replace")
    try:
        yield PostgresServer(bin_dir, port)
    finally:
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_lake(postgres_server: PostgresServer, tmp_path: Path) -> str:
    """The location of a fresh lake with its catalog in a new PostgreSQL database."""
    return f"postgres:{postgres_server.new_database()}|{tmp_path / 'pg-data'}"
