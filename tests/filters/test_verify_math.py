"""Math, choice and exact verdicts through the real pool (math-verify in worker processes)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from thresher.filters.verify import VerifyItem, VerifyPool, get_verifier, verify_items
from thresher.schemas.errors import NotFoundError


@pytest.fixture(scope="module")
def pool() -> Iterator[VerifyPool]:
    with VerifyPool(workers=2) as p:
        yield p


def _math(gold: str, response: str) -> VerifyItem:
    return VerifyItem("t", "math", response, gold=gold)


EQUAL = [
    ("42", "The answer is \\boxed{42}."),
    ("1/2", "so \\boxed{0.5}"),
    ("\\frac{3}{4}", "Final answer: 0.75"),
    ("1000", "She pays **1,000** dollars"),
    ("12", "\\boxed{12.00}"),
    ("\\{1,2,3\\}", "\\boxed{\\{3,2,1\\}}"),
    ("(1,2]", "the answer is $(1, 2]$"),
    ("(1,2)", "\\boxed{(1,2)}"),
    ("x^2+2x+1", "\\boxed{(x+1)^2}"),
    ("\\sqrt{8}", "\\boxed{2\\sqrt{2}}"),
    ("\\pi/2", "\\boxed{\\frac{\\pi}{2}}"),
    ("-3", "<think>maybe 4</think>\\boxed{-3}"),
    ("\\sqrt{2}", "so \\boxed{1.4142136}"),  # a decimal within the tolerance of an exact value
    ("2, 3", "The roots are \\boxed{2} and \\boxed{3}."),
    ("Tom has 3 + 4 = <<3+4=7>>7 pens.\n#### 7", "He has 7 pens.\nA: 7"),
    ("10", "It takes 10 weeks.\nA: 10 weeks"),
]
UNEQUAL = [
    ("42", "The answer is \\boxed{43}."),
    ("1/2", "so \\boxed{0.25}"),
    ("\\{1,2,3\\}", "\\boxed{\\{1,2\\}}"),
    ("(1,2]", "\\boxed{[1,2]}"),
    ("(1,2)", "\\boxed{(2,1)}"),
    ("x^2+2x+1", "\\boxed{(x-1)^2}"),
    ("-3", "<think>\\boxed{-3}</think>\\boxed{3}"),
    ("7", "\\boxed{7} wait, no: \\boxed{8}"),
    ("\\sqrt{2}", "so \\boxed{1.41}"),
    ("2, 3", "The only root is \\boxed{2}."),
    ("(1, 2), (3, 4)", "\\boxed{(1, 2)} and \\boxed{(3, 5)}"),
]


def test_equal_and_unequal_pairs_across_forms(pool: VerifyPool) -> None:
    items = [_math(g, r) for g, r in EQUAL + UNEQUAL]
    got = verify_items(items, pool=pool, timeout_s=30)
    for (gold, response), (name, out) in zip(EQUAL + UNEQUAL, got, strict=True):
        expected = (gold, response) in EQUAL
        assert name == "math_v2"
        assert out.status == "ok", (gold, response, out)
        assert out.correct is expected, (gold, response, out)


def test_no_answer_is_wrong_and_invalid_input_is_undecided(pool: VerifyPool) -> None:
    items = [
        _math("5", ""),
        _math("5", "<think>I keep thinking about 5"),
        _math("5", "I am not sure how to solve this one."),
        _math("", "\\boxed{5}"),
        VerifyItem("x", "poetry", "roses", gold="red"),
    ]
    got = [out for _, out in verify_items(items, pool=pool)]
    assert [o.status for o in got] == ["no_answer"] * 3 + ["invalid_input"] * 2
    assert [o.correct for o in got] == [False, False, False, None, None]
    assert "known kinds" in got[4].reason


@pytest.mark.parametrize(
    "response",
    ["\\boxed{10^{10^{10^{10}}}}", "\\boxed{" + "(" * 400 + "1" + ")" * 400 + "}"],
    ids=["tower", "deep_nesting"],
)
def test_pathological_input_returns_within_its_limit(pool: VerifyPool, response: str) -> None:
    start = time.monotonic()
    [(_, out)] = verify_items([_math("3", response)], pool=pool, timeout_s=2.0)
    assert time.monotonic() - start < 15.0
    assert out.status in ("timeout", "ok", "runtime_error")
    assert out.correct in (None, False)


def test_hung_item_is_killed_and_others_still_answered(pool: VerifyPool) -> None:
    tower = _math("3", "\\boxed{10^{10^{10^{10}}}}")
    fine = [_math(str(i), f"so \\boxed{{{i}+0}}") for i in range(6)]
    before = pool.replaced
    got = verify_items([tower, *fine], pool=pool, timeout_s=2.0)
    assert got[0][1].status == "timeout"
    assert got[0][1].correct is None
    assert [out.correct for _, out in got[1:]] == [True] * 6
    assert pool.replaced > before


def test_works_off_the_main_thread(pool: VerifyPool) -> None:
    result: list[object] = []

    def run() -> None:
        result.extend(verify_items([_math("x+1", "\\boxed{1+x}")], pool=pool, timeout_s=30))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert result and result[0][1].correct is True  # type: ignore[index]


def test_duplicate_answers_are_checked_once(pool: VerifyPool) -> None:
    items = [_math("x+1", "\\boxed{1+x}") for _ in range(50)]
    got = verify_items(items, pool=pool, timeout_s=30)
    assert all(out.correct for _, out in got)


@pytest.mark.parametrize(
    ("gold", "response", "correct"),
    [
        ("B", "Answer: (B)", True),
        ("(c)", "I pick **C**", True),
        ("D", "The answer is A.", False),
        ("A", "\\boxed{\\text{A}}", True),
        ("B", "<think>(A) looks right</think>\nB", True),
    ],
)
def test_choice(gold: str, response: str, correct: bool) -> None:
    out = get_verifier("choice_v2").quick(VerifyItem("c", "choice", response, gold=gold))
    assert out is not None and out.status == "ok" and out.correct is correct


def test_choice_bad_gold_is_invalid() -> None:
    out = get_verifier("choice_v2").quick(VerifyItem("c", "choice", "A", gold="forty"))
    assert out is not None and out.status == "invalid_input"


@pytest.mark.parametrize(
    ("gold", "response", "correct"),
    [
        ("Paris", "The answer is paris.", True),
        ("New York", "**new   york**", True),
        ("Paris", "\\boxed{\\text{Paris}}", True),
        ("Paris", "London", False),
    ],
)
def test_exact(gold: str, response: str, correct: bool) -> None:
    out = get_verifier("exact_v2").quick(VerifyItem("e", "exact", response, gold=gold))
    assert out is not None and out.status == "ok" and out.correct is correct


def test_unknown_verifier_lists_known_ones() -> None:
    with pytest.raises(NotFoundError, match="known verifiers: choice_v2, code_v2"):
        get_verifier("math_v0")
    with pytest.raises(NotFoundError, match="'math_v1' was replaced by 'math_v2'"):
        get_verifier("math_v1")
    with pytest.raises(NotFoundError, match="options: rel_tol"):
        get_verifier("math_v2:tolerance=1")
    with pytest.raises(NotFoundError, match="rel_tol"):
        get_verifier("math_v2:rel_tol=2")


def test_tolerance_is_an_option_of_the_verifier_name(pool: VerifyPool) -> None:
    # 1414.2136 is 1000 sqrt(2) to 3e-8, but not to math-verify's six decimal places.
    items = [_math("1/3", "\\boxed{0.3333333}"), _math("1000\\sqrt{2}", "\\boxed{1414.2136}")]
    default = verify_items(items, pool=pool, timeout_s=30)
    strict = verify_items(items, pool=pool, timeout_s=30, verifier="math_v2:rel_tol=1e-12")
    assert [out.correct for _, out in default] == [True, True]
    assert [out.correct for _, out in strict] == [False, False]
    assert strict[0][0] == "math_v2:rel_tol=1e-12"  # the verdict records the setting
