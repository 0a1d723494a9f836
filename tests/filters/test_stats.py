"""pass@k (unbiased estimator), pass rates and difficulty buckets."""

from __future__ import annotations

import itertools
from math import comb

import pytest

from thresher.filters.stats import difficulty, pass_at_k, problem_stats


@pytest.mark.parametrize(("n", "c"), [(1, 0), (1, 1), (5, 2), (8, 3), (10, 10), (16, 1)])
def test_pass_at_k_matches_the_combinatorial_definition(n: int, c: int) -> None:
    for k in range(1, n + 1):
        expected = 1 - comb(n - c, k) / comb(n, k)
        assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_is_the_chance_a_random_k_subset_has_a_correct_sample() -> None:
    samples = [True, False, False, True, False, False]
    for k in range(1, 7):
        subsets = list(itertools.combinations(samples, k))
        brute = sum(any(s) for s in subsets) / len(subsets)
        assert pass_at_k(6, 2, k) == pytest.approx(brute)


def test_pass_at_k_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)


@pytest.mark.parametrize(
    ("rate", "bucket"),
    [(None, "unknown"), (0.0, "unsolved"), (0.1, "hard"), (0.25, "hard"), (0.5, "medium"),
     (0.8, "easy"), (0.99, "easy"), (1.0, "trivial")],
)  # fmt: skip
def test_difficulty_buckets(rate: float | None, bucket: str) -> None:
    assert difficulty(rate) == bucket


def test_problem_stats_ignore_uncheckable_verdicts() -> None:
    stats = problem_stats("p", "set", "math_v1", [True, False, None, True, False])
    assert (stats.n_samples, stats.n_checked, stats.n_correct) == (5, 4, 2)
    assert stats.pass_rate == 0.5 and stats.difficulty == "medium"
    assert set(stats.pass_at_k) == {"1", "2", "4"}
    assert stats.pass_at_k["1"] == pytest.approx(0.5)
    empty = problem_stats("p", "set", "math_v1", [None, None])
    assert empty.pass_rate is None and empty.difficulty == "unknown" and empty.pass_at_k == {}
