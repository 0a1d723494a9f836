"""The decision trace in the lake: gather label evidence, record DES events, audit the chain.

`gather_evidence` joins the label tables into the policy's `TraceEvidence`; `record_decisions`
appends one run's sealed chain in a single atomic commit (so a crash leaves the whole chain or
none of it); `audit_verify` and `audit_why` read it back.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from thresher.config import Recipe
from thresher.pipeline.selection import FlawEvidence, TraceEvidence
from thresher.schemas import (
    ChainReport,
    DecisionEvent,
    NotFoundError,
    decided_correct,
    verify_chain,
)
from thresher.storage import Lake

__all__ = [
    "RunChain",
    "audit_verify",
    "audit_why",
    "gather_evidence",
    "read_decisions",
    "record_decisions",
]


def gather_evidence(
    lake: Lake,
    recipe: Recipe,
    trace_ids: Sequence[str] | None = None,
    problem_ids: Sequence[str] | None = None,
    version: str | int | None = None,
) -> list[TraceEvidence]:
    """Join verdicts, flaw labels, divergence, dedup clusters and contamination per trace."""
    where, params = _scope(trace_ids, problem_ids)
    traces = lake.query(
        "SELECT trace_id, problem_id, mode, conditioned_on_ground_truth AS conditioned "
        f"FROM rollouts {where} ORDER BY trace_id",
        params,
        version,
    )
    evidence = {
        row["trace_id"]: TraceEvidence(
            row["trace_id"], row["problem_id"], row["mode"], bool(row["conditioned"])
        )
        for row in traces.to_dicts()
    }
    if not evidence:
        return []
    scope = f"trace_id IN (SELECT trace_id FROM rollouts {where})"

    verdicts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in lake.query(
        f"SELECT trace_id, verifier, status, correct FROM verdicts WHERE {scope} "
        "ORDER BY trace_id, verifier",
        params,
        version,
    ).to_dicts():
        verdicts[row["trace_id"]].append(row)
    for trace_id, all_rows in verdicts.items():
        ev = evidence.get(trace_id)
        if ev is None:
            continue
        rows = _newest_versions(all_rows)
        decided = [r for r in rows if decided_correct(r["status"], r["correct"]) is not None]
        ev.verifier = ",".join(r["verifier"] for r in rows)
        ev.verdict_status = (decided or rows)[0]["status"]
        # Wrong for any verifier that decided is wrong; right only when every decider agrees.
        values = [decided_correct(r["status"], r["correct"]) for r in decided]
        ev.correct = all(values) if values else None

    wanted = set(recipe.labels.labelers)
    for row in lake.query(
        f"SELECT trace_id, labeler, flaw_type, severity, step FROM flaw_labels WHERE {scope} "
        "ORDER BY trace_id, labeler, flaw_type, step",
        params,
        version,
    ).to_dicts():
        if row["trace_id"] in evidence and (not wanted or row["labeler"] in wanted):
            evidence[row["trace_id"]].flaws.append(
                FlawEvidence(row["labeler"], row["flaw_type"], row["severity"], row["step"])
            )

    if "trace_scores" in lake.table_counts(version):
        for row in lake.query(
            f"SELECT trace_id, min(divergence) AS divergence FROM trace_scores WHERE {scope} "
            "GROUP BY trace_id",
            params,
            version,
        ).to_dicts():
            if row["trace_id"] in evidence:
                evidence[row["trace_id"]].divergence = row["divergence"]

    dedup = recipe.dedup
    if dedup.enabled:
        embedder = _embedder_name(recipe)
        for row in lake.query(
            f"SELECT trace_id, cluster_id, is_representative FROM dedup_assignments "
            f"WHERE {scope} AND method = ? AND embedder = ? AND abs(threshold - ?) < 1e-9",
            [*params, dedup.method, embedder, dedup.threshold],
            version,
        ).to_dicts():
            if row["trace_id"] in evidence:
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


_VERSIONED = re.compile(r"^(?P<family>.+)_v(?P<version>\d+)(?::.*)?$")


def _newest_versions(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A trace's verdicts from the newest version of each verifier family (math_v2 over
    math_v1): a lake verified again after a verifier changed is judged by the new verifier."""

    def family_version(name: str) -> tuple[str, int]:
        m = _VERSIONED.match(name)
        return (m.group("family"), int(m.group("version"))) if m else (name, 0)

    newest: dict[str, int] = {}
    for row in rows:
        family, version = family_version(row["verifier"])
        newest[family] = max(newest.get(family, version), version)
    return [
        r
        for r in rows
        if family_version(r["verifier"])[1] == newest[family_version(r["verifier"])[0]]
    ]


def _embedder_name(recipe: Recipe) -> str:
    """The embedder name dedup rows are stored under (aliases of the embedded model resolve)."""
    if recipe.dedup.method != "embedding":
        return ""
    from thresher.filters.embed import Embedder

    return str(Embedder(recipe.dedup.embedder).name)


def _scope(
    trace_ids: Sequence[str] | None, problem_ids: Sequence[str] | None
) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if trace_ids is not None:
        clauses.append("list_contains(?, trace_id)")
        params.append(list(trace_ids))
    if problem_ids is not None:
        clauses.append("list_contains(?, problem_id)")
        params.append(list(problem_ids))
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def record_decisions(lake: Lake, events: Sequence[DecisionEvent]) -> int:
    """Append one run's sealed chain in one atomic commit; returns the rows added."""
    return lake.append("decisions", list(events))


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
