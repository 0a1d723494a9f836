"""Exports of a version: every format loads with `datasets`, files are reproducible, push works."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from thresher.config import parse_recipe
from thresher.flows.export import HubPushError, export_version, push_to_hub, read_export_source
from thresher.flows.select import select_and_tag
from thresher.pipeline.export import assistant_text
from thresher.schemas import InputError
from thresher.storage import Lake

from .conftest import TINY_RECIPE, build_tiny_lake  # type: ignore[import-not-found]

RECIPE = parse_recipe(TINY_RECIPE)


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake with 3 problems x 3 traces: correct, incorrect, and a flawed positive."""
    path = build_tiny_lake(tmp_path_factory.mktemp("lake"))
    with Lake.open(path) as lake:
        result = select_and_tag(lake, RECIPE, run_id="run-test")
    assert result.version.name == "tiny-v1"
    assert result.funnel["selected"] == 3 and result.funnel["correct"] == 6
    return path


@pytest.mark.parametrize("fmt", ["sft", "rl", "dpo", "prm"])
def test_every_format_loads_with_datasets(lake_dir: Path, tmp_path: Path, fmt: str) -> None:
    from datasets import load_dataset

    with Lake.open(lake_dir, read_only=True) as lake:
        result = export_version(lake, "tiny-v1", fmt, tmp_path / fmt)
    ds = load_dataset(str(tmp_path / fmt), split="train")
    assert len(ds) == result.rows == {"sft": 3, "rl": 3, "dpo": 6, "prm": 6}[fmt]
    row = ds[0]
    if fmt == "sft":
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
        assert row["messages"][1]["content"].startswith("<think>\n")
    elif fmt == "rl":
        assert set(row) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
        assert row["reward_model"]["style"] == "rule" and row["ability"] == "math"
        assert row["prompt"][0]["role"] == "user"
        assert row["extra_info"]["pass_rate"] == pytest.approx(2 / 3)
    elif fmt == "dpo":
        reasons = {r["rejected_reason"] for r in ds}
        assert reasons == {"incorrect", "flawed_positive:arith_step_check"}
        assert all(r["chosen_trace_id"] != r["rejected_trace_id"] for r in ds)
    else:
        labels = {r["reason_code"]: r["labels"] for r in ds}
        assert set(labels) == {"selected", "flawed_positive:arith_step_check"}
        assert labels["selected"] == [True] * len(labels["selected"])
        assert labels["flawed_positive:arith_step_check"][0] is False
    card = (tmp_path / fmt / "README.md").read_text()
    assert card.startswith("---\n") and "task_categories" in card
    assert "tiny-v1" in card and "| selected | 3 |" in card
    with Lake.open(lake_dir, read_only=True) as lake:
        assert read_export_source(lake, "tiny-v1").head_hash in card
    assert "name: tiny" in card  # the recipe


def test_export_is_byte_for_byte_reproducible(lake_dir: Path, tmp_path: Path) -> None:
    with Lake.open(lake_dir, read_only=True) as lake:
        one = export_version(lake, "tiny-v1", "sft", tmp_path / "a")
        two = export_version(lake, "tiny-v1", "sft", tmp_path / "b")
    assert one.fingerprint == two.fingerprint
    for f1 in (tmp_path / "a").rglob("*"):
        if f1.is_file():
            assert f1.read_bytes() == (tmp_path / "b" / f1.relative_to(tmp_path / "a")).read_bytes()


def test_sharding_and_think_styles(lake_dir: Path, tmp_path: Path) -> None:
    with Lake.open(lake_dir, read_only=True) as lake:
        result = export_version(
            lake, None, "sft", tmp_path / "s", shard_rows=2, think_style="reasoning_field"
        )
    shards = sorted((tmp_path / "s" / "data").glob("*.parquet"))
    assert [p.name for p in shards] == [
        "train-00000-of-00002.parquet",
        "train-00001-of-00002.parquet",
    ]
    assert result.rows == 3
    table = pq.read_table(shards[0])
    row = table.to_pylist()[0]
    assert row["reasoning"] and "<think>" not in row["messages"][1]["content"]
    rollout = {"reasoning": "r", "answer_text": "a", "completion": "r a"}
    assert assistant_text(rollout, "plain") == "r\n\na"
    assert assistant_text(rollout, "think_tags") == "<think>\nr\n</think>\n\na"


def test_export_errors_are_clear(lake_dir: Path, tmp_path: Path) -> None:
    from thresher.schemas import NotFoundError

    with Lake.open(lake_dir, read_only=True) as lake:
        with pytest.raises(NotFoundError, match="no version named 'nope'"):
            export_version(lake, "nope", "sft", tmp_path / "x")
        with pytest.raises(InputError, match="unknown export format 'csv'"):
            export_version(lake, "tiny-v1", "csv", tmp_path / "x")
        precious = tmp_path / "precious"
        precious.mkdir()
        (precious / "thesis.txt").write_text("keep me")
        with pytest.raises(InputError, match="not a thresher export"):
            export_version(lake, "tiny-v1", "sft", precious)
    assert (precious / "thesis.txt").exists()


class _FakeHub(BaseHTTPRequestHandler):
    """Answers the Hub endpoints create_repo and upload_folder use; records what it got."""

    received: dict[str, Any] = {}

    def log_message(self, *args: Any) -> None:  # keep test output quiet
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
        rec = self.received
        rec.setdefault("auth", set()).add(self.headers.get("Authorization"))
        rec.setdefault("paths", []).append(self.path)
        if self.headers.get("Authorization") != "Bearer hf_secret_token_123":
            return self._json(401, {"error": "Invalid credentials"})
        if self.path == "/api/repos/create":
            rec["create"] = json.loads(body)
            repo = f"{rec['create'].get('organization')}/{rec['create']['name']}"
            host, port = self.server.server_address[:2]
            return self._json(200, {"url": f"http://{host}:{port}/datasets/{repo}", "name": repo})
        if self.path == "/api/validate-yaml":
            rec["validated_yaml"] = json.loads(body).get("content", "")
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
            files = {}
            for line in body.decode().splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            rec["files"] = files
            return self._json(
                200,
                {
                    "commitUrl": f"http://127.0.0.1/datasets/me/tiny/commit/{'a' * 40}",
                    "commitOid": "a" * 40,
                    "success": True,
                },
            )
        return self._json(404, {"error": f"not found: {self.path}"})

    def do_GET(self) -> None:  # noqa: N802
        return self._json(404, {"error": f"not found: {self.path}"})


@pytest.fixture()
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    import huggingface_hub.constants as hf_constants

    _FakeHub.received = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "ENDPOINT", endpoint)
    try:
        yield _FakeHub.received
    finally:
        server.shutdown()
        thread.join()


def test_push_uploads_every_file_with_the_token(
    lake_dir: Path, tmp_path: Path, fake_hub: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    with Lake.open(lake_dir, read_only=True) as lake:
        export_version(lake, "tiny-v1", "rl", tmp_path / "rl")
    url = push_to_hub(tmp_path / "rl", "me/tiny", private=True, token="hf_secret_token_123")
    assert url.endswith("/datasets/me/tiny/commit/" + "a" * 40)
    assert fake_hub["create"]["type"] == "dataset", fake_hub["create"]
    assert (
        fake_hub["create"].get("private") is True
        or fake_hub["create"].get("visibility") == "private"
    ), fake_hub["create"]
    local = {
        str(p.relative_to(tmp_path / "rl")): p.read_bytes()
        for p in (tmp_path / "rl").rglob("*")
        if p.is_file()
    }
    assert fake_hub["files"] == local
    assert "hf_secret_token_123" not in capfd.readouterr().out


def test_push_refused_without_valid_token(
    lake_dir: Path, tmp_path: Path, fake_hub: dict[str, Any]
) -> None:
    with Lake.open(lake_dir, read_only=True) as lake:
        export_version(lake, "tiny-v1", "sft", tmp_path / "sft")
    with pytest.raises(HubPushError, match="HTTP 401") as info:
        push_to_hub(tmp_path / "sft", "me/tiny", token="wrong")
    assert "wrong" not in str(info.value)
    with pytest.raises(InputError, match="OWNER/NAME"):
        push_to_hub(tmp_path / "sft", "just-a-name", token="x")


def test_push_refuses_offline_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubPushError, match="HF_HUB_OFFLINE"):
        push_to_hub(tmp_path, "me/tiny", token="x")


def test_two_exports_with_the_same_folder_name_load_their_own_rows(
    lake_dir: Path, tmp_path: Path
) -> None:
    from datasets import load_dataset

    with Lake.open(lake_dir, read_only=True) as lake:
        export_version(lake, "tiny-v1", "sft", tmp_path / "a" / "out")
        export_version(lake, "tiny-v1", "prm", tmp_path / "b" / "out")
    first = load_dataset(str(tmp_path / "a" / "out"), split="train")
    second = load_dataset(str(tmp_path / "b" / "out"), split="train")
    assert "messages" in first.column_names and "labels" in second.column_names
