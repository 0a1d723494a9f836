"""Answer extraction and the plain-number fast path, on hand-written responses."""

from __future__ import annotations

import time

import pytest

from thresher.filters.verify.extract import extract_answer, extract_code, last_boxed
from thresher.filters.verify.numeric import compare_plain, parse_plain_number


@pytest.mark.parametrize(
    ("response", "expected", "method"),
    [
        ("so we get \\boxed{12} and then \\boxed{14}", "14", "boxed"),
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}", "boxed"),
        ("<think>I think \\boxed{3}</think>The answer is \\boxed{4}.", "4", "boxed"),
        ("<think>\\boxed{3}</think> Final answer: 7", "7", "answer_phrase"),
        ("Thus the answer is $x^2+1$.", "x^2+1", "answer_phrase"),
        ("Final Answer: 1,000 dollars", "1,000 dollars", "answer_phrase"),
        ("Step 1 ... so she has **15** apples", "15", "bold"),
        ("We compute $3+4=7$ and so $7$", "7", "inline_math"),
        ("42", "42", "whole_response"),
        (
            "After all the steps she ends up with 42 apples in total, which is nice",
            "42",
            "last_number",
        ),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}", "boxed"),
    ],
)
def test_extracts_final_answer(response: str, expected: str, method: str) -> None:
    got = extract_answer(response)
    assert got.method == method
    assert got.text == expected


@pytest.mark.parametrize(
    ("response", "method"),
    [
        ("", "none_found"),
        ("<think>let me think about 5 and never finish", "unclosed_think"),
        ("\\boxed{}", "empty_boxed"),
        ("I have no idea what this is about, sorry, cannot help here at all.", "none_found"),
    ],
)
def test_no_answer(response: str, method: str) -> None:
    got = extract_answer(response)
    assert got.text is None
    assert got.method == method


def test_unclosed_boxed_falls_back_to_earlier_complete_one() -> None:
    assert last_boxed("\\boxed{5} then \\boxed{6") == "5"


def test_huge_and_nested_responses_extract_in_linear_time() -> None:
    big = "word " * 20_000 + "\\boxed{7}"
    nested = "\\boxed{" + "{" * 5000 + "1" + "}" * 5000 + "}"
    unbalanced = "\\boxed{" * 20_000
    start = time.perf_counter()
    assert extract_answer(big).text == "7"
    assert extract_answer(nested).text is not None
    extract_answer(unbalanced)
    extract_answer("```" * 10_000)
    assert time.perf_counter() - start < 5.0


def test_code_block_extraction() -> None:
    text = "first\n```python\nprint(1)\n```\nbetter:\n```py\nprint(2)\n```\n```text\nout\n```"
    assert extract_code(text).text == "print(2)\n"
    assert extract_code("no code here").text is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("-7", -7),
        ("1,234,567", 1234567),
        ("0.50", 0.5),
        (".5", 0.5),
        ("\\frac{3}{4}", 0.75),
        ("-\\dfrac{1}{8}", -0.125),
        ("\\frac12", 0.5),
        ("3/4", 0.75),
        ("\\$12", 12),
        ("\\text{12}", 12),
    ],
)
def test_plain_numbers(text: str, value: float) -> None:
    got = parse_plain_number(text)
    assert got is not None and float(got) == value


@pytest.mark.parametrize("text", ["1,2", "x", "1/0", "10^{10}", "1e5", "9" * 60, "50\\%", "(1,2)"])
def test_not_plain_numbers(text: str) -> None:
    assert parse_plain_number(text) is None


@pytest.mark.parametrize(
    ("gold", "answer", "expected"),
    [
        ("42", "42", True),
        ("42", "42.0", True),
        ("1000", "1,000", True),
        ("0.5", "\\frac{1}{2}", True),
        ("42", "43", False),
        ("12345678901234567", "12345678901234568", False),  # beyond math-verify's precision
        ("0.5", "0.75", False),
        ("1/3", "0.333333", None),  # close: math-verify's rounding decides
        ("x+1", "1+x", None),
    ],
)
def test_fast_path_decides_only_when_sure(gold: str, answer: str, expected: bool | None) -> None:
    assert compare_plain(gold, answer) is expected
