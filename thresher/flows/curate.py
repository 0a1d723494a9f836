"""The `curate` flow: DESIGN.md's data flow as Prefect tasks over batches of ids.

problems -> generate (per batch, per mode) -> verify -> label flaws -> provenance -> dedup ->
decontaminate -> select + tag a version -> export. Every task commits to the lake as it goes and
skips what is already committed, so a new flow run after a crash (even SIGKILL) redoes only the
missing work. Tasks pass ids, never data; heavy objects (engine, embedder) live in a
process-local context keyed by the flow run, not in task parameters.

Runs in Prefect's ephemeral mode by default, against a server when PREFECT_API_URL is set.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# Before Prefect reads its settings: no telemetry, and a patient ephemeral server start (the
# temporary API server can take well over Prefect's default 20 s on a busy 2-core machine).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

from prefect import flow, task  # noqa: E402
from prefect.runtime import flow_run  # noqa: E402

from thresher.config import Recipe, load_recipe
from thresher.flows import stages
from thresher.schemas import ThresherError
from thresher.storage import DEFAULT_LAKE, Lake

__all__ = ["CurateSummary", "curate", "run_curate", "run_stages_directly"]

_CONTEXTS: dict[str, stages.CurateContext] = {}
_PREBUILT: dict[str, Any] = {}  # engines handed in by the caller (tests, notebooks)
_REPORTERS: dict[str, Callable[[str, str], None]] = {}


@dataclass
class CurateSummary:
    """What one run produced: version, funnel, chain head, stage times, exports."""

    version: str
    snapshot_id: int
    flow_run_id: str
    funnel: dict[str, int]
    head_hash: str
    timings: dict[str, float] = field(default_factory=dict)
    exports: dict[str, str] = field(default_factory=dict)
    problems: int = 0
    work: dict[str, int] = field(default_factory=dict)  # rows/traces each stage produced

    def as_dict(self) -> dict[str, Any]:
        """JSON-compatible form (the flow's return value)."""
        return dict(self.__dict__)


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only errors that may pass: network and OS errors, never our own user errors."""
    try:
        state.result()
    except ThresherError:
        return False
    except (ConnectionError, TimeoutError, OSError):
        return True
    except Exception:
        return False
    return False


def _ctx(key: str) -> stages.CurateContext:
    return _CONTEXTS[key]


def _report(key: str, stage: str, detail: str) -> None:
    reporter = _REPORTERS.get(key) or _REPORTERS.get("*")
    if reporter is not None:
        reporter(stage, detail)


@task(name="ingest-problems")
def ingest_task(key: str) -> list[str]:
    """Import the recipe's problems; returns their ids."""
    return stages.ingest_stage(_ctx(key))


@task(name="generate-batch", retries=2, retry_delay_seconds=5, retry_condition_fn=_transient)
def generate_task(key: str, upto: int, mode: str) -> int:
    """Generate the missing traces of one problem batch in one mode."""
    return stages.generate_stage(_ctx(key), upto, mode)


@task(name="verify")
def verify_task(key: str) -> int:
    """Verify unverified rollouts."""
    return stages.verify_stage(_ctx(key))


@task(name="label-flaws")
def label_task(key: str) -> int:
    """Label flaws of unlabelled rollouts."""
    return stages.label_stage(_ctx(key))


@task(name="provenance")
def provenance_task(key: str) -> int:
    """Score sentences under the model roles."""
    return stages.provenance_stage(_ctx(key))


@task(name="dedup")
def dedup_task(key: str) -> int:
    """Cluster near-duplicate traces."""
    return stages.dedup_stage(_ctx(key))


@task(name="decontaminate")
def decontam_task(key: str) -> int:
    """Flag contaminated problems."""
    return stages.decontam_stage(_ctx(key))


@task(name="select-and-tag")
def select_task(key: str, run_id: str) -> dict[str, Any]:
    """Decide, record the decision chain, tag the version."""
    result = stages.select_stage(_ctx(key), run_id)
    return {
        "version": result.version.name,
        "snapshot_id": result.version.snapshot_id,
        "funnel": result.funnel,
        "head_hash": result.head_hash,
    }


@task(name="export", retries=2, retry_delay_seconds=10, retry_condition_fn=_transient)
def export_task(key: str, version: str) -> dict[str, str]:
    """Write (and push, if configured) the recipe's exports."""
    return stages.export_stage(_ctx(key), version)


def _load(recipe: str | dict[str, Any]) -> Recipe:
    return Recipe.model_validate(recipe) if isinstance(recipe, dict) else load_recipe(recipe)


@contextmanager
def _context(key: str, recipe: Recipe, lake: str | None, progress: bool) -> Iterator[Any]:
    location = lake or recipe.lake or os.environ.get("THRESHER_LAKE") or DEFAULT_LAKE
    with Lake.open(location) as opened:
        ctx = stages.CurateContext(opened, recipe, engine=_PREBUILT.get(key), progress=progress)
        _CONTEXTS[key] = ctx
        try:
            yield ctx
        finally:
            _CONTEXTS.pop(key, None)
            ctx.close()


def _pipeline(
    key: str, ctx: stages.CurateContext, run_id: str, export: bool, call: Callable[..., Any]
) -> CurateSummary:
    """The stage order, shared by the flow (call = task) and the direct run (call = function)."""
    timings: dict[str, float] = {}
    work: dict[str, int] = {}

    def timed(name: str, fn: Any, *args: Any) -> Any:
        _report(key, name, "running")
        start = time.perf_counter()
        out = call(fn, key, *args)
        elapsed = time.perf_counter() - start
        timings[name] = timings.get(name, 0.0) + elapsed
        if isinstance(out, int):
            work[name] = work.get(name, 0) + out
        _report(
            key, name, f"done in {elapsed:.1f}s" + (f" ({out} new)" if isinstance(out, int) else "")
        )
        return out

    problem_ids = timed("ingest", ingest_task)
    batch = ctx.recipe.generation.batch_size
    batches = stages.problem_batches(problem_ids, batch)
    modes = list(ctx.recipe.generation.modes)
    first = [m for m in modes if m != "prefix"]
    for mode in first:
        for index in range(len(batches)):
            upto = min(len(problem_ids), (index + 1) * batch)
            timed("generate", generate_task, upto, mode)
            _report(key, "generate", f"{mode}: {upto}/{len(problem_ids)} problems")
    timed("verify", verify_task)
    if "prefix" in modes:  # prefixes come from correct traces no labeler flagged
        timed("label", label_task)
        for index in range(len(batches)):
            upto = min(len(problem_ids), (index + 1) * batch)
            timed("generate", generate_task, upto, "prefix")
        timed("verify", verify_task)
    timed("label", label_task)
    timed("provenance", provenance_task)
    timed("dedup", dedup_task)
    timed("decontam", decontam_task)
    selected = timed("select", select_task, run_id)
    exports = timed("export", export_task, selected["version"]) if export else {}
    return CurateSummary(
        version=selected["version"],
        snapshot_id=selected["snapshot_id"],
        flow_run_id=run_id,
        funnel=selected["funnel"],
        head_hash=selected["head_hash"],
        timings=timings,
        exports=exports,
        problems=len(problem_ids),
        work=work,
    )


@flow(name="curate", persist_result=False, log_prints=True)
def curate(
    recipe: str | dict[str, Any] = "recipes/default.yaml",
    lake: str | None = None,
    export: bool = True,
) -> dict[str, Any]:
    """Curate a recipe end to end and tag a dataset version; returns the run summary."""
    loaded = _load(recipe)
    run_id = str(flow_run.get_id() or "")
    key = run_id or "local"
    # Engines handed to run_curate are keyed by recipe hash (the run id is not known yet).
    if loaded.hash() in _PREBUILT:
        _PREBUILT[key] = _PREBUILT[loaded.hash()]
    try:
        with _context(key, loaded, lake, progress=bool(_REPORTERS)) as ctx:
            summary = _pipeline(key, ctx, run_id, export, lambda fn, *a: fn(*a))
    finally:
        _PREBUILT.pop(key, None)
    return summary.as_dict()


def run_curate(
    recipe: Recipe | str,
    lake: str | None = None,
    *,
    engine: Any = None,
    export: bool = True,
    progress_console: Any = None,
) -> CurateSummary:
    """Run the curate flow (Prefect) for a recipe; `engine` reuses an already built engine."""
    loaded = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    if engine is not None:
        _PREBUILT[loaded.hash()] = engine
    reporter = _console_reporter(progress_console) if progress_console is not None else None
    try:
        if reporter is not None:
            _REPORTERS["*"] = reporter
        state = curate(loaded.model_dump(mode="json"), lake, export)
    finally:
        _PREBUILT.pop(loaded.hash(), None)
        _REPORTERS.pop("*", None)
    return CurateSummary(**state)


def run_stages_directly(
    recipe: Recipe, lake: str | None = None, *, engine: Any = None, export: bool = True
) -> CurateSummary:
    """The same stages without Prefect (for the orchestration-overhead benchmark)."""
    key = f"direct-{recipe.hash()[:12]}"
    _PREBUILT[key] = engine
    run_id = f"direct-{time.time_ns()}"
    try:
        with _context(key, recipe, lake, progress=False) as ctx:
            return _pipeline(key, ctx, run_id, export, lambda fn, *a: fn.fn(*a))
    finally:
        _PREBUILT.pop(key, None)


def _console_reporter(console: Any) -> Callable[[str, str], None]:
    started = time.perf_counter()

    def report(stage: str, detail: str) -> None:
        console.print(f"[dim]{time.perf_counter() - started:7.1f}s[/] {stage:<10} {detail}")

    return report
