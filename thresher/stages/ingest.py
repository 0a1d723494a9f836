"""The ingest stage of a recipe: its problem set into the lake (new problems only), from the
builtin generator, a file or a Hub dataset; code problems are admitted to the sandbox here,
before anything is generated for them."""

from __future__ import annotations

from thresher.config import Recipe
from thresher.schemas import InputError
from thresher.stages.select import recipe_problem_ids
from thresher.storage import Lake

__all__ = ["run"]


def run(lake: Lake, recipe: Recipe) -> list[str]:
    """Import the recipe's problems (new ones only); returns its problem ids in id order."""
    from thresher.storage.ingest import ingest

    p = recipe.problems
    name = recipe.problem_set
    if p.source.startswith("builtin:"):
        ingest(lake, p.source, name=name, n=p.limit or 64, seed=p.seed)
    else:
        source, split = p.source, p.split
        if source.startswith("hf:"):
            source = _hub_snapshot(source.removeprefix("hf:"), p.subset, p.split or "train")
            split = None
        ingest(lake, source, name=name, split=split, mapping=dict(p.fields) or None)
    ids = recipe_problem_ids(lake, recipe)
    if not ids:
        raise InputError(f"the problem source {p.source!r} gave no problems", field="problems")
    _admit_code(lake, recipe)
    return ids


def _admit_code(lake: Lake, recipe: Recipe) -> None:
    """Code problems: check the sandbox isolates (or weakness is accepted) before generating."""
    from thresher.filters.sandbox import admit_code_execution

    found = lake.query(
        "SELECT count(*) AS n FROM problems WHERE source = ? AND kind = 'code'",
        [recipe.problem_set],
    )
    if int(found["n"][0]):
        admit_code_execution(recipe.verify.allow_weak_sandbox)


def _hub_snapshot(dataset: str, subset: str | None, split: str) -> str:
    """A Hub dataset split saved to the cache (so configs like gsm8k's 'main' can be named)."""
    from thresher.cache import cache_dir

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
