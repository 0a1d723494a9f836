"""The trace browser's data: a seeded sample of traces per group and everything about each one.

Groups are read from the version's decisions: `selected`, `flawed_positive` (a right answer on
broken reasoning) and `incorrect`. The sample is the first N trace ids of each group ordered by
a hash of the id, so the same version always shows the same traces and a 100k-trace lake adds
no more to the page than a small one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from thresher.report.versions import VersionRef
from thresher.schemas import trace_text
from thresher.storage import LEGACY_DECISIONS, Lake

__all__ = ["GROUPS", "Trace", "TraceSample", "sample_traces"]

# Group name -> SQL condition on the trace's reason code.
GROUPS: dict[str, str] = {
    "selected": "reason = 'selected'",
    "flawed_positive": "reason LIKE 'flawed_positive:%'",
    "incorrect": "reason LIKE 'incorrect%'",
}


@dataclass
class Trace:
    """One sampled trace with its problem, verdicts, labels, sentence scores and decisions."""

    trace_id: str
    group: str
    reason: str
    rollout: dict[str, Any]
    problem: dict[str, Any]
    text: str
    shown_chars: int
    sentences: list[dict[str, Any]] = field(default_factory=list)
    scorer: str = ""
    sentence_offset: int = 0  # where the scored text starts in `text` (a prefix's length)
    flaws: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TraceSample:
    """The sampled traces and each group's full size in the version."""

    totals: dict[str, int]
    traces: list[Trace]


def _in(lake: Lake, sql: str, ids: list[str], at: int) -> list[dict[str, Any]]:
    return lake.query(sql, [ids], at).to_dicts()


def sample_traces(
    lake: Lake, version: VersionRef, per_group: int = 30, max_chars: int = 20_000
) -> TraceSample:
    """Pick up to `per_group` traces of each group and read what the viewer shows about them."""
    at = version.snapshot_id
    totals: dict[str, int] = {}
    picked: list[tuple[str, str, str]] = []  # (group, trace_id, reason)
    for group, condition in GROUPS.items():
        rows = lake.query(
            f"WITH {version.decided} SELECT subject, reason, count(*) OVER () AS total FROM decided "
            f"WHERE level = 'trace' AND {condition} ORDER BY md5(subject) LIMIT ?",
            [version.run_id, per_group],
            at,
        ).to_dicts()
        totals[group] = int(rows[0]["total"]) if rows else 0
        picked += [(group, r["subject"], r["reason"]) for r in rows]
    ids = [trace_id for _, trace_id, _ in picked]
    if not ids:
        return TraceSample(totals, [])
    rollouts = {
        r["trace_id"]: r
        for r in _in(
            lake,
            "SELECT trace_id, problem_id, model, model_revision, engine, mode, sample_index, "
            "prompt, completion, reasoning, answer_text, prefix_chars, prefix_trace_id, "
            "conditioned_on_ground_truth, prompt_tokens, completion_tokens, finish_reason, "
            "sampling.temperature AS temperature, sampling.max_tokens AS max_tokens "
            "FROM rollouts WHERE list_contains(?, trace_id)",
            ids,
            at,
        )
    }
    problem_ids = sorted({r["problem_id"] for r in rollouts.values()})
    problems = {
        p["problem_id"]: p
        for p in _in(
            lake,
            "SELECT problem_id, source, question, answer, kind FROM problems "
            "WHERE list_contains(?, problem_id)",
            problem_ids,
            at,
        )
    }
    per_trace = _per_trace(lake, ids, problem_ids, version)
    traces = []
    for group, trace_id, reason in picked:
        rollout = rollouts.get(trace_id)
        if rollout is None:  # decided but not stored: nothing to show
            continue
        full = trace_text(
            rollout["completion"] or "", rollout["prompt"] or "", rollout["prefix_chars"],
            rollout["reasoning"] or "", rollout["answer_text"] or "",
        )  # fmt: skip
        trace = Trace(
            trace_id=trace_id,
            group=group,
            reason=reason,
            rollout=rollout,
            problem=problems.get(rollout["problem_id"], {}),
            text=full[:max_chars],
            shown_chars=min(len(full), max_chars),
            # provenance_v1 scored only the generated text (a prefix continuation's starts after
            # its prefix); _attach resets this for scorers that score the whole trace.
            sentence_offset=len(full) - len(rollout["completion"] or "")
            if rollout["completion"]
            else 0,
        )
        _attach(trace, per_trace, rollout["problem_id"])
        traces.append(trace)
    return TraceSample(totals, traces)


def _per_trace(
    lake: Lake, ids: list[str], problem_ids: list[str], version: VersionRef
) -> dict[str, Any]:
    at = version.snapshot_id
    sentences = _in(
        lake,
        # One scorer per trace: the newest one that scored it.
        "WITH s AS (SELECT *, max(created_at) OVER (PARTITION BY trace_id, scorer) AS t "
        "FROM sentence_scores WHERE list_contains(?, trace_id)), "
        "pick AS (SELECT trace_id, arg_max(scorer, t) AS scorer FROM s GROUP BY trace_id) "
        "SELECT s.trace_id, s.scorer, s.sentence_index, s.char_start, s.char_end, s.category, "
        "s.teacher_logprob, s.student_logprob, s.distilled_logprob FROM s JOIN pick "
        "USING (trace_id, scorer) ORDER BY s.trace_id, s.sentence_index",
        ids,
        at,
    )
    flaws = _in(
        lake,
        "SELECT trace_id, labeler, flaw_type, severity, step, char_start, char_end, evidence, "
        "critique FROM flaw_labels WHERE list_contains(?, trace_id) "
        "ORDER BY trace_id, coalesce(char_start, -1), labeler, flaw_type, step",
        ids,
        at,
    )
    verdicts = _in(
        lake,
        "SELECT trace_id, verifier, status, correct, extracted, reason, elapsed_s FROM verdicts "
        "WHERE list_contains(?, trace_id) ORDER BY trace_id, verifier",
        ids,
        at,
    )
    decisions = lake.query(
        "SELECT decision_context.subject_ids[1] AS subject, decision_context.decision_id AS id, "
        "decision_context.run_id AS run_id, decision_context.dataset_version AS version, "
        "decision_context.decision_type AS type, decision_logic.output AS output, "
        "decision_logic.reason_code AS reason, temporal_metadata.evidence_tier AS tier, "
        "temporal_metadata.sequence_number AS seq, "
        "temporal_metadata.event_timestamp AS time, "
        "temporal_metadata.hash_chain.previous_hash AS previous_hash, "
        "temporal_metadata.hash_chain.current_hash AS hash, "
        f"{_upstream_ids(version.decisions_table)} AS upstream, evidence_json "
        f"FROM {version.decisions_table} "
        "WHERE list_contains(?, decision_context.subject_ids[1]) ORDER BY time, seq",
        [ids + problem_ids],
        at,
    ).to_dicts()
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for kind, rows in (("sentences", sentences), ("flaws", flaws), ("verdicts", verdicts)):
        for row in rows:
            grouped.setdefault(row["trace_id"], {}).setdefault(kind, []).append(row)
    for row in decisions:
        row["evidence"] = json.loads(row.pop("evidence_json") or "{}")
        row["time"] = row["time"].isoformat(timespec="seconds") if row["time"] else ""
        grouped.setdefault(row["subject"], {}).setdefault("decisions", []).append(row)
    return grouped


def _upstream_ids(table: str) -> str:
    """SQL for an event's upstream decision ids: DES 0.3.0 lists objects, the legacy table ids."""
    if table == LEGACY_DECISIONS:
        return "decision_boundary.upstream_decisions"
    return "list_transform(decision_boundary.upstream_decisions, u -> u.decision_id)"


def _attach(trace: Trace, grouped: dict[str, Any], problem_id: str) -> None:
    own = grouped.get(trace.trace_id, {})
    trace.sentences = own.get("sentences", [])
    trace.scorer = trace.sentences[0]["scorer"] if trace.sentences else ""
    if not trace.scorer.startswith("provenance_v1:"):
        trace.sentence_offset = 0  # provenance_v2 scores the whole trace, prefix included
    trace.flaws = own.get("flaws", [])
    trace.verdicts = own.get("verdicts", [])
    mine = own.get("decisions", [])
    upstream = {u for d in mine for u in (d["upstream"] or [])}
    problem = [d for d in grouped.get(problem_id, {}).get("decisions", []) if d["id"] in upstream]
    trace.decisions = sorted(mine + problem, key=lambda d: (d["time"], d["seq"]))
