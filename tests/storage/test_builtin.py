"""builtin:arithmetic: seeded, graded, exact, with worked solutions whose equations hold."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from thresher.schemas import InputError, NotFoundError, problem_id_for
from thresher.storage.builtin import MAX_STEPS, builtin_problems

EQUATION = re.compile(r"(\d+) ([-+*/]) (\d+) = (\d+)")


def _apply(a: int, op: str, b: int) -> int:
    return {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[op]


def test_same_seed_gives_the_same_problems_and_another_seed_does_not():
    first = builtin_problems("arithmetic", n=32, seed=7)
    again = builtin_problems("arithmetic", n=32, seed=7)
    other = builtin_problems("arithmetic", n=32, seed=8)
    assert [p.model_dump(exclude={"source"}) for p in first] == [
        p.model_dump(exclude={"source"}) for p in again
    ]
    assert len({p.question for p in first} & {p.question for p in other}) < 4


def test_a_larger_n_extends_a_smaller_set():
    small = builtin_problems("arithmetic", n=10, seed=3, source="s")
    large = builtin_problems("arithmetic", n=40, seed=3, source="s")
    assert [p.question for p in large[:10]] == [p.question for p in small]


def test_difficulty_is_the_number_of_steps_from_one_to_four_in_equal_shares():
    problems = builtin_problems("arithmetic", n=64, seed=0)
    assert Counter(p.difficulty for p in problems) == {1: 16, 2: 16, 3: 16, 4: 16}
    for p in problems:
        steps = [line for line in p.solution.splitlines() if line.startswith("Step ")]
        assert len(steps) == p.difficulty <= MAX_STEPS
        assert all(len(EQUATION.findall(line)) == 1 for line in steps)


def test_every_equation_is_exact_chained_and_ends_in_the_answer():
    for p in builtin_problems("arithmetic", n=200, seed=1):
        equations = EQUATION.findall(p.solution)
        assert equations, p.solution
        for a, op, b, result in equations:
            if op == "/":
                assert int(a) % int(b) == 0, p.solution
            assert _apply(int(a), op, int(b)) == int(result) >= 0, p.solution
        for (_, _, _, prev), (nxt, _, _, _) in zip(equations, equations[1:], strict=False):
            assert prev == nxt, p.solution  # each step works on the previous result
        assert p.answer == equations[-1][3]
        assert p.solution.endswith(f"The answer is {p.answer}.")
        assert p.kind == "math"


def test_problems_are_unique_varied_and_content_addressed():
    problems = builtin_problems("arithmetic", n=300, seed=0, source="arith")
    assert len({p.question for p in problems}) == 300
    assert len({p.question.split()[0] for p in problems}) >= 20  # many names
    templates = {re.sub(r"\d+", "N", p.question) for p in problems}
    assert len(templates) > 200
    assert all(p.problem_id == problem_id_for("arith", p.question) for p in problems)
    assert all(p.source == "arith" for p in problems)


def test_default_source_names_the_builtin_count_and_seed():
    assert builtin_problems("arithmetic", n=3, seed=5)[0].source == "arithmetic-n3-s5"


def test_unknown_builtin_lists_the_known_ones():
    with pytest.raises(NotFoundError, match="builtin:arithmetic"):
        builtin_problems("geometry")


def test_n_below_one_is_a_clear_error():
    with pytest.raises(InputError, match="--n must be at least 1"):
        builtin_problems("arithmetic", n=0)
