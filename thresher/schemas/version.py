"""DatasetVersion: a named tag on a lake snapshot, with its counts and provenance."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from thresher.schemas.base import Record, utc_now

__all__ = ["DatasetVersion"]


class DatasetVersion(Record):
    """A named version of the lake: snapshot id plus why it exists."""

    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
    snapshot_id: int = Field(..., ge=0)
    note: str = ""
    recipe_hash: str | None = None
    flow_run_id: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utc_now)
    decisions_head: str | None = Field(
        None, description="current_hash of the last decision event the version's run recorded"
    )
