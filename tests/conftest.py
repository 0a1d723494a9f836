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
