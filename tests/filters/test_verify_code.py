"""The code verifier: a program's own failure is wrong; a sandbox failure decides nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from thresher.filters.verify import VerifyItem, VerifyPool, verify_items

DOUBLE = {"stdin_stdout": [{"input": "3\n", "output": "6\n"}, {"input": "10\n", "output": "20"}]}
ADD = {"asserts": ["assert add(2, 3) == 5", "assert add(-1, 1) == 0"]}


def _code(body: str, tests: object) -> VerifyItem:
    return VerifyItem("c", "code", f"Here you go:\n```python\n{body}\n```\n", tests=tests)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pool() -> Iterator[VerifyPool]:
    with VerifyPool(workers=2) as p:
        yield p


@pytest.mark.parametrize(
    ("body", "tests", "status", "correct"),
    [
        ("print(int(input()) * 2)", DOUBLE, "ok", True),
        ("print(int(input()) * 2 + 1)", DOUBLE, "ok", False),
        ("def add(a, b):\n    return a + b", ADD, "ok", True),
        ("def add(a, b):\n    return a - b", ADD, "ok", False),
        ("def add(a, b):\n    raise ValueError('boom')", ADD, "runtime_error", False),
        ("while True: pass", DOUBLE, "timeout", False),
        ("x = bytearray(1 << 33)", DOUBLE, "memory_limit", False),
        ("import sys\nwhile True: sys.stdout.write('x' * 65536)", DOUBLE, "output_limit", False),
        ("import os\nos.kill(os.getppid(), 9)\nprint(int(input()) * 2)", DOUBLE, "ok", True),
    ],
)
def test_code_statuses(
    pool: VerifyPool, body: str, tests: object, status: str, correct: object
) -> None:
    [(name, out)] = verify_items([_code(body, tests)], pool=pool, timeout_s=2.0)
    assert name == "code_v2"
    assert (out.status, out.correct) == (status, correct), out


@pytest.mark.parametrize(
    ("response", "tests", "status", "correct"),
    [
        ("no code at all", DOUBLE, "no_answer", False),
        ("```python\nprint(1)\n```", {"stdin_stdout": []}, "invalid_input", None),
        ("```python\nprint(1)\n```", {"asserts": "assert True"}, "invalid_input", None),
        ("```python\nprint(1)\n```", "{not json", "invalid_input", None),
        ("```python\nprint(1)\n```", {"unit": []}, "invalid_input", None),
    ],
)
def test_code_input_problems(
    pool: VerifyPool, response: str, tests: object, status: str, correct: bool | None
) -> None:
    item = VerifyItem("c", "code", response, tests=tests)  # type: ignore[arg-type]
    [(_, out)] = verify_items([item], pool=pool)
    assert (out.status, out.correct) == (status, correct)
