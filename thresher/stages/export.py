"""Export a dataset version: read what it decided from the lake, write shards + card, push.

The push goes through `huggingface_hub` (`create_repo` + `upload_folder`) with the token from
HF_TOKEN or the user's login; the token is never printed or logged.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from thresher.config import ExportConfig
from thresher.pipeline.card import REPORT_FILE, render_card
from thresher.pipeline.card_meta import (
    PROJECT_LICENSE,
    card_front_matter,
    license_id,
    with_repo_id,
)
from thresher.pipeline.export import (
    ExportResult,
    ExportSource,
    Shards,
    ThinkStyle,
    build_rows,
    format_names,
    write_export,
)
from thresher.pipeline.formats import layout_for
from thresher.pipeline.outputs import MARKER, TMP_SUFFIX
from thresher.report.versions import decisions_table
from thresher.schemas import (
    InputError,
    NotFoundError,
    ThresherError,
    TransientError,
)
from thresher.storage import Lake

if TYPE_CHECKING:
    from thresher.config import Recipe

__all__ = [
    "HubPushError",
    "HubUnavailableError",
    "check_export_config",
    "export_version",
    "push_to_hub",
    "read_export_source",
    "run",
    "source_license",
]


class HubPushError(ThresherError):
    """The Hugging Face Hub refused the push (authentication, a bad repo name): not retried."""


class HubUnavailableError(TransientError):
    """The Hub could not take the push now (network, 429, 5xx, timeouts): retried."""


_TRANSIENT_HTTP = (408, 409, 425, 429)


def read_export_source(lake: Lake, version: str | None = None) -> ExportSource:
    """Everything one version decided, read at its snapshot (default: the latest version)."""
    v = lake.version(version)
    at = v.snapshot_id
    run_id = v.flow_run_id or ""
    table = decisions_table(lake, run_id, at)  # runs before DES 0.3.0: the legacy table
    decisions = lake.query(
        "SELECT decision_context.subject_ids[1] AS subject, decision_context.decision_type AS dt, "
        "decision_logic.reason_code AS reason, evidence_json, "
        "temporal_metadata.sequence_number AS seq, "
        "temporal_metadata.hash_chain.current_hash AS hash, "
        "human_override_record.override_occurred AS overridden "
        f"FROM {table} WHERE decision_context.run_id = ? ORDER BY seq",
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
    parsed = _stored_recipe(recipe[0]["yaml"] if recipe else "")
    correct, verifiers = _verdicts(lake, parsed, list(traces), at, rollouts, problems)
    license, origin = source_license(parsed)
    return ExportSource(
        version=v.name,
        snapshot_id=v.snapshot_id,
        run_id=run_id,
        recipe_hash=v.recipe_hash or "",
        head_hash=v.decisions_head or decisions[-1]["hash"],
        overrides=sum(1 for d in decisions if d["overridden"]),
        trace_reasons=traces,
        problem_reasons=problem_reasons,
        pass_rates=pass_rates,
        problems=problems,
        rollouts=rollouts,
        flaws=flaws,
        funnel=dict(v.counts),
        provenance=provenance,
        recipe_yaml=recipe[0]["yaml"] if recipe else "",
        # Traces generated with the reference shown enter SFT/DPO/PRM only if the recipe opted in.
        allow_conditioned=parsed.selection.allow_conditioned if parsed else False,
        recipe_name=recipe[0]["name"] if recipe else "",
        created_at=v.created_at.isoformat(),
        correct=correct,
        verifiers=verifiers,
        license=license,
        license_origin=origin,
    )


def _stored_recipe(recipe_yaml: str) -> Recipe | None:
    from thresher.config import parse_recipe

    return parse_recipe(recipe_yaml, source="<stored recipe>") if recipe_yaml else None


def _verdicts(
    lake: Lake,
    recipe: Recipe | None,
    trace_ids: list[str],
    at: int,
    rollouts: dict[str, dict[str, Any]],
    problems: dict[str, dict[str, Any]],
) -> tuple[dict[str, bool | None], dict[str, str]]:
    """Each trace's verdict as selection read it, and the verifier that judged each problem
    (what `thresher.rewards` uses on the RL export; the kind's default when none judged)."""
    from collections import Counter

    from thresher.filters.verify.registry import DEFAULT_FOR_KIND
    from thresher.stages.facts import trace_correctness

    facts = trace_correctness(lake, trace_ids=trace_ids, version=at)
    correct = {trace_id: fact.correct for trace_id, fact in facts.items()}
    seen: dict[str, Counter[str]] = {}
    for trace_id, fact in facts.items():
        if fact.verifiers and trace_id in rollouts:
            first = fact.verifiers.split(",")[0]
            seen.setdefault(rollouts[trace_id]["problem_id"], Counter())[first] += 1
    verifiers = {
        pid: (seen[pid].most_common(1)[0][0] if pid in seen else "")
        or DEFAULT_FOR_KIND.get(p["kind"], "")
        for pid, p in problems.items()
    }
    return correct, verifiers


def source_license(recipe: Recipe | None) -> tuple[str | None, str]:
    """The exported data's license and where it comes from: the recipe's `export.license`,
    else its `problems.license`, else thresher's own for its generated (builtin) problems."""
    if recipe is None:
        return None, ""
    if recipe.export.license:
        return license_id(recipe.export.license), "the recipe's export.license"
    if recipe.problems.license:
        return (
            license_id(recipe.problems.license, "problems.license"),
            f"the license of the problem source {recipe.problems.source}",
        )
    if recipe.problems.source.startswith("builtin:"):
        return PROJECT_LICENSE, "problems generated by thresher, under its license"
    return None, ""


def check_export_config(recipe: Recipe) -> None:
    """Fail before a run on export settings that would fail after it (layouts, licenses, a
    push with no license)."""
    ex = recipe.export
    for fmt, layout in ex.layouts.items():
        format_names([fmt])
        layout_for(fmt, layout)
    license, _ = source_license(recipe)
    if ex.push_to_hub and ex.formats and not license:
        raise InputError(
            "export.push_to_hub is set but the export has no license",
            field="export.license",
            hint="set export.license (a Hub license id, e.g. apache-2.0) or problems.license",
        )


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
    layout: str | None = None,
    answer_instruction: str | None = None,
    license: str | None = None,
    repo_id: str | None = None,
) -> ExportResult:
    """Write one format of one version to `out` (Parquet shards, README.md card, the version's
    report.html); `license` overrides the version's, `repo_id` names the Hub repo in the card's
    `load_dataset` line."""
    (fmt,) = format_names([fmt])
    layout_for(fmt, layout)  # an unknown layout fails before anything is read
    source = source or read_export_source(lake, version)
    if license:
        source = replace(source, license=license_id(license, "--license"), license_origin="")
    table = build_rows(
        source, fmt, think_style, layout=layout, answer_instruction=answer_instruction
    )

    def card(shards: Shards) -> str:
        return render_card(
            source, fmt, table.num_rows, think_style, layout=layout, shards=shards, repo_id=repo_id
        )

    if report_html is None:
        from thresher.report import build_report

        report_html = build_report(lake, source.version)[0]
    # The version's report rides along in the export folder (the card links to it).
    extra = {REPORT_FILE: report_html}
    return write_export(table, Path(out), fmt, card, shard_rows=shard_rows, extra=extra)


def _card_for(folder: Path, repo_id: str) -> bytes:
    """The export's card with the repo named in its load line; refused without a license."""
    path = folder / "README.md"
    try:
        card = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"no dataset card: {exc.strerror}",
            source=str(path),
            hint="push a folder written by `thresher export`",
        ) from None
    if not card_front_matter(card).get("license"):
        raise InputError(
            "the export has no license, so the Hub would show it as unknown; nothing was pushed",
            source=str(path),
            field="license",
            hint="set export.license in the recipe or pass --license (a Hub license id such as "
            "apache-2.0), then export again",
        )
    return with_repo_id(card, repo_id).encode("utf-8")


def _ours(name: str) -> bool:
    """Files a thresher export puts in a repo (stale shards of an earlier push are removed)."""
    return name in ("README.md", REPORT_FILE) or (
        name.startswith("data/train-") and name.endswith(".parquet")
    )


def push_to_hub(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = True,
    token: str | None = None,
    commit_message: str | None = None,
) -> str:
    """Create the dataset repo if needed and commit the export folder to it (its card naming
    the repo, shards of an earlier push removed); returns the commit URL."""
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise InputError(f"--push-to-hub needs OWNER/NAME, got {repo_id!r}", field="--push-to-hub")
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    if offline:
        raise HubPushError(
            "HF_HUB_OFFLINE is set, so nothing can be pushed",
            hint="run the push with HF_HUB_OFFLINE=0",
        )
    root = Path(folder)
    card = _card_for(root, repo_id)
    local = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.name != MARKER and TMP_SUFFIX not in p.as_posix()
    )
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    endpoint = os.environ.get("HF_ENDPOINT") or None
    api = HfApi(endpoint=endpoint, token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        remote = api.list_repo_files(repo_id, repo_type="dataset")
        operations: list[Any] = [
            CommitOperationAdd(name, card if name == "README.md" else str(root / name))
            for name in local
        ]
        operations += [
            CommitOperationDelete(name) for name in remote if _ours(name) and name not in local
        ]
        info: Any = api.create_commit(
            repo_id,
            operations,
            commit_message=commit_message or f"thresher export {root.name}",
            repo_type="dataset",
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
        repo_id = f"{config.push_to_hub}-{fmt}" if config.push_to_hub else None
        result = export_version(
            lake, version, fmt, root / fmt, think_style=config.think_style,
            shard_rows=config.shard_rows, source=source, report_html=report,
            layout=config.layouts.get(fmt), answer_instruction=config.answer_instruction,
            repo_id=repo_id,
        )  # fmt: skip
        written[fmt] = str(result.out)
        if repo_id:
            push_to_hub(result.out, repo_id, private=config.private)
    return written
