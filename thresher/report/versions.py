"""Which dataset version a report or diff is about, and the SQL that scopes a query to it.

A version is a tag on a lake snapshot made by one selection run; everything it decided is the
run's decision events, read at that snapshot (`AT (VERSION => n)` through the Lake API).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from thresher.schemas import DatasetVersion, NotFoundError
from thresher.storage import DECISION_EVENTS, LEGACY_DECISIONS, Lake

__all__ = ["VersionRef", "decided_cte", "decisions_table", "family", "resolve_version"]


def decided_cte(table: str) -> str:
    """The version's decisions, one row per subject, read from `table`: `WITH {...}` in every
    scoped query. The run id is the only parameter; queries run at the version's snapshot."""
    return f"""decided AS (
    SELECT decision_context.subject_ids[1] AS subject,
           CASE WHEN decision_context.decision_type LIKE '%problem_selection'
                THEN 'problem' ELSE 'trace' END AS level,
           decision_logic.output AS output,
           decision_logic.reason_code AS reason,
           json_extract_string(evidence_json, '$.stage') AS stage
    FROM {table} WHERE decision_context.run_id = ?
      AND decision_context.decision_type LIKE 'curation:%_selection'
)"""


def decisions_table(lake: Lake, run_id: str, at: int) -> str:
    """The table holding a run's decision events: `decision_events` (DES 0.3.0), or
    `decisions` for a run recorded before it."""
    present = lake.table_counts(at)
    if DECISION_EVENTS in present:
        hit = lake.query(
            f"SELECT 1 FROM {DECISION_EVENTS} WHERE decision_context.run_id = ? LIMIT 1",
            [run_id],
            at,
        )
        if hit.height:
            return DECISION_EVENTS
    return LEGACY_DECISIONS if LEGACY_DECISIONS in present else DECISION_EVENTS


@dataclass(frozen=True)
class VersionRef:
    """A named version: its snapshot, the run whose decisions it holds, and its record."""

    name: str
    snapshot_id: int
    run_id: str
    recipe_hash: str
    created_at: str
    counts: dict[str, int] = field(default_factory=dict)
    note: dict[str, object] = field(default_factory=dict)
    decisions_table: str = DECISION_EVENTS
    decisions_head: str | None = None

    @property
    def head_hash(self) -> str:
        """The decision chain's head hash the version recorded (empty when not recorded;
        versions tagged before the typed column kept it in their note)."""
        return self.decisions_head or str(self.note.get("decisions_head") or "")

    @property
    def decided(self) -> str:
        """The `decided` CTE over this version's decisions (`decided_cte`)."""
        return decided_cte(self.decisions_table)


def resolve_version(lake: Lake, name: str | None, *, decided: bool = False) -> VersionRef:
    """The named version (default: the newest); unknown names list the known ones. With
    `decided`, a version tagged by hand (no selection run, so no decisions) is refused."""
    versions = lake.versions()
    if not versions:
        raise NotFoundError(
            "the lake has no versions yet",
            hint="`thresher run RECIPE` or `thresher select --recipe RECIPE` tags one",
        )
    chosen: DatasetVersion | None
    if name is None:  # the newest (made by a selection run, when decisions are wanted)
        runs = [v for v in versions if v.flow_run_id or not decided]
        chosen = runs[-1] if runs else versions[-1]
    else:
        chosen = next((v for v in versions if v.name == name), None)
    if chosen is None:
        known = ", ".join(v.name for v in versions)
        raise NotFoundError(
            f"no version named {name!r}; known versions: {known}",
            hint="`thresher versions` lists them",
        )
    try:
        note = json.loads(chosen.note or "{}")
    except json.JSONDecodeError:
        note = {"text": chosen.note}
    if not isinstance(note, dict):
        note = {"text": chosen.note}
    if decided and not chosen.flow_run_id:
        raise NotFoundError(
            f"version {chosen.name!r} was tagged by hand and holds no decisions",
            hint="report or diff a version made by `thresher run` or `thresher select`",
        )
    return VersionRef(
        name=chosen.name,
        snapshot_id=chosen.snapshot_id,
        run_id=chosen.flow_run_id or "",
        recipe_hash=chosen.recipe_hash or "",
        created_at=chosen.created_at.isoformat(timespec="seconds"),
        counts=dict(chosen.counts),
        note=note,
        decisions_table=decisions_table(lake, chosen.flow_run_id or "", chosen.snapshot_id),
        decisions_head=chosen.decisions_head,
    )


def family(reason: str | None) -> str:
    """A reason code without its per-subject suffix (`near_duplicate_of:<id>` names a trace)."""
    if reason is None:
        return "(not decided)"
    return "near_duplicate_of" if reason.startswith("near_duplicate_of:") else reason
