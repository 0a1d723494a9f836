"""RecipeRecord: the exact recipe a run used, stored by its hash so versions can cite it."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from thresher.schemas.base import Record, utc_now

__all__ = ["RecipeRecord"]


class RecipeRecord(Record):
    """A validated recipe as YAML, keyed by its hash (canonical JSON of the recipe)."""

    recipe_hash: str = Field(..., pattern=r"^[0-9a-f]{64}$")
    name: str = Field(..., min_length=1)
    yaml: str = Field(..., description="the validated recipe, every field, as YAML")
    created_at: datetime = Field(default_factory=utc_now)
