"""Decide and tag: run the selection policy over stored labels and name the result a version.

Used by the `curate` flow's last stage and by `thresher select`, which re-decides with a new
recipe's thresholds from the labels already in the lake, touching no engine.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from thresher.config import Recipe
from thresher.flows.decisions import gather_evidence, record_decisions
from thresher.pipeline.selection import decide, decision_events, funnel
from thresher.schemas import DatasetVersion, NotFoundError
from thresher.schemas.recipe import RecipeRecord
from thresher.storage import Lake

__all__ = [
    "SelectionResult",
    "next_version_name",
    "problem_set_name",
    "recipe_problem_ids",
    "recipe_trace_ids",
    "select_and_tag",
]


@dataclass
class SelectionResult:
    """What one selection produced: its version, funnel, chain head and run id."""

    version: DatasetVersion
    funnel: dict[str, int]
    head_hash: str
    run_id: str
    events: int


def problem_set_name(recipe: Recipe) -> str:
    """The problem-set name a recipe's problems are stored under (stable as `limit` grows)."""
    if recipe.problems.name:
        return recipe.problems.name
    source = recipe.problems.source
    if source.startswith("builtin:"):
        return f"{source.removeprefix('builtin:')}-s{recipe.problems.seed}"
    stem = re.sub(r"[^A-Za-z0-9._\-]+", "-", source.split(":", 1)[-1]).strip("-")
    return stem or "problems"


def recipe_problem_ids(lake: Lake, recipe: Recipe, version: str | int | None = None) -> list[str]:
    """Ids of the recipe's problems in the lake (its problem set, up to `limit`)."""
    sql = "SELECT problem_id FROM problems WHERE source = ? ORDER BY problem_id"
    if recipe.problems.limit is not None:
        sql += f" LIMIT {int(recipe.problems.limit)}"
    frame = lake.query(sql, [problem_set_name(recipe)], version)
    return list(frame["problem_id"].to_list())


def recipe_trace_ids(
    lake: Lake, recipe: Recipe, problem_ids: list[str], version: str | int | None = None
) -> list[str]:
    """Ids of the stored rollouts this recipe's generation settings produce for the problems."""
    gen = recipe.generation
    frame = lake.query(
        "SELECT trace_id FROM rollouts WHERE list_contains(?, problem_id) AND model = ? "
        "AND list_contains(?, mode) AND sample_index < ? AND sampling.max_tokens = ? "
        "AND abs(sampling.temperature - ?) < 1e-9 AND abs(sampling.top_p - ?) < 1e-9 "
        "ORDER BY trace_id",
        [
            problem_ids,
            gen.model,
            list(gen.modes),
            gen.n,
            gen.sampling.max_tokens,
            gen.sampling.temperature,
            gen.sampling.top_p,
        ],
        version,
    )
    return frame["trace_id"].to_list()


def next_version_name(lake: Lake, recipe: Recipe) -> str:
    """'<recipe>-v<k>' with k one past the highest existing for this recipe."""
    pattern = re.compile(rf"^{re.escape(recipe.name)}-v(\d+)$")
    taken = [int(m.group(1)) for v in lake.versions() if (m := pattern.match(v.name))]
    return f"{recipe.name}-v{max(taken, default=0) + 1}"


def select_and_tag(
    lake: Lake,
    recipe: Recipe,
    *,
    run_id: str | None = None,
    kind: str = "run",
    version_name: str | None = None,
) -> SelectionResult:
    """Decide every trace of the recipe from stored labels, record the chain, tag a version."""
    run_id = run_id or f"select-{uuid.uuid4()}"
    problem_ids = recipe_problem_ids(lake, recipe)
    if not problem_ids:
        raise NotFoundError(
            f"no problems of set {problem_set_name(recipe)!r} in the lake at "
            f"{lake.location.display}",
            hint="run the recipe first: `thresher run RECIPE`",
        )
    trace_ids = recipe_trace_ids(lake, recipe, problem_ids)
    evidence = gather_evidence(lake, recipe, trace_ids=trace_ids)
    decisions = decide(evidence, recipe.selection, problem_ids=problem_ids)
    counts = funnel(decisions)
    name = version_name or next_version_name(lake, recipe)
    events = decision_events(decisions, recipe.selection, run_id, recipe.hash(), name)
    lake.append(
        "recipes",
        [RecipeRecord(recipe_hash=recipe.hash(), name=recipe.name, yaml=recipe.to_yaml())],
    )
    record_decisions(lake, events)
    head = events[-1].current_hash if events else ""
    note = json.dumps(
        {"kind": kind, "recipe": recipe.name, "decisions_head": head, "events": len(events)},
        sort_keys=True,
    )
    version = lake.tag(
        name, note=note, counts=counts, recipe_hash=recipe.hash(), flow_run_id=run_id
    )
    return SelectionResult(version, counts, head, run_id, len(events))
