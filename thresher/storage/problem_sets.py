"""Problem sets in the lake: a named set is the problems whose ``source`` is that name."""

from __future__ import annotations

from thresher.schemas import NotFoundError, Problem
from thresher.storage.lake import Lake

__all__ = ["known_problem_sets", "load_problems", "problem_ids", "require_problem_set"]


def known_problem_sets(lake: Lake) -> list[str]:
    """The names of the problem sets in the lake, sorted."""
    return list(lake.sql("SELECT DISTINCT source FROM problems ORDER BY source")["source"])


def require_problem_set(lake: Lake, name: str) -> None:
    """Fail with the known set names when the lake has no problem set called ``name``."""
    found = lake.query("SELECT count(*) AS n FROM problems WHERE source = ?", [name])
    if int(found["n"][0]) == 0:
        listing = ", ".join(known_problem_sets(lake)) or "none yet"
        raise NotFoundError(
            f"no problem set named {name!r}; known problem sets: {listing}",
            hint="add one with `thresher ingest SOURCE --name NAME`",
        )


def problem_ids(
    lake: Lake, name: str, limit: int | None = None, version: str | int | None = None
) -> list[str]:
    """The ids of a set's problems in id order (its first ``limit``, a stable prefix)."""
    sql = "SELECT problem_id FROM problems WHERE source = ? ORDER BY problem_id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return list(lake.query(sql, [name], version)["problem_id"])


def load_problems(lake: Lake, name: str, limit: int | None = None) -> list[Problem]:
    """The problems of a set in id order; unknown names fail with the known ones."""
    require_problem_set(lake, name)
    sql = "SELECT * FROM problems WHERE source = ? ORDER BY problem_id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [Problem.model_validate(row) for row in lake.query(sql, [name]).to_dicts()]
