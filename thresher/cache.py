"""thresher's on-disk cache: where it is, and how a model is built into it once.

Models that thresher derives locally (the embedded SmolLM2 converted from GGUF, the static
embedder distilled from MiniLM) are built into ``<cache>/models/<name>-<content hash>`` once,
under a file lock, in a temporary folder renamed into place at the end: readers see nothing or
the whole model, and a second process waits for the first instead of building again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from thresher.schemas.errors import ThresherError

__all__ = ["MANIFEST", "build_once", "cache_dir", "read_manifest", "sha256_file"]

MANIFEST = "thresher-model.json"


def cache_dir() -> Path:
    """The thresher cache directory: $THRESHER_CACHE, else ~/.cache/thresher."""
    return Path(os.environ.get("THRESHER_CACHE") or Path.home() / ".cache" / "thresher")


def read_manifest(path: Path) -> dict[str, str]:
    """The manifest a built model was stored with."""
    data: dict[str, str] = json.loads((path / MANIFEST).read_text())
    return data


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_once(target: Path, build: Callable[[Path], dict[str, str]]) -> Path:
    """``target``, built by ``build(tmp_dir) -> manifest`` the first time it is asked for.

    A folder counts as built when its manifest exists; ``build`` writes the model files into
    the temporary folder it is given and returns the manifest to store beside them.
    """
    if (target / MANIFEST).is_file():
        return target
    root = target.parent
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = _file_lock(root / f".{target.name}.lock")
        lock.__enter__()
    except OSError as exc:
        raise ThresherError(
            f"cannot write the model cache at {root}: {exc.strerror or exc}",
            hint="set THRESHER_CACHE to a writable directory",
        ) from exc
    try:
        if (target / MANIFEST).is_file():  # another process finished while we waited
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=root))
        try:
            manifest = build(tmp)
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache may be shared
            if target.exists():  # a stale incomplete dir (no manifest) from an old crash
                shutil.rmtree(target)
            os.rename(tmp, target)  # atomic: readers see nothing or the whole model
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    finally:
        lock.__exit__(None, None, None)
    return target
