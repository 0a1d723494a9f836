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
