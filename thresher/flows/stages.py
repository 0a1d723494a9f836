"""The stages of the curate flow as plain functions over a lake and a recipe (no Prefect here).

Each stage calls the library of its layer, works on ids, commits its rows to the lake and
skips what is already there, so any stage can be re-run after a crash and only finishes the
missing work. `flows.curate` wraps each one in a Prefect task; the benchmark runs them directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thresher.config import Recipe
from thresher.flows.select import (
    SelectionResult,
    problem_set_name,
    recipe_problem_ids,
    select_and_tag,
)
from thresher.schemas import InputError, SamplingSpec
from thresher.storage import Lake

__all__ = [
    "CurateContext",
    "decontam_stage",
    "dedup_stage",
    "embedder_name",
    "export_stage",
    "generate_stage",
    "ingest_stage",
    "label_stage",
    "problem_batches",
    "provenance_stage",
    "select_stage",
    "verify_stage",
]


@dataclass
class CurateContext:
    """One run's open lake, recipe and lazily built heavy objects (engine, embedder, scorer)."""

    lake: Lake
    recipe: Recipe
    engine: Any = None  # a pipeline Engine; built on first use unless given
    embedder: Any = None
    owns_engine: bool = False
    progress: bool = False
    notes: dict[str, Any] = field(default_factory=dict)

    def get_engine(self) -> Any:
        """The generation engine, built from the recipe on first use."""
        if self.engine is None:
            from thresher.pipeline.engines import make_engine

            gen = self.recipe.generation
            options: dict[str, Any] = {}
            if gen.engine == "vllm":
                options = {
                    "max_model_len": gen.max_model_len,
                    "tensor_parallel_size": gen.tensor_parallel_size,
                    "seed": gen.sampling.seed or 0,
                }
                if gen.enforce_eager is not None:
                    options["enforce_eager"] = gen.enforce_eager
                if gen.dtype:
                    options["dtype"] = gen.dtype
                if gen.gpu_memory_utilization:
                    options["gpu_memory_utilization"] = gen.gpu_memory_utilization
            elif gen.base_url:
                options = {"base_url": gen.base_url}
            self.engine = make_engine(gen.engine, gen.model, **options)
            self.owns_engine = True
        return self.engine

    def close(self) -> None:
        """Tear down what this context built."""
        if self.owns_engine and self.engine is not None:
            self.engine.teardown()
            self.engine = None
        if self.embedder is not None:
            self.embedder.teardown()
            self.embedder = None


def sampling_spec(recipe: Recipe) -> SamplingSpec:
    """The recipe's sampling settings as the SamplingSpec stored with (and hashed into) traces."""
    s = recipe.generation.sampling
    return SamplingSpec(
        temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens, seed=s.seed, stop=s.stop
    )


# -- problems ---------------------------------------------------------------------------------


def ingest_stage(ctx: CurateContext) -> list[str]:
    """Import the recipe's problems (new ones only); returns its problem ids in id order."""
    from thresher.storage.ingest import ingest

    p = ctx.recipe.problems
    name = problem_set_name(ctx.recipe)
    if p.source.startswith("builtin:"):
        ingest(ctx.lake, p.source, name=name, n=p.limit or 64, seed=p.seed)
    else:
        source, split = p.source, p.split
        if source.startswith("hf:"):
            source = _hub_snapshot(source.removeprefix("hf:"), p.subset, p.split or "train")
            split = None
        mapping = dict(p.fields)
        ingest(ctx.lake, source, name=name, split=split, mapping=mapping or None)
    ids = recipe_problem_ids(ctx.lake, ctx.recipe)
    if not ids:
        raise InputError(f"the problem source {p.source!r} gave no problems", field="problems")
    _admit_code(ctx, name)
    return ids


def _admit_code(ctx: CurateContext, name: str) -> None:
    """Code problems: check the sandbox isolates (or weakness is accepted) before generating."""
    from thresher.filters.sandbox import admit_code_execution

    found = ctx.lake.query(
        "SELECT count(*) AS n FROM problems WHERE source = ? AND kind = 'code'", [name]
    )
    if int(found["n"][0]):
        admit_code_execution(ctx.recipe.verify.allow_weak_sandbox)


def _hub_snapshot(dataset: str, subset: str | None, split: str) -> str:
    """A Hub dataset split saved to the cache (so configs like gsm8k's 'main' can be named)."""
    from thresher.pipeline.models import cache_dir

    target = cache_dir() / "hub" / dataset.replace("/", "__") / (subset or "default") / split
    if not (target / "dataset_info.json").exists():
        from datasets import load_dataset

        try:
            loaded = load_dataset(dataset, subset, split=split)
        except Exception as exc:  # network, auth, unknown config/split: datasets raises many kinds
            raise InputError(
                f"cannot load Hub dataset {dataset!r} (config {subset!r}, split {split!r}): "
                f"{type(exc).__name__}: {exc}",
                field="problems.source",
                hint="check the id, `subset` and `split`; offline, only cached datasets load",
            ) from None
        loaded.save_to_disk(str(target))
    return str(target)


def problem_batches(problem_ids: list[str], batch_size: int) -> list[list[str]]:
    """Fixed batches of problems in id order (the unit of generation and commit)."""
    return [problem_ids[i : i + batch_size] for i in range(0, len(problem_ids), batch_size)]


# -- generation -------------------------------------------------------------------------------


def generate_stage(ctx: CurateContext, upto: int, mode: str) -> int:
    """Generate the missing traces of the first `upto` problems in one mode; returns how many.

    Called batch by batch with growing `upto`: earlier batches are already committed, so each
    call generates exactly one batch, with the same composition as in an uninterrupted run.
    """
    from thresher.pipeline.generate import GenerateOptions, generate

    gen = ctx.recipe.generation
    options = GenerateOptions(
        problems=problem_set_name(ctx.recipe),
        n=gen.n,
        mode=mode,  # type: ignore[arg-type]
        sampling=sampling_spec(ctx.recipe),
        prefix_fractions=tuple(gen.prefix_fractions),
        prefix_sources=tuple(gen.prefix_sources),
        batch_size=1 << 30,  # one engine call per flow batch: same batch, same texts
        limit=upto,
    )
    report = generate(ctx.lake, ctx.get_engine(), options, progress=ctx.progress)
    return int(report.generated)


# -- labels -----------------------------------------------------------------------------------


def verify_stage(ctx: CurateContext) -> int:
    """Verify every unverified rollout of the recipe's problem set; returns how many."""
    from thresher.filters.sandbox import weak_sandbox_allowed
    from thresher.flows.verify_lake import verify_problem_set

    v = ctx.recipe.verify
    with weak_sandbox_allowed(v.allow_weak_sandbox):
        report = verify_problem_set(
            ctx.lake, problem_set_name(ctx.recipe), workers=v.workers, timeout_s=v.timeout_s
        )
    return int(getattr(report, "verified", 0) or 0)


def label_stage(ctx: CurateContext) -> int:
    """Run the recipe's flaw labelers on every verified, unlabelled rollout; returns rows added."""
    from thresher.flows.label_lake import label_problem_set

    labels, gen = ctx.recipe.labels, ctx.recipe.generation
    # A judge that is the generation model, in-process, shares the started engine.
    shared = labels.judge_model == gen.model and gen.engine == "vllm" and not labels.judge_base_url
    report = label_problem_set(
        ctx.lake,
        problem_set_name(ctx.recipe),
        labelers=list(labels.labelers) or None,
        judge=labels.judge_model,
        judge_samples=labels.judge_samples,
        judge_engine=ctx.get_engine() if labels.judge_model and shared else None,
        judge_base_url=labels.judge_base_url,
        judge_max_tokens=labels.judge_max_tokens,
    )
    return int(getattr(report, "labels", 0) or 0)


def provenance_stage(ctx: CurateContext) -> int:
    """Score sentences under teacher and student for traces not yet scored; returns traces."""
    from thresher.pipeline.provenance_run import embedded_tracer, make_tracer, run_provenance

    prov, gen = ctx.recipe.provenance, ctx.recipe.generation
    if not prov.enabled:
        return 0
    teacher = prov.teacher or gen.model
    shared = gen.engine == "vllm" and teacher == prov.student == gen.model and not prov.distilled
    if shared:
        # One model in both roles (the teacher sees the reference solution): reuse the engine.
        tracer = embedded_tracer(ctx.get_engine())
    else:
        tracer = make_tracer(teacher, prov.student, prov.distilled)
    pending = ctx.lake.query(
        "SELECT count(*) AS n FROM rollouts r JOIN problems p ON r.problem_id = p.problem_id "
        "WHERE p.source = ? AND r.trace_id NOT IN "
        "(SELECT trace_id FROM trace_scores WHERE scorer = ?)",
        [problem_set_name(ctx.recipe), tracer.name],
    )["n"][0]
    if shared and pending:
        ctx.get_engine().setup()  # the scorer does not start an engine it was handed
    report = run_provenance(
        ctx.lake, problem_set_name(ctx.recipe), tracer, limit=prov.max_traces,
        progress=ctx.progress,
    )  # fmt: skip
    return int(report.traces_scored)


# -- dedup and decontamination ----------------------------------------------------------------


def embedder_name(recipe: Recipe) -> str:
    """The embedder name stored with embeddings and dedup rows for this recipe."""
    from thresher.flows.decisions import _embedder_name

    return _embedder_name(recipe)


def dedup_stage(ctx: CurateContext) -> int:
    """Cluster the recipe's traces (embedding only the new ones); returns assignments added."""
    from thresher.filters.dedup_run import run_dedup
    from thresher.filters.embed import Embedder

    d = ctx.recipe.dedup
    if not d.enabled:
        return 0
    if d.method == "embedding" and ctx.embedder is None:
        ctx.embedder = Embedder(d.embedder)
    report = run_dedup(
        ctx.lake, problem_set_name(ctx.recipe), embedder=ctx.embedder, threshold=d.threshold,
        exact_only=d.method == "exact", progress=ctx.progress,
    )  # fmt: skip
    return int(report.rows_added)


def decontam_stage(ctx: CurateContext) -> int:
    """Flag the recipe's problems that overlap the configured benchmarks; returns flags added."""
    from thresher.filters.decontam_run import run_decontam

    dc = ctx.recipe.decontam
    if not dc.benchmarks:
        return 0
    report = run_decontam(
        ctx.lake, problem_set_name(ctx.recipe), dc.benchmarks, n=dc.ngram, progress=ctx.progress
    )
    return int(report.rows_added)


# -- decide, tag, export ----------------------------------------------------------------------


def select_stage(ctx: CurateContext, run_id: str) -> SelectionResult:
    """Decide every trace, record the chain and tag the run's version."""
    return select_and_tag(ctx.lake, ctx.recipe, run_id=run_id, kind="run")


def export_stage(
    ctx: CurateContext, version: str, out_root: str | Path | None = None
) -> dict[str, str]:
    """Write the recipe's export formats of a version; returns format -> directory."""
    from thresher.flows.export import export_version, push_to_hub, read_export_source

    ex = ctx.recipe.export
    if not ex.formats:
        return {}
    root = Path(out_root or ex.out) / version
    source = read_export_source(ctx.lake, version)
    written: dict[str, str] = {}
    for fmt in ex.formats:
        repo_id = f"{ex.push_to_hub}-{fmt}" if ex.push_to_hub else None
        result = export_version(
            ctx.lake, version, fmt, root / fmt, think_style=ex.think_style,
            shard_rows=ex.shard_rows, source=source, layout=ex.layouts.get(fmt),
            answer_instruction=ex.answer_instruction, repo_id=repo_id,
        )  # fmt: skip
        written[fmt] = str(result.out)
        if repo_id:
            push_to_hub(result.out, repo_id, private=ex.private)
    return written


StageFn = Callable[..., Any]
