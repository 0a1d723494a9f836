"""Scheduling: serve the curate flow as a Prefect deployment on a cron schedule.

A scheduled run is incremental by construction: problems, rollouts and labels are
content-addressed, so each run ingests only new problems, generates only missing samples,
labels only unlabelled traces, and then tags a new version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from thresher.config import load_recipe, resolve_recipe_path
from thresher.schemas import InputError

__all__ = ["build_deployment", "serve_schedule", "validate_cron"]


def validate_cron(cron: str, timezone: str = "UTC") -> str:
    """A five-field cron expression and IANA time zone, checked; bad ones fail clearly."""
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    if len(cron.split()) != 5:
        raise InputError(
            f"not a valid cron schedule: {cron!r} has {len(cron.split())} fields, not 5",
            field="--cron",
            hint='use "minute hour day month weekday", e.g. "0 3 * * *"',
        )
    try:
        CronSchedule(cron=cron, timezone=timezone)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = "--timezone" if error["loc"] and error["loc"][0] == "timezone" else "--cron"
        raise InputError(str(error["msg"]).removeprefix("Value error, "), field=field) from None
    return cron


def build_deployment(
    recipe: str | Path,
    cron: str,
    *,
    name: str | None = None,
    timezone: str = "UTC",
    lake: str | None = None,
) -> Any:
    """A Prefect RunnerDeployment of the curate flow for a recipe on a cron schedule."""
    from prefect.schedules import Cron

    from thresher.flows.curate import curate

    path = resolve_recipe_path(recipe)
    loaded = load_recipe(path)
    validate_cron(cron, timezone)
    return curate.to_deployment(
        name=name or loaded.name,
        schedules=[Cron(cron, timezone=timezone)],
        parameters={"recipe": str(path.resolve()), "lake": lake},
        description=f"thresher recipe {loaded.name} ({loaded.hash()[:12]}) on '{cron}'",
        tags=["thresher", loaded.name],
        version=loaded.hash()[:12],
    )


def serve_schedule(
    recipe: str | Path,
    cron: str,
    *,
    name: str | None = None,
    timezone: str = "UTC",
    lake: str | None = None,
) -> None:
    """Serve the deployment in this process until interrupted (runs fire on schedule)."""
    from prefect import serve

    serve(build_deployment(recipe, cron, name=name, timezone=timezone, lake=lake))
