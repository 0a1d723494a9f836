"""Exports of a version: every format loads with `datasets`, files are reproducible, push works."""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from thresher.config import parse_recipe
from thresher.pipeline.export import assistant_text
from thresher.pipeline.outputs import MARKER, OutputError
from thresher.schemas import InputError
from thresher.stages import select
from thresher.stages.export import HubPushError, export_version, push_to_hub, read_export_source
from thresher.storage import Lake

from .conftest import TINY_RECIPE, build_tiny_lake  # type: ignore[import-not-found]

RECIPE = parse_recipe(TINY_RECIPE)


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake with 3 problems x 3 traces: correct, incorrect, and a flawed positive."""
    path = build_tiny_lake(tmp_path_factory.mktemp("lake"))
    with Lake.open(path) as lake:
        result = select.run(lake, RECIPE, run_id="run-test")
    assert result.version.name == "tiny-v1"
    assert result.funnel["selected"] == 3 and result.funnel["correct"] == 6
    return path


def _data_files(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in (out / "data").glob("*.parquet"))


@pytest.mark.parametrize("fmt", ["sft", "rl", "dpo", "prm", "opsd"])
def test_every_format_loads_with_datasets(lake_dir: Path, tmp_path: Path, fmt: str) -> None:
    from datasets import load_dataset
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    with Lake.open(lake_dir, read_only=True) as lake:
        result = export_version(lake, "tiny-v1", fmt, tmp_path / fmt)
    ds = load_dataset(str(tmp_path / fmt), split="train")
    assert len(ds) == result.rows == {"sft": 3, "rl": 3, "dpo": 6, "prm": 6, "opsd": 3}[fmt]
    row = ds[0]
    if fmt == "sft":
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
        assert row["messages"][1]["content"].startswith("<think>\n")
    elif fmt == "rl":
        assert set(row) == {
            "data_source", "prompt", "ability", "reward_model", "extra_info",
            "question", "answer", "solution",
        }  # fmt: skip
        assert row["reward_model"] == {"style": "rule", "ground_truth": row["answer"]}
        assert row["ability"] == "math" and row["extra_info"]["verifier"] == "math_v1"
        assert row["prompt"][0]["content"] == row[
            "question"
        ] + "\n\nPlease reason step by step, " + ("and put your final answer within \\boxed{}.")
        assert row["solution"] == f"$\\boxed{{{row['answer']}}}$"
        assert row["extra_info"]["pass_rate"] == pytest.approx(2 / 3)
    elif fmt == "dpo":
        reasons = {r["rejected_reason"] for r in ds}
        assert reasons == {"incorrect", "flawed_positive:arith_step_check"}
        assert all(r["chosen_trace_id"] != r["rejected_trace_id"] for r in ds)
    elif fmt == "prm":
        labels = {r["reason_code"]: r["labels"] for r in ds}
        assert set(labels) == {"selected", "flawed_positive:arith_step_check"}
        assert labels["selected"] == [True] * len(labels["selected"])
        assert labels["flawed_positive:arith_step_check"][0] is False
    else:
        assert row["prompt"][-1]["role"] == "user"  # SDFT builds the teacher prompt from it
        assert row["privileged_context"] == f"The correct final answer is {row['answer']}."
    card_path = tmp_path / fmt / "README.md"
    card = card_path.read_text()
    assert card.startswith("---\n") and "task_categories" in card
    assert "tiny-v1" in card and "| selected | 3 |" in card
    with Lake.open(lake_dir, read_only=True) as lake:
        assert read_export_source(lake, "tiny-v1").head_hash in card
    assert "name: tiny" in card  # the recipe
    assert "https://github.com/)" not in card and "path/or/OWNER/NAME" not in card
    # The card as the Hub and `datasets` read it: license, configs naming the files, sizes.
    data = DatasetCard.load(card_path).data
    assert data.license == "apache-2.0"  # builtin problems: thresher's own license
    configs = MetadataConfigs.from_dataset_card_data(data)
    pattern = configs["default"]["data_files"][0]["path"]
    assert sorted(str(p.relative_to(tmp_path / fmt)) for p in (tmp_path / fmt).glob(pattern)) == (
        _data_files(tmp_path / fmt)
    )
    info = DatasetInfosDict.from_dataset_card_data(data)["default"]
    assert info.features == ds.features
    assert info.splits["train"].num_examples == len(ds)
    assert info.download_size == sum(p.stat().st_size for p in (tmp_path / fmt / "data").iterdir())


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
    digest = result.files[0].name.rsplit("-", 1)[1].removesuffix(".parquet")
    assert [p.name for p in shards] == [
        f"train-00000-of-00002-{digest}.parquet",
        f"train-00001-of-00002-{digest}.parquet",
    ]
    assert result.rows == 3
    table = pq.read_table(shards[0])
    row = table.to_pylist()[0]
    assert "reasoning" not in row  # a column no trainer reads: the reasoning is on the message
    user, reply = row["messages"]
    assert user["reasoning_content"] is None
    assert reply["reasoning_content"].startswith("First,") and "<think>" not in reply["content"]
    assert reply["content"].startswith("The answer is")
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
        with pytest.raises(InputError, match="not created by `thresher export`"):
            export_version(lake, "tiny-v1", "sft", precious)
    assert (precious / "thesis.txt").exists()


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_a_project_folder_with_a_readme_is_refused_untouched(
    lake_dir: Path, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / ".git").mkdir()
    (project / "README.md").write_text("# my project\n")
    (project / "src" / "main.py").write_text("print('hi')\n")
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    before = _tree(project)
    refused = pytest.raises(InputError, match="not created by `thresher export`")
    with Lake.open(lake_dir, read_only=True) as lake, refused as info:
        export_version(lake, "tiny-v1", "sft", project)
    assert info.value.field == "--out" and "new or empty folder" in (info.value.hint or "")
    assert _tree(project) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]  # no staging left behind


def test_new_and_empty_folders_get_the_export_and_a_marker(lake_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with Lake.open(lake_dir, read_only=True) as lake:
        fresh = export_version(lake, "tiny-v1", "rl", tmp_path / "deep" / "new" / "rl")
        into_empty = export_version(lake, "tiny-v1", "rl", empty)
    assert fresh.fingerprint == into_empty.fingerprint
    shard = f"data/{fresh.files[0].name}"
    assert shard.startswith("data/train-00000-of-00001-")
    for out in (tmp_path / "deep" / "new" / "rl", empty):
        marker = json.loads((out / MARKER).read_text())
        ours = ["README.md", shard, "report.html"]
        assert marker["files"] == ours
        assert marker["format"] == "rl" and marker["tool"] == "thresher export"
        assert sorted(_tree(out)) == sorted([MARKER, *ours])
    assert sorted(p.name for p in (tmp_path / "deep" / "new").iterdir()) == ["rl"]


def test_reexport_replaces_only_its_own_files(lake_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "sft"
    with Lake.open(lake_dir, read_only=True) as lake:
        export_version(lake, "tiny-v1", "sft", out, shard_rows=1)  # 3 shards
        assert len(list((out / "data").glob("*.parquet"))) == 3
        # the user adds their own files next to (and inside) the export
        (out / "notes.txt").write_text("mine")
        (out / "data" / "extra.csv").write_text("a,b\n")
        (out / ".git").mkdir()
        (out / ".git" / "config").write_text("[core]\n")
        again = export_version(lake, "tiny-v1", "sft", out)  # 1 shard now
    files = _tree(out)
    assert files["notes.txt"] == b"mine" and files["data/extra.csv"] == b"a,b\n"
    assert files[".git/config"] == b"[core]\n"
    shard = again.files[0].name
    assert shard.startswith("train-00000-of-00001-")
    assert sorted(p.name for p in (out / "data").glob("*.parquet")) == [shard]
    assert json.loads(files[MARKER])["files"] == ["README.md", f"data/{shard}", "report.html"]
    assert again.rows == 3 and not [p for p in out.rglob("*") if "thresher-tmp" in p.name]


def test_a_foreign_file_where_the_export_would_write_is_refused(
    lake_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "prm"
    with Lake.open(lake_dir, read_only=True) as lake:
        single = export_version(lake, "tiny-v1", "prm", tmp_path / "probe").files[0].name
        export_version(lake, "tiny-v1", "prm", out, shard_rows=2)  # 3 shards
        mine = out / "data" / single
        mine.write_bytes(b"the user's own file")  # not listed in the marker
        before = _tree(out)
        with pytest.raises(InputError, match="was not written by `thresher export`"):
            export_version(lake, "tiny-v1", "prm", out)  # would write that very name
    assert _tree(out) == before


def test_a_failed_export_changes_nothing(
    lake_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import thresher.pipeline.export as writer

    out = tmp_path / "dpo"
    with Lake.open(lake_dir, read_only=True) as lake:
        export_version(lake, "tiny-v1", "dpo", out)
        before = _tree(out)
        real = writer.pq.write_table
        written: list[Any] = []

        def disk_full(table: Any, where: Any, **kw: Any) -> None:
            if written:
                raise OSError(28, "No space left on device")
            written.append(where)
            real(table, where, **kw)

        monkeypatch.setattr(writer.pq, "write_table", disk_full)
        with pytest.raises(OutputError, match="No space left on device"):
            export_version(lake, "tiny-v1", "dpo", out, shard_rows=2)
        written.clear()
        with pytest.raises(OutputError):
            export_version(lake, "tiny-v1", "dpo", tmp_path / "fresh", shard_rows=2)
    assert _tree(out) == before  # the earlier export is intact, no staging folder inside
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dpo"]  # nothing half-written


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
            files, deleted = {}, []
            for line in body.decode().splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                elif item["key"] == "deletedFile":
                    deleted.append(item["value"]["path"])
            rec["files"], rec["deleted"] = files, deleted
            repo = rec.setdefault("repo", {})  # what the repo holds after the commit
            for name in deleted:
                repo.pop(name, None)
            repo.update(files)
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
        if "/tree/" in self.path:  # list_repo_files: the repo's files, one page
            repo = self.received.get("repo", {})
            return self._json(
                200,
                [
                    {"type": "file", "path": n, "size": len(b), "oid": "0" * 40}
                    for n, b in sorted(repo.items())
                ],
            )
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
        if p.is_file() and p.name != MARKER
    }
    pushed_card = fake_hub["files"].pop("README.md").decode()
    local_card = local.pop("README.md").decode()
    assert fake_hub["files"] == local  # every file but thresher's own marker and the card
    assert MARKER not in fake_hub["files"] and (tmp_path / "rl" / MARKER).is_file()
    # The pushed card names the repo in its load line; the rest of it is the local card.
    assert 'load_dataset("me/tiny", split="train")' in pushed_card
    assert 'load_dataset("me/tiny"' not in local_card
    assert (
        pushed_card.split("<!-- thresher:load -->")[0]
        == local_card.split("<!-- thresher:load -->")[0]
    )
    assert "hf_secret_token_123" not in capfd.readouterr().out


def test_a_repushed_export_replaces_its_shards_and_keeps_other_files(
    lake_dir: Path, tmp_path: Path, fake_hub: dict[str, Any]
) -> None:
    with Lake.open(lake_dir, read_only=True) as lake:
        export_version(lake, "tiny-v1", "sft", tmp_path / "sft", shard_rows=1, repo_id="me/tiny")
        push_to_hub(tmp_path / "sft", "me/tiny", token="hf_secret_token_123")
        fake_hub["repo"]["notes.md"] = b"the user's own file"
        first = sorted(n for n in fake_hub["repo"] if n.startswith("data/"))
        assert len(first) == 3
        export_version(lake, "tiny-v1", "sft", tmp_path / "sft", think_style="plain")
        push_to_hub(tmp_path / "sft", "me/tiny", token="hf_secret_token_123")
    assert sorted(fake_hub["deleted"]) == first
    (shard,) = (tmp_path / "sft" / "data").iterdir()
    assert sorted(fake_hub["repo"]) == [
        "README.md",
        f"data/{shard.name}",
        "notes.md",
        "report.html",
    ]


def test_a_push_without_a_license_is_refused_before_the_hub_is_asked(
    lake_dir: Path, tmp_path: Path, fake_hub: dict[str, Any]
) -> None:
    with Lake.open(lake_dir, read_only=True) as lake:
        source = read_export_source(lake, "tiny-v1")
        unlicensed = dataclasses.replace(source, license=None)
        export_version(lake, "tiny-v1", "rl", tmp_path / "rl", source=unlicensed)
        card = (tmp_path / "rl" / "README.md").read_text()
        assert "\nlicense:" not in card and "License: not stated" in card
        with pytest.raises(InputError, match="no license") as info:
            push_to_hub(tmp_path / "rl", "me/tiny", token="hf_secret_token_123")
        assert "export.license" in (info.value.hint or "")
        assert fake_hub == {}  # nothing was sent
        # --license names one: the card carries it and the push goes through.
        export_version(
            lake, "tiny-v1", "rl", tmp_path / "rl", source=unlicensed, license="CC-BY-4.0"
        )
    assert "license: cc-by-4.0" in (tmp_path / "rl" / "README.md").read_text()
    push_to_hub(tmp_path / "rl", "me/tiny", token="hf_secret_token_123")
    assert "README.md" in fake_hub["files"]


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


def test_an_unwritable_export_folder_is_a_clear_error(lake_dir: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with Lake.open(lake_dir, read_only=True) as lake:
        with pytest.raises(InputError, match="exists and is not a folder"):
            export_version(lake, "tiny-v1", "sft", a_file)
        with pytest.raises((InputError, OutputError), match="cannot write"):
            export_version(lake, "tiny-v1", "sft", a_file / "sub" / "out")
    assert a_file.read_text() == "x"


def test_export_cli_layout_license_and_instruction(lake_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from thresher.cli import app

    runner = CliRunner()
    out = tmp_path / "critic"
    args = ["export", "-f", "prm", "-o", str(out), "--lake", str(lake_dir)]
    done = runner.invoke(app, [*args, "--layout", "critic", "--license", "CC-BY-4.0"])
    assert done.exit_code == 0, done.output
    rows = pq.read_table(next((out / "data").glob("*.parquet"))).to_pylist()
    assert {r["label"] for r in rows} == {-1, 0} and "steps" in rows[0]
    assert "license: cc-by-4.0" in (out / "README.md").read_text()
    bad = runner.invoke(app, [*args, "--layout", "chat"])
    assert isinstance(bad.exception, InputError)  # `thresher` prints it as `error: ...`
    assert "has no layout 'chat'; layouts: stepwise, critic" in str(bad.exception)
    rl = tmp_path / "rl"
    plain = runner.invoke(
        app,
        ["export", "-f", "rl", "-o", str(rl), "--answer-instruction", "", "--lake", str(lake_dir)],
    )
    assert plain.exit_code == 0, plain.output
    row = pq.read_table(next((rl / "data").glob("*.parquet"))).to_pylist()[0]
    assert row["prompt"][0]["content"] == row["question"]
