"""The `curate` flow: DESIGN.md's data flow as Prefect tasks over the stages.

problems -> generate (per mode) -> verify -> label flaws -> provenance -> dedup ->
decontaminate -> select + tag a version -> export. Each task runs one stage (`thresher.stages`),
which commits its rows batch by batch and skips what is already committed, so a new flow run
after a crash (even SIGKILL) redoes only the missing work.

Everything one run holds (its open lake, recipe, engines, progress reporter) lives in a
`RunContext` made for that run and handed to its tasks; nothing is kept at module level, so two
runs in one process share nothing. Only `TransientError`s (network, 5xx, timeouts) are
retried. Runs in Prefect's ephemeral mode by default, against a server when PREFECT_API_URL is
set.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Before Prefect reads its settings: no telemetry, and a patient ephemeral server start (the
# temporary API server can take well over Prefect's default 20 s on a busy 2-core machine).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

from prefect import flow, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.runtime import flow_run  # noqa: E402

from thresher.config import Recipe, load_recipe  # noqa: E402
from thresher.filters.flaws.judge import JudgeLabeler  # noqa: E402
from thresher.flows.runtime import RAY_ENV, RayRuntime  # noqa: E402
from thresher.schemas import TransientError  # noqa: E402
from thresher.schemas.signing import Signer  # noqa: E402
from thresher.stages import (  # noqa: E402
    decontaminate,
    dedup,
    export,
    generate,
    ingest,
    label,
    provenance,
    select,
    verify,
)
from thresher.stages.engines import engine_for  # noqa: E402
from thresher.storage import Lake, resolve_lake  # noqa: E402

__all__ = ["CurateSummary", "RunContext", "curate", "run_curate", "run_stages_directly"]

Reporter = Callable[[str, str], None]


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
    nodes: list[str] = field(default_factory=list)  # Ray nodes that ran batches (none in process)

    def as_dict(self) -> dict[str, Any]:
        """JSON-compatible form (the flow's return value)."""
        return dict(self.__dict__)


@dataclass
class RunContext:
    """One run's open lake and recipe, and the engines it built (or was handed)."""

    lake: Lake
    recipe: Recipe
    engine: Any = None  # the generation engine; built on first use unless handed in
    owns_engine: bool = False
    reporter: Reporter | None = None
    ray: RayRuntime | None = None  # set when the run's batches run on a Ray cluster
    sign_key: str | None = None  # an Ed25519 private key (PEM file) signing the chain head

    @property
    def progress(self) -> bool:
        """Whether stages draw progress (a console is watching)."""
        return self.reporter is not None

    def generation_engine(self) -> Any:
        """The recipe's generation engine, built once per run."""
        if self.engine is None:
            self.engine = engine_for(self.recipe.generation)
            self.owns_engine = True
        return self.engine

    def shared_engine(self, model: str | None) -> Any:
        """The generation engine when `model` is its model and it runs in process, else None:
        provenance and the judge then score with it instead of loading the model again."""
        gen = self.recipe.generation
        if model is None or model != gen.model or gen.engine != "vllm":
            return None
        return self.generation_engine()

    def close(self) -> None:
        """Tear down what this run built."""
        if self.owns_engine and self.engine is not None:
            self.engine.teardown()
            self.engine = None


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only a TransientError; a user error or a bug fails at once."""
    try:
        state.result()
    except TransientError:
        return True
    except Exception:
        return False
    return False


# Tasks take the run's context, which is not hashable: no input-keyed caching (resuming rests
# on the lake's content ids, not on Prefect's cache).


@task(name="ingest-problems", cache_policy=NO_CACHE)
def ingest_task(ctx: RunContext) -> list[str]:
    """Import the recipe's problems; returns their ids."""
    return ingest.run(ctx.lake, ctx.recipe)


@task(
    name="generate",
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
)
def generate_task(ctx: RunContext, mode: str) -> int:
    """Generate one mode's missing rollouts, committed batch by batch."""
    report = generate.run(
        ctx.lake, ctx.recipe.problem_set, ctx.recipe.generation, mode,
        limit=ctx.recipe.problems.limit, engine=ctx.generation_engine(), progress=ctx.progress,
    )  # fmt: skip
    return report.generated


@task(name="verify", cache_policy=NO_CACHE)
def verify_task(ctx: RunContext) -> int:
    """Verify unverified rollouts; store pass-rate statistics."""
    return verify.run(
        ctx.lake, ctx.recipe.problem_set, ctx.recipe.verify, progress=ctx.progress
    ).verified


@task(name="label-flaws", cache_policy=NO_CACHE)
def label_task(ctx: RunContext) -> int:
    """Label flaws of rollouts no chosen labeler has seen."""
    labels = ctx.recipe.labels
    engine = ctx.shared_engine(labels.judge_model) if not labels.judge_base_url else None
    report = label.run(
        ctx.lake, ctx.recipe.problem_set, labels, generation=ctx.recipe.generation,
        judge_engine=engine, progress=ctx.progress,
    )  # fmt: skip
    return report.labels


@task(name="provenance", cache_policy=NO_CACHE)
def provenance_task(ctx: RunContext) -> int:
    """Score sentences under the model roles."""
    prov = ctx.recipe.provenance
    if not prov.enabled:
        return 0
    report = provenance.run(
        ctx.lake, ctx.recipe.problem_set, prov, ctx.recipe.generation,
        engine=ctx.shared_engine(prov.student), progress=ctx.progress,
    )  # fmt: skip
    return report.processed


@task(name="dedup", cache_policy=NO_CACHE)
def dedup_task(ctx: RunContext) -> int:
    """Cluster near-duplicate traces."""
    if not ctx.recipe.dedup.enabled:
        return 0
    return dedup.run(ctx.lake, ctx.recipe.problem_set, ctx.recipe.dedup, progress=ctx.progress).rows


@task(name="decontaminate", cache_policy=NO_CACHE)
def decontam_task(ctx: RunContext) -> int:
    """Flag contaminated problems."""
    if not ctx.recipe.decontam.benchmarks:
        return 0
    report = decontaminate.run(ctx.lake, ctx.recipe.problem_set, ctx.recipe.decontam)
    return report.rows


@task(name="select-and-tag", cache_policy=NO_CACHE)
def select_task(ctx: RunContext, run_id: str) -> dict[str, Any]:
    """Decide, record the decision chain, tag the version."""
    signer = Signer(ctx.sign_key) if ctx.sign_key else None
    result = select.run(ctx.lake, ctx.recipe, run_id=run_id, kind="run", signer=signer)
    return {
        "version": result.version.name,
        "snapshot_id": result.version.snapshot_id,
        "funnel": result.funnel,
        "head_hash": result.head_hash,
    }


@task(
    name="export",
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
)
def export_task(ctx: RunContext, version: str) -> dict[str, str]:
    """Write (and push, if configured) the recipe's exports."""
    return export.run(ctx.lake, version, ctx.recipe.export)


def _pipeline(
    ctx: RunContext, run_id: str, do_export: bool, call: Callable[..., Any]
) -> CurateSummary:
    """The stage order, shared by the flow (call = task) and the direct run (call = function)."""
    timings: dict[str, float] = {}
    work: dict[str, int] = {}

    def timed(name: str, fn: Any, *args: Any) -> Any:
        if ctx.reporter is not None:
            ctx.reporter(name, "running")
        start = time.perf_counter()
        on_ray = _on_ray(ctx, name)
        out = (
            ctx.ray.run_stage(ctx.lake, on_ray, *args)
            if ctx.ray and on_ray
            else call(fn, ctx, *args)
        )
        elapsed = time.perf_counter() - start
        timings[name] = timings.get(name, 0.0) + elapsed
        if isinstance(out, int):
            work[name] = work.get(name, 0) + out
        if ctx.reporter is not None:
            done = f"done in {elapsed:.1f}s" + (f" ({out} new)" if isinstance(out, int) else "")
            ctx.reporter(name, done)
        return out

    problem_ids = timed("ingest", ingest_task)
    modes = list(ctx.recipe.generation.modes)
    for mode in (m for m in modes if m != "prefix"):
        timed("generate", generate_task, mode)
    timed("verify", verify_task)
    if "prefix" in modes:  # prefixes come from correct traces no labeler flagged
        timed("label", label_task)
        timed("generate", generate_task, "prefix")
        timed("verify", verify_task)
    timed("label", label_task)
    timed("provenance", provenance_task)
    timed("dedup", dedup_task)
    timed("decontam", decontam_task)
    selected = timed("select", select_task, run_id)
    exports = timed("export", export_task, selected["version"]) if do_export else {}
    return CurateSummary(
        version=selected["version"], snapshot_id=selected["snapshot_id"], flow_run_id=run_id,
        funnel=selected["funnel"], head_hash=selected["head_hash"], timings=timings,
        exports=exports, problems=len(problem_ids), work=work,
        nodes=sorted(ctx.ray.nodes) if ctx.ray else [],
    )  # fmt: skip


def _on_ray(ctx: RunContext, step: str) -> str:
    """The stage whose batches a flow step runs on the cluster ('' = in the flow process):
    skipped stages stay here (their task returns 0), the judge needs an engine actor."""
    recipe = ctx.recipe
    if step == "label":
        judged = recipe.labels.judge_model or JudgeLabeler.name in recipe.labels.labelers
        return "judge" if judged and not recipe.labels.judge_base_url else "label"
    on = {
        "generate": True, "verify": True, "provenance": recipe.provenance.enabled,
        "dedup": recipe.dedup.enabled, "decontam": bool(recipe.decontam.benchmarks),
    }  # fmt: skip
    if not on.get(step, False):
        return ""
    return "decontaminate" if step == "decontam" else step


def _load(recipe: str | dict[str, Any] | Recipe) -> Recipe:
    if isinstance(recipe, Recipe):
        return recipe
    return Recipe.model_validate(recipe) if isinstance(recipe, dict) else load_recipe(recipe)


def _run(
    recipe: Recipe,
    lake: str | None,
    do_export: bool,
    run_id: str,
    call: Callable[..., Any],
    *,
    engine: Any = None,
    reporter: Reporter | None = None,
    ray: RayRuntime | None = None,
    sign_key: str | None = None,
) -> CurateSummary:
    with Lake.open(resolve_lake(lake, recipe.lake)) as opened:
        ctx = RunContext(
            opened, recipe, engine=engine, reporter=reporter, ray=ray, sign_key=sign_key
        )
        try:
            return _pipeline(ctx, run_id, do_export, call)
        finally:
            ctx.close()


@flow(name="curate", persist_result=False, log_prints=True)
def curate(
    recipe: str | dict[str, Any] = "recipes/default.yaml",
    lake: str | None = None,
    export: bool = True,
    sign_key: str | None = None,
) -> dict[str, Any]:
    """Curate a recipe end to end and tag a dataset version (deployments run this);
    `sign_key` is an Ed25519 private key file (PEM) that signs the decision-chain head. A recipe
    with `runtime.ray.address` (or a deployment with `$THRESHER_RAY_ADDRESS`) runs as a subflow
    on that Ray cluster."""
    loaded = _load(recipe)
    if loaded.runtime.ray.address or os.environ.get(RAY_ENV):
        return run_curate(loaded, lake, export=export, sign_key=sign_key).as_dict()
    run_id = str(flow_run.get_id() or "")
    return _run(loaded, lake, export, run_id, lambda fn, *a: fn(*a), sign_key=sign_key).as_dict()


def run_curate(
    recipe: Recipe | str,
    lake: str | None = None,
    *,
    engine: Any = None,
    export: bool = True,
    progress_console: Any = None,
    sign_key: str | None = None,
) -> CurateSummary:
    """Run the curate flow for a recipe; `engine` reuses an already started engine.

    The engine and the console go into a flow made for this call, never into module state.
    With `runtime.ray.address` set, the flow runs with prefect-ray's task runner and its stages'
    batches run on that cluster (flows/runtime.py); `engine` then only names the generation
    model for planning (engine actors build their own engines)."""
    loaded = _load(recipe)
    reporter = _console_reporter(progress_console) if progress_console is not None else None
    ray = RayRuntime.for_recipe(loaded, resolve_lake(lake, loaded.lake), engine)

    def this_run(
        recipe: dict[str, Any], lake: str | None, export: bool, sign_key: str | None
    ) -> dict[str, Any]:
        run_id = str(flow_run.get_id() or "")
        summary = _run(
            _load(recipe), lake, export, run_id, lambda fn, *a: fn(*a),
            engine=None if ray else engine, reporter=reporter, ray=ray, sign_key=sign_key,
        )  # fmt: skip
        return summary.as_dict()

    with ray.connected() if ray is not None else contextlib.nullcontext() as runner:
        on_cluster = {"task_runner": runner} if runner is not None else {}
        run_flow = flow(name="curate", persist_result=False, log_prints=True, **on_cluster)(
            this_run
        )
        state = run_flow(loaded.model_dump(mode="json"), lake, export, sign_key)
    return CurateSummary(**state)


def run_stages_directly(
    recipe: Recipe, lake: str | None = None, *, engine: Any = None, export: bool = True
) -> CurateSummary:
    """The same stages without Prefect (for the orchestration-overhead benchmark)."""
    run_id = f"direct-{time.time_ns()}"
    return _run(recipe, lake, export, run_id, lambda fn, *a: fn.fn(*a), engine=engine)


def _console_reporter(console: Any) -> Reporter:
    started = time.perf_counter()

    def report(stage: str, detail: str) -> None:
        console.print(f"[dim]{time.perf_counter() - started:7.1f}s[/] {stage:<10} {detail}")

    return report
