"""Errors of the lake, and turning DuckDB's multi-line messages into one line."""

from __future__ import annotations

import errno

from thresher.schemas.errors import ThresherError

__all__ = [
    "LakeBusyError",
    "LakeError",
    "ReadOnlyQueryError",
    "disk_full_error",
    "is_disk_full",
    "one_line",
]

_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_DISK_FULL_TEXT = ("no space left on device", "disk quota exceeded", "file too large")


class LakeError(ThresherError):
    """The lake could not be opened, read or written."""


class LakeBusyError(LakeError):
    """Another process holds the lake's DuckDB-file catalog for writing."""


class ReadOnlyQueryError(LakeError):
    """A statement or function that could change something was sent to the read-only SQL."""


def one_line(message: object) -> str:
    """A DuckDB error message on one line: the caret excerpt (`LINE 1: ...`) is dropped."""
    lines: list[str] = []
    for line in str(message).splitlines():
        if line.startswith("LINE ") or not line.strip():
            break
        lines.append(line.strip())
    return " ".join(lines) or str(message).strip()


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error means the disk (or the file-size limit) ran out of room."""
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
        return True
    text = str(exc).lower()
    return any(part in text for part in _DISK_FULL_TEXT)


def disk_full_error(where: str, exc: BaseException) -> LakeError:
    """The one error a full disk gives: where, that nothing was committed, what to do."""
    return LakeError(
        f"no space left to write the lake's data at {where} ({one_line(exc)}); "
        "nothing of this batch was committed",
        hint="free space (or raise the quota) and run the command again: "
        "work already committed is kept and not redone",
    )
