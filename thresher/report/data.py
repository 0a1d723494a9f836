"""The report's figures for one version, each one SQL aggregate over the lake at its snapshot.

Every query is scoped to the subjects the version's run decided (`VersionRef.decided`), so a lake holding
several problem sets or runs reports only what this version is about. Nothing here loops over
rows in Python: a 100k-trace lake costs a handful of DuckDB scans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from thresher.report.versions import VersionRef
from thresher.schemas import FUNNEL_STAGES
from thresher.storage import Lake

__all__ = ["Figures", "collect_figures"]


def _traces(version: VersionRef) -> str:
    return (f"WITH {version.decided}, traces AS (SELECT subject AS trace_id, reason, output "
            "FROM decided WHERE level = 'trace')")  # fmt: skip


def _problems(version: VersionRef) -> str:
    return (f"WITH {version.decided}, probs AS (SELECT subject AS problem_id, reason "
            "FROM decided WHERE level = 'problem')")  # fmt: skip


PASS_BINS = 10


@dataclass
class Figures:
    """Everything the report's summary sections draw, as plain rows."""

    funnel: dict[str, int]
    trace_reasons: list[dict[str, Any]]
    problem_reasons: list[dict[str, Any]]
    flaws: list[dict[str, Any]]
    pass_rates: list[dict[str, Any]]
    difficulty: list[dict[str, Any]]
    accuracy: list[dict[str, Any]]
    provenance: list[dict[str, Any]]
    categories: list[dict[str, Any]]
    dedup: list[dict[str, Any]]
    clusters: list[dict[str, Any]]
    contamination: list[dict[str, Any]]
    cost: list[dict[str, Any]]
    verifier_seconds: float
    recipe_yaml: str = ""


def _rows(lake: Lake, sql: str, version: VersionRef, *params: Any) -> list[dict[str, Any]]:
    return lake.query(sql, [version.run_id, *params], version.snapshot_id).to_dicts()


def funnel_counts(lake: Lake, version: VersionRef) -> dict[str, int]:
    """The funnel counted from the version's decisions (`selection.funnel`'s rule, in SQL)."""
    order = list(FUNNEL_STAGES[2:])  # a trace's `stage` is the first of these it missed
    stages = "[" + ", ".join(f"'{s}'" for s in order) + "]"
    parts = [
        f"count(*) FILTER (WHERE level = 'trace' AND (output = 'select' OR "
        f"list_position({stages}, stage) > {i + 1})) AS {stage}"
        for i, stage in enumerate(order)
    ]
    row = lake.query(
        f"WITH {version.decided} SELECT count(*) FILTER (WHERE level = 'problem') AS problems, "
        f"count(*) FILTER (WHERE level = 'trace') AS rollouts, {', '.join(parts)} FROM decided",
        [version.run_id],
        version.snapshot_id,
    ).to_dicts()[0]
    return {stage: int(row[stage] or 0) for stage in FUNNEL_STAGES}


def _pass_rates(lake: Lake, version: VersionRef) -> tuple[list[dict[str, Any]], ...]:
    """Pass-rate histogram bins and difficulty buckets per (mode, model), newest stats only."""
    latest = (
        f"{_problems(version)}, latest AS (SELECT s.* FROM problem_stats s JOIN probs USING (problem_id) "
        "QUALIFY row_number() OVER (PARTITION BY s.problem_id, s.verifier, s.model, s.mode "
        "ORDER BY s.computed_at DESC) = 1)"
    )
    bins = _rows(
        lake,
        f"{latest} SELECT mode, model, verifier, "
        f"CASE WHEN pass_rate IS NULL THEN -1 ELSE least(floor(pass_rate * {PASS_BINS}), "
        f"{PASS_BINS - 1}) END::INT AS bin, count(*) AS problems FROM latest "
        "GROUP BY ALL ORDER BY ALL",
        version,
    )
    buckets = _rows(
        lake,
        f"{latest} SELECT mode, model, verifier, difficulty, count(*) AS problems, "
        "sum(n_samples) AS samples FROM latest GROUP BY ALL ORDER BY ALL",
        version,
    )
    return bins, buckets


def collect_figures(lake: Lake, version: VersionRef) -> Figures:
    """Run the summary queries of one version."""
    trace_reasons = _rows(
        lake,
        f"{_traces(version)} SELECT CASE WHEN reason LIKE 'near_duplicate_of:%' THEN 'near_duplicate_of' "
        "ELSE reason END AS reason, output, count(*) AS traces FROM traces GROUP BY ALL "
        "ORDER BY traces DESC, reason",
        version,
    )
    problem_reasons = _rows(
        lake,
        f"{_problems(version)} SELECT reason, count(*) AS problems FROM probs GROUP BY ALL "
        "ORDER BY problems DESC, reason",
        version,
    )
    flaws = _rows(
        lake,
        f"{_traces(version)} SELECT f.labeler, f.flaw_type, f.severity, count(*) AS labels, "
        "count(DISTINCT f.trace_id) AS traces, "
        "count(DISTINCT f.trace_id) FILTER (WHERE t.reason = 'selected') AS in_selected "
        "FROM flaw_labels f JOIN traces t USING (trace_id) GROUP BY ALL "
        "ORDER BY labels DESC, f.labeler, f.flaw_type, f.severity",
        version,
    )
    bins, buckets = _pass_rates(lake, version)
    accuracy = _rows(
        lake,
        f"{_traces(version)} SELECT r.model, r.mode, v.verifier, count(*) AS traces, "
        "count(v.correct) AS decided, count(*) FILTER (WHERE v.correct) AS correct "
        "FROM verdicts v JOIN traces t USING (trace_id) JOIN rollouts r USING (trace_id) "
        "GROUP BY ALL ORDER BY ALL",
        version,
    )
    provenance = _rows(
        lake,
        f"{_traces(version)} SELECT r.mode, s.scorer, count(*) AS traces, "
        "avg(s.share_teacher_originated) AS teacher_originated, "
        "avg(s.share_student_originated) AS student_originated, avg(s.share_shared) AS shared, "
        "avg(s.share_boosted) AS boosted, avg(s.share_novel) AS novel, "
        "avg(s.divergence) AS divergence, "
        "avg(s.divergence) FILTER (WHERE t.reason = 'selected') AS divergence_selected "
        "FROM trace_scores s JOIN traces t USING (trace_id) JOIN rollouts r USING (trace_id) "
        "GROUP BY ALL ORDER BY ALL",
        version,
    )
    categories = _rows(
        lake,
        f"{_traces(version)} SELECT s.category, count(*) AS sentences, "
        "sum(s.student_tokens) AS student_tokens FROM sentence_scores s "
        "JOIN traces t USING (trace_id) GROUP BY ALL ORDER BY sentences DESC, s.category",
        version,
    )
    dedup = _rows(
        lake,
        f"{_traces(version)}, a AS (SELECT d.* FROM dedup_assignments d JOIN traces t USING (trace_id)), "
        "sizes AS (SELECT method, embedder, threshold, cluster_id, count(*) AS n FROM a "
        "GROUP BY ALL) SELECT method, embedder, threshold, sum(n) AS traces, "
        "count(*) AS clusters, count(*) FILTER (WHERE n > 1) AS duplicate_clusters, "
        "sum(n) FILTER (WHERE n > 1) AS traces_in_duplicates, max(n) AS largest "
        "FROM sizes GROUP BY ALL ORDER BY ALL",
        version,
    )
    clusters = _rows(
        lake,
        f"{_traces(version)}, a AS (SELECT d.*, t.reason FROM dedup_assignments d "
        "JOIN traces t USING (trace_id)), top AS (SELECT method, embedder, threshold, "
        "cluster_id, count(*) AS size FROM a GROUP BY ALL HAVING count(*) > 1 "
        "ORDER BY size DESC, cluster_id LIMIT 20) "
        "SELECT method, embedder, threshold, cluster_id, size, "
        "any_value(representative_trace_id) AS representative, "
        "list(trace_id ORDER BY trace_id) AS members, list(reason ORDER BY trace_id) AS reasons "
        "FROM a JOIN top USING (method, embedder, threshold, cluster_id) GROUP BY ALL "
        "ORDER BY size DESC, cluster_id",
        version,
    )
    contamination = _rows(
        lake,
        f"{_problems(version)} SELECT c.benchmark, c.problem_id, c.benchmark_item, c.method, c.n, "
        "c.matched_ngrams, c.overlap, c.evidence, p.reason FROM contamination_flags c "
        "JOIN probs p USING (problem_id) ORDER BY c.benchmark, c.overlap DESC, c.problem_id "
        "LIMIT 200",
        version,
    )
    cost = _rows(
        lake,
        # vLLM records one engine call's wall time on each of its traces: count each call once.
        f"{_traces(version)}, r AS (SELECT r.*, t.reason FROM rollouts r JOIN traces t USING (trace_id)) "
        "SELECT model, engine, mode, count(*) AS traces, sum(prompt_tokens) AS prompt_tokens, "
        "sum(completion_tokens) AS completion_tokens, "
        "count(*) FILTER (WHERE reason = 'selected') AS selected, "
        "(SELECT sum(s) FROM (SELECT DISTINCT latency_s AS s FROM r r2 WHERE "
        "r2.model = r.model AND r2.engine = r.engine AND r2.mode = r.mode)) AS engine_seconds "
        "FROM r GROUP BY ALL ORDER BY ALL",
        version,
    )
    verifier_seconds = _rows(
        lake,
        f"{_traces(version)} SELECT coalesce(sum(v.elapsed_s), 0) AS s FROM verdicts v "
        "JOIN traces USING (trace_id)",
        version,
    )[0]["s"]
    recipe = lake.query(
        "SELECT yaml FROM recipes WHERE recipe_hash = ?", [version.recipe_hash],
        version.snapshot_id,
    ).to_dicts()  # fmt: skip
    return Figures(
        funnel=funnel_counts(lake, version),
        trace_reasons=trace_reasons,
        problem_reasons=problem_reasons,
        flaws=flaws,
        pass_rates=bins,
        difficulty=buckets,
        accuracy=accuracy,
        provenance=provenance,
        categories=categories,
        dedup=dedup,
        clusters=clusters,
        contamination=contamination,
        cost=cost,
        verifier_seconds=float(verifier_seconds or 0.0),
        recipe_yaml=recipe[0]["yaml"] if recipe else "",
    )
