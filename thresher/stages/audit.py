"""The audit stage: read a lake's decision trace back, verify each run's hash chain, and
explain every decision about a trace or problem (`thresher audit verify`, `audit why`)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from thresher.schemas import ChainReport, DecisionEvent, NotFoundError, verify_chain
from thresher.storage import Lake

__all__ = ["RunChain", "audit_verify", "audit_why", "read_decisions"]


def read_decisions(
    lake: Lake, run_id: str | None = None, version: str | int | None = None
) -> list[DecisionEvent]:
    """Decision events (of one run, or all), in run and sequence order."""
    sql = "SELECT * FROM decisions"
    params: list[Any] = []
    if run_id is not None:
        sql += " WHERE decision_context.run_id = ?"
        params.append(run_id)
    sql += (
        " ORDER BY temporal_metadata.event_timestamp, decision_context.run_id, "
        "temporal_metadata.sequence_number"
    )
    rows = lake.query(sql, params, version).to_dicts()
    events = [DecisionEvent.model_validate(_plain(row)) for row in rows]
    # A run's events share one timestamp order only approximately: regroup by run, then sequence.
    first_seen: dict[str, int] = {}
    for index, event in enumerate(events):
        first_seen.setdefault(event.decision_context.run_id, index)
    events.sort(
        key=lambda e: (
            first_seen[e.decision_context.run_id],
            e.temporal_metadata.sequence_number,
        )
    )
    return events


def _plain(value: Any) -> Any:
    """Polars row values back to the JSON shape pydantic reads (maps may come as key/value lists)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(v, dict) and set(v) == {"key", "value"} for v in value):
            return {v["key"]: v["value"] for v in value}
        return [_plain(v) for v in value]
    return value


@dataclass
class RunChain:
    """One flow run's decision chain and its verification report."""

    run_id: str
    events: list[DecisionEvent]
    report: ChainReport
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def head_hash(self) -> str:
        """The last event's hash: the chain head an export cites."""
        return self.events[-1].current_hash if self.events else ""


def audit_verify(
    lake: Lake, version: str | int | None = None, run_id: str | None = None
) -> list[RunChain]:
    """Verify the hash chain of every run (or one run) visible at a version."""
    if run_id is None and version is not None and not str(version).isdigit():
        known = {v.name: v for v in lake.versions()}
        if str(version) in known and known[str(version)].flow_run_id:
            run_id = known[str(version)].flow_run_id
    events = read_decisions(lake, run_id=run_id, version=version)
    if run_id is not None and not events:
        raise NotFoundError(f"no decisions recorded for run {run_id!r}")
    by_run: dict[str, list[DecisionEvent]] = defaultdict(list)
    for event in events:
        by_run[event.decision_context.run_id].append(event)
    chains = []
    for rid, run_events in by_run.items():
        counts: dict[str, int] = defaultdict(int)
        for event in run_events:
            counts[event.temporal_metadata.evidence_tier] += 1
        chains.append(RunChain(rid, run_events, verify_chain(run_events), dict(counts)))
    return chains


def audit_why(lake: Lake, subject_id: str) -> list[dict[str, Any]]:
    """Every decision about a trace or problem (and its problem's decisions), with evidence."""
    rows = read_decisions(lake)
    direct = [e for e in rows if subject_id in e.decision_context.subject_ids]
    if not direct:
        raise NotFoundError(
            f"no decision mentions {subject_id!r}",
            hint='pass a trace_id or problem_id; `thresher sql "SELECT trace_id FROM rollouts"`',
        )
    upstream = {u for e in direct for u in e.decision_boundary.upstream_decisions}
    related = [e for e in rows if e.decision_context.decision_id in upstream]
    out = []
    for event in sorted(direct + related, key=lambda e: e.temporal_metadata.event_timestamp):
        out.append(
            {
                "run_id": event.decision_context.run_id,
                "decision_id": event.decision_context.decision_id,
                "subject": event.decision_context.subject_ids[0],
                "type": event.decision_context.decision_type,
                "output": event.decision_logic.output,
                "reason_code": event.decision_logic.reason_code,
                "tier": event.temporal_metadata.evidence_tier,
                "time": event.temporal_metadata.event_timestamp.isoformat(),
                "version": event.decision_context.dataset_version,
                "hash": event.current_hash,
                "evidence": json.loads(event.evidence_json),
            }
        )
    return out
