"""The dataset card: README.md with Hub YAML metadata, the funnel, label statistics and the recipe.

Everything in it comes from the version (no clock, no paths), so the card is reproducible.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import yaml

from thresher.pipeline.card_meta import hub_metadata, load_section, project_link
from thresher.pipeline.export import ExportSource, Shards
from thresher.pipeline.formats import layout_for
from thresher.schemas import FUNNEL_STAGES

__all__ = ["REPORT_FILE", "render_card"]

REPORT_FILE = "report.html"  # the version's HTML report, written beside the card

_FORMAT_NOTES = {
    "sft": "chat messages (user question, assistant reasoning + answer) of selected traces",
    "rl": "problems for RL in verl's layout, with the question, answer and a gold `solution` "
    "at top level; score them with `thresher.rewards` (see Train)",
    "dpo": "preference pairs of one problem: chosen = a selected (clean) trace, rejected = an "
    "incorrect or flawed-positive trace",
    "prm": "step labels from real step evidence: clean correct traces (every step good) and "
    "traces with a located first error (steps before it good, the rest bad)",
    "opsd": "problems for on-policy self-distillation: the prompt a student answers and the "
    "reference solution a teacher sees (`privileged_context`)",
}
_TRAIN = {
    "rl": "verl: `data.train_files=<the data/*.parquet files> "
    "reward.custom_reward_function.path=pkg://thresher.rewards.verl "
    "reward.custom_reward_function.name=compute_score`; TRL: "
    "`GRPOTrainer(reward_funcs=[thresher.rewards.trl.verifier_reward], ...)`",
}


def _size_category(rows: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if rows < bound:
            return name
    return "100K<n<1M" if rows < 1_000_000 else "n>1M"


def _table(header: tuple[str, ...], rows: Sequence[tuple[object, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _usage(fmt: str, layout: str | None) -> str:
    """What the rows are and which trainer reads them."""
    chosen = layout_for(fmt, layout)
    lines = [
        f"Layout `{chosen.name}`: {chosen.columns}.",
        f"Trainer: {chosen.trainer}.",
    ]
    if fmt in _TRAIN:
        lines.append(f"Configure it: {_TRAIN[fmt]}.")
    return "## Train\n\n" + "\n\n".join(lines)


def _license_line(source: ExportSource) -> str:
    if source.license:
        origin = f" ({source.license_origin})" if source.license_origin else ""
        return f"License: `{source.license}`{origin}."
    return (
        "License: not stated. Set `export.license` in the recipe (or pass `--license`) before "
        "pushing: the Hub would show it as unknown."
    )


def render_card(
    source: ExportSource,
    fmt: str,
    rows: int,
    think_style: str,
    *,
    layout: str | None = None,
    shards: Shards | None = None,
    repo_id: str | None = None,
) -> str:
    """README.md text for one export of one version."""
    meta = {
        "pretty_name": f"{source.recipe_name or 'thresher'} {source.version} ({fmt})",
        "tags": ["thresher", "synthetic", "reasoning", fmt],
        "task_categories": ["text-generation"],
        "size_categories": [_size_category(rows)],
    }
    if shards is not None:
        meta |= hub_metadata(shards, source.license)
    elif source.license:
        meta["license"] = source.license
    front = yaml.safe_dump(meta, sort_keys=False).strip()
    funnel_rows = [(stage, source.funnel.get(stage, 0)) for stage in FUNNEL_STAGES]
    reasons = Counter(source.trace_reasons.values())
    reason_rows = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    flaw_all = Counter((f["labeler"], f["flaw_type"], f["severity"]) for f in source.flaws)
    selected = {t for t, r in source.trace_reasons.items() if r == "selected"}
    flaw_sel = Counter(
        (f["labeler"], f["flaw_type"], f["severity"])
        for f in source.flaws
        if f["trace_id"] in selected
    )
    flaw_rows = [(*key, n, flaw_sel.get(key, 0)) for key, n in sorted(flaw_all.items())]
    prov_rows = [(k, f"{v:.4f}") for k, v in sorted(source.provenance.items())]
    parts = [
        f"---\n{front}\n---",
        f"# {source.recipe_name or 'thresher'} — version `{source.version}` ({fmt})",
        f"Curated with {project_link()} from reasoning traces: generated, verified, "
        "labelled for flaws, traced for provenance, deduplicated and selected by a recorded "
        f"policy. This export holds {rows} rows: {_FORMAT_NOTES[fmt]}. {_license_line(source)}",
        "## Version\n\n"
        + _table(
            ("field", "value"),
            [
                ("version", f"`{source.version}`"),
                ("lake snapshot", source.snapshot_id),
                ("recipe hash", f"`{source.recipe_hash}`"),
                ("flow run", f"`{source.run_id}`"),
                ("decision-trace head hash", f"`{source.head_hash}`"),
                ("human overrides", source.overrides),
                ("format", fmt),
                ("layout", layout_for(fmt, layout).name),
                ("think style", think_style if fmt in ("sft", "dpo") else "n/a"),
                ("tagged at", source.created_at or "n/a"),
            ],
        )
        + "\n\nVerify the decision trace behind it with "
        f"`thresher audit verify --version {source.version}`, or without the lake: "
        f"`thresher audit export --version {source.version} -o events.jsonl` and "
        f"`thresher audit verify --file events.jsonl --expect-head {source.head_hash}`. "
        + (
            f"{source.overrides} decision(s) of this version follow a human review that "
            "overrode the selection policy (`thresher audit why TRACE_ID` shows who and why)."
            if source.overrides
            else "No human review overrode the selection policy in this version."
        ),
        "## Funnel\n\n" + _table(("stage", "count"), funnel_rows),
        "## Decisions by reason\n\n" + _table(("reason code", "traces"), reason_rows),
        "## Flaw labels\n\n"
        + (
            _table(("labeler", "flaw", "severity", "traces", "in selected"), flaw_rows)
            if flaw_rows
            else "No flaw labels."
        ),
        "## Provenance\n\n"
        + (
            _table(("statistic (mean over scored traces)", "value"), prov_rows)
            if prov_rows
            else "Provenance was not scored for this version."
        ),
        "## Report\n\n"
        f"[{REPORT_FILE}]({REPORT_FILE}) is the version's report: the funnel, decisions, flaw, "
        "pass-rate, provenance and cost figures, a browser of sampled traces (sentences coloured "
        "by provenance, flaws marked, the decision trail of each) and the changes since the "
        "version before. One self-contained file: download it and open it in a browser.",
        "## Load\n\n" + load_section(repo_id, shards),
        _usage(fmt, layout),
        "## Recipe\n\n```yaml\n" + (source.recipe_yaml.strip() or "# not recorded") + "\n```",
    ]
    return "\n\n".join(parts) + "\n"
