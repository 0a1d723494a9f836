"""QuarantineRow: an input row that failed validation, kept with its reason."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from thresher.schemas.base import Record, utc_now

__all__ = ["QuarantineRow"]


class QuarantineRow(Record):
    """A rejected input row: where it came from, which field, why, and its raw text."""

    source: str = Field(..., description="problem set name the row was meant for")
    location: str = Field(..., description="file and line or row, e.g. 'data.jsonl:7'")
    field: str = Field("", description="the offending field, if one")
    reason: str
    raw: str = Field("", description="the raw row text (truncated to 4 KB)")
    created_at: datetime = Field(default_factory=utc_now)
