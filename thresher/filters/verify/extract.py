"""Find the final answer in a response: answer section, last boxed, answer phrases, bold, math.

Every function here runs in linear time on its input (no nested quantifiers), so a 100 KB
response costs a scan, not a hang; it runs in the caller's process before any worker is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "Extraction",
    "answer_section",
    "last_boxed",
    "all_boxed",
    "extract_answer",
    "extract_code",
    "strip_math",
]

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_PHRASE = re.compile(
    r"(?:final\s++answer\s*+(?:is\s*+)?[:：]?|answer\s++is\s*+[:：]?|answer\s*+[:：])\s*+",
    re.IGNORECASE,
)
_BOLD = re.compile(r"\*\*([^*\n]{1,200})\*\*")
_INLINE_MATH = re.compile(r"\$\$([^$]{1,500})\$\$|\$([^$\n]{1,300})\$|\\\(([^\n]{1,300}?)\\\)")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?")
_FENCE = re.compile(r"```[ \t]*+([A-Za-z0-9_+-]{0,20})[^\n`]{0,200}\n(.*?)```", re.DOTALL)
_TRAILING = " \t\n.;,:!"


@dataclass(frozen=True)
class Extraction:
    """An extracted answer and where it came from (for the verdict's reason)."""

    text: str | None
    method: str


def answer_section(response: str) -> tuple[str | None, str]:
    """The text after the last ``</think>``; None when a think block never closed."""
    close = response.rfind("</think>")
    if close >= 0:
        return response[close + len("</think>") :], "after_think"
    if "<think>" in response:
        return None, "unclosed_think"
    return response, "whole"


def _closing_braces(text: str) -> dict[int, int]:
    """Index of the closing brace for every balanced unescaped ``{``, in one pass."""
    stack: list[int] = []
    pairs: dict[int, int] = {}
    escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            pairs[stack.pop()] = i
    return pairs


def last_boxed(text: str) -> str | None:
    """Content of the last complete ``\\boxed{…}`` (or ``\\fbox``), else None."""
    starts = [m.end() - 1 for m in _BOXED.finditer(text)]
    if not starts:
        return None
    pairs = _closing_braces(text[starts[0] :])
    for brace in reversed(starts):
        end = pairs.get(brace - starts[0])
        if end is not None:
            return text[brace + 1 : end + starts[0]].strip()
    return None


def all_boxed(text: str) -> list[str]:
    """Contents of every complete ``\\boxed{…}``, in order."""
    starts = [m.end() - 1 for m in _BOXED.finditer(text)]
    if not starts:
        return []
    pairs = _closing_braces(text[starts[0] :])
    out = []
    for brace in starts:
        end = pairs.get(brace - starts[0])
        if end is not None:
            out.append(text[brace + 1 : end + starts[0]].strip())
    return out


def strip_math(text: str) -> str:
    """Remove math delimiters, bold markers and a trailing full stop around an answer."""
    s = text.strip().strip("*").strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right):
            s = s[len(left) : len(s) - len(right)].strip()
    boxed = last_boxed(s)
    if boxed is not None and s.startswith("\\boxed"):
        s = boxed
    return s.rstrip(_TRAILING).strip()


def _after_phrase(section: str) -> str | None:
    last = None
    for m in _PHRASE.finditer(section):
        last = m
    if last is None:
        return None
    rest = section[last.end() :]
    line = rest.split("\n", 1)[0].strip()
    if not line:
        return None
    math = _INLINE_MATH.search(line)
    if math:
        return next(g for g in math.groups() if g is not None).strip()
    # "is 42. Next we ..." keeps only the first sentence.
    sentence = re.split(r"\.(?:\s|$)", line, maxsplit=1)[0]
    return strip_math(sentence) or None


def extract_answer(response: str) -> Extraction:
    """The final answer of a math/exact response, with the rule that found it."""
    section, where = answer_section(response)
    if section is None:
        return Extraction(None, where)
    boxed = last_boxed(section)
    if boxed is not None:
        return Extraction(boxed, "boxed") if boxed else Extraction(None, "empty_boxed")
    phrase = _after_phrase(section)
    if phrase:
        return Extraction(phrase, "answer_phrase")
    bold = None
    for m in _BOLD.finditer(section):
        bold = m.group(1)
    if bold and strip_math(bold):
        return Extraction(strip_math(bold), "bold")
    tail = section[-2000:]
    math = None
    for m in _INLINE_MATH.finditer(tail):
        math = next(g for g in m.groups() if g is not None)
    if math and math.strip():
        return Extraction(math.strip(), "inline_math")
    stripped = section.strip()
    if stripped and len(stripped) <= 40 and "\n" not in stripped:
        return Extraction(strip_math(stripped), "whole_response")
    number = None
    for m in _NUMBER.finditer(tail[-300:]):
        number = m.group(0)
    if number:
        return Extraction(number.rstrip(","), "last_number")
    return Extraction(None, "none_found")


def extract_code(response: str) -> Extraction:
    """The last fenced code block (python or unlabelled) of a response's answer section."""
    section, where = answer_section(response)
    if section is None:
        return Extraction(None, where)
    chosen = None
    for m in _FENCE.finditer(section):
        lang = m.group(1).lower()
        if lang in ("", "python", "py", "python3"):
            chosen = m.group(2)
    if chosen is None or not chosen.strip():
        return Extraction(None, "no_code_block")
    return Extraction(chosen, "code_block")
