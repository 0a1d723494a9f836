"""The base of every record: strict pydantic v2 models with forbidden extra keys."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

__all__ = ["Record", "utc_now"]


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class Record(BaseModel):
    """A row of a lake table; unknown keys are an error, not silently dropped."""

    # defer_build: a model builds its validator on first use, not when a module imports it.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)
