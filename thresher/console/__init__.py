"""What the `thresher` commands print: each function here calls one stage (or the flow) and
renders its report with rich; `thresher.cli` only turns options into config sections."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from thresher.config import (
    DecontamConfig,
    DedupConfig,
    ExportConfig,
    GenerationConfig,
    LabelConfig,
    ProvenanceConfig,
    Recipe,
    VerifyConfig,
    load_recipe,
)
from thresher.pipeline.outputs import check_export_folder
from thresher.schemas import FUNNEL_STAGES, InputError
from thresher.stages.plan import plan_run
from thresher.storage import Lake, resolve_lake

__all__ = [
    "CONSOLES",
    "decontaminate_command",
    "dedup_command",
    "export_command",
    "funnel_table",
    "generate_command",
    "ingest_command",
    "label_command",
    "plan_command",
    "print_frame",
    "write_csv",
    "write_json_lines",
    "show_note",
    "print_rows",
    "sql_command",
    "provenance_command",
    "verify_command",
    "versions_command",
    "run_command",
    "schedule_command",
    "select_command",
]


def funnel_table(counts: dict[str, int], title: str = "funnel") -> Table:
    """The funnel as a table: each stage, its count and its share of the rollouts."""
    table = Table("stage", "count", "share of rollouts", title=title, header_style="bold")
    rollouts = counts.get("rollouts", 0)
    for stage in FUNNEL_STAGES:
        n = counts.get(stage, 0)
        share = "" if stage == "problems" or not rollouts else f"{n / rollouts:.0%}"
        table.add_row(stage.replace("_", " "), str(n), share)
    return table


def example_queries(version: str) -> list[str]:
    """A few SQL queries worth trying on a fresh version."""
    return [
        'thresher sql "SELECT decision_logic.reason_code AS reason, count(*) AS n '
        "FROM decision_events "
        f"WHERE decision_context.dataset_version = '{version}' GROUP BY 1 ORDER BY n DESC\"",
        'thresher sql "SELECT labeler, flaw_type, count(*) AS n FROM flaw_labels GROUP BY ALL '
        'ORDER BY n DESC"',
        'thresher sql "SELECT p.question, r.completion FROM rollouts r JOIN problems p '
        'USING (problem_id) LIMIT 3"',
        f'thresher sql --version {version} "SELECT count(*) FROM rollouts"',
    ]


def plan_command(
    recipe_path: str,
    lake: str | None,
    *,
    console: Console,
    max_rollouts: int | None = None,
    sign_key: str | None = None,
) -> tuple[Recipe, str]:
    """The first half of `thresher run`, before Prefect or an engine starts: load the recipe,
    check its plan (a bad one is one error, with nothing written) and the signing key, and print
    the plan. Returns the recipe and the lake it runs on."""
    recipe = load_recipe(recipe_path)
    plan = plan_run(recipe, max_rollouts=max_rollouts)
    if sign_key:
        from thresher.schemas.signing import Signer

        Signer(sign_key)  # a bad key fails now, not after generation
    location = resolve_lake(lake, recipe.lake)
    console.print(
        f"[bold]thresher run[/] {recipe.name} (recipe {recipe.hash()[:12]}) -> lake {location}"
    )
    for line in plan.lines():
        console.print(line, highlight=False, markup=False)
    return recipe, location


def run_command(
    recipe: Recipe, location: str, *, export: bool, console: Console, sign_key: str | None = None
) -> None:
    """The second half of `thresher run`: the curate flow with live progress, then funnel,
    version and queries."""
    from thresher.flows.curate import run_curate

    summary = run_curate(
        recipe, location, export=export, progress_console=console, sign_key=sign_key
    )
    console.print(funnel_table(summary.funnel, title=f"funnel of {summary.version}"))
    console.print(
        f"version [bold]{summary.version}[/] (snapshot {summary.snapshot_id}, flow run "
        f"{summary.flow_run_id}); decision-trace head {summary.head_hash[:16]}…"
    )
    console.print(
        "stage wall time: " + ", ".join(f"{k} {v:.1f}s" for k, v in summary.timings.items())
    )
    if summary.exports:
        console.print("exports:")
        for fmt, path in summary.exports.items():
            console.print(f"  {fmt}: {path}")
    console.print("try:")
    for query in example_queries(summary.version):
        console.print(f"  {query}", highlight=False, markup=False, soft_wrap=True)
    console.print(f"  thresher audit verify --version {summary.version}", highlight=False)
    _print_report(summary.version, summary.exports, console)


def _print_report(version: str, exports: dict[str, str], console: Console) -> None:
    """The last line of a run: where its HTML report is (written beside the exports)."""
    from thresher.pipeline.card import REPORT_FILE

    beside = [Path(p).parent / REPORT_FILE for p in exports.values()]
    if beside and beside[0].exists():
        console.print(
            f"report: [bold]{beside[0]}[/] (open it in a browser)", highlight=False, soft_wrap=True
        )
    else:
        console.print(
            f"report: not written (no exports); `thresher report --version {version} "
            "-o report.html` writes one",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


def select_command(
    recipe_path: str, lake: str | None, *, console: Console, sign_key: str | None = None
) -> None:
    """`thresher select`: re-decide from stored labels and reviews, tag a new version."""
    from thresher.schemas.signing import Signer
    from thresher.stages import select

    recipe = load_recipe(recipe_path)
    signer = Signer(sign_key) if sign_key else None
    with Lake.open(resolve_lake(lake, recipe.lake)) as opened:
        result = select.run(opened, recipe, kind="reselect", signer=signer)
    console.print(funnel_table(result.funnel, title=f"funnel of {result.version.name}"))
    overrides = f", {result.overrides} human override(s)" if result.overrides else ""
    signed = f", signed by {signer.signer_id}" if signer else ""
    console.print(
        f"version [bold]{result.version.name}[/] (snapshot {result.version.snapshot_id}): "
        f"{result.events} decisions{overrides}, head {result.head_hash[:16]}…{signed} — "
        "no engine was run"
    )


def export_command(
    lake: str, version: str | None, config: ExportConfig, *, console: Console
) -> None:
    """`thresher export`: write each configured format of a version; optionally push it."""
    from thresher.stages.export import export_version, push_to_hub

    out = Path(config.out)
    check_export_folder(out)  # refuse a folder that is not ours before reading anything
    with Lake.open(lake, read_only=True) as opened:
        for fmt in config.formats:
            target = out if len(config.formats) == 1 else out / fmt
            result = export_version(
                opened, version, fmt, target, think_style=config.think_style,
                shard_rows=config.shard_rows, layout=config.layouts.get(fmt),
                answer_instruction=config.answer_instruction, license=config.license,
                repo_id=config.push_to_hub,
            )  # fmt: skip
            console.print(
                f"wrote {result.rows} {fmt} rows to {result.out} ({len(result.files) - 2} "
                f"shard(s) + README.md + report.html), fingerprint {result.fingerprint[:16]}…"
            )
            if config.push_to_hub:
                url = push_to_hub(result.out, config.push_to_hub, private=config.private)
                console.print(f"pushed to {config.push_to_hub}: {url}")


def schedule_command(
    recipe_path: str,
    cron: str,
    name: str | None,
    timezone: str,
    lake: str | None,
    *,
    console: Console,
) -> None:
    """`thresher schedule`: serve a cron deployment of the curate flow (blocks)."""
    from thresher.flows.schedule import serve_schedule

    recipe = load_recipe(recipe_path)
    plan_run(recipe)  # every scheduled run would fail the same way: fail now
    where = os.environ.get("PREFECT_API_URL") or "an ephemeral Prefect server in this process"
    console.print(
        f"serving {name or recipe.name} on cron '{cron}' ({timezone}) via {where}; Ctrl-C stops"
    )
    location = resolve_lake(lake, recipe.lake)
    serve_schedule(recipe_path, cron, name=name, timezone=timezone, lake=location)


# The terminal, for every command of this process (the quiet console re-points these two while
# engine and Prefect logs go to a file).
CONSOLES: tuple[Console, Console] = (Console(), Console(stderr=True))


def _out() -> Console:
    return CONSOLES[0]


def _err() -> Console:
    return CONSOLES[1]


def show_note(lake: Lake) -> None:
    """A reader's note about the lake (e.g. reading the last commit while a writer runs)."""
    if lake.note:
        _err().print(f"note: {lake.note}", style="dim", markup=False, soft_wrap=True)


_FORMATS = ("table", "csv", "json")


def _check_format(fmt: str) -> None:
    if fmt not in _FORMATS:
        raise InputError(f"unknown format {fmt!r}; use table, csv or json", field="--format")


def sql_command(lake: str, query: str, version: str | None, fmt: str) -> None:
    """`thresher sql`: DuckDB's rows printed as a table, CSV or JSON lines (no polars or pyarrow
    to import: they cost more than most queries)."""
    _check_format(fmt)
    with Lake.open(lake, read_only=True) as opened:
        show_note(opened)
        columns, rows = opened.rows(query, version=version)
        if fmt == "table":
            print_rows(columns, rows)
        elif fmt == "csv":
            write_csv(columns, rows)
        else:
            write_json_lines(columns, rows)


def print_rows(columns: list[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print rows as a rich table with a row count."""
    table = Table(*columns, show_header=True, header_style="bold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console = _out()
    console.print(table)
    n = table.row_count
    console.print(f"{n} row{'s' if n != 1 else ''}", style="dim")


def print_frame(frame: Any) -> None:
    """Print a polars DataFrame as a rich table."""
    print_rows(frame.columns, frame.iter_rows())


def write_csv(columns: list[str], rows: Sequence[Sequence[Any]]) -> None:
    """Rows as CSV on stdout: a header, NULL as an empty field, booleans as true/false, times
    in ISO 8601 and nested values (STRUCT, LIST, MAP) as JSON text."""
    import csv

    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(columns)
    # A DuckDB column holds one type, so its first non-NULL value says whether it needs
    # converting; columns of text and numbers (csv writes NULL as "") go out as they are.
    convert = [i for i in range(len(columns)) if not _plain(_first_value(rows, i))]
    if not convert:
        out.writerows(rows)
        return
    for row in rows:
        fields = list(row)
        for i in convert:
            fields[i] = _csv_field(fields[i])
        out.writerow(fields)


def write_json_lines(columns: list[str], rows: Iterable[Sequence[Any]]) -> None:
    """Rows as JSON lines on stdout, one object per row (keys in column order)."""
    for row in rows:
        sys.stdout.write(json.dumps(dict(zip(columns, row, strict=True)), default=_json_value,
                                    ensure_ascii=False))  # fmt: skip
        sys.stdout.write("\n")


def _first_value(rows: Sequence[Sequence[Any]], column: int) -> Any:
    return next((row[column] for row in rows if row[column] is not None), None)


def _plain(value: Any) -> bool:
    """Whether csv writes this value as it should be read back (NULL, text, a number)."""
    return (
        value is None
        or isinstance(value, (str, int, float, Decimal))
        and not isinstance(value, bool)
    )


def _csv_field(value: Any) -> Any:
    """A value of a column `_plain` turned down (booleans, nested values, times, ...)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=_json_value, ensure_ascii=False)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)  # decimals keep their digits, UUIDs and intervals their text


def _json_value(value: Any) -> Any:
    """What JSON cannot hold as such: times in ISO 8601, decimals as numbers, the rest as text."""
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def versions_command(lake: str) -> None:
    """`thresher versions`: named versions, then the lake's snapshots."""
    with Lake.open(lake, read_only=True) as opened:
        show_note(opened)
        table = Table("version", "snapshot", "created", "note", "counts", header_style="bold")
        for v in opened.versions():
            counts = ", ".join(f"{k}={n}" for k, n in sorted(v.counts.items()) if n)
            table.add_row(
                v.name, str(v.snapshot_id), f"{v.created_at:%Y-%m-%d %H:%M:%S}", v.note, counts
            )
        _out().print(table)
        print_frame(opened.snapshots())


def ingest_command(lake: str, source: str, **options: Any) -> None:
    """`thresher ingest`: import a problem set with a byte/row progress display."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    from thresher.storage.ingest import ingest

    columns = [TextColumn("ingest"), BarColumn(), DownloadColumn(), TimeElapsedColumn()]
    with Lake.open(lake) as opened, Progress(*columns, console=_err(), transient=True) as bar:
        task = bar.add_task("ingest", total=None)

        def advance(units: int, total: int | None) -> None:
            bar.update(task, advance=units, total=total)

        report = ingest(opened, source, progress=advance, **options)
    console = _out()
    console.print(
        f"{report.name}: read {report.rows_read} rows, added {report.added} problems "
        f"({report.already_present} already present, {report.duplicates} duplicate rows), "
        f"quarantined {report.quarantined}"
    )
    if report.answers_parsed:
        how = ", ".join(f"{n} by {m}" for m, n in sorted(report.answers_parsed.items()))
        console.print(f"answers taken from worked solutions: {how}", highlight=False)
    if report.first_error:
        console.print(f"first quarantined row: {report.first_error}", highlight=False)
    if report.ignored_columns:
        console.print(f"unused columns: {', '.join(report.ignored_columns)}", style="dim")


def verify_command(
    lake: str,
    problems: str | None,
    input_path: str | None,
    output: str | None,
    config: VerifyConfig,
    *,
    max_line_bytes: int,
) -> None:
    """`thresher verify`: a problem set in the lake, or a JSONL file."""
    from thresher.stages import verify

    err = _err()
    if problems is None:
        verify.verify_file(
            input_path or "", output, config, console=err, max_line_bytes=max_line_bytes
        )
        return
    with Lake.open(lake) as opened:
        report = verify.run(opened, problems, config, progress=err.is_terminal)
    err.print(report.summary(), highlight=False)


def label_command(
    lake: str,
    problems: str | None,
    input_path: str | None,
    output: str | None,
    config: LabelConfig,
    *,
    workers: int,
    max_line_bytes: int,
    line_timeout_s: float,
) -> None:
    """`thresher label`: a problem set in the lake, or a JSONL file."""
    from thresher.stages import label

    err = _err()
    if problems is None:
        label.label_file(
            input_path or "", output, config, workers=workers, console=err,
            max_line_bytes=max_line_bytes, line_timeout_s=line_timeout_s,
        )  # fmt: skip
        return
    with Lake.open(lake) as opened:
        report = label.run(opened, problems, config, progress=err.is_terminal)
    err.print(report.summary(), highlight=False)


def generate_command(
    lake: str,
    problems: str,
    config: GenerationConfig,
    mode: str,
    *,
    limit: int | None,
    as_json: bool,
) -> None:
    """`thresher generate`: one mode's missing rollouts, then a summary."""
    from thresher.stages import generate

    with Lake.open(lake) as opened:
        report = generate.run(opened, problems, config, mode, limit=limit, progress=True)
    if as_json:
        _out().print_json(json.dumps(report.as_dict()))
    else:
        _out().print(report.summary(), highlight=False)


def provenance_command(
    lake: str,
    problems: str,
    config: ProvenanceConfig,
    generation: GenerationConfig,
    *,
    as_json: bool,
) -> None:
    """`thresher provenance`: score the unscored traces and print the category mix."""
    from thresher.pipeline.provenance import CATEGORIES
    from thresher.stages import provenance

    with Lake.open(lake) as opened:
        report = provenance.run(opened, problems, config, generation, progress=True)
    console = _out()
    if as_json:
        console.print_json(json.dumps(report.as_dict()))
        return
    shares = report.category_shares()
    table = Table("category", "sentences", "share", header_style="bold", title=report.scorer)
    for c in CATEGORIES:
        table.add_row(c, str(report.categories[c]), f"{shares[c]:.1%}")
    console.print(table)
    console.print(report.summary(), highlight=False)


def dedup_command(lake: str, problems: str, config: DedupConfig, *, as_json: bool) -> None:
    """`thresher dedup`: cluster the set's traces and print the clusters found."""
    from thresher.stages import dedup

    with Lake.open(lake) as opened:
        report = dedup.run(opened, problems, config, progress=True)
    console = _out()
    if as_json:
        console.print_json(json.dumps(report.as_dict()))
        return
    table = Table("method", "clusters", "duplicates", "traces", header_style="bold")
    table.add_row(
        "exact", str(report.exact_clusters), str(report.exact_duplicates), str(report.traces)
    )
    if config.method == "embedding":
        table.add_row(
            f"embedding {report.embedder} >= {config.threshold}", str(report.near_clusters),
            str(report.near_duplicates), str(report.traces),
        )  # fmt: skip
    console.print(table)
    console.print(report.summary(), highlight=False)


def decontaminate_command(
    lake: str, problems: str, config: DecontamConfig, *, as_json: bool
) -> None:
    """`thresher decontaminate`: flag overlapping problems and print the flags per benchmark."""
    from thresher.stages import decontaminate

    with Lake.open(lake) as opened:
        report = decontaminate.run(opened, problems, config, progress=True)
    console = _out()
    if as_json:
        console.print_json(json.dumps(report.as_dict()))
        return
    table = Table("benchmark", "items", "problems flagged", header_style="bold")
    for bench, count in report.items.items():
        table.add_row(bench, str(count), f"{report.flagged[bench]} / {report.processed}")
    console.print(table)
    if report.examples:
        shown = Table("problem", "benchmark", "item", "overlap", "evidence", header_style="bold")
        for flag in report.examples:
            shown.add_row(
                flag.problem_id[:12], flag.benchmark, flag.benchmark_item,
                f"{flag.overlap:.0%}", flag.evidence[:60],
            )  # fmt: skip
        console.print(shown)
    console.print(report.summary(), highlight=False)
