"""thresher.rewards.trl called as TRL's GRPOTrainer calls a reward function (TRL 1.16).

`GRPOTrainer._calculate_rewards` calls each function with `prompts`, `completions` (for a
conversational dataset each completion is `[{"role": "assistant", "content": ...}]`),
`completion_ids`, every other dataset column as a list (one entry per completion), and
`trainer_state`, `log_extra`, `log_metric`; None rewards become NaN. The slow client test runs
a real GRPOTrainer on an export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from thresher.rewards import make_verifier_reward, verifier_reward

from .conftest import RESPONSES  # type: ignore[import-not-found]


def _trl_kwargs(rows: list[dict[str, Any]], texts: list[str]) -> dict[str, Any]:
    """The keyword arguments GRPOTrainer passes for these rows and completions."""
    logged: dict[str, list[Any]] = {}
    kwargs: dict[str, Any] = {
        "prompts": [r["prompt"] for r in rows],
        "completions": [[{"role": "assistant", "content": t}] for t in texts],
        "completion_ids": [[1, 2, 3] for _ in texts],
    }
    for key in rows[0]:
        if key not in ("prompt", "completion", "completion_ids"):
            kwargs[key] = [r[key] for r in rows]
    kwargs["trainer_state"] = None
    kwargs["log_extra"] = lambda column, values: logged.__setitem__(column, values)
    kwargs["log_metric"] = lambda name, value: None
    kwargs["_logged"] = logged
    return kwargs


def _export_rows(rl_export: Path) -> dict[str, dict[str, Any]]:
    from datasets import load_dataset

    ds = load_dataset(str(rl_export), split="train")
    return {r["extra_info"]["problem_id"]: r for r in ds}


def test_grpo_calling_convention_on_an_rl_export(rl_export: Path) -> None:
    rows_by_problem = _export_rows(rl_export)
    rows, texts, expected = [], [], []
    for pid in ("p-math", "p-choice", "p-exact"):  # code runs in the slow verl tests
        for text, reward in RESPONSES[pid]:
            rows.append(rows_by_problem[pid])
            texts.append(text)
            expected.append(reward)
    kwargs = _trl_kwargs(rows, texts)
    logged = kwargs.pop("_logged")
    assert verifier_reward(**kwargs) == expected
    assert logged["thresher_status"][0] == "ok" and logged["thresher_answer"][0] == "40"
    assert verifier_reward.__name__ == "verifier_reward"  # the name TRL logs rewards under


def test_plain_datasets_with_answer_or_solution_columns() -> None:
    # A standard (non-conversational) dataset: completions are strings; only an `answer`
    # column, or only a worked `solution` ending in GSM8K's "#### N".
    assert verifier_reward(
        prompts=["q", "q"], completions=["The answer is 40.", "It is 39."], answer=["40", "40"]
    ) == [1.0, 0.0]
    assert verifier_reward(
        prompts=["q"], completions=["The answer is 72."], solution=["24 + 48 = 72\n#### 72"]
    ) == [1.0]
    # No ground truth at all: the verifier cannot decide, TRL leaves it out (None -> NaN).
    assert verifier_reward(prompts=["q"], completions=["The answer is 1."]) == [None]
    exact = make_verifier_reward(verifier="exact_v2", name="exact_reward")
    assert exact.__name__ == "exact_reward"
    assert exact(prompts=["q"], completions=["The answer is 40.0"], answer=["40"]) == [0.0]


@pytest.mark.slow
def test_trl_accuracy_reward_reads_the_solution_column(rl_export: Path) -> None:
    from trl.rewards import accuracy_reward

    row = _export_rows(rl_export)["p-math"]
    # The worked solution ends in its boxed answer: what accuracy_reward parses as the gold.
    assert (
        row["solution"] == "Twenty and twenty: 20 + 20 = 40.\n\nThe final answer is $\\boxed{40}$."
    )
    completions = [
        [{"role": "assistant", "content": "20 + 20 = 40, so the answer is $\\boxed{40}$."}],
        [{"role": "assistant", "content": "It is $\\boxed{41}$."}],
    ]
    assert accuracy_reward(completions, solution=[row["solution"]] * 2) == [1.0, 0.0]
