"""thresher's verifiers as a TRL reward function (GRPO and the other online trainers).

``GRPOTrainer(reward_funcs=[verifier_reward], train_dataset=<an RL export>)``: TRL calls it with
``prompts``, ``completions`` (chat message lists for conversational data, else strings),
``completion_ids`` and every other dataset column as a keyword list (plus ``trainer_state``,
``log_extra`` and ``log_metric``). The ground truth is the row's ``reward_model.ground_truth``,
else its ``answer``, else its ``solution`` (a worked solution gives its final answer); the
verifier the one in ``extra_info.verifier``, else the default for the row's kind. A response
the verifier cannot decide gets None, which TRL leaves out of the reward.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from thresher.rewards.core import RewardItem, completion_text, default_scorer

__all__ = ["make_verifier_reward", "verifier_reward"]


def _column(kwargs: Mapping[str, Any], name: str, n: int) -> list[Any]:
    values = kwargs.get(name)
    return list(values) if isinstance(values, Sequence) and len(values) == n else [None] * n


def _items(
    completions: Sequence[Any], kwargs: Mapping[str, Any], verifier: str | None
) -> list[RewardItem]:
    n = len(completions)
    columns = {
        c: _column(kwargs, c, n)
        for c in ("reward_model", "answer", "solution", "extra_info", "ability", "kind")
    }
    items = []
    for i, completion in enumerate(completions):
        reward_model = columns["reward_model"][i]
        info = columns["extra_info"][i] if isinstance(columns["extra_info"][i], Mapping) else {}
        truth = reward_model.get("ground_truth") if isinstance(reward_model, Mapping) else None
        if truth is None:
            truth = (
                columns["answer"][i] if columns["answer"][i] is not None else columns["solution"][i]
            )
        kind = info.get("kind") or columns["kind"][i] or columns["ability"][i] or "math"
        name = verifier or info.get("verifier") or None
        items.append(
            RewardItem(
                completion_text(completion), None if truth is None else str(truth), str(kind), name
            )
        )
    return items


def make_verifier_reward(
    *,
    timeout_s: float = 5.0,
    verifier: str | None = None,
    allow_weak_sandbox: bool = False,
    name: str = "verifier_reward",
) -> Callable[..., list[float | None]]:
    """A TRL reward function with these settings (TRL logs it under `name`)."""

    def reward(
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        completion_ids: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        completions = list(completions or [])
        items = _items(completions, kwargs, verifier)
        outcomes = default_scorer(timeout_s, allow_weak_sandbox).outcomes(items)
        scores = [None if o.correct is None else (1.0 if o.correct else 0.0) for o in outcomes]
        log_extra = kwargs.get("log_extra")
        if callable(log_extra):  # shown in TRL's completions table
            log_extra("thresher_status", [o.status for o in outcomes])
            log_extra("thresher_answer", [o.extracted or "" for o in outcomes])
        return scores

    reward.__name__ = reward.__qualname__ = name
    reward.__doc__ = "1.0 correct, 0.0 wrong, None undecided, by thresher's verifiers."
    return reward


verifier_reward = make_verifier_reward()
