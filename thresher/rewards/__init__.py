"""thresher's verifiers as reward functions: verl's custom reward and a TRL reward function.

A model trained with them is rewarded by exactly the verifier that curated its data (math with
thresher's answer extraction, choice, exact, code in the sandbox), with process-level time
limits. See `thresher.rewards.verl` and `thresher.rewards.trl`.
"""

from thresher.rewards.core import RewardItem, RewardScorer, default_scorer
from thresher.rewards.trl import make_verifier_reward, verifier_reward
from thresher.rewards.verl import compute_score, compute_score_batch

__all__ = [
    "RewardItem",
    "RewardScorer",
    "compute_score",
    "compute_score_batch",
    "default_scorer",
    "make_verifier_reward",
    "verifier_reward",
]
