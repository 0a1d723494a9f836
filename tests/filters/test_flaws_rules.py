"""Rule-based flaw labelers on hand-written clean and flawed traces, self-corrections included."""

from __future__ import annotations

import pytest

from thresher.filters.flaws import (
    RULE_LABELERS,
    Trace,
    classify,
    describe,
    get_labeler,
    label_traces,
    rule_labelers,
)
from thresher.filters.flaws.arith import evaluate
from thresher.schemas.errors import NotFoundError

CLEAN = [
    "Tom has 17 apples and buys 25 more, so 17 + 25 = 42.\n\nHe eats 2: 42 - 2 = 40.\n\n"
    "The answer is \\boxed{40}.",
    "<think>6 x 7 = 42 and 42 / 6 = 7, so each gets 7.</think>\nEach friend gets \\boxed{7}.",
    "Price: $12 * 3 = $36. With the $4 discount, 36 - 4 = 32.\nFinal answer: 32",
    "10 / 3 = 3.33, so about 3.33 liters each. Final answer: 3.33",
    "Running total: 3 + 4 = 7 + 1 = 8 marbles.\nSo the answer is \\boxed{8}.",
    "We solve 2x + 3 = 7, giving x = 2. Check: 2 * 2 + 3 = 7. \\boxed{2}",
    "She had 20% of 50 = 10 stickers left, so \\boxed{10}.",
    "1,200 + 800 = 2,000 meters in all.\n\\boxed{2000}",
]


@pytest.mark.parametrize("text", CLEAN)
def test_clean_traces_get_no_labels(text: str) -> None:
    [labels] = label_traces([Trace("t", text)], rule_labelers())
    assert labels == [], [(x.labeler, x.flaw_type, x.evidence) for x in labels]


@pytest.mark.parametrize(
    ("text", "claim"),
    [
        ("So 17 + 25 = 32 apples.\n\\boxed{32}", "17 + 25 = 32"),
        ("Each row has 6 x 7 = 48 seats. \\boxed{48}", "6 x 7 = 48"),
        ("Split: 144 / 12 = 14 per box.\n\\boxed{14}", "144 / 12 = 14"),
        ("Chain: 3 + 4 = 5 + 2 = 8. \\boxed{8}", "3 + 4 = 5 + 2 = 8"),
        ("Cost: (3 + 5) * 2 = 18 dollars. \\boxed{18}", "(3 + 5) * 2 = 18"),
        ("10 / 4 = 4 each. \\boxed{4}", "10 / 4 = 4"),
    ],
)
def test_wrong_arithmetic_is_flagged(text: str, claim: str) -> None:
    labels = get_labeler("arith_step_check_v2").label(Trace("t", text))
    assert [x.flaw_type for x in labels] == ["wrong_arithmetic"]
    label = labels[0]
    assert label.severity == "error" and label.evidence == claim
    assert text[label.char_start : label.char_end] == claim  # type: ignore[index]
    assert label.step == 0


@pytest.mark.parametrize(
    "text",
    [
        "17 + 25 = 32. Wait, let me recompute: 17 + 25 = 42. \\boxed{42}",
        "6 x 7 = 48, no, 6 x 7 = 42. \\boxed{42}",
        "So 9 * 8 = 81... actually that's wrong, it is 72. \\boxed{72}",
        "We get 12 + 15 = 28. Then 12 + 15 = 27 on a second look. \\boxed{27}",
    ],
)
def test_self_corrections_are_not_flagged(text: str) -> None:
    assert get_labeler("arith_step_check_v2").label(Trace("t", text)) == []


def test_second_paragraph_error_has_step_index() -> None:
    text = "First, 2 + 2 = 4.\n\nThen 4 * 3 = 13.\n\nSo \\boxed{13}"
    [label] = get_labeler("arith_step_check_v2").label(Trace("t", text))
    assert label.step == 1 and label.evidence == "4 * 3 = 13"


def test_evaluate() -> None:
    assert evaluate("2 + 3 * 4") == 14
    assert evaluate("(2 + 3) * 4") == 20
    assert evaluate("1,000 / 8") == 125
    assert evaluate("7 / 0") is None
    assert evaluate("x + 1") is None


def test_answer_trace_mismatch() -> None:
    lab = get_labeler("answer_trace_mismatch_v2")
    flawed = "5 + 6 = 11. Then 11 * 2 = 22.\nThe answer is 23."
    [label] = lab.label(Trace("t", flawed))
    assert label.flaw_type == "answer_trace_mismatch" and "22" in label.evidence
    assert lab.label(Trace("t", "5 + 6 = 11. Then 11 * 2 = 22.\nThe answer is 22.")) == []
    checked = "So she has 6. Check: 6 * 2 = 12 as required.\n\\boxed{6}"
    assert lab.label(Trace("t", checked)) == []
    think = "<think>3 * 4 = 12, plus 3 = 15</think>\nFinal answer: 12"
    assert lab.label(Trace("t", think)) == []  # 12 is mentioned in the closing lines


@pytest.mark.parametrize(
    ("text", "types", "severities"),
    [
        ("I guess the answer is 12.", ["guessed_answer", "no_derivation"], ["error", "error"]),
        ("3 * 4 = 12 so let's just say \\boxed{12}", ["guessed_answer"], ["error"]),
        ("3 * 4 = 12, so it is probably \\boxed{12}", ["guessed_answer"], ["warning"]),
        ("\\boxed{12}", ["no_derivation"], ["error"]),
        ("Since each box has 3 * 4 = 12 eggs, \\boxed{12}", [], []),
        # v2: an answer the reasoning never reaches (copied from a reference, say)
        (
            "You've already solved the problem. Here's the last line:\nFinal answer: 45",
            ["answer_not_derived"],
            ["error"],
        ),
        ("Half of the pie is 1/2 of it, so each gets that much.\nFinal answer: 0.5", [], []),
        ("Each share is \\frac{3}{4} of the cake, as required. \\boxed{0.75}", [], []),
        ("She loses 5 dollars, because she spent more than she earned. Final answer: -5", [], []),
        ("The total is 1,200 dollars once all the prices are added. Final answer: 1200", [], []),
        ("She keeps 16 - 3 - 4 of the eggs, which is what she sells.\nFinal answer: 9", [], []),
    ],
)
def test_unsupported_answer(text: str, types: list[str], severities: list[str]) -> None:
    labels = get_labeler("unsupported_answer_v3").label(Trace("t", text))
    assert [x.flaw_type for x in labels] == types
    assert [x.severity for x in labels] == severities


# (question, worked solution): every operand is in the question, worked out before, a number
# word, a percentage or a common constant.
GROUNDED = [
    (
        "Janet's ducks lay 16 eggs per day. She eats three for breakfast and bakes muffins with "
        "four. She sells the rest for $2 each. How much does she make every day?",
        "She uses 3 + 4 = 7 eggs, so 16 - 7 = 9 are left. 9 * $2 = $18.\nFinal answer: 18",
    ),
    (
        "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total?",
        "White fiber: 2 / 2 = 1 bolt. Total: 2 + 1 = 3.\nFinal answer: 3",
    ),
    (
        "A shirt costs $40 and is 25% off. What does it cost now?",
        "The discount is 0.25 * 40 = 10 dollars, so 40 - 10 = 30.\nFinal answer: 30",
    ),
    (
        "Sam buys two dozen eggs and breaks 5. How many are whole?",
        "Two dozen is 2 * 12 = 24 eggs. 24 - 5 = 19.\nFinal answer: 19",
    ),
    (
        "Mia reads for 2 hours. How many minutes is that, minus a 15 minute break?",
        "2 hours is 120 minutes; 120 - 15 = 105.\nFinal answer: 105",
    ),
]


@pytest.mark.parametrize(("question", "solution"), GROUNDED)
def test_operand_origin_accepts_grounded_solutions(question: str, solution: str) -> None:
    labels = get_labeler("operand_origin_v2").label(Trace("t", solution, question=question))
    assert labels == [], [x.critique for x in labels]


def test_operand_origin_flags_a_number_from_nowhere() -> None:
    question = (
        "Samuel has 43 tomatoes. He gives 41 to a neighbour. The number of tomatoes becomes 3 "
        "times as large. A friend gives him 32 more. How many does he have?"
    )
    broken = "43 - 41 = 2. Then 3 * 3 = 9. Then 6 + 32 = 38.\nFinal answer: 38"
    [label] = get_labeler("operand_origin_v2").label(Trace("t", broken, question=question))
    assert label.flaw_type == "operand_from_nowhere" and label.severity == "error"
    assert label.evidence == "6 + 32 = 38" and "6" in (label.critique or "")
    fixed = "43 - 41 = 2. Then 2 * 3 = 6. Then 6 + 32 = 38.\nFinal answer: 38"
    assert get_labeler("operand_origin_v2").label(Trace("t", fixed, question=question)) == []
    # without the question there is nothing to check against
    assert get_labeler("operand_origin_v2").label(Trace("t", broken)) == []


def test_reference_solutions_of_the_builtin_problems_are_grounded() -> None:
    from thresher.storage.builtin import arithmetic_v1

    labeler = get_labeler("operand_origin_v2")
    for p in arithmetic_v1(400, 3, "builtin:arithmetic"):
        assert labeler.label(Trace("t", p.solution or "", question=p.question)) == [], p.solution


def test_repetition_loop() -> None:
    lab = get_labeler("repetition_loop_v2")
    loop = "Let me add them. " + "I need to add the numbers again. " * 6
    [label] = lab.label(Trace("t", loop))
    assert label.flaw_type == "repetition_loop" and label.severity == "error"
    tail = "Compute 3 + 4 = 7. So" + " the the the the" * 30
    assert lab.label(Trace("t", tail))
    assert lab.label(Trace("t", CLEAN[0])) == []


def test_truncated_and_format() -> None:
    trunc, fmt = get_labeler("truncated_v1"), get_labeler("format_v1")
    cut = Trace("t", "<think>3 + 4 = 7, and then", finish_reason="length")
    assert [x.flaw_type for x in trunc.label(cut)] == ["truncated"]
    assert [x.flaw_type for x in fmt.label(cut)] == ["unclosed_think"]
    none = Trace("t", "I cannot figure this one out, it is far too hard for me to do today.")
    assert [x.flaw_type for x in trunc.label(none)] == ["no_final_answer"]
    two = Trace("t", "Maybe \\boxed{12}. Or \\boxed{13}.")
    assert [x.flaw_type for x in fmt.label(two)] == ["conflicting_answers"]
    same = Trace("t", "So \\boxed{12}. Again: \\boxed{ 12 }.")
    assert fmt.label(same) == []
    unmarked = Trace("t", "Adding gives 7 + 5 = 12 apples in the basket altogether, nice")
    [label] = fmt.label(unmarked)
    assert label.flaw_type == "unmarked_answer" and label.severity == "warning"


def test_flawed_positive_classification() -> None:
    text = "So 17 + 25 = 32 apples... anyway \\boxed{42}"
    [labels] = label_traces([Trace("t", text)], rule_labelers())
    assert classify(True, labels) == "flawed_positive"
    assert classify(True, []) == "clean"
    assert classify(False, labels) == "incorrect"
    assert classify(None, labels) == "unverified"


def test_registry() -> None:
    assert set(RULE_LABELERS) == {
        "arith_step_check_v2", "operand_origin_v2", "answer_trace_mismatch_v2",
        "unsupported_answer_v3", "repetition_loop_v2", "truncated_v1", "format_v1",
        "reference_leak_v1",
    }  # fmt: skip
    assert all(describe().values())
    with pytest.raises(NotFoundError, match="arith_step_check_v2"):
        get_labeler("arith_step_check_v0")


@pytest.mark.timeout(300)  # a hang guard only; bench_verify's labelers block times the labelers
def test_a_huge_trace_of_right_claims_gets_no_error() -> None:
    text = ("Compute 12 + 30 = 42 then " * 4000) + "\\boxed{42}"
    (labels,) = label_traces([Trace("t", text)], rule_labelers())
    assert not [x for x in labels if x.labeler.startswith("arith_step_check")]
