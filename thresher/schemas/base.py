"""The base of every record: strict pydantic v2 models with forbidden extra keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer

__all__ = ["Record", "UtcDatetime", "utc_iso", "utc_now"]


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class Record(BaseModel):
    """A row of a lake table; unknown keys are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def utc_iso(value: datetime) -> str:
    """A timestamp as the one text form events are hashed in: UTC, microseconds, 'Z'."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# One text form for timestamps, so a hash survives a round trip through Parquet.
UtcDatetime = Annotated[datetime, PlainSerializer(utc_iso, return_type=str, when_used="json")]
