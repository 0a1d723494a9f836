"""Shared test settings: private Prefect home, no telemetry, offline Hub, a per-run cache."""

from __future__ import annotations

import os
import tempfile

_RUN_DIR = tempfile.mkdtemp(prefix="thresher-tests-")
os.environ.setdefault("PREFECT_HOME", os.path.join(_RUN_DIR, "prefect"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The converted embedded model is reused across runs when THRESHER_CACHE is set by the caller.
os.environ.setdefault("THRESHER_CACHE", os.path.expanduser("~/.cache/thresher"))
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
# The ephemeral Prefect server logs its shutdown after pytest has closed the streams.
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


# -- shared model fixtures (generation helper) ------------------------------------------------
import pytest  # noqa: E402

# The settings of the one vLLM engine shared by the whole test run (start-up is slow on CPU).
SHARED_ENGINE_OPTIONS = {
    "dtype": "float32",
    "max_model_len": 2048,
    "seed": 0,
    "enforce_eager": True,  # skips a minutes-long torch.compile on a cold CPU cache
}


@pytest.fixture(scope="session")
def embedded_model_dir():
    """The converted safetensors checkpoint of the embedded default model (converted once)."""
    from thresher.pipeline.models import embedded_checkpoint

    return embedded_checkpoint()


@pytest.fixture(scope="session")
def vllm_engine(embedded_model_dir):
    """One started VLLMEngine on the embedded model, shared by every test of the run."""
    from thresher.pipeline.engines.vllm import VLLMEngine

    engine = VLLMEngine("smollm2-135m-instruct", **SHARED_ENGINE_OPTIONS)
    engine.setup()
    yield engine
    engine.teardown()


# The name the shared OpenAI-compatible vLLM server serves the embedded model under.
SERVED_MODEL = "smollm2"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def vllm_server(embedded_model_dir, tmp_path_factory):
    """A real vLLM OpenAI-compatible server on 127.0.0.1 (embedded model), shared by the run.

    Its base URL (``.../v1``) is yielded; the whole process group is killed at the end, so no
    engine process outlives the run.
    """
    import contextlib
    import signal
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    log_path = tmp_path_factory.mktemp("vllm-serve") / "server.log"
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1")
    cmd = [
        # `vllm serve` needs the `vllm` distribution's metadata, which vllm-cpu does not have;
        # the API server module is the same server.
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(embedded_model_dir),
        "--host", "127.0.0.1", "--port", str(port), "--served-model-name", SERVED_MODEL,
        "--dtype", "float32", "--max-model-len", "512", "--enforce-eager",
    ]  # fmt: skip
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 900
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited: {log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(2)
        else:
            pytest.fail("vllm serve did not become healthy in 900 s")
        yield f"{url}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        # The engine core and any helper it spawned share the server's process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


# -- writing behind thresher's back -------------------------------------------------------------
import contextlib  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402


@contextlib.contextmanager
def behind_thresher(location: str | Path) -> Iterator[object]:
    """A raw DuckDB connection with the lake attached as `lake`, read-write: what a tamperer or
    a foreign writer would use (the Lake API itself refuses such writes)."""
    from thresher.storage.connect import attach
    from thresher.storage.location import parse_location

    attached = attach(parse_location(str(location)), read_only=False)
    try:
        yield attached.conn
    finally:
        attached.close()


# -- a real PostgreSQL server (lake catalogs for several writers) -------------------------------
# Started once per run on 127.0.0.1 in a temp folder. initdb/pg_ctl come from PATH or
# /usr/lib/postgresql/*/bin (`make postgres` installs them). The server refuses to run as root,
# so under root it runs as the `postgres` system user that the Debian package creates. Tests that
# need it skip, saying why, only where no server can be started.
import itertools  # noqa: E402
import pwd  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return versions[0].parent if versions else None


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
    data, port = root / "data", free_port()

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
