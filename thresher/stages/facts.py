"""Facts about traces, each defined once and read by every stage that needs it.

- **Text**: what a trace says, as verified, labelled, embedded, scored and exported: the
  generated text, and for a prefix continuation the prefix it was given (the end of its prompt)
  first (`schemas.trace_text`). A rollout imported without `completion` is its reasoning and
  answer joined by `</think>`.
- **Correctness**: a trace's verdicts from the newest version of each verifier family
  (`math_v2` over `math_v1`) that decided (`correct` true or false; an older lake's null
  `no_answer` reads as false). Wrong when any of them is wrong, right when all of them are
  right, undecided (None) when none decided.
- **Divergence**: the teacher-student divergence one provenance scorer stored for the trace;
  callers name the scorer (the recipe's), and without one the newest stored row counts.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from thresher.schemas import decided_correct, trace_text
from thresher.storage import Lake

__all__ = [
    "Correctness",
    "newest_verdicts",
    "row_text",
    "trace_correctness",
    "trace_divergence",
    "TEXT_COLUMNS",
]

# The rollout columns `row_text` reads.
TEXT_COLUMNS = "r.completion, r.prompt, r.prefix_chars, r.reasoning, r.answer_text"
_VERSIONED = re.compile(r"^(?P<family>.+)_v(?P<version>\d+)(?::.*)?$")


def row_text(row: Mapping[str, Any]) -> str:
    """A trace's text (`schemas.trace_text`) from its rollout row (the `TEXT_COLUMNS`)."""
    return trace_text(
        row.get("completion") or "", row.get("prompt") or "", row.get("prefix_chars"),
        row.get("reasoning") or "", row.get("answer_text") or "",
    )  # fmt: skip


@dataclass(frozen=True)
class Correctness:
    """A trace's correctness and the verdicts it rests on."""

    correct: bool | None
    status: str  # of a deciding verdict, else of the first verdict
    verifiers: str  # comma-separated verifier names


def _family_version(name: str) -> tuple[str, int]:
    m = _VERSIONED.match(name)
    return (m.group("family"), int(m.group("version"))) if m else (name, 0)


def newest_verdicts(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One trace's verdict rows from the newest version of each verifier family."""
    newest: dict[str, int] = {}
    for row in rows:
        family, version = _family_version(row["verifier"])
        newest[family] = max(newest.get(family, version), version)
    return [r for r in rows if newest[_family_version(r["verifier"])[0]] == _family_version(r["verifier"])[1]]  # fmt: skip


def correctness_of(rows: Sequence[Mapping[str, Any]]) -> Correctness:
    """The correctness fact from one trace's verdict rows (verifier, status, correct)."""
    current = newest_verdicts(rows)
    decided = [r for r in current if decided_correct(r["status"], r["correct"]) is not None]
    values = [decided_correct(r["status"], r["correct"]) for r in decided]
    return Correctness(
        correct=all(values) if values else None,
        status=str((decided or current)[0]["status"]),
        verifiers=",".join(str(r["verifier"]) for r in current),
    )


def trace_correctness(
    lake: Lake,
    *,
    trace_ids: Sequence[str] | None = None,
    problem_set: str | None = None,
    version: str | int | None = None,
) -> dict[str, Correctness]:
    """The correctness fact of every verified trace among the given ids or of a problem set."""
    sql = "SELECT v.trace_id, v.verifier, v.status, v.correct FROM verdicts v"
    params: list[Any] = []
    if problem_set is not None:
        sql += (
            " JOIN rollouts r ON r.trace_id = v.trace_id JOIN problems p "
            "ON p.problem_id = r.problem_id WHERE p.source = ?"
        )
        params.append(problem_set)
    if trace_ids is not None:
        sql += " AND" if params else " WHERE"
        sql += " list_contains(?, v.trace_id)"
        params.append(list(trace_ids))
    by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in lake.query(sql + " ORDER BY v.trace_id, v.verifier", params, version).to_dicts():
        by_trace[row["trace_id"]].append(row)
    return {trace_id: correctness_of(rows) for trace_id, rows in by_trace.items()}


def trace_divergence(
    lake: Lake,
    trace_ids: Sequence[str],
    scorer: str | None = None,
    version: str | int | None = None,
) -> dict[str, float]:
    """Each scored trace's divergence under ``scorer`` (or its newest stored score)."""
    if "trace_scores" not in lake.table_counts(version):
        return {}
    sql = (
        "SELECT trace_id, divergence FROM trace_scores "
        "WHERE list_contains(?, trace_id) AND divergence IS NOT NULL"
    )
    params: list[Any] = [list(trace_ids)]
    if scorer is not None:
        sql += " AND scorer = ?"
        params.append(scorer)
    sql += " ORDER BY trace_id, created_at"
    found: dict[str, float] = {}
    for row in lake.query(sql, params, version).to_dicts():
        found[row["trace_id"]] = float(row["divergence"])  # the newest row wins
    return found
