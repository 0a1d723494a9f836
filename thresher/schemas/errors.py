"""The one exception base of thresher; user errors say what, where and what to do."""

from __future__ import annotations

__all__ = ["ThresherError", "InputError", "NotFoundError", "TransientError"]


class ThresherError(Exception):
    """Base of every error thresher raises on purpose; the CLI prints it without a traceback."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\n  hint: {hint}")


class InputError(ThresherError):
    """Bad user input: names the source (file, line or row) and the field."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.source = source
        self.line = line
        self.field = field
        where = ":".join(str(p) for p in (source, line) if p is not None)
        prefix = f"{where}: " if where else ""
        if field:
            prefix += f"field '{field}': "
        super().__init__(prefix + message, hint=hint)


class NotFoundError(ThresherError):
    """A named thing (problem set, version, model, registry entry) does not exist."""


class TransientError(ThresherError):
    """A failure that may pass on its own (network, a server's 5xx or 429, a timeout): the flow
    retries the task; every other ThresherError is the user's to fix and is never retried."""
