"""Record human reviews of traces: validate them, find the decisions they review, chain them.

The next `thresher select` (or `thresher run`) honours them; see `thresher.pipeline.review`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from thresher.pipeline.review import Review, ReviewRequest, review_events, reviews_from_events
from thresher.schemas import DecisionEvent, InputError, NotFoundError
from thresher.schemas.signing import Signer
from thresher.stages.audit import read_events, record_run
from thresher.storage import DECISION_EVENTS, LEGACY_DECISIONS, Lake

__all__ = ["ReviewResult", "load_reviews", "read_reviews", "record_reviews"]


@dataclass(frozen=True)
class ReviewResult:
    """One recorded batch of reviews: its run, events, overrides and chain head."""

    run_id: str
    events: list[DecisionEvent]
    overrides: int
    head_hash: str


def load_reviews(path: str | Path) -> list[ReviewRequest]:
    """Reviews from a JSON-lines file: {trace_id, decision: keep|drop, actor, rationale, role?}."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read reviews: {exc.strerror}", source=str(path)) from None
    requests = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"not JSON ({exc.msg})", source=str(path), line=number) from None
        try:
            requests.append(ReviewRequest.model_validate(data))
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(p) for p in error["loc"]) or None
            raise InputError(error["msg"], source=str(path), line=number, field=field) from None
    if not requests:
        raise InputError("the reviews file holds no review", source=str(path))
    return requests


def read_reviews(lake: Lake, trace_ids: Sequence[str] | None = None) -> dict[str, Review]:
    """The newest review of each trace (of the given ones) recorded in the lake."""
    where = "WHERE decision_logic.logic_type = 'human_decision'"
    params: list[object] = []
    if trace_ids is not None:
        where += " AND list_has_any(decision_context.subject_ids, ?)"
        params.append(list(trace_ids))
    return reviews_from_events(read_events(lake, DECISION_EVENTS, where, params))


def _policy_decisions(lake: Lake, trace_ids: list[str]) -> dict[str, tuple[str, str]]:
    """Each trace's newest automated decision: (decision id, output); older chains count too."""
    found: dict[str, tuple[str, str]] = {}
    for table in (DECISION_EVENTS, LEGACY_DECISIONS):
        wanted = [t for t in trace_ids if t not in found]
        if not wanted:
            break
        events = read_events(
            lake,
            table,
            "WHERE decision_logic.logic_type <> 'human_decision' "
            "AND decision_context.decision_type = 'curation:trace_selection' "
            "AND list_has_any(decision_context.subject_ids, ?)",
            [wanted],
        )
        newest = {
            e["decision_context"]["subject_ids"][0]: (
                e["decision_context"]["decision_id"],
                e["decision_logic"]["output"],
            )
            for e in sorted(events, key=lambda e: str(e["temporal_metadata"]["event_timestamp"]))
        }
        found.update({t: d for t, d in newest.items() if t in wanted})
    return found


def record_reviews(
    lake: Lake, requests: Sequence[ReviewRequest], signer: Signer | None = None
) -> ReviewResult:
    """Check the reviewed traces exist, then chain one human_decision event per review."""
    seen: set[str] = set()
    for index, request in enumerate(requests, 1):
        if request.trace_id in seen:
            raise InputError(f"trace {request.trace_id} is reviewed twice", line=index)
        seen.add(request.trace_id)
    ids = [r.trace_id for r in requests]
    found = set(
        lake.query("SELECT trace_id FROM rollouts WHERE list_contains(?, trace_id)", [ids])[
            "trace_id"
        ].to_list()
    )
    missing = [t for t in ids if t not in found]
    if missing:
        raise NotFoundError(
            f"no rollout with trace_id {', '.join(missing[:5])}"
            + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""),
            hint='review traces by trace_id: `thresher sql "SELECT trace_id FROM rollouts"`',
        )
    run_id = f"review-{uuid.uuid4()}"
    events = review_events(requests, run_id, _policy_decisions(lake, ids))
    sealed = record_run(lake, events, signer)
    overrides = sum(1 for e in sealed if e.human_override_record.override_occurred)
    return ReviewResult(run_id, sealed, overrides, sealed[-1].current_hash)
