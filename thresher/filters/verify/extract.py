"""Find the final answer in a response: answer section, boxes, answer markers, bold, math.

Order: the last ``\\boxed{}`` group (boxes joined by "and"/","/"or" state one answer together)
unless an explicit answer marker comes after it ("Final answer: …", "The final answer is $X$. I
hope it is correct.", "the answer is …", "**Answer:** …", a line ``A: N`` or ``#### N``); then
markdown bold; then a short bare response; then the rightmost math span or number. ``$`` before
a digit is money, not math, unless the span it would open is LaTeX (``$2\\sqrt{3}$``).

Every function here runs in linear time on its input (no nested quantifiers, bounded
look-aheads), so a 100 KB response costs a scan, not a hang; it runs in the caller's process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from thresher.filters.verify.normalize import answer_like, clean_answer, numbers_in, prose_answer
from thresher.text.split import answer_section

__all__ = [
    "Extraction",
    "Span",
    "answer_section",
    "last_boxed",
    "all_boxed",
    "boxed_spans",
    "math_spans",
    "extract_answer",
    "extract_code",
    "strip_math",
]

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_MARKER = re.compile(
    r"(?i:final\s++answer\s++is\b|answer\s++is\b|answer\b[^\n.:$=]{1,40}?\bis\b)"
    r"(?:\s*+\*\*)?\s*+[:：]?(?:\s*+\*\*)?"
    r"|(?i:final\s++answer)(?:\s*+\*\*)?[ \t]*+(?:[:：](?:\s*+\*\*)?|$)"
    r"|(?i:answer)(?:\s*+\*\*)?\s*+[:：](?:\s*+\*\*)?"
    r"|^[ \t>]*+(?:\*\*)?A(?:\*\*)?[ \t]*+:(?:\*\*)?"
    r"|^[ \t>]*+####",
    re.MULTILINE,
)
# GSM8K's final line: "#### 72", "#### $1,000", "#### 18 dollars" (at most two words after it).
_HASH_ANSWER = re.compile(
    r"[ \t]*+(?:\\?\$[ \t]*+)?[-+]?\d[\d,]*+(?:[ \t]\d{3})*+(?:\.\d+)?"
    r"(?:[ \t]+\d+)?(?:[ \t]*/[ \t]*\d+)?(?:[ \t]+[A-Za-z]+){0,2}"
    r"[ \t.]*$|[ \t]*+[\\$][^\n]{0,60}$",
    re.MULTILINE,
)
_BOLD = re.compile(r"\*\*([^*\n]{1,200})\*\*")
_MATH_TOKEN = re.compile(r"\\\$|\$\$|\$|\\\(|\\\)|\\\[|\\\]|\n")
_LATEX_MARK = re.compile(r"[\\^_{]")
_NUMBER = re.compile(
    r"(?<![\w.])-?(?:\\?\$\s?)?(?:\d+[ \t]+\d+/\d+|[1-9]\d{0,2}(?:,\d{3})+|[1-9]\d{0,2}(?: \d{3})+"
    r"(?![\d,.])|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?(?:\s*\\?%)?"
)
_BARE_VARIABLE = re.compile(r"^[A-Za-z](?:_\{?\w{1,4}\}?)?$")
_IS = re.compile(r"\s(?:is|equals|=)\s", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.(?=\s|$)|[!?;]|\bI hope\b", re.IGNORECASE)
# What may stand between boxes (or math spans) that together state one answer.
_GAP_NOISE = re.compile(r"\\(?:quad|qquad|text|mathrm|textnormal|mbox)|\\[,;: ]|[${}()\\\[\]\s]")
_GAP_CONNECTOR = re.compile(r"^(?:(?:,|;|&|and|or)\s*)+$", re.IGNORECASE)
_GAP_WORDS = re.compile(r"^[\w\s,;&()']{0,40}$")
_GAP_STOP = re.compile(
    r"\b(?:then|wait|but|not|no|actually|instead|correct\w*|so|thus|hence|therefore|hmm|"
    r"oops|mistake|sorry|check\w*|answer|final|is|was|gives?|equals?)\b",
    re.IGNORECASE,
)
_FENCE = re.compile(r"```[ \t]*+([A-Za-z0-9_+-]{0,20})[^\n`]{0,200}\n(.*?)```", re.DOTALL)
_TRAILING = " \t\n.;,:!"
_TAIL = 2000
_MAX_PARTS = 32  # boxes or spans joined into one answer


@dataclass(frozen=True)
class Extraction:
    """An extracted answer and where it came from (for the verdict's reason)."""

    text: str | None
    method: str


@dataclass(frozen=True)
class Span:
    """A delimited piece of a text: [start, end) including delimiters, and its content."""

    start: int
    end: int
    text: str


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


def boxed_spans(text: str) -> list[Span]:
    """Every complete, outermost ``\\boxed{…}`` (or ``\\fbox``), in order."""
    found = list(_BOXED.finditer(text))
    if not found:
        return []
    base = found[0].start()
    pairs = _closing_braces(text[base:])
    spans: list[Span] = []
    for m in found:
        brace = m.end() - 1
        end = pairs.get(brace - base)
        if end is None or (spans and m.start() < spans[-1].end):
            continue  # unclosed, or nested inside the previous box
        spans.append(Span(m.start(), end + base + 1, text[brace + 1 : end + base].strip()))
    return spans


def last_boxed(text: str) -> str | None:
    """Content of the last complete ``\\boxed{…}`` (or ``\\fbox``), else None."""
    spans = boxed_spans(text)
    return spans[-1].text if spans else None


def all_boxed(text: str) -> list[str]:
    """Contents of every complete ``\\boxed{…}``, in order."""
    return [s.text for s in boxed_spans(text)]


def math_spans(text: str) -> list[Span]:
    """Math spans: ``$$…$$``, ``\\[…\\]``, ``\\(…\\)`` and ``$…$`` (one line; not money)."""
    tokens = [(m.start(), m.group()) for m in _MATH_TOKEN.finditer(text)]
    # Index of the next token of each kind after position i: one backward pass keeps it linear.
    nxt: dict[str, list[int]] = {k: [0] * (len(tokens) + 1) for k in ("$", "$$", "\\)", "\\]")}
    for kind in nxt:
        nxt[kind][len(tokens)] = len(tokens)
    for i in range(len(tokens) - 1, -1, -1):
        tok = tokens[i][1]
        for kind, table in nxt.items():
            hit = tok == kind or (kind == "$" and tok == "\n")  # an inline $ stops at a newline
            table[i] = i if hit else table[i + 1]
    spans: list[Span] = []
    i = 0
    while i < len(tokens):
        pos, tok = tokens[i]
        close_kind = {"$$": "$$", "\\[": "\\]", "\\(": "\\)", "$": "$"}.get(tok)
        if close_kind is None:
            i += 1
            continue
        j = nxt[close_kind][i + 1]
        if j >= len(tokens) or tokens[j][1] == "\n":
            i += 1
            continue
        start, end = pos + len(tok), tokens[j][0]
        content = text[start:end]
        limit = 300 if tok in ("$", "\\(") else 2000
        if tok == "$" and not _opens_math(text, pos, content, end):
            i += 1  # money ("$15000 + $5000"): this $ opens nothing
            continue
        if content.strip() and end - start <= limit:
            spans.append(Span(pos, end + len(tokens[j][1]), content.strip()))
            i = j + 1
        else:
            i += 1
    return spans


def _opens_math(text: str, pos: int, content: str, close: int) -> bool:
    """Whether a single ``$`` opens math: not after a digit ("5$"), and when a digit follows
    it (money) only if the span is LaTeX and its closing ``$`` does not start money itself."""
    if pos > 0 and text[pos - 1].isdigit():
        return False
    after = text[pos + 1 : pos + 2]
    if after.isdigit() or after == ".":
        closes_money = text[close + 1 : close + 2].isdigit()
        return bool(_LATEX_MARK.search(content)) and not closes_money
    return True


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


def _joinable(gap: str) -> bool:
    """Whether the text between two answer spans joins them into one answer ("and", ",")."""
    if len(gap) > 60 or "\n\n" in gap or not _GAP_WORDS.match(_GAP_NOISE.sub(" ", gap)):
        return False
    words = _GAP_NOISE.sub(" ", gap).strip()
    if not words:
        return True  # "\boxed{1}\boxed{2}", "$\boxed{1}$, $\boxed{2}$"
    if _GAP_STOP.search(words) or "." in gap:
        return False
    return bool(_GAP_CONNECTOR.match(words)) or bool(re.search(r"\b(?:and|or)\b|,", words))


def _group(spans: list[Span], text: str, last: int, first: int = 0) -> list[Span]:
    """The run of spans ending at index ``last`` whose gaps join them into one answer."""
    run = [spans[last]]
    k = last
    while (
        k > first and len(run) < _MAX_PARTS and _joinable(text[spans[k - 1].end : spans[k].start])
    ):
        k -= 1
        run.insert(0, spans[k])
    return run


def _joined(parts: list[str]) -> str:
    """One answer from the parts that state it together (repeats said once)."""
    cleaned = list(dict.fromkeys(c for c in (clean_answer(p) for p in parts) if c))
    return ", ".join(cleaned)


def _marked_answer(rest: str) -> str | None:
    """The answer after a marker: its math span (joined with any that continue the answer),
    else the answer expression of its sentence. None when a box comes first or nothing fits."""
    lines = [ln for ln in rest[:600].split("\n", 3)[:3] if ln.strip()]
    if not lines:
        return None
    line = lines[0].strip()
    if line.lstrip("*$\\([ ").startswith(("boxed", "fbox")):
        return None  # "Final Answer: \boxed{5}": the box itself is the answer
    hope = re.search(r"\bI hope\b", line, re.IGNORECASE)
    if hope:
        line = line[: hope.start()]
    end = _SENTENCE_END.search(line)
    sentence = line[: end.start()] if end else line
    spans = math_spans(sentence)
    if spans and not any(ch.isdigit() for ch in sentence[: spans[0].start]):
        run = [spans[0]]  # the first span, and those that continue it ("$x=1$ and $x=2$")
        for prev, span in zip(spans, spans[1:_MAX_PARTS], strict=False):
            if not _joinable(sentence[prev.end : span.start]):
                break
            run.append(span)
        after = sentence[run[-1].end :]
        said = _IS.search(after)
        if said is None:  # "$x^2+1$."; but "The largest $n$ is 34" states 34
            return _joined([s.text for s in run]) or None
        sentence = after[said.end() :]
    return prose_answer(sentence)


def _last_marker(section: str) -> tuple[int, str] | None:
    """(position, answer) of the last answer marker whose answer is usable."""
    markers = list(_MARKER.finditer(section))
    for m in reversed(markers[-8:]):
        if m.group().endswith("####") and not _HASH_ANSWER.match(section, m.end()):
            continue  # a markdown heading ("#### Step 1: ..."), not GSM8K's "#### 72"
        answer = _marked_answer(section[m.end() :])
        if not answer_like(answer):
            continue
        if not any(ch.isdigit() or ch == "\\" for ch in answer or ""):
            # Words only ("Answer: Let's compute."): an answer only if no numbers follow.
            line_end = section.find("\n", m.end() + 1)
            if line_end >= 0 and any(ch.isdigit() for ch in section[line_end:]):
                continue
        return m.start(), answer or ""
    return None


def _rightmost(section: str) -> Extraction | None:
    """The rightmost answer-like math span or number near the end of the section."""
    tail_start = max(0, len(section) - _TAIL)
    tail = section[tail_start:]
    every = [s for s in math_spans(tail) if answer_like(clean_answer(s.text))]
    number = None
    for m in _NUMBER.finditer(tail[-600:]):
        number = m
    # A lone variable ("The largest $n$ is 34") is an answer only when no number is near.
    spans = [s for s in every if not _BARE_VARIABLE.match(clean_answer(s.text))]
    spans = spans if spans or number is not None else every
    offset = len(tail) - len(tail[-600:])
    if spans and (number is None or offset + number.start() < spans[-1].end):
        run = _group(spans, tail, len(spans) - 1)
        return Extraction(_joined([s.text for s in run]), "inline_math")
    if number is not None:
        return Extraction(clean_answer(number.group(0)), "last_number")
    return None


def extract_answer(response: str) -> Extraction:
    """The final answer of a math/exact response, with the rule that found it."""
    section, where = answer_section(response)
    if section is None:
        return Extraction(None, where)
    boxes = boxed_spans(section)
    marker = _last_marker(section)
    if boxes and (marker is None or marker[0] < boxes[-1].end):
        run = _group(boxes, section, len(boxes) - 1)
        text = _joined([b.text for b in run])
        return Extraction(text, "boxed") if text else Extraction(None, "empty_boxed")
    if marker is not None:
        return Extraction(marker[1], "answer_phrase")
    for m in reversed(list(_BOLD.finditer(section))[-16:]):
        text = clean_answer(m.group(1))
        if answer_like(text) and not m.group(1).rstrip().endswith(":"):
            return Extraction(text, "bold")
    stripped = section.strip()
    if stripped and len(stripped) <= 40 and not any(c in stripped for c in "\n$\\"):
        said = prose_answer(stripped) or clean_answer(stripped)
        if len(said.split()) <= 3 or not numbers_in(said):  # prose with numbers: read on
            return Extraction(said, "whole_response")
    found = _rightmost(section)
    return found if found is not None else Extraction(None, "none_found")


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
