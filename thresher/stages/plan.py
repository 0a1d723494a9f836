"""The plan of a curate run, checked before the flow starts: inputs and models exist, and the
size (problems x modes x n rollouts, new tokens) is within a limit the user can raise.

Nothing here loads a model or contacts a server: the checks are file and package look-ups, so
a recipe that cannot run fails in a second, before Prefect or an engine starts.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from thresher.config import Recipe
from thresher.schemas import InputError, NotFoundError

__all__ = ["MAX_ROLLOUTS", "Plan", "check_model", "max_rollouts_default", "plan_run"]

MAX_ROLLOUTS = 1_000_000  # default limit on the rollouts one run may plan
_ENV_LIMIT = "THRESHER_MAX_ROLLOUTS"
# The same rule as pipeline.models.resolve_model: 'org/name', not a path.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


@dataclass
class Plan:
    """What a run will do at most, and where each model comes from."""

    problems: int | None  # None: not known before ingest (a Hub dataset without a limit)
    problems_from: str
    per_problem: dict[str, int]  # mode -> rollouts per problem
    max_tokens: int
    models: list[tuple[str, str, str]] = field(default_factory=list)  # (field, name, found as)

    @property
    def rollouts(self) -> int | None:
        """Rollouts the run may generate (None when the problem count is unknown)."""
        if self.problems is None:
            return None
        return self.problems * sum(self.per_problem.values())

    def lines(self) -> list[str]:
        """The plan as a few lines for the console."""
        modes = ", ".join(f"{m} {n}" for m, n in self.per_problem.items())
        count = "?" if self.problems is None else f"{self.problems:,}"
        total = self.rollouts
        size = f"plan: {count} problems ({self.problems_from}) x [{modes}] per problem = " + (
            "an unknown number of rollouts" if total is None else f"{total:,} rollouts"
        )
        if total is not None:
            size += f", at most {total * self.max_tokens:,} new tokens"
        return [size] + [f"  {name} = {value}: {how}" for name, value, how in self.models]


def max_rollouts_default() -> int:
    """The rollout limit: $THRESHER_MAX_ROLLOUTS, else MAX_ROLLOUTS."""
    raw = os.environ.get(_ENV_LIMIT, "").replace("_", "").replace(",", "")
    if not raw:
        return MAX_ROLLOUTS
    if not raw.isdigit() or int(raw) < 1:
        raise InputError(f"{_ENV_LIMIT} must be a positive whole number, got {raw!r}")
    return int(raw)


def check_model(name: str, field_name: str) -> str:
    """How a model name will be found (embedded, local folder, Hub); NotFoundError if it won't."""
    from thresher.pipeline.models import EMBEDDED_MODELS

    spec = EMBEDDED_MODELS.get(name)
    if spec is not None:
        if importlib.util.find_spec(spec.package) is None:
            raise NotFoundError(
                f"{field_name}: the embedded model {name!r} needs the package {spec.package}",
                hint=spec.install_hint,
            )
        return "embedded model"
    local = Path(name).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise NotFoundError(
                f"{field_name}: model folder {local} has no config.json",
                hint="point it at a Hugging Face checkpoint folder (config.json + weights)",
            )
        return f"local checkpoint {local.resolve()}"
    if local.exists():
        raise NotFoundError(
            f"{field_name}: {name!r} is a file; a model is a checkpoint folder or a Hub id"
        )
    if not _HUB_ID.match(name):
        known = ", ".join(sorted(EMBEDDED_MODELS))
        raise NotFoundError(
            f"{field_name}: model {name!r} not found: no such folder, and not a Hub id "
            "('org/name')",
            hint=f"fix the path, or use an embedded model ({known}) or a Hub id",
        )
    if _offline():
        if not _in_hub_cache(name):
            raise NotFoundError(
                f"{field_name}: model {name!r} is not in the local Hugging Face cache and "
                "HF_HUB_OFFLINE is set",
                hint="download it first (`hf download NAME`) or unset HF_HUB_OFFLINE",
            )
        return "Hub model (cached)"
    return "Hub model (downloaded on first use)"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    found = try_to_load_from_cache(repo_id, "config.json")
    return isinstance(found, str)


def _count_rows(path: Path) -> int | None:
    """Rows of a local problem file, cheaply (lines: an upper bound); None if unknown."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".ndjson", ".csv"):
            lines, last = 0, b"\n"
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    lines += chunk.count(b"\n")
                    last = chunk[-1:]
            lines += last != b"\n"
            return max(0, lines - (suffix == ".csv"))  # a CSV header is not a row
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
    except (OSError, ValueError):
        return None
    return None


def _problems(recipe: Recipe) -> tuple[int | None, str]:
    p = recipe.problems
    if p.source.startswith("builtin:"):
        return p.limit or 64, p.source
    path = Path(p.source).expanduser()
    hub = p.source.startswith(("hf:", "hub:")) or (
        not path.exists() and _HUB_ID.match(p.source) is not None and not path.suffix
    )  # the same rule as the ingest: a missing path without a suffix is a Hub dataset id
    if hub:
        return p.limit, p.source + ("" if p.limit else ", count known after download")
    if not path.exists():
        raise InputError(
            f"problem source {p.source!r} does not exist",
            field="problems.source",
            hint="a JSONL/CSV/Parquet file, a saved dataset folder, 'hf:NAME' or 'builtin:NAME'",
        )
    rows = _count_rows(path) if path.is_file() else None
    if rows is None:
        return p.limit, p.source
    return (min(rows, p.limit) if p.limit else rows), p.source


def _models(recipe: Recipe) -> list[tuple[str, str, str]]:
    gen, prov, labels, dedup = recipe.generation, recipe.provenance, recipe.labels, recipe.dedup
    found: list[tuple[str, str, str]] = []
    if gen.engine == "openai":
        if not gen.base_url:
            raise InputError(
                "engine 'openai' needs the server's URL",
                field="generation.base_url",
                hint="set generation.base_url, e.g. http://localhost:8000/v1",
            )
        found.append(("generation.model", gen.model, f"served by {gen.base_url}"))
    else:
        found.append(("generation.model", gen.model, check_model(gen.model, "generation.model")))
    if prov.enabled:
        roles = {
            "provenance.teacher": prov.teacher or gen.model,
            "provenance.student": prov.student,
            "provenance.distilled": prov.distilled,
        }
        for field_name, name in roles.items():
            if name is not None:
                found.append((field_name, name, check_model(name, field_name)))
    if labels.judge_model and labels.judge_base_url:
        found.append(
            ("labels.judge_model", labels.judge_model, f"served by {labels.judge_base_url}")
        )
    elif labels.judge_model:
        found.append(
            ("labels.judge_model", labels.judge_model, check_model(labels.judge_model, "judge"))
        )
    if dedup.enabled and dedup.method == "embedding":
        from thresher.filters.embed import resolve_embedder

        where, embedded = resolve_embedder(dedup.embedder)
        how = "embedded embedder" if embedded else check_model(where, "dedup.embedder")
        found.append(("dedup.embedder", dedup.embedder, how))
    return found


def _check_names(recipe: Recipe) -> None:
    from thresher.filters.flaws.registry import get_labeler
    from thresher.stages.export import check_export_config

    check_export_config(recipe)  # layouts, licenses, a push with no license

    for name in recipe.labels.labelers:
        get_labeler(name)  # unknown names fail with the known ones
    out = Path(recipe.export.out).expanduser()
    if recipe.export.formats and out.exists() and not out.is_dir():
        raise InputError(f"export folder {out} is a file", field="export.out")
    for bench in recipe.decontam.benchmarks:
        if not bench.startswith("hf:") and not Path(bench).expanduser().exists():
            raise InputError(f"benchmark set {bench!r} does not exist", field="decontam.benchmarks")


def plan_run(recipe: Recipe, *, max_rollouts: int | None = None) -> Plan:
    """Check a recipe's inputs and models and size its run; errors before anything starts."""
    limit = max_rollouts if max_rollouts is not None else max_rollouts_default()
    gen = recipe.generation
    if gen.max_model_len is not None and gen.sampling.max_tokens >= gen.max_model_len:
        raise InputError(
            f"max_tokens {gen.sampling.max_tokens} leaves no room for the prompt in a context "
            f"of {gen.max_model_len}",
            field="generation.sampling.max_tokens",
        )
    problems, origin = _problems(recipe)
    per_problem: dict[str, int] = {
        str(mode): gen.n * (len(gen.prefix_fractions) if mode == "prefix" else 1)
        for mode in gen.modes
    }
    _check_names(recipe)
    plan = Plan(problems, origin, per_problem, gen.sampling.max_tokens, _models(recipe))
    total = plan.rollouts
    if total is not None and total > limit:
        raise InputError(
            f"the run would generate {total:,} rollouts ({problems:,} problems x "
            f"{sum(per_problem.values()):,} per problem), over the limit of {limit:,}",
            field="generation.n",
            hint=f"lower generation.n or problems.limit, or raise the limit with --max-rollouts "
            f"or {_ENV_LIMIT}",
        )
    return plan
