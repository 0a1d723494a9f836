"""Outputs that appear whole or not at all, and export folders that only ever hold our files.

A result file is written to a temporary file beside it and renamed over it when complete, so
a crash (or an error in the input half way) leaves the previous file as it was. An export
folder carries a marker file listing what thresher wrote there: a non-empty folder without
one is refused, and a re-export replaces and removes only the files its marker lists.
"""

from __future__ import annotations

import errno
import io
import json
import os
import secrets
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path, PurePosixPath
from typing import IO, Any

from thresher.schemas.errors import InputError, ThresherError

__all__ = ["MARKER", "OutputError", "atomic_text_output", "check_export_folder", "export_folder"]

MARKER = ".thresher-export.json"
TMP_SUFFIX = ".thresher-tmp"


class OutputError(ThresherError):
    """An output could not be written (disk full, permissions, a vanished folder)."""


class _Sink(io.TextIOWrapper):
    """A text file whose write errors name the output instead of ending in a traceback.

    A closed pipe (``| head``) is left as the BrokenPipeError the CLI framework handles.
    """

    target = ""

    def write(self, s: str) -> int:
        try:
            return super().write(s)
        except OSError as exc:
            raise _named(exc, self.target) from None

    def finish(self) -> None:
        """Flush what is buffered, with the same error naming."""
        try:
            self.flush()
        except OSError as exc:
            raise _named(exc, self.target) from None


def _named(exc: OSError, target: str) -> OSError | OutputError:
    if exc.errno == errno.EPIPE:
        return exc
    return OutputError(f"cannot write {target}: {exc.strerror or exc}")


def _fail(path: str, field: str, message: str, hint: str | None = None) -> InputError:
    return InputError(message, source=path, field=field, hint=hint)


@contextmanager
def atomic_text_output(path: str | None, *, field: str = "--output") -> Iterator[IO[str]]:
    """Write text to `path` via a temporary file renamed into place at the end (stdout if None).

    The temporary file is created on entry, so an output that cannot be written fails before
    any work. If the body raises, the temporary file is removed and `path` is untouched. An
    existing path that is not a regular file (a FIFO, /dev/stdout) is written in place.
    """
    if path is None or path == "-":
        with _stdout() as out:
            yield out
        return
    target = Path(os.path.realpath(path))  # a symlink keeps pointing at the new file
    try:
        info: os.stat_result | None = target.stat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise _fail(path, field, f"cannot write here: {exc.strerror}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise _fail(path, field, "is a directory", hint="pass a file path for the results")
    if info is not None and not stat.S_ISREG(info.st_mode):
        with _open_in_place(path, field) as fh:
            yield fh
        return
    if not target.parent.is_dir():
        raise _fail(path, field, f"folder {target.parent} does not exist", hint="create it first")
    tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}{TMP_SUFFIX}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise _fail(path, field, f"cannot write here: {exc.strerror}") from None
    if info is not None:
        os.chmod(fd, stat.S_IMODE(info.st_mode))  # a replaced file keeps its permissions
    sink = _Sink(io.FileIO(fd, "w"), encoding="utf-8", newline="\n")
    sink.target = path
    try:
        yield sink
        sink.finish()
        try:
            os.fsync(sink.fileno())
            sink.close()
            os.replace(tmp, target)
        except OSError as exc:
            raise _named(exc, path) from None
    except BaseException:
        with suppress(OSError):
            sink.close()
        with suppress(OSError):
            tmp.unlink()
        raise


@contextmanager
def _open_in_place(path: str, field: str) -> Iterator[IO[str]]:
    try:
        raw = io.FileIO(path, "w")
    except OSError as exc:
        raise _fail(path, field, f"cannot write here: {exc.strerror}") from None
    sink = _Sink(raw, encoding="utf-8", newline="\n")
    sink.target = path
    try:
        yield sink
        sink.finish()
    finally:
        with suppress(OSError):
            sink.close()


@contextmanager
def _stdout() -> Iterator[IO[str]]:
    """Standard output as a sink with named write errors; left open afterwards."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # replaced by something text-only: use it as it is
        yield sys.stdout
        return
    sys.stdout.flush()
    sink = _Sink(buffer, encoding="utf-8", newline="\n")
    sink.target = "standard output"
    try:
        yield sink
        sink.finish()
    finally:
        with suppress(ValueError, OSError):
            sink.detach()  # never close the process's stdout


# -- export folders -----------------------------------------------------------------------------


def _read_marker(folder: Path) -> list[str] | None:
    """The files a thresher export wrote into `folder`, or None if it has no valid marker."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    if data.get("tool") != "thresher export" or not isinstance(files, list):
        return None
    return [f for f in files if isinstance(f, str) and _safe_relative(f)]


def _safe_relative(name: str) -> bool:
    p = PurePosixPath(name)
    return bool(name) and not p.is_absolute() and ".." not in p.parts and name != MARKER


def check_export_folder(out: Path) -> list[str] | None:
    """None if `out` is new or empty; the files a previous export wrote if it is ours.

    Anything else (a file, or a non-empty folder without our marker) is refused with nothing
    changed: an export never deletes what it did not write.
    """
    if not out.exists():
        return None
    if not out.is_dir():
        raise _fail(str(out), "--out", "exists and is not a folder", hint="pass a new folder")
    try:
        entries = [e.name for e in os.scandir(out) if not _is_leftover(e.name)]
    except OSError as exc:
        raise _fail(str(out), "--out", f"cannot read the folder: {exc.strerror}") from None
    if not entries:
        return None
    ours = _read_marker(out)
    if ours is None:
        raise _fail(
            str(out),
            "--out",
            "the folder is not empty and was not created by `thresher export`; nothing was changed",
            hint=f"pass a new or empty folder, e.g. {out / 'export'}",
        )
    return ours


def _is_leftover(name: str) -> bool:
    """A staging folder a killed export left inside its folder (our name pattern only)."""
    return name.startswith(".staging-") and name.endswith(TMP_SUFFIX)


def _write_marker(folder: Path, files: list[str], meta: dict[str, Any]) -> None:
    body = json.dumps(
        {"tool": "thresher export", **meta, "files": sorted(set(files))}, indent=1, sort_keys=True
    )
    tmp = folder / f".{MARKER}.{secrets.token_hex(4)}{TMP_SUFFIX}"
    tmp.write_text(body + "\n", encoding="utf-8")
    os.replace(tmp, folder / MARKER)


def _staged_files(staging: Path) -> list[str]:
    return sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())


@contextmanager
def export_folder(out: Path, meta: dict[str, Any]) -> Iterator[Path]:
    """Yield an empty staging folder; when the body succeeds, its files become `out`'s.

    A new `out` appears in one rename. An existing one (empty, or a previous export) gets each
    new file by an atomic rename, then loses only the files its marker lists that are no longer
    written; the marker always lists every file thresher may have written there.
    """
    old = check_export_folder(out)
    existed = out.exists()
    try:
        if existed:
            for entry in os.scandir(out):
                if _is_leftover(entry.name) and entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
            staging = Path(tempfile.mkdtemp(prefix=".staging-", suffix=TMP_SUFFIX, dir=out))
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(
                tempfile.mkdtemp(prefix=f".{out.name}.", suffix=TMP_SUFFIX, dir=out.parent)
            )
    except OSError as exc:
        raise _fail(str(out), "--out", f"cannot write here: {exc.strerror}") from None
    try:
        yield staging
        new = _staged_files(staging)
        if not existed:
            _write_marker(staging, new, meta)
            os.chmod(staging, 0o755)  # mkdtemp made it private
            try:
                os.rename(staging, out)
            except OSError:
                raise _fail(
                    str(out), "--out", "the folder appeared while the export was written"
                ) from None
            return
        _replace_files(out, staging, old or [], new, meta)
    except OSError as exc:
        raise OutputError(f"cannot write the export to {out}: {exc.strerror or exc}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _replace_files(
    out: Path, staging: Path, old: list[str], new: list[str], meta: dict[str, Any]
) -> None:
    owned = set(old)
    for name in new:
        dest = out / name
        if (dest.exists() or dest.is_symlink()) and name not in owned:
            raise _fail(
                str(dest), "--out", "was not written by `thresher export`; nothing was changed",
                hint="move it away or export to a new folder",
            )  # fmt: skip
    _write_marker(out, [*old, *new], meta)  # a crash from here on leaves every file listed
    for name in new:
        dest = out / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / name, dest)
    for name in sorted(owned - set(new)):
        stale = out / name
        if stale.is_file() or stale.is_symlink():
            stale.unlink()
            _prune_empty(stale.parent, out)
    _write_marker(out, new, meta)


def _prune_empty(folder: Path, root: Path) -> None:
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()  # only succeeds when empty
        except OSError:
            return
        folder = folder.parent
