"""The flow's run hygiene: a Hub push that fails twice with 503 is retried by Prefect and
lands; a refused push is not retried; two runs in one process share nothing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from thresher.flows.curate import run_curate
from thresher.storage import Lake

from .conftest import NoEngine, build_stored_lake

pytestmark = pytest.mark.slow  # each run starts Prefect's ephemeral server


class _FlakyHub(BaseHTTPRequestHandler):
    """A Hub that answers 503 to the first `failures` repo creations, then accepts."""

    failures = 2
    calls: list[str] = []
    token = "hf_token_for_tests"

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.calls.append(self.path)
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            return self._json(401, {"error": "Invalid credentials"})
        if self.path == "/api/repos/create":
            if self.calls.count("/api/repos/create") <= self.failures:
                return self._json(503, {"error": "try again later"})
            return self._json(200, {"url": "http://127.0.0.1/datasets/me/tiny", "name": "me/tiny"})
        if self.path == "/api/validate-yaml":
            return self._json(200, {"errors": [], "warnings": []})
        if "/preupload/" in self.path:
            files = json.loads(body)["files"]
            return self._json(
                200,
                {
                    "files": [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                        for f in files
                    ]
                },
            )
        if "/commit/" in self.path:
            return self._json(
                200,
                {
                    "commitUrl": f"http://127.0.0.1/datasets/me/tiny/commit/{'a' * 40}",
                    "commitOid": "a" * 40,
                    "success": True,
                },
            )
        return self._json(404, {"error": self.path})

    def do_GET(self) -> None:  # noqa: N802
        if "/tree/" in self.path:  # list_repo_files before a push: a new repo holds nothing
            return self._json(200, [])
        return self._json(404, {"error": self.path})


@pytest.fixture()
def flaky_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_FlakyHub]]:
    import huggingface_hub.constants as hf_constants

    _FlakyHub.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_TOKEN", _FlakyHub.token)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "ENDPOINT", endpoint)
    try:
        yield _FlakyHub
    finally:
        server.shutdown()
        thread.join()


def _no_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """The flow's own export task (its retries and retry condition), without the wait."""
    import thresher.flows.curate as curate

    monkeypatch.setattr(
        curate, "export_task", curate.export_task.with_options(retry_delay_seconds=0)
    )


def test_a_hub_push_that_fails_twice_is_retried_and_lands(
    tmp_path: Path, flaky_hub: type[_FlakyHub], monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_retry_delay(monkeypatch)
    recipe, lake = build_stored_lake(
        tmp_path, export=", push_to_hub: me/tiny, private: true, license: apache-2.0"
    )
    summary = run_curate(recipe, str(lake), engine=NoEngine())
    # Four formats are pushed: the first repo creation fails twice (503) and is retried.
    assert flaky_hub.calls.count("/api/repos/create") == 2 + 4
    assert any("/commit/" in c for c in flaky_hub.calls)
    assert set(summary.exports) == {"sft", "rl", "dpo", "prm"}


def test_a_refused_push_is_a_user_error_and_is_not_retried(
    tmp_path: Path, flaky_hub: type[_FlakyHub], monkeypatch: pytest.MonkeyPatch
) -> None:
    from thresher.stages.export import HubPushError

    _no_retry_delay(monkeypatch)
    monkeypatch.setenv("HF_TOKEN", "not-the-token")
    recipe, lake = build_stored_lake(tmp_path, export=", push_to_hub: me/tiny, license: apache-2.0")
    with pytest.raises(HubPushError, match="HTTP 401"):
        run_curate(recipe, str(lake), engine=NoEngine())
    assert flaky_hub.calls.count("/api/repos/create") == 1


def test_two_runs_in_one_process_share_nothing(tmp_path: Path) -> None:
    runs = {name: build_stored_lake(tmp_path / name, name=name) for name in ("alpha", "beta")}
    outputs = {name: StringIO() for name in runs}
    results: dict[str, Any] = {}

    def go(name: str) -> None:
        recipe, lake = runs[name]
        console = Console(file=outputs[name], width=200)
        try:
            results[name] = run_curate(
                recipe, str(lake), engine=NoEngine(), progress_console=console
            )
        except BaseException as exc:  # reported below, with the run it belongs to
            results[name] = exc

    threads = [threading.Thread(target=go, args=(name,)) for name in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    for name, (_, lake) in runs.items():
        result = results[name]
        assert not isinstance(result, BaseException), (name, result)
        assert result.version == f"{name}-v1"
        with Lake.open(lake, read_only=True) as opened:
            assert [v.name for v in opened.versions()] == [f"{name}-v1"]  # nothing of the other
        lines = outputs[name].getvalue().splitlines()
        # Each console got its own run's progress, once: no line of the other run.
        assert sum(1 for line in lines if " select " in line and "done in" in line) == 1
        assert sum(1 for line in lines if " ingest " in line and "done in" in line) == 1
