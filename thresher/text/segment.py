"""Math-aware segmentation of a trace into sentences/steps with character spans.

Boundaries: sentence ends (``.``, ``!``, ``?`` followed by space and a new sentence), line
breaks, blank lines (paragraphs) and list items. Never inside a number (``3.5``), a known
abbreviation (``e.g.``), inline or display math (``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]``),
``\\boxed{…}`` and other braced LaTeX arguments, ``\\begin…\\end`` environments, or code
(fenced blocks and inline backticks). Every segment keeps its span in the original text, so
labels can point at their text: ``text[seg.start:seg.end] == seg.text``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Segment", "segment", "SEGMENTER", "protected_spans"]

SEGMENTER = "math_segment_v1"

# Lower-cased abbreviations (without their final dot) after which a period ends no sentence.
_ABBREVIATIONS = frozenset(
    [
        "e.g",
        "i.e",
        "etc",
        "vs",
        "cf",
        "approx",
        "eq",
        "eqs",
        "fig",
        "figs",
        "nos",
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "resp",
        "ca",
        "al",
        "viz",
        "incl",
        "avg",
        "deg",
        "hrs",
        "ft",
        "lb",
        "lbs",
        "oz",
        "km",
        "cm",
        "mm",
        "kg",
        "mg",
    ]
)

_FENCE = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)", re.S)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_DISPLAY_MATH = re.compile(r"\$\$.*?\$\$|\\\[.*?\\\]|\\begin\{(\w+\*?)\}.*?\\end\{\1\}", re.S)
# Pandoc's rule tells math from money: "$x$" opens before and closes after a non-space, and
# a closing "$" is never followed by a digit ("costs $5. Then $6" holds no math).
_INLINE_MATH = re.compile(
    r"(?<![\\$])\$(?=[^\s$])(?:\\.|[^$\\\n])*?(?<=\S)\$(?!\d)|\\\(.*?\\\)", re.S
)
# A LaTeX command with a braced argument: its braces are matched by hand (they nest).
_BRACED_COMMAND = re.compile(r"\\[A-Za-z]+\s*\{")
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*+•]|\d{1,3}[.)]|[A-Za-z][.)]|\(\w{1,3}\))[ \t]+")
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?=\s)")


@dataclass(frozen=True)
class Segment:
    """One sentence or step of a trace and where it is in the original text."""

    index: int
    start: int
    end: int
    text: str


def _matching_brace(text: str, open_at: int) -> int:
    """Index just past the brace matching ``text[open_at] == '{'`` (or the end of text)."""
    depth = 0
    i = open_at
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


def protected_spans(text: str) -> list[tuple[int, int]]:
    """Character ranges where no boundary may fall: code, math and braced LaTeX arguments."""
    spans: list[tuple[int, int]] = []
    taken = [False] * (len(text) + 1)

    def add(start: int, end: int) -> None:
        spans.append((start, end))
        for i in range(start, end):
            taken[i] = True

    for pattern in (_FENCE, _INLINE_CODE, _DISPLAY_MATH, _INLINE_MATH):
        for m in pattern.finditer(text):
            if not taken[m.start()]:
                add(m.start(), m.end())
    for m in _BRACED_COMMAND.finditer(text):
        if not taken[m.start()]:
            add(m.start(), _matching_brace(text, m.end() - 1))
    spans.sort()
    return spans


def _is_abbreviation(text: str, dot: int) -> bool:
    """Whether the period at ``dot`` closes an abbreviation or an initial, not a sentence."""
    start = dot
    while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    word = text[start:dot].lower().rstrip(".")
    if word in _ABBREVIATIONS:
        return True
    # A single capital letter is an initial ("J. Smith"), unless it stands alone as a list label.
    return len(word) == 1 and text[dot - 1].isupper() and start > 0 and text[start - 1] == " "


def _boundaries(text: str, blocked: list[bool]) -> set[int]:
    cuts: set[int] = set()
    # Line breaks (a single one separates steps; blank lines separate paragraphs).
    for m in re.finditer(r"\n", text):
        if not blocked[m.start()]:
            cuts.add(m.start())
    for m in _SENTENCE_END.finditer(text):
        end = m.end()
        if blocked[m.start()] or blocked[max(end - 1, 0)]:
            continue
        if (
            text[m.start()] == "."
            and m.end() - m.start() == 1
            and _is_abbreviation(text, m.start())
        ):
            continue
        j = end
        while j < len(text) and text[j] in " \t":
            j += 1
        if j >= len(text) or text[j] == "\n":
            continue  # the line break is already a boundary
        nxt = text[j]
        # A new sentence starts with a capital, a digit, math, code, a quote or a bracket;
        # a lower-case continuation ("approx. equal") is the same sentence.
        if nxt.isupper() or nxt.isdigit() or nxt in "$\\`\"'([*-":
            cuts.add(end)
    return cuts


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def segment(text: str) -> list[Segment]:
    """Split a trace into sentences/steps with spans into the original text."""
    blocked = [False] * (len(text) + 1)
    for start, end in protected_spans(text):
        for i in range(start, end):
            blocked[i] = True
    cuts = sorted(_boundaries(text, blocked))
    pieces: list[tuple[int, int]] = []
    prev = 0
    for cut in [*cuts, len(text)]:
        start, end = _trim(text, prev, cut)
        if end > start and any(ch.isalnum() or ch in "$\\`" for ch in text[start:end]):
            pieces.append((start, end))
        elif end > start and pieces:
            # Punctuation-only leftovers ("...", ")") stay with the sentence before them.
            pieces[-1] = (pieces[-1][0], end)
        prev = cut
    # A list marker alone on its line ("1." then the text on the next) joins what follows.
    merged: list[tuple[int, int]] = []
    for start, end in pieces:
        if merged and _LIST_ITEM.fullmatch(text[merged[-1][0] : merged[-1][1]] + " "):
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return [Segment(i, s, e, text[s:e]) for i, (s, e) in enumerate(merged)]
