"""thresher.rewards.verl called exactly as verl 0.9.1 calls a custom reward function.

verl itself is not installed here: verl 0.9.1 requires transformers < 5.11 and this project
pins 5.19. Each step below follows verl 0.9.1's source (the PyPI wheel):
- `verl/utils/import_utils.py::load_module`: `reward.custom_reward_function.path` is
  `pkg://module.name` (imported) or a file path (loaded under a generated module name);
- `verl/trainer/ppo/reward.py::get_custom_reward_fn`: the function is wrapped as
  `partial(_call_with_kwargs, raw_fn, reward_kwargs)`, config kwargs taking precedence;
- `verl/utils/dataset/rl_dataset.py`: the parquet files are read with
  `datasets.load_dataset("parquet", data_files=...)["train"]`; each row is a dict;
- `verl/experimental/reward_loop/reward_manager/naive.py::run_single` (the default `naive`
  manager): `extra_info` gains `num_turns` and `rollout_reward_scores`, then
  `compute_score(data_source=..., solution_str=..., ground_truth=reward_model["ground_truth"],
  extra_info=...)` runs via `loop.run_in_executor(None, ...)` (threads, concurrently); a float
  result becomes the reward and `reward_extra_info["acc"]`;
- `verl/workers/reward_manager/batch.py::verify`: `compute_score(data_sources=...,
  solution_strs=..., ground_truths=..., extra_infos=..., **reward_kwargs)` with numpy arrays.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import thresher.rewards.verl as verl_module

from .conftest import RESPONSES  # type: ignore[import-not-found]


def _load_module(module_path: str) -> Any:
    """verl 0.9.1 `load_module`."""
    if module_path.startswith("pkg://"):
        return importlib.import_module(module_path[len("pkg://") :].replace("/", "."))
    if module_path.startswith("file://"):
        module_path = module_path[len("file://") :]
    spec = importlib.util.spec_from_file_location(
        f"custom_module_{hash(os.path.abspath(module_path))}", module_path
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _call_with_kwargs(raw_fn: Any, extra_kwargs: dict, *args: Any, **kwargs: Any) -> Any:
    return raw_fn(*args, **{**kwargs, **extra_kwargs})


def _custom_reward_fn(path: str, name: str, reward_kwargs: dict) -> Any:
    """verl 0.9.1 `get_custom_reward_fn` for `reward.custom_reward_function.{path,name}`."""
    raw_fn = getattr(_load_module(path), name)
    return partial(_call_with_kwargs, raw_fn, dict(reward_kwargs))


def _rows(export: Path) -> list[dict[str, Any]]:
    from datasets import load_dataset

    files = sorted(str(p) for p in (export / "data").glob("*.parquet"))
    return list(load_dataset("parquet", data_files=files)["train"])


async def _naive_reward_loop(compute_score: Any, batch: list[tuple[dict, str]]) -> list[dict]:
    """The default reward manager's `run_single`, once per response, gathered as verl does."""
    loop = asyncio.get_running_loop()

    async def run_single(row: dict, response_str: str) -> dict:
        data_source = row["data_source"]
        ground_truth = row["reward_model"]["ground_truth"]
        extra_info = dict(row.get("extra_info") or {})
        extra_info["num_turns"] = None
        extra_info["rollout_reward_scores"] = {}
        result = await loop.run_in_executor(
            None,
            lambda: compute_score(
                data_source=data_source,
                solution_str=response_str,
                ground_truth=ground_truth,
                extra_info=extra_info,
            ),
        )
        if isinstance(result, dict):
            return {"reward_score": result["score"], "reward_extra_info": result}
        return {"reward_score": result, "reward_extra_info": {"acc": result}}

    return await asyncio.gather(*(run_single(r, s) for r, s in batch))


def _batch(rows: list[dict]) -> tuple[list[tuple[dict, str]], list[float]]:
    by_problem = {r["extra_info"]["problem_id"]: r for r in rows}
    pairs, expected = [], []
    for pid, responses in RESPONSES.items():
        for text, reward in responses:
            pairs.append((by_problem[pid], text))
            expected.append(reward)
    return pairs, expected


@pytest.mark.slow  # code items run in the sandbox, one of them to its time limit
@pytest.mark.parametrize("how", ["pkg", "file"])
def test_the_default_reward_manager_scores_an_rl_export(rl_export: Path, how: str) -> None:
    path = "pkg://thresher.rewards.verl" if how == "pkg" else str(Path(verl_module.__file__))
    compute_score = _custom_reward_fn(path, "compute_score", {"timeout_s": 2.0})
    pairs, expected = _batch(_rows(rl_export))
    results = asyncio.run(_naive_reward_loop(compute_score, pairs))
    assert [r["reward_score"] for r in results] == expected
    assert all(isinstance(r["reward_score"], float) for r in results)
    assert [r["reward_extra_info"]["acc"] for r in results] == expected


@pytest.mark.slow
def test_the_batch_reward_manager_scores_an_rl_export(rl_export: Path) -> None:
    compute_score = _custom_reward_fn(
        "pkg://thresher.rewards.verl", "compute_score_batch", {"timeout_s": 2.0}
    )
    pairs, expected = _batch(_rows(rl_export))
    extras = [dict(r["extra_info"], rollout_reward_scores={}) for r, _ in pairs]
    scores = compute_score(
        data_sources=np.array([r["data_source"] for r, _ in pairs], dtype=object),
        solution_strs=[s for _, s in pairs],
        ground_truths=[r["reward_model"].get("ground_truth", None) for r, _ in pairs],
        extra_infos=np.array(extras, dtype=object),
    )
    assert scores == expected


def test_data_source_plays_no_part_and_kwargs_come_from_the_config(rl_export: Path) -> None:
    row = next(r for r in _rows(rl_export) if r["ability"] == "math")
    plain = _custom_reward_fn("pkg://thresher.rewards.verl", "compute_score", {})
    for source in ("arithmetic-s0", "openai/gsm8k", "anything"):
        assert plain(source, "The answer is 40.", "40", row["extra_info"]) == 1.0
    # reward_kwargs override: a verifier name from the config, a retired name maps onward.
    exact = _custom_reward_fn(
        "pkg://thresher.rewards.verl", "compute_score", {"verifier": "exact_v2"}
    )
    assert exact("x", "The answer is 40.0", "40", row["extra_info"]) == 0.0  # strings differ
    assert plain("x", "The answer is 40.0", "40", {"verifier": "math_v1"}) == 1.0
    # No extra_info at all (a hand-made dataset): the math verifier.
    assert plain("x", "so \\boxed{\\frac{1}{2}}", "0.5") == 1.0
