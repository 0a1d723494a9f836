"""Rejection-sampling statistics: unbiased pass@k, pass rate and difficulty buckets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from thresher.schemas.stats import Difficulty, ProblemStats

__all__ = ["pass_at_k", "difficulty", "problem_stats", "BUCKETS", "DEFAULT_KS"]

DEFAULT_KS = (1, 2, 4, 8, 16, 32, 64, 128)
# Upper bounds of pass rate (inclusive) for each bucket, after 'unsolved' (exactly 0).
BUCKETS: tuple[tuple[Difficulty, float], ...] = (
    ("hard", 0.25),
    ("medium", 0.75),
    ("easy", 0.999999),
)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct: 1 - C(n-c, k) / C(n, k) (Chen et al.)."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if k < 1 or k > n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    # Product form avoids huge binomials: prod_{i=n-c+1}^{n} (1 - k / i).
    miss = 1.0
    for i in range(n - c + 1, n + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def difficulty(pass_rate: float | None) -> Difficulty:
    """Bucket of a pass rate: unsolved (0), hard (<= .25), medium (<= .75), easy, trivial (1)."""
    if pass_rate is None:
        return "unknown"
    if pass_rate <= 0.0:
        return "unsolved"
    if pass_rate >= 1.0:
        return "trivial"
    for name, upper in BUCKETS:
        if pass_rate <= upper:
            return name
    return "easy"


def problem_stats(
    problem_id: str,
    source: str,
    verifier: str,
    outcomes: Iterable[bool | None],
    ks: Sequence[int] = DEFAULT_KS,
    *,
    model: str = "",
    mode: str = "",
) -> ProblemStats:
    """Stats of one problem's rollouts (one model, one mode) from their decided correctness.

    False counts as a failure (a wrong answer, no answer, the program's own error or limit);
    None means the verifier could not decide, and is excluded from the rate and counted."""
    values = list(outcomes)
    checked = [v for v in values if v is not None]
    n, c = len(checked), sum(1 for v in checked if v)
    rate = c / n if n else None
    return ProblemStats(
        problem_id=problem_id,
        source=source,
        verifier=verifier,
        n_samples=len(values),
        n_checked=n,
        n_correct=c,
        pass_rate=rate,
        pass_at_k={str(k): pass_at_k(n, c, k) for k in ks if k <= n},
        difficulty=difficulty(rate),
        model=model,
        mode=mode,
        n_undecided=len(values) - n,
    )
