"""The trace browser: one collapsible entry per sampled trace, readable without JavaScript.

Each entry shows the problem, the trace with its sentences coloured by provenance category and
its flaws marked at their spans, the verdicts with what was extracted, and the decision trail
(DES events with tier and hash chain). Everything from the lake is escaped.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from thresher.report.sections import table
from thresher.report.spans import CATEGORY_COLORS, flaw_spans, render_text
from thresher.report.traces import GROUPS, Trace, TraceSample

__all__ = ["legend", "trace_browser"]

_GROUP_TITLES = {
    "selected": "Selected",
    "flawed_positive": "Flawed positives (right answer, broken reasoning)",
    "incorrect": "Incorrect",
}


def legend() -> str:
    """The provenance colour key and the flaw marks."""
    items = "".join(
        f'<span class="sent c-{escape(k)}">{escape(k)}</span> ' for k in CATEGORY_COLORS
    )
    flaws = (
        '<mark class="flaw sev-error">error</mark> <mark class="flaw sev-warning">warning</mark> '
        '<mark class="flaw sev-info">info</mark>'
    )
    return f'<p class="legend">provenance: {items} · flaws: {flaws}</p>'


def _verdict_line(trace: Trace) -> str:
    if not trace.verdicts:
        return "no verdict"
    v = trace.verdicts[-1]
    mark = {True: "✓", False: "✗"}.get(v["correct"], "?")
    return f"{mark} {v['verifier']} {v['status']}, extracted {v['extracted']!r}"


def _facts(trace: Trace) -> str:
    r, p = trace.rollout, trace.problem
    rows = [
        ("trace", trace.trace_id),
        ("problem", f"{r['problem_id']} ({p.get('source', '?')}, {p.get('kind', '?')})"),
        ("model", f"{r['model']} @ {r['model_revision'] or '–'} via {r['engine']}"),
        ("mode", r["mode"] + (" · saw the reference" if r["conditioned_on_ground_truth"] else "")),
        (
            "sampling",
            f"sample {r['sample_index']}, temperature {r['temperature']}, "
            f"max tokens {r['max_tokens']}, finish {r['finish_reason']}",
        ),  # fmt: skip
        ("tokens", f"{r['prompt_tokens']} prompt, {r['completion_tokens']} output"),
        ("decision", trace.reason),
    ]
    if r["prefix_chars"]:
        rows.append(
            ("prefix", f"first {r['prefix_chars']} characters from trace {r['prefix_trace_id']}")
        )
    cells = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in rows)
    question = escape(p.get("question") or "(problem not stored)")
    answer = escape(str(p.get("answer")))
    return (
        f'<dl class="facts">{cells}</dl><div class="question"><b>Question</b>'
        f"<pre>{question}</pre><b>Gold answer</b> <code>{answer}</code></div>"
    )


def _text(trace: Trace) -> str:
    total = len(trace.rollout.get("completion") or "") + (trace.rollout["prefix_chars"] or 0)
    cut = (
        f'<p class="note">showing the first {trace.shown_chars:,} of {total:,} characters</p>'
        if trace.shown_chars < total
        else ""
    )
    scorer = (
        f'<p class="note">sentences scored by <code>{escape(trace.scorer)}</code></p>'
        if trace.scorer
        else '<p class="note">no provenance scores for this trace</p>'
    )
    body = render_text(trace.text, trace.sentences, trace.flaws, trace.sentence_offset)
    return (
        f'{scorer}{legend() if trace.sentences or trace.flaws else ""}<pre class="text" data-trace="{escape(trace.trace_id)}" '
        f'data-offset="{trace.sentence_offset}">{body}</pre>{cut}'
    )


def _flaws(trace: Trace) -> str:
    spans = flaw_spans(trace.text, trace.flaws)
    rows = []
    for i, (f, span) in enumerate(zip(trace.flaws, spans, strict=True)):
        where = f"{span[0]}–{span[1]}" if span else "–"
        text = f.get("critique") or ""
        critique: object = text  # long critiques (a judge's) fold away
        if len(text) > 160:
            critique = ("html", f"<details><summary>{escape(text[:80])}…</summary>"
                                f"<pre>{escape(text)}</pre></details>")  # fmt: skip
        rows.append(
            (i, f["labeler"], f["flaw_type"], ("html", f'<span class="sev-{escape(f["severity"])}"'
             f">{escape(f['severity'])}</span>"), f["step"], where, f["evidence"], critique)
        )  # fmt: skip
    return "<h4>Flaws</h4>" + table(
        ("#", "labeler", "flaw", "severity", "step", "chars", "evidence", "critique"),
        rows,
        cls="flaws",
    )


def _verdicts(trace: Trace) -> str:
    rows = [
        (v["verifier"], v["status"], {True: "correct", False: "wrong"}.get(v["correct"],
         "undecided"), v["extracted"], v["reason"], f"{v['elapsed_s'] or 0:.3f}s")
        for v in trace.verdicts
    ]  # fmt: skip
    return "<h4>Verdict</h4>" + table(
        ("verifier", "status", "result", "extracted", "reason", "time"), rows
    )


def _trail(trace: Trace) -> str:
    rows = []
    for d in trace.decisions:
        evidence = json.dumps(d["evidence"], sort_keys=True, indent=1)
        chain = (
            f'<code title="{escape(d["hash"] or "")}">{escape((d["hash"] or "")[:16])}…</code>'
            f'<br><small>after <code title="{escape(d["previous_hash"] or "")}">'
            f"{escape((d['previous_hash'] or '')[:16])}…</code></small>"
        )
        rows.append(
            (d["time"], d["version"], d["type"].removeprefix("curation:"), d["output"],
             d["reason"], d["tier"], ("html", chain),
             ("html", f"<details><summary>evidence</summary><pre>{escape(evidence)}</pre>"
                      "</details>"))
        )  # fmt: skip
    return "<h4>Decision trail</h4>" + table(
        ("time", "version", "decision", "output", "reason", "tier", "hash", ""), rows,
        cls="trail",
    )  # fmt: skip


def _entry(trace: Trace) -> str:
    flags = len(trace.flaws)
    search = " ".join(
        (trace.trace_id, trace.reason, trace.rollout["mode"], trace.rollout["model"],
         trace.rollout["problem_id"])
    )  # fmt: skip
    summary = (
        f'<span class="badge g-{escape(trace.group)}">{escape(trace.reason)}</span> '
        f"<code>{escape(trace.trace_id[:12])}</code> · {escape(trace.rollout['mode'])} · "
        f"{escape(_verdict_line(trace))} · {flags} flaw label{'s' if flags != 1 else ''}"
    )
    return (
        f'<details class="trace" id="trace-{escape(trace.trace_id)}" '
        f'data-group="{escape(trace.group)}" data-search="{escape(search.lower())}">'
        f'<summary>{summary}</summary><div class="body">{_facts(trace)}{_text(trace)}'
        f"{_flaws(trace)}{_verdicts(trace)}{_trail(trace)}</div></details>"
    )


def trace_browser(sample: TraceSample) -> str:
    """The trace browser section: a legend, controls (when JS runs) and one list per group."""
    parts = [
        '<section id="traces"><h2>Trace browser</h2>',
        legend(),
        '<div class="controls" hidden><input id="filter" type="search" '
        'placeholder="filter by trace id, reason, mode, model" aria-label="filter traces"> '
        '<button type="button" id="expand">expand all</button> '
        '<button type="button" id="collapse">collapse all</button></div>',
    ]
    for group in GROUPS:
        mine: list[Any] = [t for t in sample.traces if t.group == group]
        total = sample.totals.get(group, 0)
        parts.append(
            f'<div class="group" data-group="{group}"><h3>{escape(_GROUP_TITLES[group])} '
            f"<small>{len(mine)} of {total} shown</small></h3>"
            + ("".join(_entry(t) for t in mine) or '<p class="empty">none in this version</p>')
            + "</div>"
        )
    parts.append("</section>")
    return "".join(parts)
