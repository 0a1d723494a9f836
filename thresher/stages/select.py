"""The select stage: gather every trace's label evidence, run the selection policy
(`stages.policy`), record the decisions as one sealed DES chain and tag the result a version.

Used by the curate flow's last stage and by `thresher select`, which re-decides with a new
recipe's thresholds from the labels already in the lake, touching no engine.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from thresher.config import Recipe
from thresher.schemas import DatasetVersion, NotFoundError
from thresher.schemas.recipe import RecipeRecord
from thresher.schemas.signing import Signer
from thresher.stages.assessment import judge_vote
from thresher.stages.audit import record_run
from thresher.stages.decision_events import decision_events
from thresher.stages.facts import trace_correctness, trace_divergence
from thresher.stages.policy import FlawEvidence, TraceEvidence, decide, funnel
from thresher.stages.review import read_reviews
from thresher.storage import Lake, problem_ids

__all__ = [
    "SelectionResult",
    "gather_evidence",
    "next_version_name",
    "recipe_problem_ids",
    "recipe_trace_ids",
    "run",
    "scorer_name",
]


@dataclass
class SelectionResult:
    """What one selection produced: its version, funnel, chain head, run id, overrides."""

    version: DatasetVersion
    funnel: dict[str, int]
    head_hash: str
    run_id: str
    events: int
    overrides: int = 0


def recipe_problem_ids(lake: Lake, recipe: Recipe, version: str | int | None = None) -> list[str]:
    """Ids of the recipe's problems in the lake (its problem set, up to `limit`)."""
    return problem_ids(lake, recipe.problem_set, recipe.problems.limit, version)


def recipe_trace_ids(
    lake: Lake, recipe: Recipe, problems: list[str], version: str | int | None = None
) -> list[str]:
    """Ids of the stored rollouts this recipe's generation settings produce for the problems."""
    gen = recipe.generation
    frame = lake.query(
        "SELECT trace_id FROM rollouts WHERE list_contains(?, problem_id) AND model = ? "
        "AND list_contains(?, mode) AND sample_index < ? AND sampling.max_tokens = ? "
        "AND abs(sampling.temperature - ?) < 1e-9 AND abs(sampling.top_p - ?) < 1e-9 "
        "ORDER BY trace_id",
        [
            problems,
            gen.model,
            list(gen.modes),
            gen.n,
            gen.sampling.max_tokens,
            gen.sampling.temperature,
            gen.sampling.top_p,
        ],  # fmt: skip
        version,
    )
    return list(frame["trace_id"])


def scorer_name(recipe: Recipe) -> str | None:
    """The provenance scorer whose divergence the recipe's selection reads (None: disabled)."""
    if not recipe.provenance.enabled:
        return None
    from thresher.stages.provenance import ProvenanceStage

    return ProvenanceStage(recipe.provenance, recipe.generation).tracer.name


def embedder_name(recipe: Recipe) -> str:
    """The embedder name dedup rows are stored under (aliases of the embedded model resolve)."""
    if recipe.dedup.method != "embedding":
        return ""
    from thresher.filters.embed import Embedder

    return str(Embedder(recipe.dedup.embedder).name)


def gather_evidence(
    lake: Lake,
    recipe: Recipe,
    trace_ids: Sequence[str],
    version: str | int | None = None,
) -> list[TraceEvidence]:
    """Join correctness, flaw labels, divergence, dedup clusters and contamination per trace."""
    params: list[Any] = [list(trace_ids)]
    rows = lake.query(
        "SELECT trace_id, problem_id, mode, conditioned_on_ground_truth AS conditioned "
        "FROM rollouts WHERE list_contains(?, trace_id) ORDER BY trace_id",
        params,
        version,
    ).to_dicts()
    evidence = {
        r["trace_id"]: TraceEvidence(
            r["trace_id"], r["problem_id"], r["mode"], bool(r["conditioned"])
        )
        for r in rows
    }
    if not evidence:
        return []
    for trace_id, fact in trace_correctness(lake, trace_ids=trace_ids, version=version).items():
        ev = evidence[trace_id]
        ev.verdict_status, ev.correct, ev.verifier = fact.status, fact.correct, fact.verifiers

    wanted = set(recipe.labels.labelers)
    for row in lake.query(
        "SELECT trace_id, labeler, flaw_type, severity, step, evidence FROM flaw_labels "
        "WHERE list_contains(?, trace_id) ORDER BY trace_id, labeler, flaw_type, step",
        params,
        version,
    ).to_dicts():
        if not wanted or row["labeler"] in wanted:
            vote = judge_vote(row["evidence"] or "")
            model, votes, samples = vote if vote is not None else (None, None, None)
            evidence[row["trace_id"]].flaws.append(
                FlawEvidence(row["labeler"], row["flaw_type"], row["severity"], row["step"],
                             votes, samples, model)
            )  # fmt: skip

    for trace_id, value in trace_divergence(lake, trace_ids, scorer_name(recipe), version).items():
        evidence[trace_id].divergence = value

    dedup = recipe.dedup
    if dedup.enabled:
        for row in lake.query(
            "SELECT trace_id, cluster_id, is_representative FROM dedup_assignments "
            "WHERE list_contains(?, trace_id) AND method = ? AND embedder = ? "
            "AND abs(threshold - ?) < 1e-9",
            [*params, dedup.method, embedder_name(recipe), dedup.threshold],
            version,
        ).to_dicts():
            ev = evidence[row["trace_id"]]
            ev.cluster_id = row["cluster_id"]
            ev.is_representative = bool(row["is_representative"])

    if "contamination_flags" in lake.table_counts(version):
        flagged: dict[str, set[str]] = defaultdict(set)
        for row in lake.query(
            "SELECT DISTINCT problem_id, benchmark FROM contamination_flags", None, version
        ).to_dicts():
            flagged[row["problem_id"]].add(row["benchmark"])
        for ev in evidence.values():
            ev.contaminated = sorted(flagged.get(ev.problem_id, ()))
    return list(evidence.values())


def next_version_name(lake: Lake, recipe: Recipe) -> str:
    """'<recipe>-v<k>' with k one past the highest existing for this recipe."""
    pattern = re.compile(rf"^{re.escape(recipe.name)}-v(\d+)$")
    taken = [int(m.group(1)) for v in lake.versions() if (m := pattern.match(v.name))]
    return f"{recipe.name}-v{max(taken, default=0) + 1}"


def run(
    lake: Lake,
    recipe: Recipe,
    *,
    run_id: str | None = None,
    kind: str = "run",
    version_name: str | None = None,
    signer: Signer | None = None,
) -> SelectionResult:
    """Decide every trace of the recipe from stored labels and reviews, record the events in
    the chain (signing the run's last one when a signer is given), tag a version."""
    run_id = run_id or f"select-{uuid.uuid4()}"
    problems = recipe_problem_ids(lake, recipe)
    if not problems:
        raise NotFoundError(
            f"no problems of set {recipe.problem_set!r} in the lake at {lake.location.display}",
            hint="run the recipe first: `thresher run RECIPE`",
        )
    trace_ids = recipe_trace_ids(lake, recipe, problems)
    evidence = gather_evidence(lake, recipe, trace_ids)
    reviews = read_reviews(lake, trace_ids)
    decisions = decide(evidence, recipe.selection, problem_ids=problems, reviews=reviews)
    counts = funnel(decisions)
    name = version_name or next_version_name(lake, recipe)
    trigger = "thresher select" if kind == "reselect" else "thresher run"
    events = decision_events(decisions, recipe.selection, run_id, recipe.hash(), name, trigger)
    lake.append(
        "recipes",
        [RecipeRecord(recipe_hash=recipe.hash(), name=recipe.name, yaml=recipe.to_yaml())],
    )
    sealed = record_run(lake, events, signer)  # one run's sealed events in one atomic commit
    head = sealed[-1].current_hash if sealed else ""
    overrides = sum(1 for d in decisions if d.overridden)
    note = json.dumps(
        {"kind": kind, "recipe": recipe.name, "events": len(sealed), "overrides": overrides},
        sort_keys=True,
    )
    version = lake.tag(
        name, note=note, counts=counts, recipe_hash=recipe.hash(), flow_run_id=run_id,
        decisions_head=head or None,
    )  # fmt: skip
    return SelectionResult(version, counts, head, run_id, len(sealed), overrides)
