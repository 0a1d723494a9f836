"""Export a dataset version: read what it decided from the lake, write shards + card, push.

The push goes through `huggingface_hub` (`create_repo` + `upload_folder`) with the token from
HF_TOKEN or the user's login; the token is never printed or logged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from thresher.config import ExportConfig
from thresher.pipeline.card import REPORT_FILE, render_card
from thresher.pipeline.export import (
    ExportResult,
    ExportSource,
    ThinkStyle,
    build_rows,
    format_names,
    write_export,
)
from thresher.pipeline.outputs import MARKER, TMP_SUFFIX
from thresher.schemas import (
    DatasetVersion,
    InputError,
    NotFoundError,
    ThresherError,
    TransientError,
)
from thresher.storage import Lake

__all__ = [
    "HubPushError",
    "HubUnavailableError",
    "export_version",
    "push_to_hub",
    "read_export_source",
    "run",
]


class HubPushError(ThresherError):
    """The Hugging Face Hub refused the push (authentication, a bad repo name): not retried."""


class HubUnavailableError(TransientError):
    """The Hub could not take the push now (network, 429, 5xx, timeouts): retried."""


_TRANSIENT_HTTP = (408, 409, 425, 429)


def _version(lake: Lake, version: str | None) -> DatasetVersion:
    versions = lake.versions()
    if not versions:
        raise NotFoundError("the lake has no versions yet", hint="run `thresher run RECIPE` first")
    if version is None:
        return versions[-1]
    for known in versions:
        if known.name == version:
            return known
    names = ", ".join(v.name for v in versions)
    raise NotFoundError(f"no version named {version!r}; known versions: {names}")


def read_export_source(lake: Lake, version: str | None = None) -> ExportSource:
    """Everything one version decided, read at its snapshot (default: the latest version)."""
    v = _version(lake, version)
    at = v.snapshot_id
    run_id = v.flow_run_id or ""
    decisions = lake.query(
        "SELECT decision_context.subject_ids[1] AS subject, decision_context.decision_type AS dt, "
        "decision_logic.reason_code AS reason, evidence_json, "
        "temporal_metadata.sequence_number AS seq, "
        "temporal_metadata.hash_chain.current_hash AS hash "
        "FROM decisions WHERE decision_context.run_id = ? ORDER BY seq",
        [run_id],
        at,
    ).to_dicts()
    if not decisions:
        raise NotFoundError(
            f"version {v.name!r} has no decisions (run {run_id!r})",
            hint="export a version made by `thresher run` or `thresher select`",
        )
    traces = {d["subject"]: d["reason"] for d in decisions if d["dt"].endswith("trace_selection")}
    problems_decided = [d for d in decisions if d["dt"].endswith("problem_selection")]
    problem_reasons = {d["subject"]: d["reason"] for d in problems_decided}
    pass_rates = {
        d["subject"]: json.loads(d["evidence_json"]).get("pass_rate") for d in problems_decided
    }
    problems = {
        r["problem_id"]: r
        for r in lake.query(
            "SELECT problem_id, source, question, answer, solution, kind, tests_json "
            "FROM problems WHERE list_contains(?, problem_id)",
            [list(problem_reasons)],
            at,
        ).to_dicts()
    }
    rollouts = {
        r["trace_id"]: r
        for r in lake.query(
            "SELECT trace_id, problem_id, model, mode, conditioned_on_ground_truth, prompt, "
            "prefix_chars, completion, reasoning, answer_text FROM rollouts "
            "WHERE list_contains(?, trace_id)",
            [list(traces)],
            at,
        ).to_dicts()
    }
    flaws = lake.query(
        "SELECT trace_id, labeler, flaw_type, severity, step FROM flaw_labels "
        "WHERE list_contains(?, trace_id) ORDER BY trace_id, labeler, flaw_type, step",
        [list(traces)],
        at,
    ).to_dicts()
    provenance: dict[str, float] = {}
    frame = lake.query(
        "SELECT count(*) AS scored_traces, avg(share_teacher_originated) AS teacher_originated, "
        "avg(share_student_originated) AS student_originated, avg(share_shared) AS shared, "
        "avg(share_boosted) AS boosted, avg(share_novel) AS novel, "
        "avg(divergence) AS divergence FROM trace_scores WHERE list_contains(?, trace_id)",
        [list(traces)],
        at,
    ).to_dicts()[0]
    if frame["scored_traces"]:
        provenance = {k: float(val) for k, val in frame.items() if val is not None}
    recipe = lake.query(
        "SELECT name, yaml FROM recipes WHERE recipe_hash = ?", [v.recipe_hash or ""], at
    ).to_dicts()
    return ExportSource(
        version=v.name,
        snapshot_id=v.snapshot_id,
        run_id=run_id,
        recipe_hash=v.recipe_hash or "",
        head_hash=decisions[-1]["hash"],
        trace_reasons=traces,
        problem_reasons=problem_reasons,
        pass_rates=pass_rates,
        problems=problems,
        rollouts=rollouts,
        flaws=flaws,
        funnel=dict(v.counts),
        provenance=provenance,
        recipe_yaml=recipe[0]["yaml"] if recipe else "",
        allow_conditioned=_allows_conditioned(recipe[0]["yaml"] if recipe else ""),
        recipe_name=recipe[0]["name"] if recipe else "",
        created_at=v.created_at.isoformat(),
    )


def _allows_conditioned(recipe_yaml: str) -> bool:
    """Whether the version's recipe opted in to traces generated with the reference shown."""
    from thresher.config import parse_recipe

    if not recipe_yaml:
        return False
    return parse_recipe(recipe_yaml, source="<stored recipe>").selection.allow_conditioned


def export_version(
    lake: Lake,
    version: str | None,
    fmt: str,
    out: str | Path,
    *,
    think_style: ThinkStyle = "think_tags",
    shard_rows: int = 50_000,
    source: ExportSource | None = None,
    report_html: str | None = None,
) -> ExportResult:
    """Write one format of one version to `out` (Parquet shards + README.md card + report.html)."""
    (fmt,) = format_names([fmt])
    source = source or read_export_source(lake, version)
    table = build_rows(source, fmt, think_style)
    card = render_card(source, fmt, table.num_rows, think_style)
    if report_html is None:
        from thresher.report import build_report

        report_html = build_report(lake, source.version)[0]
    # The version's report rides along in the export folder (the card links to it).
    extra = {REPORT_FILE: report_html}
    return write_export(table, Path(out), fmt, card, shard_rows=shard_rows, extra=extra)


def push_to_hub(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = True,
    token: str | None = None,
    commit_message: str | None = None,
) -> str:
    """Create the dataset repo if needed and upload the export folder; returns the commit URL."""
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise InputError(f"--push-to-hub needs OWNER/NAME, got {repo_id!r}", field="--push-to-hub")
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    if offline:
        raise HubPushError(
            "HF_HUB_OFFLINE is set, so nothing can be pushed",
            hint="run the push with HF_HUB_OFFLINE=0",
        )
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    endpoint = os.environ.get("HF_ENDPOINT") or None
    api = HfApi(endpoint=endpoint, token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        info: Any = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            repo_type="dataset",
            commit_message=commit_message or f"thresher export {Path(folder).name}",
            ignore_patterns=[MARKER, f"*{TMP_SUFFIX}", f"*{TMP_SUFFIX}/*"],
        )
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status is None or status in _TRANSIENT_HTTP or status >= 500:
            raise HubUnavailableError(
                f"the Hub could not take the push to {repo_id} (HTTP {status or '?'})",
                hint="it may pass: the flow retries; from the CLI, run the export again",
            ) from None
        hint = (
            "log in with `hf auth login` or set HF_TOKEN"
            if status in (401, 403)
            else "check the repo name"
        )
        raise HubPushError(
            f"the Hub refused the push to {repo_id} (HTTP {status})", hint=hint
        ) from None
    except OSError as exc:  # connection refused, reset, DNS, timeouts
        raise HubUnavailableError(f"cannot reach the Hub to push {repo_id}: {exc}") from None
    return str(getattr(info, "commit_url", info))


def run(
    lake: Lake, version: str, config: ExportConfig, out_root: str | Path | None = None
) -> dict[str, str]:
    """Write (and push, when configured) a version's export formats; format -> folder."""
    if not config.formats:
        return {}
    from thresher.report import build_report, write_html

    root = Path(out_root or config.out) / version
    source = read_export_source(lake, version)
    report = build_report(lake, version)[0]  # rendered once: beside the formats and in each
    write_html(root / REPORT_FILE, report)
    written: dict[str, str] = {}
    for fmt in config.formats:
        result = export_version(
            lake, version, fmt, root / fmt, think_style=config.think_style,
            shard_rows=config.shard_rows, source=source, report_html=report,
        )  # fmt: skip
        written[fmt] = str(result.out)
        if config.push_to_hub:
            push_to_hub(result.out, f"{config.push_to_hub}-{fmt}", private=config.private)
    return written
