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
