"""Final answers stated inside worked solutions, as real datasets ship them.

GSM8K's `answer` column is a worked solution whose last line is ``#### N`` (with ``<<a*b=c>>``
calculator annotations in the text); OpenAI's example model solutions end with a line ``A: N``;
MATH-style solutions put the final answer in the last ``\\boxed{}``. Ingest uses these to store
the answer N and the worked solution separately. Every function here is a linear scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Parsed", "final_line_answer", "last_boxed_answer", "split_answer", "strip_annotations"]

# "#### 72", "####72", "A: 18", "A:18" as the last non-empty line (GSM8K / OpenAI solutions).
_FINAL_LINE = re.compile(r"^[ \t]*(?:####|A:)[ \t]*(?P<answer>\S[^\n]*?)[ \t]*$")
# GSM8K calculator annotations: "16 - 3 = <<16-3=13>>13" (the result follows the markup).
_ANNOTATION = re.compile(r"<<[^<>\n]{0,200}=[^<>\n]{0,200}>>")
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")


@dataclass(frozen=True)
class Parsed:
    """An answer found in a worked solution, the solution text to keep, and how it was found."""

    answer: str
    solution: str | None
    method: str  # "####", "A:" or "boxed"


def strip_annotations(text: str) -> str:
    """The solution without GSM8K's ``<<expr=result>>`` calculator markup."""
    return _ANNOTATION.sub("", text)


def final_line_answer(text: str) -> Parsed | None:
    """``#### N`` or ``A: N`` on the last non-empty line: N and the text before that line."""
    body = text.rstrip()
    cut = body.rfind("\n") + 1
    match = _FINAL_LINE.match(body[cut:])
    if match is None:
        return None
    answer = match.group("answer").strip()
    if not answer:
        return None
    method = "####" if body[cut:].lstrip().startswith("####") else "A:"
    before = strip_annotations(body[:cut]).strip()
    return Parsed(answer, before or None, method)


def last_boxed_answer(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (balanced braces), or None."""
    found = None
    for match in _BOXED.finditer(text):
        found = match
    if found is None:
        return None
    depth, start = 1, found.end()
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                content = text[start:i].strip()
                return content or None
    return None


def split_answer(answer: str | None, solution: str | None) -> Parsed | None:
    """What ingest stores for a math row whose answer sits inside a worked solution, or None.

    - an answer in GSM8K's form (``… #### N``) or ending ``A: N`` becomes N, with the text
      before it (annotations removed) as the solution unless the row has its own solution;
    - without an answer, a solution ending ``#### N`` / ``A: N`` gives N (that line removed),
      and a MATH-style solution gives the content of its last ``\\boxed{}``.
    """
    if answer is not None and answer.strip():
        parsed = final_line_answer(answer)
        if parsed is None:
            return None
        if solution is not None and solution.strip():
            return Parsed(parsed.answer, solution, parsed.method)
        return parsed
    if solution is None or not solution.strip():
        return None
    parsed = final_line_answer(solution)
    if parsed is not None:
        return parsed
    boxed = last_boxed_answer(solution)
    return None if boxed is None else Parsed(boxed, solution, "boxed")
