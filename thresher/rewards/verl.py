"""thresher's verifiers as verl's custom reward function.

Configure verl with ``reward.custom_reward_function.path=pkg://thresher.rewards.verl`` (or the
path of this file) and ``reward.custom_reward_function.name=compute_score``; its reward manager
then calls ``compute_score(data_source=..., solution_str=..., ground_truth=..., extra_info=...)``
once per response (``compute_score_batch`` serves verl's ``batch`` reward manager). Options come
from ``reward.custom_reward_function.reward_kwargs`` (``timeout_s``, ``verifier``,
``undecided_score``, ``allow_weak_sandbox``). The verifier is the one the RL export names in
``extra_info.verifier`` (the one that curated the data), else the default for ``extra_info.kind``
(or the row's ``ability``), else math; ``data_source`` plays no part.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from thresher.rewards.core import RewardItem, default_scorer

__all__ = ["compute_score", "compute_score_batch"]


def _item(
    solution_str: str, ground_truth: Any, extra_info: Any, verifier: str | None
) -> RewardItem:
    info = extra_info if isinstance(extra_info, Mapping) else {}
    kind = str(info.get("kind") or info.get("ability") or "math")
    truth = None if ground_truth is None else str(ground_truth)
    return RewardItem(
        str(solution_str or ""), truth, kind, verifier or info.get("verifier") or None
    )


def _score(correct: bool | None, undecided_score: float) -> float:
    if correct is None:
        return float(undecided_score)
    return 1.0 if correct else 0.0


def compute_score(
    data_source: str | None,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    *,
    timeout_s: float = 5.0,
    verifier: str | None = None,
    undecided_score: float = 0.0,
    allow_weak_sandbox: bool = False,
    **_: Any,
) -> float:
    """1.0 when thresher's verifier finds the response correct, 0.0 when wrong (no answer, a
    wrong one, a failing program), `undecided_score` when it cannot decide (its time limit)."""
    scorer = default_scorer(timeout_s, allow_weak_sandbox)
    (outcome,) = scorer.outcomes([_item(solution_str, ground_truth, extra_info, verifier)])
    return _score(outcome.correct, undecided_score)


def compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Mapping[str, Any] | None] | None = None,
    *,
    timeout_s: float = 5.0,
    verifier: str | None = None,
    undecided_score: float = 0.0,
    allow_weak_sandbox: bool = False,
    **_: Any,
) -> list[float]:
    """`compute_score` over a batch, as verl's `batch` reward manager calls it."""
    infos = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    items = [
        _item(s, g, e, verifier)
        for s, g, e in zip(solution_strs, ground_truths, infos, strict=True)
    ]
    outcomes = default_scorer(timeout_s, allow_weak_sandbox).outcomes(items)
    return [_score(o.correct, undecided_score) for o in outcomes]
