"""Ingest a problem set into the lake: read, map columns, validate into Problems, commit.

Sources: JSONL, CSV, Parquet, a `datasets` folder saved with `save_to_disk`, a Hub dataset id
(through `datasets.load_dataset`), or `builtin:arithmetic`. By default one bad row fails the whole
ingest with its file, line or row, and field, and nothing is committed. With
``on_error="quarantine"`` the good rows are committed and each bad row is kept in the
`quarantine` table with its reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from thresher.schemas import InputError, Problem, QuarantineRow, to_arrow_table
from thresher.storage.answers import split_answer
from thresher.storage.builtin import builtin_problems
from thresher.storage.ingest_sources import RawRow, Source, open_source

if TYPE_CHECKING:
    import pyarrow as pa

    from thresher.storage.lake import Lake

__all__ = [
    "MAPPABLE",
    "Checked",
    "IngestReport",
    "OnError",
    "ingest",
    "parse_mapping",
    "validate_rows",
]

OnError = Literal["fail", "quarantine"]
Progress = Callable[[int, int | None], None]  # (units advanced, total units if known)

# Problem fields a source column can fill; source and problem_id are set by the ingest itself.
MAPPABLE = ("question", "answer", "solution", "kind", "tests_json", "difficulty", "metadata")
_REQUIRED = ("question",)
_TEXT = ("question", "answer", "solution", "kind", "tests_json")


@dataclass
class IngestReport:
    """What an ingest read, committed, skipped and quarantined."""

    name: str
    source: str
    rows_read: int = 0
    valid: int = 0
    added: int = 0
    already_present: int = 0
    duplicates: int = 0
    quarantined: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    first_error: str = ""
    answers_parsed: dict[str, int] = field(default_factory=dict)  # "####"/"A:"/"boxed" -> rows


def parse_mapping(spec: str | None) -> dict[str, str]:
    """Parse ``question=problem,answer=solution`` into {problem field: source column}."""
    mapping: dict[str, str] = {}
    if not spec:
        return mapping
    for part in spec.split(","):
        target, sep, column = (p.strip() for p in part.partition("="))
        if not sep or not target or not column:
            raise InputError(
                f"bad mapping entry {part.strip()!r}: expected FIELD=COLUMN",
                field="--map",
                hint="e.g. --map question=problem,answer=solution",
            )
        if target not in MAPPABLE:
            raise InputError(
                f"unknown problem field {target!r} in --map; fields: {', '.join(MAPPABLE)}",
                field="--map",
            )
        if target in mapping:
            raise InputError(f"field {target!r} is mapped twice", field="--map")
        mapping[target] = column
    return mapping


def _column_for(target: str, mapping: dict[str, str]) -> str:
    return mapping.get(target, target)


def _describe(target: str, column: str) -> str:
    return column if column == target else f"{column} (mapped to {target})"


def _check_columns(columns: list[str], mapping: dict[str, str], display: str) -> list[str]:
    """Fail when a required or mapped column is absent; return the columns that are not used."""
    wanted = {t: _column_for(t, mapping) for t in MAPPABLE}
    for target, column in wanted.items():
        if column not in columns and (target in _REQUIRED or target in mapping):
            raise InputError(
                f"missing column '{column}'"
                + (f" (mapped to {target})" if column != target else "")
                + f"; the columns are: {', '.join(columns)}",
                source=display,
                field=column,
                hint=f"map a column onto it, e.g. --map {target}=COLUMN",
            )
    return [c for c in columns if c not in set(wanted.values())]


def _type_name(value: Any) -> str:
    return type(value).__name__ if value is not None else "null"


def _coerce(target: str, value: Any, from_text: bool) -> Any:
    """Loosen the common harmless shapes (numeric answers, CSV blanks); reject other types."""
    if from_text and value == "" and target not in _REQUIRED:
        return None
    if (
        target in ("answer", "solution")
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        return str(value)
    if target == "tests_json" and isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if target == "metadata":
        if from_text and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("expected a JSON object of strings") from None
        if isinstance(value, list):  # Arrow maps arrive as lists of (key, value)
            value = dict(value)
        if isinstance(value, dict):
            return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
    if target in _TEXT and value is not None and not isinstance(value, str):
        raise ValueError(f"expected a string, got {_type_name(value)} {_short(value)}")
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _answer_in_solution(data: dict[str, Any]) -> str | None:
    """Store a math row's answer N apart from its worked solution (GSM8K's ``… #### N``, a
    final ``A: N``, a MATH-style ``\\boxed{}``); returns how the answer was found, if it was."""
    if data.get("kind", "math") != "math":
        return None
    answer, solution = data.get("answer"), data.get("solution")
    parsed = split_answer(
        answer if isinstance(answer, str) else None, solution if isinstance(solution, str) else None
    )
    if parsed is None:
        return None
    data["answer"], data["solution"] = parsed.answer, parsed.solution
    return parsed.method


def _validate(
    row: RawRow, name: str, mapping: dict[str, str], from_text: bool
) -> tuple[Problem, str | None] | tuple[str, str]:
    """(Problem, how its answer was parsed) or (field, reason) saying why the row is not one."""
    if row.values is None:
        return row.field, row.error
    data: dict[str, Any] = {"source": name}
    for target in MAPPABLE:
        column = _column_for(target, mapping)
        if column not in row.values:
            if target in _REQUIRED or target in mapping:
                return column, f"missing field '{_describe(target, column)}'"
            continue
        value = row.values[column]
        if value is None and target in _REQUIRED:
            return column, f"field '{_describe(target, column)}' is null"
        try:
            data[target] = _coerce(target, value, from_text)
        except ValueError as err:
            return column, str(err)
        if target in _REQUIRED and not str(data[target]).strip():
            return column, f"field '{_describe(target, column)}' is empty"
    method = _answer_in_solution(data)
    try:
        return Problem.model_validate(data), method
    except ValidationError as err:
        first = err.errors()[0]
        target = str(first["loc"][0]) if first["loc"] else ""
        column = _column_for(target, mapping) if target else ""
        got = first.get("input")
        detail = f"{first['msg']} (got {_type_name(got)} {_short(got)})"
        return column, detail


@dataclass
class Checked:
    """One validated batch: good rows with their Problems, rejected rows with field and reason."""

    good: list[tuple[RawRow, Problem]]
    rejected: list[tuple[RawRow, str, str]]
    units: int
    parsed: dict[str, int] = field(default_factory=dict)  # answers found in worked solutions


def validate_rows(
    source: str,
    *,
    name: str,
    mapping: dict[str, str] | None = None,
    split: str | None = None,
    batch_size: int = 10_000,
) -> tuple[Source, list[str], Iterator[Checked]]:
    """Open a source and stream it as validated batches (nothing is written).

    Returns the opened source, the columns it has that no problem field uses, and the batches.
    A required or mapped column missing from a tabular source fails here, before any row is read.
    """
    mapping = mapping or {}
    opened = open_source(source, split=split, batch_size=batch_size)
    ignored = (
        [] if opened.columns is None else _check_columns(opened.columns, mapping, opened.display)
    )
    from_text = opened.display.lower().endswith(".csv")

    def batches() -> Iterator[Checked]:
        for rows, units in opened.batches:
            checked = Checked([], [], units)
            for row in rows:
                result = _validate(row, name, mapping, from_text)
                if isinstance(result[0], Problem):
                    checked.good.append((row, result[0]))
                    if result[1] is not None:
                        checked.parsed[result[1]] = checked.parsed.get(result[1], 0) + 1
                else:
                    checked.rejected.append((row, result[0], str(result[1])))
            yield checked

    return opened, ignored, batches()


def ingest(
    lake: Lake,
    source: str,
    *,
    name: str | None = None,
    split: str | None = None,
    mapping: dict[str, str] | str | None = None,
    on_error: OnError = "fail",
    n: int | None = None,
    seed: int | None = None,
    batch_size: int = 10_000,
    progress: Progress | None = None,
) -> IngestReport:
    """Read, validate and commit a problem set into `lake` under `name`; see the module doc."""
    if on_error not in ("fail", "quarantine"):
        raise InputError(
            f"unknown --on-error {on_error!r}; use fail or quarantine", field="--on-error"
        )
    if not isinstance(mapping, dict):
        mapping = parse_mapping(mapping)
    if source.startswith("builtin:"):
        if mapping or split is not None:
            raise InputError("--map and --split do not apply to builtin: sources", source=source)
        n, seed = 64 if n is None else n, 0 if seed is None else seed
        problems = builtin_problems(source.removeprefix("builtin:"), n=n, seed=seed, source=name)
        report = IngestReport(problems[0].source, source, len(problems), len(problems))
        _commit(lake, report, [to_arrow_table(Problem, problems)], [])
        return report
    if n is not None or seed is not None:
        raise InputError("--n and --seed apply only to builtin: sources", source=source)
    if not name:
        raise InputError("a problem-set name is required", field="--name", hint="pass --name NAME")
    report = IngestReport(name=name, source=source)
    opened, report.ignored_columns, batches = validate_rows(
        source, name=name, mapping=mapping, split=split, batch_size=batch_size
    )
    tables: list[pa.Table] = []
    quarantine: list[QuarantineRow] = []
    first: dict[str, tuple[str | None, str]] = {}  # problem_id -> (answer, location)
    for checked in batches:
        report.rows_read += len(checked.good) + len(checked.rejected)
        for method, count in checked.parsed.items():
            report.answers_parsed[method] = report.answers_parsed.get(method, 0) + count
        fresh: list[Problem] = []
        for row, problem in checked.good:
            seen = first.get(problem.problem_id)
            if seen is None:
                first[problem.problem_id] = (problem.answer, row.location)
                fresh.append(problem)
            elif seen[0] != problem.answer:
                reason = f"same question as {seen[1]} but a different answer ({seen[0]!r})"
                checked.rejected.append((row, _column_for("answer", mapping), reason))
            else:
                report.duplicates += 1
        for row, column, reason in checked.rejected:
            if on_error == "fail":
                raise InputError(
                    reason,
                    source=row.location,
                    field=column or None,
                    hint="nothing was committed; fix the row, or pass --on-error quarantine to "
                    "commit the good rows and keep the bad ones in the quarantine table",
                )
            quarantine.append(
                QuarantineRow(
                    source=name, location=row.location, field=column, reason=reason, raw=row.raw
                )
            )
            if not report.first_error:
                report.first_error = f"{row.location}: {column + ': ' if column else ''}{reason}"
        report.valid += len(fresh)
        if fresh:
            tables.append(to_arrow_table(Problem, fresh))
        if progress is not None:
            progress(checked.units, opened.total)
    report.quarantined = len(quarantine)
    _commit(lake, report, tables, quarantine)
    return report


def _commit(
    lake: Lake, report: IngestReport, tables: list[pa.Table], quarantine: list[QuarantineRow]
) -> None:
    """Problems in one atomic append (all or none), then the quarantined rows."""
    import pyarrow as pa

    if tables:
        report.added = lake.append_arrow("problems", pa.concat_tables(tables))
    report.already_present = report.valid - report.added
    if quarantine:
        lake.append("quarantine", quarantine)
