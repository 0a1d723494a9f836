"""A trace's text as HTML: sentences coloured by provenance category, flaws marked at their span.

Sentence spans (from `sentence_scores`) do not overlap; flaw spans may cross sentences, so the
text is cut at every span edge and each piece is wrapped in its sentence's <span> and in a
<mark> per flaw covering it. Every piece of text is escaped: traces are untrusted model output.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

__all__ = ["CATEGORY_COLORS", "flaw_spans", "render_text"]

CATEGORY_COLORS = {
    "teacher_originated": "#ffd8a8",
    "student_originated": "#a5d8ff",
    "shared": "#e9ecef",
    "boosted": "#d0bfff",
    "novel": "#fff3bf",
}


def flaw_spans(text: str, flaws: Sequence[dict[str, Any]]) -> list[tuple[int, int] | None]:
    """Each flaw's character span in `text`: its own, else its step's sentence, else None."""
    steps: list[tuple[int, int]] | None = None
    spans: list[tuple[int, int] | None] = []
    for flaw in flaws:
        start, end = flaw.get("char_start"), flaw.get("char_end")
        if start is None and flaw.get("step") is not None:
            if steps is None:
                from thresher.text.segment import segment

                steps = [(s.start, s.end) for s in segment(text)]
            step = int(flaw["step"])
            start, end = steps[step] if 0 <= step < len(steps) else (None, None)
        if start is None or start >= len(text):
            spans.append(None)
            continue
        end = len(text) if end is None else min(int(end), len(text))
        spans.append((int(start), max(int(end), int(start) + 1)))  # an empty span marks 1 char
    return spans


def render_text(
    text: str,
    sentences: Sequence[dict[str, Any]],
    flaws: Sequence[dict[str, Any]],
    offset: int = 0,
) -> str:
    """The trace text as escaped HTML with sentence and flaw markup."""
    sent: list[tuple[int, int, dict[str, Any]]] = []
    for s in sentences:
        start, end = offset + int(s["char_start"]), offset + int(s["char_end"])
        if start < len(text) and end > start:
            sent.append((start, min(end, len(text)), s))
    sent.sort(key=lambda item: item[0])
    marks = [(i, span) for i, span in enumerate(flaw_spans(text, flaws)) if span is not None]
    cuts = {0, len(text)}
    for start, end, _ in sent:
        cuts.update((start, end))
    for _, (start, end) in marks:
        cuts.update((start, end))
    edges = sorted(cuts)
    out: list[str] = []
    current: int | None = None  # index into `sent` of the open sentence span
    k = 0
    for a, b in zip(edges, edges[1:], strict=False):
        while k < len(sent) and sent[k][1] <= a:
            k += 1
        inside = k if k < len(sent) and sent[k][0] <= a < sent[k][1] else None
        if inside != current:
            if current is not None:
                out.append("</span>")
            if inside is not None:
                out.append(_open_sentence(sent[inside][2]))
            current = inside
        piece = escape(text[a:b])
        covering = [i for i, (s, e) in marks if s <= a and b <= e]
        if covering:
            severity = max((flaws[i].get("severity") or "info" for i in covering), key=_rank)
            ids = " ".join(str(i) for i in covering)
            title = "; ".join(
                f"{flaws[i]['labeler']}: {flaws[i]['flaw_type']} ({flaws[i]['severity']})"
                for i in covering
            )
            piece = (
                f'<mark class="flaw sev-{escape(severity)}" data-flaws="{ids}" '
                f'title="{escape(title)}">{piece}</mark>'
            )
        out.append(piece)
    if current is not None:
        out.append("</span>")
    return "".join(out)


def _open_sentence(s: dict[str, Any]) -> str:
    category = str(s["category"])
    title = (
        f"sentence {s['sentence_index']}: {category} "
        f"(teacher {_lp(s.get('teacher_logprob'))}, student {_lp(s.get('student_logprob'))}"
        + (
            f", distilled {_lp(s['distilled_logprob'])}"
            if s.get("distilled_logprob") is not None
            else ""
        )
        + " nats/token)"
    )
    return (
        f'<span class="sent c-{escape(category)}" data-sentence="{int(s["sentence_index"])}" '
        f'data-category="{escape(category)}" title="{escape(title)}">'
    )


def _lp(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.2f}"


def _rank(severity: str) -> int:
    return {"info": 0, "warning": 1, "error": 2}.get(severity, 0)
