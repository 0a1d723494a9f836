"""Rendering for the curate commands (run, select, audit, export, schedule): rich output only.

The CLI functions in `thresher.cli` call these; each is a few lines over a library call.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from thresher.config import Recipe, load_recipe
from thresher.flows.plan import plan_run
from thresher.pipeline.outputs import check_export_folder
from thresher.pipeline.selection import FUNNEL_STAGES
from thresher.schemas import InputError
from thresher.storage import DEFAULT_LAKE, Lake

__all__ = [
    "audit_verify_command",
    "audit_why_command",
    "export_command",
    "funnel_table",
    "resolve_lake",
    "run_command",
    "schedule_command",
    "select_command",
]


def resolve_lake(option: str | None, recipe: Recipe) -> str:
    """The lake a recipe command uses: --lake / THRESHER_LAKE, else the recipe's, else default."""
    return option or recipe.lake or DEFAULT_LAKE


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
        'thresher sql "SELECT decision_logic.reason_code AS reason, count(*) AS n FROM decisions '
        f"WHERE decision_context.dataset_version = '{version}' GROUP BY 1 ORDER BY n DESC\"",
        'thresher sql "SELECT labeler, flaw_type, count(*) AS n FROM flaw_labels GROUP BY ALL '
        'ORDER BY n DESC"',
        'thresher sql "SELECT p.question, r.completion FROM rollouts r JOIN problems p '
        'USING (problem_id) LIMIT 3"',
        f'thresher sql --version {version} "SELECT count(*) FROM rollouts"',
    ]


def run_command(
    recipe_path: str,
    lake: str | None,
    *,
    export: bool,
    console: Console,
    max_rollouts: int | None = None,
) -> None:
    """`thresher run`: check the plan, then the curate flow with live progress, then funnel,
    version and queries."""
    recipe = load_recipe(recipe_path)
    plan = plan_run(recipe, max_rollouts=max_rollouts)  # before Prefect or an engine starts
    location = resolve_lake(lake, recipe)
    console.print(
        f"[bold]thresher run[/] {recipe.name} (recipe {recipe.hash()[:12]}) -> lake {location}"
    )
    for line in plan.lines():
        console.print(line, highlight=False, markup=False)
    from thresher.flows.curate import run_curate

    summary = run_curate(recipe, location, export=export, progress_console=console)
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


def select_command(recipe_path: str, lake: str | None, *, console: Console) -> None:
    """`thresher select`: re-decide from stored labels, tag a new version."""
    from thresher.flows.select import select_and_tag

    recipe = load_recipe(recipe_path)
    with Lake.open(resolve_lake(lake, recipe)) as opened:
        result = select_and_tag(opened, recipe, kind="reselect")
    console.print(funnel_table(result.funnel, title=f"funnel of {result.version.name}"))
    console.print(
        f"version [bold]{result.version.name}[/] (snapshot {result.version.snapshot_id}): "
        f"{result.events} decisions, head {result.head_hash[:16]}… — no engine was run"
    )


def audit_verify_command(lake: str, version: str | None, *, console: Console) -> bool:
    """`thresher audit verify`: one line per run chain; False when any link is broken."""
    from thresher.flows.decisions import audit_verify

    with Lake.open(lake, read_only=True) as opened:
        chains = audit_verify(opened, version=version)
        expected = _expected_heads(opened)
    if not chains:
        console.print("no decisions recorded yet")
        return True
    ok = True
    for chain in chains:
        tiers = ", ".join(f"{k} {v}" for k, v in sorted(chain.counts.items()))
        want = expected.get(chain.run_id)
        if not chain.report.ok:
            ok = False
            console.print(
                f"[red]BROKEN[/] run {chain.run_id}: event {chain.report.broken_index} "
                f"(decision {chain.report.broken_decision_id}): {chain.report.reason}"
            )
        elif want is not None and want != chain.head_hash:
            ok = False
            console.print(
                f"[red]BROKEN[/] run {chain.run_id}: the chain ends at {chain.head_hash[:16]}… "
                f"but its version recorded head {want[:16]}… (events were removed at the end)"
            )
        else:
            console.print(
                f"[green]ok[/] run {chain.run_id}: {chain.report.checked} events ({tiers}), "
                f"head {chain.head_hash[:16]}…"
            )
    return ok


def _expected_heads(lake: Lake) -> dict[str, str]:
    heads = {}
    for v in lake.versions():
        try:
            note = json.loads(v.note or "{}")
        except json.JSONDecodeError:
            continue
        if isinstance(note, dict) and v.flow_run_id and note.get("decisions_head"):
            heads[v.flow_run_id] = note["decisions_head"]
    return heads


def audit_why_command(lake: str, subject: str, fmt: str, *, console: Console) -> None:
    """`thresher audit why`: every decision about a subject, with evidence."""
    from thresher.flows.decisions import audit_why

    with Lake.open(lake, read_only=True) as opened:
        rows = audit_why(opened, subject)
    if fmt == "json":
        for row in rows:
            console.print_json(json.dumps(row))
        return
    if fmt != "table":
        raise InputError(f"unknown format {fmt!r}; use table or json", field="--format")
    for row in rows:
        console.print(
            f"[bold]{row['output']}[/] {row['reason_code']}  ({row['type']}, tier {row['tier']}, "
            f"version {row['version']}, run {row['run_id']}, {row['time']})"
        )
        console.print(f"  subject {row['subject']}  hash {row['hash'][:16]}…", highlight=False)
        console.print(f"  evidence {json.dumps(row['evidence'], sort_keys=True)}", highlight=False)


@dataclass(frozen=True)
class ExportRequest:
    """The options of `thresher export`."""

    version: str | None
    fmt: str
    out: str
    think_style: str
    layout: str | None
    license: str | None
    answer_instruction: str | None
    push_to_hub: str | None
    private: bool


def export_command(lake: str, request: ExportRequest, *, console: Console) -> None:
    """`thresher export`: write one format of a version; optionally push it."""
    from thresher.flows.export import export_version
    from thresher.flows.export import push_to_hub as push

    r = request
    if r.think_style not in ("think_tags", "reasoning_field", "plain"):
        raise InputError(
            f"unknown think style {r.think_style!r}; use think_tags, reasoning_field or plain",
            field="--think-style",
        )
    check_export_folder(Path(r.out))  # refuse a folder that is not ours before reading anything
    with Lake.open(lake, read_only=True) as opened:
        result = export_version(
            opened, r.version, r.fmt, r.out, think_style=r.think_style,  # type: ignore[arg-type]
            layout=r.layout, license=r.license, answer_instruction=r.answer_instruction,
            repo_id=r.push_to_hub,
        )  # fmt: skip
    console.print(
        f"wrote {result.rows} {r.fmt} rows to {result.out} ({len(result.files) - 1} shard(s) + "
        f"README.md), fingerprint {result.fingerprint[:16]}…"
    )
    if r.push_to_hub:
        url = push(result.out, r.push_to_hub, private=r.private)
        console.print(f"pushed to {r.push_to_hub}: {url}")


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
    serve_schedule(recipe_path, cron, name=name, timezone=timezone, lake=resolve_lake(lake, recipe))
