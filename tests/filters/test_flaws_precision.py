"""Precision first: the false-alarm classes seen on real model traces get no error, what is
wrong is still flagged, and calculator annotations are checked as the claims they are."""

from __future__ import annotations

import pytest

from thresher.filters.flaws import Trace, get_labeler, label_traces, rule_labelers
from thresher.filters.flaws.numbers import NUMBER, number_value, word_values
from thresher.filters.flaws.reference import copied_spans


def _errors(text: str, question: str = "") -> list[tuple[str, str, str]]:
    [labels] = label_traces([Trace("t", text, question=question)], rule_labelers())
    return [(x.labeler, x.flaw_type, x.evidence) for x in labels if x.severity == "error"]


def _arith(text: str) -> list[tuple[str, str, str]]:
    labels = get_labeler("arith_step_check_v2").label(Trace("t", text))
    return [(x.flaw_type, x.severity, x.evidence) for x in labels]


def _origin(question: str, text: str) -> list[tuple[str, str, str]]:
    labels = get_labeler("operand_origin_v2").label(Trace("t", text, question=question))
    return [(x.flaw_type, x.severity, x.evidence) for x in labels]


# --- operand_origin: where numbers come from -------------------------------------------------

# (question, a sound solution using a number the question only names indirectly)
GROUNDED = {
    "percent multiplier": (
        "A bike costs $200. Its price rises by 15%. What does it cost now?",
        "The new price is 200 * 1.15 = 230 dollars.\nFinal answer: 230",
    ),
    "percent multiplier written out": (
        "A bike costs $200. Its price rises by 15%. What does it cost now?",
        "The new price is 200 * (1 + 15/100) = 230 dollars.\nFinal answer: 230",
    ),
    "discount multiplier": (
        "A coat costs $80 and is sold at 20% off. What does it cost?",
        "It costs 80 * 0.8 = 64 dollars.\nFinal answer: 64",
    ),
    "rest of a percentage": (
        "Of 50 apples, 30% are red. How many are not red?",
        "70% are not red: 50 * 70 / 100 = 35.\nFinal answer: 35",
    ),
    "compound number word": (
        "A farmer has forty-two cows and buys 8 more. How many cows?",
        "He has 42 + 8 = 50 cows.\nFinal answer: 50",
    ),
    "fraction word": (
        "A tank holds 40 liters and is three-quarters full. How much water is in it?",
        "It holds 40 * 3/4 = 30 liters.\nFinal answer: 30",
    ),
    "fraction word as decimal": (
        "A tank holds 40 liters and is three-quarters full. How much water is in it?",
        "It holds 40 * 0.75 = 30 liters.\nFinal answer: 30",
    ),
    "mixed number word": (
        "Sam walks one and a half miles a day. How far in 6 days?",
        "He walks 1.5 * 6 = 9 miles.\nFinal answer: 9",
    ),
    "head count": (
        "Henry and 3 friends share 20 cookies equally. How many does each get?",
        "There are 4 people, so each gets 20 / 4 = 5 cookies.\nFinal answer: 5",
    ),
    "head count with 'of his'": (
        "Bryce and four of his friends each ate 3 slices. How many slices in all?",
        "They ate 5 * 3 = 15 slices.\nFinal answer: 15",
    ),
    "weekdays": (
        "Ann works 8 hours every weekday. How many hours does she work in a week?",
        "She works 8 * 5 = 40 hours.\nFinal answer: 40",
    ),
    "weeks in a year": (
        "Tom saves $3 each week. How much does he save in a year?",
        "He saves 3 * 52 = 156 dollars.\nFinal answer: 156",
    ),
    "ounces in a pound": (
        "A steak weighs one pound and a burger 6 ounces. How many ounces in all?",
        "The steak is 1 * 16 = 16 ounces, so 16 + 6 = 22 ounces.\nFinal answer: 22",
    ),
    "coin values": (
        "Mia has 3 quarters and 4 dimes. How many cents does she have?",
        "3 * 25 = 75 cents and 4 * 10 = 40 cents, so 75 + 40 = 115.\nFinal answer: 115",
    ),
    "a range of weekdays": (
        "Josh services 3 cars a day. How many cars does he service in a week?",
        "He works Monday-Saturday, so 3 * 6 = 18 cars.\nFinal answer: 18",
    ),
    "weeks in a month": (
        "Miguel uses 2 pads a week, 30 sheets a pad. How many sheets a month?",
        "He uses 2 * 30 = 60 sheets a week, so 60 * 4 = 240 a month.\nFinal answer: 240",
    ),
    "a stated quantity converted": (
        "Amy eats 3 candies a day. How many does she eat in two weeks?",
        "Two weeks are 14 days, so 3 * 14 = 42 candies.\nFinal answer: 42",
    ),
    "rounding up to whole packs": (
        "Glue sticks come in packs of 8. A class needs 54. How many packs to buy?",
        "54 / 8 = 6.75 packs, and he must buy whole packs: 6.75 + 0.25 = 7.\nFinal answer: 7",
    ),
    "reciprocal of a fraction word": (
        "A fifth of the 25 oranges are unripe. How many are unripe?",
        "25 * 0.2 = 5 oranges.\nFinal answer: 5",
    ),
    "percent as a fraction": (
        "A basket holds 25 oranges; 20% are unripe. How many are unripe?",
        "There are 25 x 1/5 = 5 unripe oranges.\nFinal answer: 5",
    ),
}


@pytest.mark.parametrize("case", sorted(GROUNDED))
def test_operand_origin_knows_where_numbers_come_from(case: str) -> None:
    question, solution = GROUNDED[case]
    assert _origin(question, solution) == []


def test_operand_origin_still_flags_numbers_from_nowhere() -> None:
    question = "Tom has 12 apples and buys 30 more. He gives away 5. How many are left?"
    assert _origin(question, "12 + 30 = 42. Then 42 - 7 = 35.\nFinal answer: 35") == [
        ("operand_from_nowhere", "error", "42 - 7 = 35")
    ]
    # none of the excuses applies: no week, no percent, no fraction, no head count
    assert _origin(question, "12 + 30 = 42. Then 42 * 0.8 = 33.6.\nFinal answer: 33.6") == [
        ("operand_from_nowhere", "error", "42 * 0.8 = 33.6")
    ]
    # the same 7 is fine once the words bring it in
    week = question + " He does this every day for a week."
    assert _origin(week, "12 + 30 = 42. Then 42 - 7 = 35.\nFinal answer: 35") == []


def test_operand_solved_back_from_a_known_result_is_only_a_warning() -> None:
    question = "Peter has 4 boxes with 64 chocolate bars in all. How many in each box?"
    assert _origin(question, "Peter has 4 * 16 = 64 bars.\nFinal answer: 16") == [
        ("operand_from_nowhere", "warning", "4 * 16 = 64")
    ]


def test_operand_origin_reads_annotated_traces_like_plain_ones() -> None:
    question = "Janet's ducks lay 16 eggs. She eats 3 and bakes with 4. How many are left?"
    plain = "She has 16 - 3 = 13 eggs, then 13 - 4 = 9.\nA: 9"
    annotated = "She has 16 - 3 = <<16-3=13>>13 eggs, then 13 - 4 = <<13-4=9>>9.\nA: 9"
    assert _origin(question, plain) == _origin(question, annotated) == []
    broken = "She has 16 - 3 = <<16-3=13>>13 eggs, then 13 - 6 = <<13-6=7>>7.\nA: 7"
    [(flaw, severity, evidence)] = _origin(question, broken)
    assert (flaw, severity) == ("operand_from_nowhere", "error")
    assert evidence == "13 - 6 = <<13-6=7>>7"  # the span of the trace as written


# --- arith_step_check: what a claim says --------------------------------------------------------

NOT_WRONG = {
    "space thousands": "Tax is $350 000 * 0.2 = $70 000 this year.",
    "space thousands without $": "They sold 350 000 * 2 = 700 000 bricks.",
    "unit words between operands": "She sends 9 pink eggs * 1/3 = 3.0 eggs a day.",
    "units on every operand": "So 12 kg - 4 kg - 3 kg = 5 kg of apples are left.",
    "per-unit rate": "He earns $5 per hour * 3 = $15.",
    "long float": "Each truck carries 2000 / 75 = 26.666666666666668 flagstones.",
    "long float as operand": "So 80 / 26.666666666666668 = 3 trucks are needed.",
    "float noise": "The total is 4.20 + 9.45 + 1.35 = 14.999999999999998 dollars.",
    "rounded operand": "Each trip collects 4 / 0.3333 = 12 berries.",
    "leading-dot decimal": "She scores 10 x .8 = 8.0 points.",
    "tail of an algebra line": "Thus, C + 15 = 110 - 5 = 105, so C = 90.",
    "bare number introducing a chain": "The coupon saved my mom $7 = $26 - $7 = $19 left.",
    "comparison before a claim": "He has 11 < 30 / 3 = 10 apples? No, 10 < 11.",
    "mixed units": "He is 5 feet + 6 inches = 66 inches tall.",
    "variable in an annotation": "So she kept <<X-19.5=19.5>>19.5 dollars.",
}


@pytest.mark.parametrize("case", sorted(NOT_WRONG))
def test_arith_reads_real_notation_without_false_alarms(case: str) -> None:
    assert [x for x in _arith(NOT_WRONG[case]) if x[1] == "error"] == []


@pytest.mark.parametrize(
    ("text", "claim"),
    [
        ("The total is $4.20 + $9.45 + $1.35 = $14.99.", "$4.20 + $9.45 + $1.35 = $14.99"),
        ("She has 12 kg * 1/3 = 5 kg of apples.", "12 kg * 1/3 = 5"),
        ("So 12 kg - 4 kg - 3 kg = 6 kg are left.", "12 kg - 4 kg - 3 kg = 6"),
        ("Tax is $350 000 * 0.2 = $60 000 this year.", "$350 000 * 0.2 = $60 000"),
        ("They have to leave because 11 < 30 / 11 = 11", "30 / 11 = 11"),
        ("The difference is 400 - 475 = 75.", "400 - 475 = 75"),
        ("So 2000 / 75 = 26.5 per truck.", "2000 / 75 = 26.5"),
    ],
)
def test_arith_still_flags_wrong_claims(text: str, claim: str) -> None:
    assert _arith(text) == [("wrong_arithmetic", "error", claim)]


@pytest.mark.parametrize(
    ("text", "claim"),
    [
        ("He fills 15 / 4 = 3 whole boxes.", "15 / 4 = 3"),
        ("The new price is $126 + $6.3 = $132.", "$126 + $6.3 = $132"),
        ("She needs 54 / 8 = 7 packs.", "54 / 8 = 7"),
        ("About 2 / 3 = 0.66 of it.", "2 / 3 = 0.66"),
    ],
)
def test_rounded_results_are_warnings(text: str, claim: str) -> None:
    assert _arith(text) == [("rounded_result", "warning", claim)]


def test_calculator_annotations_are_checked_claims() -> None:
    assert _arith("She has 16 - 3 = <<16-3=13>>13 eggs.") == []
    assert _arith("Each gets 2000 / 75 = <<2000/75=26.666666666666668>>26.67 stones.") == []
    # a wrong outer claim is flagged once, over the span as written
    assert _arith("She has 16 - 3 = <<16-3=12>>12 eggs.") == [
        ("wrong_arithmetic", "error", "16 - 3 = <<16-3=12>>12")
    ]
    # the calculator said 13, the trace wrote 12: the claim as written is wrong
    assert _arith("She has 16 - 3 = <<16-3=13>>12 eggs.") == [
        ("wrong_arithmetic", "error", "16 - 3 = <<16-3=13>>12")
    ]
    # a wrong annotation with no '=' claim outside it
    [(flaw, severity, evidence)] = _arith("She keeps <<16-3=12>>12 eggs.")
    assert (flaw, severity, evidence) == ("wrong_arithmetic", "error", "<<16-3=12>>")
    labels = get_labeler("arith_step_check_v2").label(Trace("t", "She keeps <<16-3=12>>12 eggs."))
    assert "calculator annotation" in (labels[0].critique or "")


def test_annotation_spans_point_into_the_text_as_written() -> None:
    text = "A <<1+1=2>>2 and then 5 + 5 = <<5+5=11>>11, so 11 - 1 = <<11-1=10>>10."
    [label] = get_labeler("arith_step_check_v2").label(Trace("t", text))
    assert text[label.char_start : label.char_end] == "5 + 5 = <<5+5=11>>11"  # type: ignore[index]
    assert label.evidence == "5 + 5 = <<5+5=11>>11"


# --- repetition_loop: decimal points end no sentence -------------------------------------------


def test_repetition_loop_does_not_split_at_decimal_points() -> None:
    lab = get_labeler("repetition_loop_v2")
    amounts = (
        "Brady has $5.0 in his piggy bank.\nHe has $4.0 in his piggy bank.\n"
        "He has $2.0 in his piggy bank.\nHe has $40.0 in his piggy bank.\nA: 51"
    )
    assert lab.label(Trace("t", amounts)) == []
    loop = "He has $5.0 in his piggy bank.\n" * 4 + "A: 5"
    [label] = lab.label(Trace("t", loop))
    assert label.flaw_type == "repetition_loop" and "$5.0 in his piggy bank" in label.evidence


def test_sentences_are_the_decimal_aware_regex_in_linear_time() -> None:
    import random
    import re

    from thresher.filters.flaws.repetition import sentences

    regex = re.compile(r"(?:[^.!?\n]|[.!?](?=\d)){12,400}(?:[.!?](?!\d)|\n)")
    words = ["$5.0", "in his bank.", "3.25", "so", "\n", "why?", "x" * 30, "a" * 450, "1.", "!9"]
    rng = random.Random(3)
    for _ in range(300):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(0, 40)))
        assert list(sentences(text)) == [m.span() for m in regex.finditer(text)], text


# --- answer labels with GSM8K-style markers ----------------------------------------------------


def test_answer_labels_read_a_colon_marker_and_whole_number_rounding() -> None:
    mismatch, unsupported = (
        get_labeler("answer_trace_mismatch_v2"),
        get_labeler("unsupported_answer_v3"),
    )
    rounded = Trace("t", "She needs 580 / 110 = 5.27 bags of food.\nA: 5")
    assert [(x.flaw_type, x.severity) for x in mismatch.label(rounded)] == [
        ("answer_trace_mismatch", "warning")
    ]
    assert unsupported.label(rounded) == []
    wrong = Trace("t", "He buys 10 + 10 + 22 = 42 cupcakes.\nThen 42 - 8 = 34 are left.\nA: 40")
    assert [(x.flaw_type, x.severity) for x in mismatch.label(wrong)] == [
        ("answer_trace_mismatch", "error")
    ]
    noise = Trace("t", "Only 10/30 = 0.3333333333333333 of them oversee it.\nA: 0.3333333333333335")
    assert unsupported.label(noise) == [] and mismatch.label(noise) == []
    asserted = Trace("t", "You've already solved the problem, here is the last line.\n#### 45")
    assert [x.flaw_type for x in unsupported.label(asserted)] == ["answer_not_derived"]


def test_whole_numbers_in_prose_are_read_once() -> None:
    found = [(m.group(0), number_value(m.group(0))) for m in NUMBER.finditer("$1 000, 3 500")]
    assert found == [("$1 000", 1000), ("3", 3), ("500", 500)]
    values = {v for _, v in word_values("forty-two, three-quarters, one and a half")}
    assert {42, 3, 4} <= values and 0.75 in values and 1.5 in values


def test_a_megabyte_of_digits_is_not_a_number() -> None:
    text = "1" * 100_000 + " + 1 = 2. " + "9." * 50_000
    assert [m.group(0) for m in NUMBER.finditer(text)][:2] == ["1", "2"]
    assert copied_spans(text, text[:1000]) == []  # no 12-word run in the reference
    assert label_traces([Trace("t", text, question="q")], rule_labelers())  # no crash
