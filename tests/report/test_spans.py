"""Trace text markup: sentences and flaws at their spans, everything escaped."""

from __future__ import annotations

import re
from html import unescape

from thresher.report import svg
from thresher.report.spans import flaw_spans, render_text


def _sentence(i: int, start: int, end: int, category: str = "shared") -> dict[str, object]:
    return {"sentence_index": i, "char_start": start, "char_end": end, "category": category,
            "teacher_logprob": -0.1, "student_logprob": -0.2}  # fmt: skip


def _flaw(start: int | None, end: int | None, step: int | None = None, sev: str = "error"):
    return {"labeler": "l_v1", "flaw_type": "f", "severity": sev, "step": step,
            "char_start": start, "char_end": end}  # fmt: skip


def _plain(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html))


def test_text_survives_markup_exactly_and_is_escaped() -> None:
    text = "<b>A</b> & B. Then </pre><script>x()</script> C."
    html = render_text(text, [_sentence(0, 0, 13), _sentence(1, 14, len(text), "novel")],
                       [_flaw(2, 20)])  # fmt: skip
    assert _plain(html) == text
    assert "<script>" not in html and "<b>" not in html and "&lt;script&gt;" in html
    sentences = re.findall(r'<span class="sent c-(\w+)" data-sentence="(\d)"', html)
    assert sentences == [("shared", "0"), ("novel", "1")]
    # The flaw crosses the sentence boundary: one mark in each sentence, the gap included.
    marks = re.findall(r'<mark class="flaw sev-error" data-flaws="0"[^>]*>(.*?)</mark>', html)
    assert _plain("".join(marks)) == text[2:20]


def test_overlapping_flaws_and_prefix_offsets() -> None:
    text = "PREFIX. one two three."
    sentences = [_sentence(0, 0, 15)]  # scored text starts after the 8-char prefix
    html = render_text(text, sentences, [_flaw(8, 15), _flaw(12, 21, sev="warning")], offset=8)
    span = re.search(r'<span class="sent[^>]*>(.*)</span>', html)
    assert span and _plain(span.group(1)) == text[8:23]
    assert 'data-flaws="0 1"' in html  # "two" is under both flaws
    assert 'class="flaw sev-error" data-flaws="0 1"' in html  # the worse severity shows


def test_flaw_without_chars_is_placed_at_its_step() -> None:
    text = "First step. Second step. Third step."
    spans = flaw_spans(text, [_flaw(None, None, step=1), _flaw(None, None, step=9),
                              _flaw(40, 41), _flaw(5, 5)])  # fmt: skip
    assert spans[0] is not None and text[slice(*spans[0])].strip() == "Second step."
    assert spans[1] is None and spans[2] is None  # no such step; beyond the text
    assert spans[3] == (5, 6)  # an empty span marks one character


def test_chart_labels_are_escaped() -> None:
    chart = svg.bars([("contaminated:bench<i>", 3), ("a&b", 1)], label="x<y")
    assert "<i>" not in chart and "contaminated:bench&lt;i&gt;" in chart
    assert 'aria-label="x&lt;y"' in chart
    assert svg.bars([], label="none") == '<p class="empty">nothing to show</p>'
