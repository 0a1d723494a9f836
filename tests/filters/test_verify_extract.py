"""Answer extraction, answer normalisation and the plain-number fast path, on hand-written text."""

from __future__ import annotations

from fractions import Fraction

import pytest

from thresher.filters.verify.extract import extract_answer, extract_code, last_boxed, math_spans
from thresher.filters.verify.math import gold_answer
from thresher.filters.verify.normalize import clean_answer, prose_answer
from thresher.filters.verify.numeric import compare_plain, compare_structured, parse_plain_number


@pytest.mark.parametrize(
    ("response", "expected", "method"),
    [
        ("so we get \\boxed{12} and then \\boxed{14}", "14", "boxed"),
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}", "boxed"),
        ("<think>I think \\boxed{3}</think>The answer is \\boxed{4}.", "4", "boxed"),
        ("<think>\\boxed{3}</think> Final answer: 7", "7", "answer_phrase"),
        ("Thus the answer is $x^2+1$.", "x^2+1", "answer_phrase"),
        ("Final Answer: 1,000 dollars", "1,000", "answer_phrase"),
        ("Step 1 ... so she has **15** apples", "15", "bold"),
        ("We compute $3+4=7$ and so $7$", "7", "last_number"),
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
    ("response", "expected"),
    [
        # Line markers of worked solutions: OpenAI's model solutions and GSM8K.
        ("Tom has 3 + 4 = 7 pens.\nA: 7", "7"),
        ("Tom has 3 + 4 = <<3+4=7>>7 pens.\n#### 7", "7"),
        ("**A:** 12", "12"),
        ("Answer: 9", "9"),
        ("**Answer:** 9", "9"),
        ("The answer is: **9**", "9"),
        ("**Answer**: 9", "9"),
        ("Answer:\n9", "9"),
        ("Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.", "\\frac{3}{4}"),
        ("The final answer is 14400. I hope it is correct.", "14400"),
        # "the answer is ...": the answer expression of that sentence.
        ("So the answer is 12 - 4 = 8 apples.", "8"),
        ("The answer is that he has 5 apples left.", "5"),
        ("The answer to the question is 6, since 2 * 3 = 6.", "6"),
        ("the answer is $x = 3$ or $x = -2$.", "x = 3, x = -2"),
        ("Final Answer: The largest $n$ is 34.", "34"),
        # A marker that is not followed by an answer is not one.
        ("Before the final answer, let me check 2+2=4. So we get 7", "7"),
        ("Answer:\nLet's compute.\n2 + 2 = 4, so **4** apples.", "4"),
        ("#### Step 1: add\n2 + 3 = 5\n#### Step 2: double\n5 * 2 = 10 apples", "10"),
        ("#### 1. Setup\nWe need 5 + 7 = 12 cups.", "12"),
        ("The answer is Evelyn.", "Evelyn"),
    ],
)
def test_answer_markers(response: str, expected: str) -> None:
    assert extract_answer(response).text == expected


@pytest.mark.parametrize(
    ("response", "expected", "method"),
    [
        ("The roots are \\boxed{2} and \\boxed{3}.", "2, 3", "boxed"),
        ("\\boxed{1},\\boxed{2},\\boxed{3}", "1, 2, 3", "boxed"),
        (
            "$\\boxed{(1, 2)}$ \\quad \\text{and} \\quad $\\boxed{(3, 4)}$",
            "(1, 2), (3, 4)",
            "boxed",
        ),
        ("\\boxed{7} wait, no: \\boxed{8}", "8", "boxed"),
        ("\\boxed{1} no no no no no \\boxed{2}", "2", "boxed"),
        ("so \\boxed{5}.\n\n**Final Answer**\n\\boxed{5}", "5", "boxed"),
        # An earlier box loses to a later explicit final-answer phrase ...
        (
            "\\boxed{3}, hmm, wrong. The final answer is $5$. I hope it is correct.",
            "5",
            "answer_phrase",
        ),
        ("First \\boxed{4}. Checking again, 2 + 3 = 5.\n**Answer:** 5", "5", "answer_phrase"),
        # ... but not to a phrase that states no answer, and a box after a phrase wins.
        ("So \\boxed{5}. Let me verify: yes, the answer is correct.", "5", "boxed"),
        ("The final answer is \\boxed{6}", "6", "boxed"),
        ("\\boxed{5} then \\boxed{6", "5", "boxed"),
        ("\\boxed{}", None, "empty_boxed"),
    ],
)
def test_boxes_and_their_order_with_markers(
    response: str, expected: str | None, method: str
) -> None:
    got = extract_answer(response)
    assert (got.text, got.method) == (expected, method)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("$15000 + $5000 = $20000 in all.\nA: 20000", "20000"),
        ("His change is $10 - $6 = $4.", "4"),
        ("It costs \\$12 in total.\n**Answer:** \\$12.", "12"),
        ("The length is $2\\sqrt{3}$ units.", "2\\sqrt{3}"),
        ("so $5$", "5"),
        ("#### $18", "18"),
    ],
)
def test_dollar_before_a_digit_is_money(response: str, expected: str) -> None:
    assert extract_answer(response).text == expected


def test_money_spans_are_not_math() -> None:
    assert math_spans("$15000 + $5000 = $20000") == []
    assert [s.text for s in math_spans("it costs $5 and $x+1$ is more")] == ["x+1"]
    assert [s.text for s in math_spans("$\\frac{1}{2} \\$ = 3$")] == ["\\frac{1}{2} \\$ = 3"]


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("So the side is $\\sqrt{2}.$", "\\sqrt{2}"),
        ("A: 18.", "18"),
        ("**Answer:** 7!", "7"),
        ("The answer is $(1,2]$.", "(1,2]"),
        ("The largest $n$ is 34.", "34"),
        ("He needs 10 weeks.", "10"),
        ("**Answer:** 1 1/2 cups", "3/2"),
        ("#### 1 000", "1000"),
        ("#### 1 1/2", "3/2"),
        ("The value is 0,111", "0,111"),
        ("Therefore, $\\boxed{14{,}916}$ is our answer.", "14,916"),
        ("is $\\boxed{11,\\! 111,\\! 100}$", "11,111,100"),
        ("so the area is \\boxed{15 \\text{ cm}^2}", "15"),
        ("Final Answer: 2 or 5", "2, 5"),
    ],
)
def test_punctuation_separators_units_and_mixed_numbers(response: str, expected: str) -> None:
    assert extract_answer(response).text == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10 weeks", "10"),
        ("$5 per hour", "5"),
        ("1 000", "1000"),
        ("1\\,000", "1000"),
        ("2\\frac{1}{4}", "9/4"),
        ("1 3/2", "1 3/2"),  # not a mixed number
        ("2 pi", "2 pi"),  # a constant, not a unit
        ("3 and 4", "3, 4"),
        ("19, 46, \\text{ and } 82", "19, 46, 82"),
        ("\\text{Evelyn}", "Evelyn"),
        ("\\frac{1}{3}\\text{ meters}", "\\frac{1}{3}"),
        ("$\\sqrt{2}.$", "\\sqrt{2}"),
        ("1 - \\frac{1}{\\mathrm{e}}", "1 - \\frac{1}{e}"),
    ],
)
def test_clean_answer(text: str, expected: str) -> None:
    assert clean_answer(text) == expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("therefore 6", "6"),
        ("12 - 4 = 8 apples", "8"),
        ("the total is 20", "20"),
        ("x^2 + 1", "x^2 + 1"),
        ("5 and 6 apples", "5 and 6 apples"),
    ],
)
def test_prose_answer(sentence: str, expected: str) -> None:
    assert prose_answer(sentence) == expected


@pytest.mark.parametrize(
    ("gold", "expected"),
    [
        ("Tom has 3 + 4 = <<3+4=7>>7 pens.\nHe gives 2 away: 7 - 2 = <<7-2=5>>5.\n#### 5", "5"),
        ("Janet sells 16 - 3 - 4 = 9 eggs.\nShe makes 9 * 2 = $18.\nA: 18", "18"),
        ("The sides add up, so the perimeter is $\\boxed{24}$.", "24"),
        ("$28\\%$", "28\\%"),
        ("10 weeks", "10"),
        ("(1, 2]", "(1, 2]"),
        ("\\frac{3}{4}", "\\frac{3}{4}"),
    ],
)
def test_gold_answer_reads_worked_solutions(gold: str, expected: str) -> None:
    assert gold_answer(gold) == expected


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


@pytest.mark.parametrize(
    "text",
    [
        "word " * 20_000 + "\\boxed{7}",
        "\\boxed{" + "{" * 5000 + "1" + "}" * 5000 + "}",
        "\\boxed{" * 20_000,
        "```" * 10_000,
        "$1 " * 35_000,
        "$$" * 50_000,
        "the answer is " * 8_000,
        "\\boxed{1} and " * 8_000,
        "**1** " * 16_000,
        "A: 5\n" * 20_000,
        "5 " + "apples " * 14_000,
        "answer is " + "= 1 " * 25_000,
    ],
    ids=lambda t: t[:12],
)
@pytest.mark.timeout(300)  # a hang guard only: a scan takes ~0.1 s (bench_verify times it)
def test_extraction_of_a_100kb_pathological_response_finishes(text: str) -> None:
    found = extract_answer(text)
    assert found.method and (found.text is None or len(found.text) <= len(text))
    gold_answer(text)
    clean_answer(text)


def test_code_block_extraction() -> None:
    text = "first\n```python\nprint(1)\n```\nbetter:\n```py\nprint(2)\n```\n```text\nout\n```"
    assert extract_code(text).text == "print(2)\n"
    assert extract_code("no code here").text is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", Fraction(42)),
        ("-7", Fraction(-7)),
        ("1,234,567", Fraction(1234567)),
        ("0.50", Fraction(1, 2)),
        (".5", Fraction(1, 2)),
        ("\\frac{3}{4}", Fraction(3, 4)),
        ("-\\dfrac{1}{8}", Fraction(-1, 8)),
        ("\\frac12", Fraction(1, 2)),
        ("3/4", Fraction(3, 4)),
        ("\\$12", Fraction(12)),
        ("\\text{12}", Fraction(12)),
        ("1 1/2", Fraction(3, 2)),
        ("-2\\frac{1}{4}", Fraction(-9, 4)),
    ],
)
def test_plain_numbers(text: str, value: Fraction) -> None:
    assert parse_plain_number(text) == value


@pytest.mark.parametrize(
    "text", ["1,2", "0,111", "1,22", "x", "1/0", "10^{10}", "1e5", "9" * 60, "50\\%", "(1,2)"]
)
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
        ("1/3", "0.3333333", True),  # within the relative tolerance
        ("1/3", "0.333333", True),
        ("1/3", "0.33333", False),
        ("1/3", "0.33", False),
        ("1/12", "0.083333", True),  # six places, within one unit of the last place
        ("100000/3", "33333.33", True),
        ("3", "2.9999999999999996", False),  # could have written 3: not an approximation
        ("132453", "132453.001", False),
        ("1000000", "1000000.4", False),
        ("7/2", "3", False),  # integers and fractions are exact
        ("x+1", "1+x", None),
        ("0,111", "0.111", None),  # a decimal comma or a pair: math-verify reads it
    ],
)
def test_fast_path(gold: str, answer: str, expected: bool | None) -> None:
    assert compare_plain(gold, answer) is expected


def test_relative_tolerance_is_configurable() -> None:
    assert compare_plain("1/3", "0.3333333", rel_tol=1e-9) is False
    assert compare_plain("1/3", "0.3333", rel_tol=1e-3) is True


@pytest.mark.parametrize(
    ("gold", "answer", "expected"),
    [
        ("\\{1,2,3\\}", "\\{3,2,1\\}", True),
        ("1, 2", "2, 1", True),
        ("1, 2", "1", None),  # not a structure: math-verify decides (and says no)
        ("1, 2, 3", "1, 2", False),  # every part must match
        ("(1,2]", "[1,2]", False),
        ("(1,2)", "(2,1)", False),
        ("(1,4.5)", "(1,\\frac{9}{2})", True),
        ("(1,3)", "\\{1,3\\}", None),  # a set against a tuple: math-verify's own rules
        ("1,234", "1, 234", None),  # a number, not a list
    ],
)
def test_structures(gold: str, answer: str, expected: bool | None) -> None:
    assert compare_structured(gold, answer) is expected
