"""The `thresher` command: a thin layer over the Python API."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from thresher.schemas.errors import InputError, ThresherError

__all__ = ["app", "main"]

app = typer.Typer(
    name="thresher",
    help="Curate reasoning traces for LLM post-training.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

LakeOption = Annotated[
    str,
    typer.Option(
        "--lake",
        envvar="THRESHER_LAKE",
        help="Lake location: a directory (DuckDB catalog), 'sqlite:DIR' or 'postgres:DSN'.",
    ),
]
DEFAULT_LAKE = "./thresher-lake"
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


def _sandbox_policy(allow_weak: bool) -> None:
    """Code runs are admitted (and the isolation mode reported on stderr) before the first one."""
    from thresher.filters.sandbox import allow_weak_sandbox, set_reporter

    allow_weak_sandbox(allow_weak)
    set_reporter(lambda line: err_console.print(line, highlight=False, markup=False))


def main() -> None:
    """Entry point: run the app, printing ThresherErrors without a traceback."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        app()
    except ThresherError as exc:
        err_console.print(f"error: {exc}", style="bold red", highlight=False, markup=False)
        sys.exit(2)


def print_frame(frame: pl.DataFrame, fmt: str = "table") -> None:
    """Print a polars DataFrame as a rich table, CSV or JSON lines."""
    if fmt == "csv":
        sys.stdout.write(frame.write_csv())
    elif fmt == "json":
        sys.stdout.write(frame.write_ndjson())
    elif fmt == "table":
        table = Table(show_header=True, header_style="bold")
        for column in frame.columns:
            table.add_column(column)
        for row in frame.iter_rows():
            table.add_row(*("" if v is None else str(v) for v in row))
        console.print(table)
        console.print(f"{frame.height} row{'s' if frame.height != 1 else ''}", style="dim")
    else:
        raise InputError(f"unknown format {fmt!r}; use table, csv or json", field="--format")


# -- lake: SQL, versions, tags ------------------------------------------------------------------


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="A SELECT query over the lake's tables.")],
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="Version name or snapshot number.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
    lake: LakeOption = DEFAULT_LAKE,
) -> None:
    """Run a read-only SQL query over the lake (any version)."""
    from thresher.storage import Lake

    with Lake.open(lake, read_only=True) as opened:
        print_frame(opened.sql(query, version=version), fmt)


@app.command()
def versions(lake: LakeOption = DEFAULT_LAKE) -> None:
    """List named versions and the lake's snapshots."""
    from thresher.storage import Lake

    with Lake.open(lake, read_only=True) as opened:
        named = opened.versions()
        table = Table("version", "snapshot", "created", "note", "counts", header_style="bold")
        for v in named:
            counts = ", ".join(f"{k}={n}" for k, n in sorted(v.counts.items()) if n)
            table.add_row(
                v.name, str(v.snapshot_id), f"{v.created_at:%Y-%m-%d %H:%M:%S}", v.note, counts
            )
        console.print(table)
        print_frame(opened.snapshots(), "table")


@app.command()
def tag(
    name: Annotated[str, typer.Argument(help="Version name, e.g. 'v1' or 'gsm8k-2026-11-22'.")],
    note: Annotated[str, typer.Option("--note", help="Why this version exists.")] = "",
    lake: LakeOption = DEFAULT_LAKE,
) -> None:
    """Tag the current snapshot as a named version."""
    from thresher.storage import Lake

    with Lake.open(lake) as opened:
        version = opened.tag(name, note=note)
    console.print(f"tagged snapshot {version.snapshot_id} as {version.name!r}")


# Commands are added below, grouped by stage. Keep each command a few lines over a library call.


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
    lake: LakeOption = DEFAULT_LAKE,
) -> None:
    """Import a problem set into the lake, validating every row."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    from thresher.storage import Lake
    from thresher.storage.ingest import ingest as run_ingest

    columns = [TextColumn("ingest"), BarColumn(), DownloadColumn(), TimeElapsedColumn()]
    with Lake.open(lake) as opened, Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("ingest", total=None)

        def advance(units: int, total: int | None) -> None:
            bar.update(task, advance=units, total=total)

        report = run_ingest(
            opened, source, name=name, split=split, mapping=mapping, on_error=on_error,  # type: ignore[arg-type]
            n=n, seed=seed, progress=advance,
        )  # fmt: skip
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


# -- verify and label: verdicts, pass rates, flaw labels ----------------------------------------


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
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 2,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds per item (per run for code).")
    ] = 5.0,
    problems: Annotated[
        str | None,
        typer.Option("--problems", help="Verify every unverified rollout of this problem set."),
    ] = None,
    max_line_mb: MaxLineOption = 16.0,
    lake: LakeOption = DEFAULT_LAKE,
    allow_weak_sandbox: WeakSandboxOption = False,
) -> None:
    """Check final answers (math, choice, exact) and run code in a sandbox."""
    from thresher.flows.verify_cmd import verify_file, verify_lake

    _input_or_problems(input_path, problems)
    _sandbox_policy(allow_weak_sandbox)
    if problems is not None:
        verify_lake(lake, problems, workers=workers, timeout_s=timeout, console=err_console)
    else:
        verify_file(input_path or "", output, workers=workers, timeout_s=timeout,
                    console=err_console, max_line_bytes=_mib(max_line_mb))  # fmt: skip


def _mib(value: float) -> int:
    return int(value * (1 << 20))


def _input_or_problems(input_path: str | None, problems: str | None) -> None:
    """verify and label read a JSONL file or a lake problem set: exactly one of them."""
    if (input_path is None) == (problems is None):
        raise InputError("give either INPUT.jsonl or --problems NAME", field="INPUT.jsonl")


@app.command()
def label(
    input_path: Annotated[
        str | None,
        typer.Argument(
            metavar="INPUT.jsonl",
            help='Lines {"id","question","gold","response"} (optional "kind", default math; '
            '"-" reads stdin). Omit with --problems.',
        ),
    ] = None,
    output: OutputOption = None,
    judge: Annotated[
        str | None,
        typer.Option(
            "--judge",
            help="Also run the judge labeler with this model: embedded name, local path or Hub "
            "id (vLLM), or the served name with --judge-base-url.",
        ),
    ] = None,
    judge_samples: Annotated[
        int, typer.Option("--judge-samples", min=1, help="Judge samples per trace (majority).")
    ] = 3,
    judge_base_url: Annotated[
        str | None,
        typer.Option(
            "--judge-base-url",
            help="Judge through this OpenAI-compatible server (e.g. http://HOST:8000/v1); "
            "default: vLLM in this process.",
        ),
    ] = None,
    judge_max_tokens: Annotated[
        int | None,
        typer.Option("--judge-max-tokens", min=1, help="Max new tokens per judge sample (4096)."),
    ] = None,
    problems: Annotated[
        str | None,
        typer.Option("--problems", help="Label every verified rollout of this problem set."),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Verifier processes.")] = 2,
    max_line_mb: MaxLineOption = 16.0,
    line_timeout: Annotated[
        float,
        typer.Option(
            "--line-timeout",
            min=0.01,
            help="Seconds the rule labelers may spend on one line; then its status is timeout.",
        ),
    ] = 10.0,
    lake: LakeOption = DEFAULT_LAKE,
) -> None:
    """Label flaws in traces (wrong arithmetic, answer/trace mismatch, guesses, loops, ...)."""
    from thresher.flows.label_cmd import label_file, label_lake

    _input_or_problems(input_path, problems)
    if (judge_base_url or judge_max_tokens) and not judge:
        raise InputError("--judge-base-url and --judge-max-tokens need --judge MODEL")
    if problems is not None:
        label_lake(lake, problems, judge=judge, judge_samples=judge_samples,
                   judge_base_url=judge_base_url, judge_max_tokens=judge_max_tokens,
                   console=err_console)  # fmt: skip
    else:
        label_file(input_path or "", output, judge=judge, judge_samples=judge_samples,
                   judge_base_url=judge_base_url, judge_max_tokens=judge_max_tokens,
                   workers=workers, console=err_console, max_line_bytes=_mib(max_line_mb),
                   line_timeout_s=line_timeout)  # fmt: skip


# -- curate: run, select, audit, export, schedule -------------------------------------------------

RecipeLakeOption = Annotated[
    str | None,
    typer.Option(
        "--lake",
        envvar="THRESHER_LAKE",
        help="Lake location (default: the recipe's `lake`, else ./thresher-lake).",
    ),
]


@app.command()
def run(
    recipe: Annotated[
        str, typer.Argument(help="Recipe YAML file (or a name in ./recipes).")
    ] = "recipes/default.yaml",
    lake: RecipeLakeOption = None,
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
) -> None:
    """Run the curate flow for a recipe: generate, verify, label, trace, dedup, select, tag, export."""
    from thresher.flows.cli_support import run_command

    _sandbox_policy(allow_weak_sandbox)
    run_command(recipe, lake, export=export, console=console, max_rollouts=max_rollouts)


@app.command()
def select(
    recipe: Annotated[str, typer.Option("--recipe", "-r", help="Recipe with the new policy.")],
    lake: RecipeLakeOption = None,
) -> None:
    """Re-decide from stored labels with a recipe's selection policy; tags a new version."""
    from thresher.flows.cli_support import select_command

    select_command(recipe, lake, console=console)


audit_app = typer.Typer(
    help="Check the decision trace and explain decisions.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="Version name or snapshot number.")
    ] = None,
    lake: LakeOption = DEFAULT_LAKE,
) -> None:
    """Verify the hash chain of the decisions; report the first broken link (exit 1)."""
    from thresher.flows.cli_support import audit_verify_command

    if not audit_verify_command(lake, version, console=console):
        raise typer.Exit(1)


@audit_app.command("why")
def audit_why(
    subject: Annotated[str, typer.Argument(help="A trace_id (or problem_id).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    lake: LakeOption = DEFAULT_LAKE,
) -> None:
    """Show every decision about a trace, with its evidence."""
    from thresher.flows.cli_support import audit_why_command

    audit_why_command(lake, subject, fmt, console=console)


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
    ] = "think_tags",
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
    ] = None,
    answer_instruction: Annotated[
        str | None,
        typer.Option(
            "--answer-instruction",
            help="Answer-format instruction for RL/OPSD prompts (default: per kind, e.g. "
            "\\boxed{} for math; '' for none).",
        ),
    ] = None,
    push_to_hub: Annotated[
        str | None, typer.Option("--push-to-hub", help="OWNER/NAME dataset repo to push to.")
    ] = None,
    private: Annotated[
        bool, typer.Option("--private/--public", help="Visibility of a new Hub repo.")
    ] = True,
    lake: LakeOption = DEFAULT_LAKE,
) -> None:
    """Export a version as Parquet shards + dataset card; optionally push to the Hub."""
    from thresher.flows.cli_support import ExportRequest, export_command

    request = ExportRequest(
        version, fmt, out, think_style, layout, license, answer_instruction, push_to_hub, private
    )
    export_command(lake, request, console=console)


@app.command()
def schedule(
    recipe: Annotated[str, typer.Argument(help="Recipe YAML file (or a name in ./recipes).")],
    cron: Annotated[str, typer.Option("--cron", help='Cron schedule, e.g. "0 3 * * *".')],
    name: Annotated[
        str | None, typer.Option("--name", help="Deployment name (default: the recipe name).")
    ] = None,
    timezone: Annotated[str, typer.Option("--timezone", help="Time zone of the cron.")] = "UTC",
    lake: RecipeLakeOption = None,
) -> None:
    """Serve a Prefect deployment running the recipe on a cron schedule (incremental runs)."""
    from thresher.flows.cli_support import schedule_command

    schedule_command(recipe, cron, name, timezone, lake, console=console)


# -- generate: rollouts on vLLM or an OpenAI-compatible server ------------------------------------


@app.command()
def generate(
    problems: Annotated[str, typer.Option("--problems", help="Problem-set name in the lake.")],
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="Embedded name (smollm2-135m-instruct), local checkpoint dir, or Hub id; "
            "for --engine openai, the server's model name.",
        ),
    ] = "smollm2-135m-instruct",
    n: Annotated[int, typer.Option("--n", help="Samples per problem.")] = 4,
    mode: Annotated[
        str, typer.Option("--mode", help="on_policy | prefix | privileged.")
    ] = "on_policy",
    temperature: Annotated[float, typer.Option("--temperature")] = 0.7,
    top_p: Annotated[float, typer.Option("--top-p")] = 1.0,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Max new tokens.")] = 512,
    stop: Annotated[
        list[str] | None, typer.Option("--stop", help="Stop string (repeatable).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Sampling seed (see README: what it fixes).")
    ] = None,
    engine: Annotated[str, typer.Option("--engine", help="vllm | openai.")] = "vllm",
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="OpenAI-compatible server, e.g. .../v1.")
    ] = None,
    api_key_env: Annotated[
        str, typer.Option("--api-key-env", help="Env var holding the API key (never stored).")
    ] = "OPENAI_API_KEY",
    max_concurrency: Annotated[
        int, typer.Option("--max-concurrency", help="openai: requests in flight.")
    ] = 16,
    prefix_fractions: Annotated[
        str, typer.Option("--prefix-fractions", help="prefix mode: fractions of a correct trace.")
    ] = "0.25,0.5,0.75",
    prefix_model: Annotated[
        str | None, typer.Option("--prefix-model", help="prefix mode: only this model's traces.")
    ] = None,
    prefix_sources: Annotated[
        str,
        typer.Option(
            "--prefix-sources",
            help="prefix mode: modes whose correct traces give prefixes (on_policy,privileged).",
        ),
    ] = "on_policy",
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Traces per engine call and lake commit.")
    ] = 256,
    limit: Annotated[
        int | None, typer.Option("--limit", help="At most this many problems.")
    ] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="vllm: weight dtype.")] = "auto",
    max_model_len: Annotated[
        int | None, typer.Option("--max-model-len", help="vllm: context length.")
    ] = None,
    tensor_parallel_size: Annotated[int, typer.Option("--tensor-parallel-size")] = 1,
    data_parallel_size: Annotated[
        int, typer.Option("--data-parallel-size", help="vllm: >1 needs `vllm serve` (see README).")
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    lake: LakeOption = DEFAULT_LAKE,
) -> None:
    """Generate rollouts for a problem set; re-running generates only the missing ones."""
    from thresher.flows.generate_cmd import generate_command

    generate_command(
        lake=lake, problems=problems, model=model, n=n, mode=mode, temperature=temperature,
        top_p=top_p, max_tokens=max_tokens, stop=list(stop or []), seed=seed, engine=engine,
        base_url=base_url, api_key_env=api_key_env, max_concurrency=max_concurrency,
        prefix_fractions=prefix_fractions, prefix_model=prefix_model,
        prefix_sources=prefix_sources, batch_size=batch_size,
        limit=limit, dtype=dtype, max_model_len=max_model_len,
        tensor_parallel_size=tensor_parallel_size, data_parallel_size=data_parallel_size,
        as_json=as_json, console=console,
    )  # fmt: skip


# -- provenance, dedup, decontamination ----------------------------------------------------------


@app.command()
def provenance(
    problems: Annotated[str, typer.Option("--problems", help="Problem-set name in the lake.")],
    student: Annotated[
        str, typer.Option("--student", help="Student model (embedded name, local dir or Hub id).")
    ] = "smollm2-135m-instruct",
    teacher: Annotated[
        str | None,
        typer.Option(
            "--teacher",
            help="Teacher model; omitted (or equal to --student): the student model sees the "
            "reference solution and plays the teacher (privileged).",
        ),
    ] = None,
    distilled: Annotated[
        str | None, typer.Option("--distilled", help="Distilled student (enables 'boosted').")
    ] = None,
    likely: Annotated[
        float,
        typer.Option(
            "--likely", help="Mean token log-prob at which a role finds a sentence likely."
        ),
    ] = -1.0,
    gap: Annotated[
        float, typer.Option("--gap", help="Lead in log-prob a role needs to own a sentence.")
    ] = 0.5,
    boost: Annotated[
        float,
        typer.Option("--boost", help="Distilled minus student log-prob that means 'boosted'."),
    ] = 0.5,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Score at most this many traces.")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Traces per lake commit.")] = 32,
    dtype: Annotated[str, typer.Option("--dtype", help="vllm: weight dtype.")] = "auto",
    max_model_len: Annotated[
        int | None, typer.Option("--max-model-len", help="vllm: context length.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    lake: LakeOption = DEFAULT_LAKE,
) -> None:
    """Trace where each sentence came from and store per-trace teacher-student divergence."""
    from thresher.flows.provenance_cmd import provenance_command

    provenance_command(
        lake=lake, problems=problems, teacher=teacher, student=student, distilled=distilled,
        likely=likely, gap=gap, boost=boost, limit=limit, batch_size=batch_size, dtype=dtype,
        max_model_len=max_model_len, as_json=as_json, console=console,
    )  # fmt: skip


@app.command()
def dedup(
    problems: Annotated[str, typer.Option("--problems", help="Problem-set name in the lake.")],
    threshold: Annotated[
        float, typer.Option("--threshold", help="Cosine similarity at which traces are duplicates.")
    ] = 0.95,
    embedder: Annotated[
        str,
        typer.Option("--embedder", help="sentence-transformers model (default: embedded MiniLM)."),
    ] = "all-minilm-l6-v2",
    backend: Annotated[str, typer.Option("--backend", help="torch or int8 (CPU).")] = "torch",
    device: Annotated[
        str | None, typer.Option("--device", help="cpu or cuda (default: cuda when present).")
    ] = None,
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            help="Representative policy: correct_unflawed_shortest_v1 or "
            "correct_unflawed_divergence_v1.",
        ),
    ] = "correct_unflawed_shortest_v1",
    scope: Annotated[
        str, typer.Option("--scope", help="problem (compare within a problem) or global.")
    ] = "problem",
    exact_only: Annotated[
        bool, typer.Option("--exact-only", help="Only exact (normalised-text) duplicates.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    lake: LakeOption = DEFAULT_LAKE,
) -> None:
    """Cluster exact and near-duplicate traces (embeddings + FAISS); labels only."""
    from thresher.flows.dedup_cmd import dedup_command

    dedup_command(
        lake=lake, problems=problems, threshold=threshold, embedder=embedder, backend=backend,
        device=device, policy=policy, scope=scope, exact_only=exact_only, as_json=as_json,
        console=console,
    )  # fmt: skip


@app.command()
def decontaminate(
    problems: Annotated[str, typer.Option("--problems", help="Problem-set name in the lake.")],
    benchmark: Annotated[
        list[str],
        typer.Option(
            "--benchmark",
            "-b",
            help="Benchmark set: .jsonl/.json/.parquet/.csv/.txt file, saved dataset folder, or "
            "hf:NAME[:CONFIG][@SPLIT] (repeatable).",
        ),
    ],
    n: Annotated[int, typer.Option("--n", help="n-gram length in words.")] = 13,
    field_name: Annotated[
        str | None, typer.Option("--field", help="Benchmark text column (default: auto-detect).")
    ] = None,
    min_overlap: Annotated[
        float, typer.Option("--min-overlap", help="Least share of a problem's n-grams to flag.")
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    lake: LakeOption = DEFAULT_LAKE,
) -> None:
    """Flag problems whose text overlaps benchmark items by word n-grams."""
    from thresher.flows.dedup_cmd import decontaminate_command

    decontaminate_command(
        lake=lake, problems=problems, benchmarks=benchmark, n=n, field_name=field_name,
        min_overlap=min_overlap, as_json=as_json, console=console,
    )  # fmt: skip


if __name__ == "__main__":
    main()
