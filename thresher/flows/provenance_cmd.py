"""`thresher provenance`: build the tracer from CLI values, run it over the lake, print a summary."""

from __future__ import annotations

import json
from typing import Any

from thresher.pipeline.provenance import CATEGORIES, ProvenanceThresholds
from thresher.pipeline.provenance_run import ProvenanceReport, make_tracer, run_provenance

__all__ = ["provenance_command"]


def provenance_command(
    *,
    lake: str,
    problems: str,
    teacher: str | None,
    student: str,
    distilled: str | None,
    likely: float,
    gap: float,
    boost: float,
    limit: int | None,
    batch_size: int,
    dtype: str,
    max_model_len: int | None,
    as_json: bool,
    console: Any,
) -> ProvenanceReport:
    """Score the problem set's unscored traces and print the category mix."""
    from rich.table import Table

    from thresher.storage import Lake

    thresholds = ProvenanceThresholds(likely=likely, gap=gap, boost=boost)
    engine_kwargs: dict[str, Any] = {"dtype": dtype, "max_model_len": max_model_len}
    tracer = make_tracer(teacher, student, distilled, thresholds, engine_kwargs)
    scorers = {
        id(r.scorer): r.scorer for r in (tracer.teacher, tracer.student, tracer.distilled) if r
    }
    try:
        with Lake.open(lake) as opened:
            report = run_provenance(opened, problems, tracer, limit=limit, batch_size=batch_size)
    finally:
        for scorer in scorers.values():
            engine = getattr(scorer, "engine", None)
            if engine is not None:
                engine.teardown()
    if as_json:
        console.print_json(json.dumps(report.as_dict()))
        return report
    summary = report.as_dict()
    table = Table("category", "sentences", "share", header_style="bold", title=report.scorer)
    for c in CATEGORIES:
        table.add_row(c, str(report.categories[c]), f"{summary['category_shares'][c]:.1%}")
    console.print(table)
    div = "n/a" if report.mean_divergence is None else f"{report.mean_divergence:+.3f}"
    console.print(
        f"{problems}: {report.traces_scored} traces scored ({report.sentences} sentences), "
        f"{report.traces_existing} already scored; mean divergence {div} nats/token; "
        f"{report.elapsed_s:.1f}s"
    )
    return report
