"""`thresher dedup` and `thresher decontaminate`: run over the lake, print a summary table."""

from __future__ import annotations

import json
from typing import Any

from thresher.filters.decontam_run import DecontamReport, run_decontam
from thresher.filters.dedup import Scope
from thresher.filters.dedup_run import DedupReport, run_dedup
from thresher.filters.embed import Embedder
from thresher.schemas.errors import InputError

__all__ = ["dedup_command", "decontaminate_command"]


def dedup_command(
    *,
    lake: str,
    problems: str,
    threshold: float,
    embedder: str,
    backend: str,
    device: str | None,
    policy: str,
    scope: str,
    exact_only: bool,
    as_json: bool,
    console: Any,
) -> DedupReport:
    """Cluster exact and near-duplicate traces of a problem set and print what was found."""
    from rich.table import Table

    from thresher.storage import Lake

    if scope not in ("problem", "global"):
        raise InputError(f"unknown scope {scope!r}; use problem or global", field="--scope")
    emb = Embedder(embedder, backend=backend, device=device)
    scope_: Scope = "problem" if scope == "problem" else "global"
    with Lake.open(lake) as opened:
        report = run_dedup(
            opened, problems, embedder=emb, threshold=threshold, policy=policy, scope=scope_,
            exact_only=exact_only,
        )  # fmt: skip
    if as_json:
        console.print_json(json.dumps(report.as_dict()))
        return report
    table = Table("method", "clusters", "duplicates", "traces", header_style="bold")
    table.add_row(
        "exact", str(report.exact_clusters), str(report.exact_duplicates), str(report.traces)
    )
    if not exact_only:
        table.add_row(
            f"embedding {report.embedder} >= {threshold}",
            str(report.near_clusters),
            str(report.near_duplicates),
            str(report.traces),
        )
    console.print(table)
    console.print(
        f"{problems}: embedded {report.embedded_now} traces, reused {report.embeddings_reused} "
        f"stored embeddings; {report.rows_added} assignment rows added; {report.elapsed_s:.1f}s"
    )
    return report


def decontaminate_command(
    *,
    lake: str,
    problems: str,
    benchmarks: list[str],
    n: int,
    field_name: str | None,
    min_overlap: float,
    as_json: bool,
    console: Any,
) -> DecontamReport:
    """Flag problems that overlap benchmark items and print the flags per benchmark."""
    from rich.table import Table

    from thresher.storage import Lake

    with Lake.open(lake) as opened:
        report = run_decontam(
            opened, problems, benchmarks, n=n, field_name=field_name, min_overlap=min_overlap
        )
    if as_json:
        console.print_json(json.dumps(report.as_dict()))
        return report
    table = Table("benchmark", "items", "problems flagged", header_style="bold")
    for bench, count in report.items.items():
        table.add_row(bench, str(count), f"{report.flagged[bench]} / {report.problems}")
    console.print(table)
    if report.flags:
        shown = Table("problem", "benchmark", "item", "overlap", "evidence", header_style="bold")
        for flag in report.flags[:20]:
            shown.add_row(
                flag.problem_id[:12], flag.benchmark, flag.benchmark_item,
                f"{flag.overlap:.0%}", flag.evidence[:60],
            )  # fmt: skip
        console.print(shown)
    console.print(
        f"{report.rows_added} flags stored ({report.n}-word n-grams); {report.elapsed_s:.1f}s"
    )
    return report
