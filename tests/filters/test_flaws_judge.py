"""The judge labeler's prompt, paragraph numbering, index parsing and majority vote."""

from __future__ import annotations

import pytest

from thresher.filters.flaws.judge import (
    judge_prompt,
    majority_index,
    parse_index,
    split_paragraphs,
)

SOLUTION = (
    "<think>Tom has 3 bags.\n\nEach has 4 apples, so 3 * 4 = 13.</think>\n\nAnswer: \\boxed{13}"
)


def test_paragraphs_are_numbered_with_spans() -> None:
    paragraphs = split_paragraphs(SOLUTION)
    assert [p.index for p in paragraphs] == [0, 1, 2]
    assert paragraphs[1].text == "Each has 4 apples, so 3 * 4 = 13."
    for p in paragraphs:
        assert SOLUTION[p.start : p.end].replace("</think>", "").strip() == p.text.strip()
    single = split_paragraphs("line one\nline two\nline three")
    assert [p.text for p in single] == ["line one", "line two", "line three"]
    many = split_paragraphs("\n\n".join(f"p{i}" for i in range(100)))
    assert len(many) == 64 and many[-1].text.startswith("p63")


def test_prompt_has_question_and_tagged_paragraphs() -> None:
    prompt = judge_prompt("How many apples?", split_paragraphs(SOLUTION))
    assert "How many apples?" in prompt
    assert "<paragraph_1>\nEach has 4 apples, so 3 * 4 = 13.\n</paragraph_1>" in prompt
    assert "\\boxed{}" in prompt and "-1" in prompt


@pytest.mark.parametrize(
    ("output", "n", "expected"),
    [
        ("Paragraph 1 is wrong: 3 * 4 = 12. \\boxed{1}", 3, 1),
        ("All good. \\boxed{-1}", 3, -1),
        ("\\boxed{7}", 3, None),
        ("the earliest error is in paragraph 2", 3, 2),
        ("no idea", 3, None),
        ("\\boxed{\\text{1}}", 3, 1),
    ],
)
def test_parse_index(output: str, n: int, expected: int | None) -> None:
    assert parse_index(output, n) == expected


@pytest.mark.parametrize(
    ("votes", "expected"),
    [
        ([1, 1, -1], (1, 2)),
        ([2, 1, None], (1, 1)),
        ([None, None], (None, 0)),
        ([-1, 2], (-1, 1)),
        ([3, 2, 3, 2, -1], (2, 2)),
    ],
)
def test_majority(votes: list[int | None], expected: tuple[int | None, int]) -> None:
    assert majority_index(votes) == expected
