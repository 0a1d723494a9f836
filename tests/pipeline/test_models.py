"""Model resolution: embedded name -> cached checkpoint, local directories, unknown names."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from thresher.pipeline import models
from thresher.pipeline.models import MANIFEST, embedded_checkpoint, resolve_model
from thresher.schemas import NotFoundError


@pytest.mark.slow
def test_embedded_model_is_converted_once_and_reused(embedded_model_dir):
    path = Path(embedded_model_dir)
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()
    assert (path / "tokenizer.json").is_file()
    manifest = json.loads((path / MANIFEST).read_text())
    mtime = (path / "model.safetensors").stat().st_mtime_ns
    resolved = resolve_model("smollm2-135m-instruct")
    assert resolved.path == str(path)
    assert resolved.revision == manifest["revision"] and resolved.revision.startswith("gguf-")
    assert (path / "model.safetensors").stat().st_mtime_ns == mtime  # not rewritten
    config = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"


def test_conversion_is_atomic_and_recovers_from_a_crash(tmp_path, monkeypatch):
    """A crash mid-conversion leaves no checkpoint at the final path; the next call converts."""
    monkeypatch.setenv("THRESHER_CACHE", str(tmp_path))
    calls = []

    def crashing(gguf: Path, out: Path) -> None:
        (out / "model.safetensors").write_bytes(b"half")
        calls.append(out)
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of writing

    monkeypatch.setattr(models, "_convert_gguf", crashing)
    with pytest.raises(KeyboardInterrupt):
        embedded_checkpoint()
    root = tmp_path / "models"
    assert not [p for p in root.iterdir() if p.is_dir()]  # neither final dir nor temp left
    # a stale final directory without a manifest (from an older crash) is replaced
    stale = root / calls[0].name.split(".tmp-")[0].lstrip(".")
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"stale")

    def writing(gguf: Path, out: Path) -> None:
        (out / "config.json").write_text("{}")
        (out / "model.safetensors").write_bytes(b"full")

    monkeypatch.setattr(models, "_convert_gguf", writing)
    path = embedded_checkpoint()
    assert path == stale
    assert (path / "model.safetensors").read_bytes() == b"full"
    assert json.loads((path / MANIFEST).read_text())["name"] == "smollm2-135m-instruct"
    monkeypatch.setattr(models, "_convert_gguf", crashing)  # complete now: never converts again
    assert embedded_checkpoint() == path


def test_local_directory_revision_follows_its_content(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    first = resolve_model(str(tmp_path))
    assert first.path == str(tmp_path.resolve()) and first.revision.startswith("local-")
    assert resolve_model(str(tmp_path)).revision == first.revision
    (tmp_path / "config.json").write_text('{"model_type": "llama", "x": 1}')
    assert resolve_model(str(tmp_path)).revision != first.revision


def test_bad_names_fail_with_what_to_do(tmp_path):
    with pytest.raises(NotFoundError, match="smollm2-135m-instruct"):
        resolve_model("not a model!")
    with pytest.raises(NotFoundError, match="no config.json"):
        resolve_model(str(tmp_path))
    with pytest.raises(NotFoundError, match="Hub cannot be reached"):
        os.environ["HF_HUB_OFFLINE"] = "1"
        resolve_model("nobody-xyz/not-a-real-model-123")
