"""Segmentation: boundaries where a reader sees them, never inside numbers, math or code."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from thresher.text.segment import segment


def texts(text: str) -> list[str]:
    return [s.text for s in segment(text)]


def test_plain_sentences_split_and_spans_point_at_text() -> None:
    text = "First we add 3 and 4.  That gives 7! Is it right? Yes."
    segs = segment(text)
    assert [s.text for s in segs] == [
        "First we add 3 and 4.",
        "That gives 7!",
        "Is it right?",
        "Yes.",
    ]
    for i, s in enumerate(segs):
        assert s.index == i
        assert text[s.start : s.end] == s.text


def test_decimals_and_abbreviations_do_not_split() -> None:
    assert texts("The price is 3.5 dollars, e.g. about 3.50 each. Then we stop.") == [
        "The price is 3.5 dollars, e.g. about 3.50 each.",
        "Then we stop.",
    ]
    assert texts("Use approx. Two apples, i.e. Two. Done.") == [
        "Use approx. Two apples, i.e. Two.",
        "Done.",
    ]


def test_lowercase_continuation_is_one_sentence() -> None:
    assert texts("He paid 5 dollars. then left.") == ["He paid 5 dollars. then left."]


def test_inline_and_display_math_are_never_split() -> None:
    text = "We get $x = 3. Y = 4$ here. Next $$a. B. c$$ done. Also \\(p. Q\\) ok. End."
    assert texts(text) == [
        "We get $x = 3. Y = 4$ here.",
        "Next $$a. B. c$$ done.",
        "Also \\(p. Q\\) ok.",
        "End.",
    ]


def test_money_is_not_mistaken_for_math() -> None:
    assert texts("Tom has $5. Then he pays $6. He has less.") == [
        "Tom has $5.",
        "Then he pays $6.",
        "He has less.",
    ]


def test_boxed_and_nested_braces_are_not_split() -> None:
    text = "So the answer is \\boxed{\\frac{1.5}{2}. A}. Done."
    assert texts(text) == ["So the answer is \\boxed{\\frac{1.5}{2}. A}.", "Done."]


def test_code_blocks_stay_whole() -> None:
    text = "Run this.\n```python\nx = 1. \nprint(x)\n\ny = 2\n```\nIt prints 1. Good."
    assert texts(text) == [
        "Run this.",
        "```python\nx = 1. \nprint(x)\n\ny = 2\n```",
        "It prints 1.",
        "Good.",
    ]
    assert texts("Call `f(). G()` now. Next.") == ["Call `f(). G()` now.", "Next."]


def test_list_items_lines_and_paragraphs_are_boundaries() -> None:
    text = "Steps:\n1. Add 2 and 3\n2. Multiply by 4\n- a bullet\n\nNew paragraph here"
    assert texts(text) == [
        "Steps:",
        "1. Add 2 and 3",
        "2. Multiply by 4",
        "- a bullet",
        "New paragraph here",
    ]


def test_list_marker_alone_on_its_line_joins_its_item() -> None:
    assert texts("1.\nAdd them.\n2.\nDone.") == ["1.\nAdd them.", "2.\nDone."]


def test_empty_and_whitespace_give_no_segments() -> None:
    assert segment("") == []
    assert segment("   \n\n  ") == []


def test_punctuation_only_leftover_joins_previous_sentence() -> None:
    assert texts("Wait. ...\nOK") == ["Wait. ...", "OK"]


@given(st.text(alphabet=st.sampled_from(list("ab .$\\{}`\n1?!E")), max_size=80))
def test_spans_are_ordered_disjoint_and_exact(text: str) -> None:
    segs = segment(text)
    prev_end = 0
    for s in segs:
        assert prev_end <= s.start < s.end <= len(text)
        assert text[s.start : s.end] == s.text
        assert s.text == s.text.strip()
        prev_end = s.end
