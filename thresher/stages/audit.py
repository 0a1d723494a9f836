"""The decision trace in the lake: record runs into the chain, read events back in their JSON
form, verify them (from the lake or from an exported file), export them, and explain decisions.

Events of the current format live in `decision_events`; those of thresher-chain/1 (written
before DES 0.3.0) stay in `decisions` and are read and verified in their own form.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thresher.schemas import (
    ChainHead,
    ChainVerification,
    DatasetVersion,
    DecisionEvent,
    InputError,
    NotFoundError,
    canonical_json,
    seal_run,
    verify_events,
)
from thresher.schemas.chain_verify import strict_json
from thresher.schemas.event_rows import row_to_event as _row_to_event
from thresher.schemas.signing import Signer
from thresher.storage import DECISION_EVENTS, LEGACY_DECISIONS, Lake

__all__ = [
    "ExportedChain",
    "audit_verify",
    "audit_why",
    "chain_head",
    "export_events",
    "iter_events",
    "read_event_items",
    "read_events",
    "record_run",
    "verify_file",
    "version_heads",
]

Item = tuple[str, Any, str | None]


def row_to_event(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """One stored event of a table in its JSON (hashed) form."""
    return _row_to_event(row, legacy=table == LEGACY_DECISIONS)


def _present(lake: Lake, version: str | int | None) -> set[str]:
    return set(lake.table_counts(version))


PAGE = 50_000  # events read per query: a million-event chain never sits in memory at once
_ORDER = {
    DECISION_EVENTS: "temporal_metadata.sequence_number, temporal_metadata.event_timestamp, "
    "decision_context.run_id, decision_context.decision_id",
    LEGACY_DECISIONS: "decision_context.run_id, temporal_metadata.sequence_number, "
    "decision_context.decision_id",
}


def iter_events(
    lake: Lake, table: str, where: str = "", params: Sequence[Any] = (),
    version: str | int | None = None,
) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Events of one table (optionally filtered by SQL), in chain order, as JSON dicts."""
    at = lake.snapshot_id() if version is None else lake.resolve_version(version)
    if table not in _present(lake, at):
        return
    seq = "temporal_metadata.sequence_number"
    [bounds] = lake.query(
        f"SELECT min({seq}) AS lo, max({seq}) AS hi, count(*) AS n FROM {table} {where}",
        list(params),
        at,
    ).to_dicts()
    if not bounds["n"]:
        return
    base = f"SELECT * FROM {table} {where} {'AND' if where else 'WHERE'} "
    pages: list[tuple[str, list[Any]]]
    lo, hi = bounds["lo"], bounds["hi"]
    if table == DECISION_EVENTS and lo is not None and hi - lo < 4 * bounds["n"] + PAGE:
        # Sequence ranges: each page sorts only its own rows (OFFSET would re-sort them all).
        pages = [(f"{seq} BETWEEN ? AND ?", [start, start + PAGE - 1])
                 for start in range(lo, hi + 1, PAGE)]  # fmt: skip
        pages.append((f"{seq} IS NULL", []))  # a damaged row still reaches the verifier
        for clause, extra in pages:
            rows = lake.query(f"{base}{clause} ORDER BY {_ORDER[table]}", [*params, *extra], at)
            for row in rows.to_dicts():
                yield row_to_event(table, row)
        return
    for offset in range(0, bounds["n"], PAGE):
        rows = lake.query(
            f"SELECT * FROM {table} {where} ORDER BY {_ORDER[table]} LIMIT {PAGE} OFFSET {offset}",
            list(params),
            at,
        )
        for row in rows.to_dicts():
            yield row_to_event(table, row)


def read_events(
    lake: Lake, table: str, where: str = "", params: Sequence[Any] = (),
    version: str | int | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """`iter_events` as a list (for small selections)."""
    return list(iter_events(lake, table, where, params, version))


def read_event_items(lake: Lake, version: str | int | None = None) -> Iterator[Item]:
    """Every event at a version, legacy runs first, each with where it was found."""
    for table in (LEGACY_DECISIONS, DECISION_EVENTS):
        for event in iter_events(lake, table, version=version):
            context, temporal = event.get("decision_context"), event.get("temporal_metadata")
            run = context.get("run_id") if isinstance(context, dict) else None
            seq = temporal.get("sequence_number") if isinstance(temporal, dict) else None
            yield (f"{table} run {run} event {seq}", event, None)


def chain_head(lake: Lake) -> ChainHead | None:
    """The newest event of the chain, which the next recorded run follows."""
    if DECISION_EVENTS not in _present(lake, None):
        return None
    rows = lake.query(
        "SELECT temporal_metadata.hash_chain.current_hash AS h, "
        "temporal_metadata.sequence_number AS s FROM decision_events "
        "ORDER BY s DESC, temporal_metadata.event_timestamp DESC LIMIT 1"
    ).to_dicts()
    return ChainHead(rows[0]["h"], int(rows[0]["s"])) if rows else None


def record_run(
    lake: Lake, events: Sequence[DecisionEvent], signer: Signer | None = None
) -> list[DecisionEvent]:
    """Seal one run's events after the chain's head and append them in one atomic commit."""
    if not events:
        return []
    sealed = seal_run(events, chain_head(lake), signer)
    lake.append(DECISION_EVENTS, sealed)
    return sealed


def version_heads(lake: Lake, upto: int | None = None) -> dict[str, tuple[str, str]]:
    """Run id -> (version, head hash) each version recorded (those up to a snapshot)."""
    heads: dict[str, tuple[str, str]] = {}
    for v in lake.versions():
        if upto is not None and v.snapshot_id > upto:
            continue
        head = v.decisions_head
        if head is None:  # versions tagged before the typed column kept it in their note
            try:
                note = json.loads(v.note or "{}")
            except json.JSONDecodeError:
                note = {}
            head = note.get("decisions_head") if isinstance(note, dict) else None
        if v.flow_run_id and isinstance(head, str) and head:
            heads[v.flow_run_id] = (v.name, head)
    return heads


def find_version(lake: Lake, name: str) -> DatasetVersion:
    """A version by name; unknown names fail with the known ones."""
    versions = lake.versions()
    for v in versions:
        if v.name == name:
            return v
    known = ", ".join(v.name for v in versions) or "(none yet)"
    raise NotFoundError(f"no version named {name!r}; known versions: {known}")


def audit_verify(
    lake: Lake, version: str | None = None, trusted_keys: Collection[bytes] | None = None
) -> ChainVerification:
    """Verify every event visible at a version or snapshot (default: now) against the heads
    the versions tagged up to then recorded."""
    at = None if version is None else lake.resolve_version(version)
    return verify_events(
        read_event_items(lake, at),
        expected_heads=version_heads(lake, at),
        trusted_keys=trusted_keys,
    )


def _lines(path: Path) -> Iterator[Item]:
    """(where, parsed, raw) per non-blank line; a line that does not parse is a finding later.

    orjson reads the common case fast; the verifier re-reads any line whose bytes are not
    exactly what was hashed with the strict standard reader."""
    loads: Callable[[str], Any] = strict_json
    try:
        import orjson

        loads = orjson.loads
    except ImportError:  # pragma: no cover - orjson comes with prefect
        pass
    with path.open(encoding="utf-8", errors="surrogateescape") as handle:
        for number, line in enumerate(handle, 1):
            text = line.rstrip("\n")
            if not text.strip():
                continue
            try:
                yield (f"line {number}", loads(text), text)
            except ValueError:
                try:
                    yield (f"line {number}", strict_json(text), text)
                except ValueError as exc:
                    yield (f"line {number}", ValueError(f"not a JSON object ({exc})"), None)


def verify_file(
    path: str | Path,
    *,
    expect_head: str | None = None,
    trusted_keys: Collection[bytes] | None = None,
) -> ChainVerification:
    """Verify an exported events file (JSON lines) without a lake."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no events file at {path}", field="--file")
    return verify_events(_lines(path), expect_head=expect_head, trusted_keys=trusted_keys)


@dataclass(frozen=True)
class ExportedChain:
    """What `audit export` wrote: the file, how many events, the head it ends at."""

    path: str
    events: int
    runs: int
    head_hash: str


def _ancestry(lake: Lake, run_id: str, at: int) -> list[str]:
    """The run and every run it follows, back to the chain's first event."""
    runs: list[str] = []
    current: str | None = run_id
    while current is not None and current not in runs:
        runs.append(current)
        first = lake.query(
            "SELECT temporal_metadata.hash_chain.previous_hash AS p FROM decision_events "
            "WHERE decision_context.run_id = ? ORDER BY temporal_metadata.sequence_number LIMIT 1",
            [current],
            at,
        ).to_dicts()
        anchor = first[0]["p"] if first else None
        owner = (
            lake.query(
                "SELECT decision_context.run_id AS r FROM decision_events "
                "WHERE temporal_metadata.hash_chain.current_hash = ? LIMIT 1",
                [anchor],
                at,
            ).to_dicts()
            if anchor is not None
            else []
        )
        current = owner[0]["r"] if owner else None
    return runs


def _version_events(lake: Lake, name: str) -> Iterator[dict[str, Any]]:
    v = find_version(lake, name)
    if not v.flow_run_id:
        raise NotFoundError(f"version {name!r} records no run, so no decisions")
    at = v.snapshot_id
    for table in (DECISION_EVENTS, LEGACY_DECISIONS):
        if table not in _present(lake, at):
            continue
        found = lake.query(
            f"SELECT count(*) AS n FROM {table} WHERE decision_context.run_id = ?",
            [v.flow_run_id],
            at,
        )["n"][0]
        if found and table == DECISION_EVENTS:
            runs = _ancestry(lake, v.flow_run_id, at)
            where = "WHERE list_contains(?, decision_context.run_id)"
            return iter_events(lake, table, where, [runs], at)
        if found:
            return iter_events(
                lake, table, "WHERE decision_context.run_id = ?", [v.flow_run_id], at
            )
    raise NotFoundError(f"version {name!r} has no decisions (run {v.flow_run_id!r})")


def export_events(lake: Lake, version: str | None, out: str | Path) -> ExportedChain:
    """Write events exactly as hashed (canonical JSON, one per line); '-' writes to stdout.

    With a version: its run and every run its segment follows, back to the chain's start, so
    the file verifies on its own. Without: every event in the lake.
    """
    if version is not None:
        events = _version_events(lake, version)
    else:
        events = (e for _, e, _ in read_event_items(lake))
    count, runs, head = 0, set(), ""

    def write(handle: Any) -> None:
        nonlocal count, head
        for event in events:
            handle.write(canonical_json(event).decode("utf-8") + "\n")
            count += 1
            runs.add(str(event.get("decision_context", {}).get("run_id")))
            head = str(event.get("temporal_metadata", {}).get("hash_chain", {}).get("current_hash"))

    if str(out) == "-":
        write(sys.stdout)
    else:
        target = Path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                write(handle)
            os.replace(tmp, target)  # nothing half-written becomes visible
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return ExportedChain(str(out), count, len(runs), head)


def _summary(event: dict[str, Any]) -> dict[str, Any]:
    context, logic = event.get("decision_context", {}), event.get("decision_logic", {})
    quality = event.get("decision_quality_indicators", {})
    temporal = event.get("temporal_metadata", {})
    record = event.get("human_override_record", {})
    try:
        evidence = json.loads(event.get("evidence_json") or "{}")
    except json.JSONDecodeError:
        evidence = {"unreadable": event.get("evidence_json")}
    row = {
        "run_id": context.get("run_id"),
        "decision_id": context.get("decision_id"),
        "subject": (context.get("subject_ids") or [""])[0],
        "type": context.get("decision_type"),
        "logic_type": logic.get("logic_type"),
        "output": logic.get("output"),
        "reason_code": logic.get("reason_code"),
        "tier": temporal.get("evidence_tier"),
        "risk": quality.get("decision_risk_level"),
        "confidence": quality.get("confidence_score", quality.get("confidence")),
        "uncertainty_flags": quality.get("uncertainty_flags", []),
        "time": temporal.get("event_timestamp"),
        "version": context.get("dataset_version"),
        "hash": temporal.get("hash_chain", {}).get("current_hash"),
        "chain_format": temporal.get("hash_chain", {}).get("chain_format", "thresher-chain/1"),
        "evidence": evidence,
    }
    actor = record.get("override_actor") or {}
    if actor or record.get("override_occurred"):
        row["review"] = {
            "override_occurred": bool(record.get("override_occurred")),
            "actor": actor.get("actor_id"),
            "role": actor.get("actor_role"),
            "rationale": record.get("override_rationale"),
            "original_output": record.get("original_output"),
            "overridden_output": record.get("overridden_output"),
            "at": record.get("override_timestamp"),
        }
    return row


def audit_why(lake: Lake, subject_id: str) -> list[dict[str, Any]]:
    """Every decision about a trace or problem, the decisions they rest on, with evidence."""
    mentions = "WHERE list_contains(decision_context.subject_ids, ?)"
    direct = {
        table: read_events(lake, table, mentions, [subject_id])
        for table in (LEGACY_DECISIONS, DECISION_EVENTS)
    }
    if not any(direct.values()):
        raise NotFoundError(
            f"no decision mentions {subject_id!r}",
            hint='pass a trace_id or problem_id; `thresher sql "SELECT trace_id FROM rollouts"`',
        )
    rows: list[dict[str, Any]] = []
    for table, events in direct.items():
        upstream = sorted({_upstream_id(u) for e in events
                           for u in e.get("decision_boundary", {}).get("upstream_decisions", [])})  # fmt: skip
        related = read_events(
            lake, table, "WHERE list_contains(?, decision_context.decision_id)", [upstream]
        ) if upstream else []  # fmt: skip
        seen = {e["decision_context"]["decision_id"] for e in events}
        rows += [_summary(e) for e in events]
        rows += [_summary(e) for e in related if e["decision_context"]["decision_id"] not in seen]
    return sorted(rows, key=lambda r: (str(r["time"]), r["type"] != "curation:problem_selection"))


def _upstream_id(item: Any) -> str:
    """An upstream decision's id (objects in thresher-chain/2, bare ids in /1)."""
    return str(item.get("decision_id")) if isinstance(item, dict) else str(item)
