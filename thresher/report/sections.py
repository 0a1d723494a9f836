"""The report's summary sections as HTML: funnel, reasons, flaws, pass rates, accuracy,
provenance, dedup and contamination, generation cost, and the diff against another version."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from thresher.report import svg
from thresher.report.data import PASS_BINS, Figures
from thresher.report.diff import VersionDiff
from thresher.report.spans import CATEGORY_COLORS
from thresher.schemas import FUNNEL_STAGES

__all__ = ["SECTIONS", "diff_section", "summary_sections", "table"]

SECTIONS = {
    "funnel": "Funnel",
    "reasons": "Decisions by reason",
    "flaws": "Flaw labels",
    "pass-rates": "Pass rates and difficulty",
    "accuracy": "Accuracy",
    "provenance": "Provenance",
    "dedup": "Dedup and contamination",
    "cost": "Generation cost",
}
_DIFFICULTY = ("unsolved", "hard", "medium", "easy", "trivial", "unknown")


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    value = float(value)
    return f"{value:,.{digits}f}" if digits or not value.is_integer() else f"{int(value):,}"


def table(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, cls: str = "", attrs: str = ""
) -> str:
    """An HTML table; cells are escaped unless given as ('html', markup)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            if isinstance(cell, tuple) and cell and cell[0] == "html":
                cells.append(f"<td>{cell[1]}</td>")
            else:
                cells.append(f"<td>{escape('' if cell is None else str(cell))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        return '<p class="empty">nothing recorded</p>'
    return (
        f'<table class="{escape(cls)}" {attrs}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _section(key: str, body: str, intro: str = "") -> str:
    lead = f'<p class="intro">{intro}</p>' if intro else ""
    return f'<section id="{key}"><h2>{escape(SECTIONS[key])}</h2>{lead}{body}</section>'


def _funnel(f: Figures) -> str:
    rollouts = f.funnel.get("rollouts", 0)
    rows = []
    for stage in FUNNEL_STAGES:
        n = f.funnel.get(stage, 0)
        share = "" if stage == "problems" or not rollouts else f"{n / rollouts:.1%}"
        cell = f'<span data-funnel="{stage}">{n}</span>'
        rows.append((stage.replace("_", " "), ("html", cell), share))
    chart = svg.bars(
        [(s.replace("_", " "), f.funnel.get(s, 0)) for s in FUNNEL_STAGES[1:]],
        label="traces reaching each funnel stage",
    )
    intro = (
        "How many traces reach each stage of the selection policy, from this version's "
        "decisions (a trace counts for every stage it passed)."
    )
    return _section(
        "funnel", table(("stage", "count", "share of rollouts"), rows, cls="funnel") + chart, intro
    )


def _reasons(f: Figures) -> str:
    traces = svg.bars(
        [(r["reason"], r["traces"]) for r in f.trace_reasons],
        label="traces by reason code",
        color="#868e96",
    )
    problems = table(
        ("problem reason", "problems"), [(r["reason"], r["problems"]) for r in f.problem_reasons]
    )
    intro = (
        "Each trace's reason code is the first rule of the policy that decided it "
        "(<code>near_duplicate_of:&lt;trace&gt;</code> is counted as one code)."
    )
    return _section("reasons", "<h3>Traces</h3>" + traces + "<h3>Problems</h3>" + problems, intro)


def _flaws(f: Figures) -> str:
    by_labeler: dict[str, int] = defaultdict(int)
    by_severity: dict[str, int] = defaultdict(int)
    for r in f.flaws:
        by_labeler[r["labeler"]] += r["labels"]
        by_severity[r["severity"]] += r["labels"]
    rows = [
        (r["labeler"], r["flaw_type"], r["severity"], r["labels"], r["traces"], r["in_selected"])
        for r in f.flaws
    ]
    body = (
        table(("labeler", "flaw type", "severity", "labels", "traces", "in selected"), rows)
        + "<h3>Labels by labeler</h3>"
        + svg.bars(
            sorted(by_labeler.items(), key=lambda kv: -kv[1]),
            label="labels by labeler",
            color="#e8590c",
        )  # fmt: skip
        + "<h3>Labels by severity</h3>"
        + svg.bars(
            [(s, by_severity[s]) for s in ("error", "warning", "info") if s in by_severity],
            label="labels by severity",
            color="#f08c00",
        )
    )
    return _section("flaws", body, "Flaw labels on this version's traces (all labelers).")


def _pass_rates(f: Figures) -> str:
    hist: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0] * (PASS_BINS + 1))
    for r in f.pass_rates:
        key = (r["mode"], r["model"], r["verifier"])
        hist[key][PASS_BINS if r["bin"] < 0 else r["bin"]] += int(r["problems"])
    edges = [f"{i / PASS_BINS:.1f}–" for i in range(PASS_BINS)] + ["n/a"]
    charts = []
    for (mode, model, verifier), counts in sorted(hist.items()):
        name = f"{mode} · {model} · {verifier}"
        charts.append(
            f'<figure class="hist" data-mode="{escape(mode)}"><figcaption>{escape(name)}'
            f"</figcaption>{svg.histogram(counts, label=f'pass rate per problem: {name}', edges=edges)}"
            "</figure>"
        )
    buckets: dict[tuple[str, str, str], dict[str, int]] = defaultdict(dict)
    for r in f.difficulty:
        buckets[(r["mode"], r["model"], r["verifier"])][r["difficulty"]] = int(r["problems"])
    rows = [(*key, *(b.get(d, 0) for d in _DIFFICULTY)) for key, b in sorted(buckets.items())]
    body = ("".join(charts) or '<p class="empty">no pass-rate statistics</p>') + table(
        ("mode", "model", "verifier", *_DIFFICULTY), rows
    )
    intro = (
        "Problems by pass rate (correct / decided samples), per generation mode: a problem the "
        "policy never solves on its own may be trivial with the reference in view."
    )
    return _section("pass-rates", body, intro)


def _accuracy(f: Figures) -> str:
    rows, chart = [], []
    for r in f.accuracy:
        acc = r["correct"] / r["decided"] if r["decided"] else None
        rows.append(
            (r["model"], r["mode"], r["verifier"], r["traces"], r["decided"], r["correct"],
             "–" if acc is None else f"{acc:.1%}")
        )  # fmt: skip
        chart.append((f"{r['mode']} · {r['model']}", round(100 * (acc or 0.0), 1)))
    body = table(("model", "mode", "verifier", "traces", "decided", "correct", "accuracy"), rows)
    return _section("accuracy", svg.bars(chart, label="accuracy (%) per mode and model") + body)


def _provenance(f: Figures) -> str:
    keys = list(CATEGORY_COLORS)
    shares = [
        (f"{r['mode']} ({r['traces']})", {k: r[k] or 0.0 for k in keys}) for r in f.provenance
    ]
    rows = [
        (r["mode"], r["scorer"], r["traces"], *(f"{(r[k] or 0):.1%}" for k in keys),
         _num(r["divergence"], 3), _num(r["divergence_selected"], 3))
        for r in f.provenance
    ]  # fmt: skip
    cats = [(r["category"], r["sentences"], _num(r["student_tokens"])) for r in f.categories]
    body = (
        svg.stacked(shares, label="mean provenance shares per mode", colors=CATEGORY_COLORS)
        + table(("mode", "scorer", "traces", *keys, "divergence", "divergence (selected)"), rows)
        + "<h3>Sentences by category</h3>"
        + table(("category", "sentences", "student tokens"), cats)
    )
    intro = (
        "Where each sentence came from: its mean log-prob under the teacher and the student "
        "decides the category; divergence is log p(teacher) − log p(student) per token."
    )
    return _section("provenance", body, intro)


def _dedup(f: Figures, shown: set[str]) -> str:
    rows = [
        (r["method"], r["embedder"] or "–", r["threshold"], _num(r["traces"]), r["clusters"],
         r["duplicate_clusters"], _num(r["traces_in_duplicates"]), r["largest"])
        for r in f.dedup
    ]  # fmt: skip
    clusters = []
    for c in f.clusters:
        members = ", ".join(
            _trace_link(t, shown) + f" <small>{escape(reason or '')}</small>"
            for t, reason in zip(c["members"], c["reasons"], strict=False)
        )
        clusters.append(
            (c["method"], c["threshold"], c["size"], ("html", _trace_link(c["representative"],
             shown)), ("html", members))
        )  # fmt: skip
    flags = [
        (r["benchmark"], r["problem_id"], r["benchmark_item"], f"{r['overlap']:.0%}",
         r["matched_ngrams"], r["evidence"], r["reason"])
        for r in f.contamination
    ]  # fmt: skip
    body = (
        table(
            (
                "method",
                "embedder",
                "threshold",
                "traces",
                "clusters",
                "duplicate clusters",
                "traces in duplicates",
                "largest",
            ),
            rows,
        )  # fmt: skip
        + "<h3>Largest duplicate clusters</h3>"
        + table(("method", "threshold", "size", "representative", "members"), clusters)
        + "<h3>Contamination</h3>"
        + table(
            ("benchmark", "problem", "item", "overlap", "n-grams", "evidence", "decision"), flags
        )  # fmt: skip
    )
    return _section("dedup", body)


def _cost(f: Figures) -> str:
    total: dict[str, float] = defaultdict(float)
    rows = []
    for r in f.cost:
        for k in ("traces", "prompt_tokens", "completion_tokens", "engine_seconds", "selected"):
            total[k] += float(r[k] or 0)
        rows.append(
            (r["model"], r["engine"], r["mode"], r["traces"], _num(r["prompt_tokens"]),
             _num(r["completion_tokens"]), _num(r["engine_seconds"], 1), r["selected"])
        )  # fmt: skip
    kept = total["selected"]
    per_kept = [
        ("traces generated", _num(total["traces"])),
        ("output tokens", _num(total["completion_tokens"])),
        ("engine seconds", _num(total["engine_seconds"], 1)),
        ("verifier seconds", _num(f.verifier_seconds, 1)),
        ("kept (selected) traces", _num(kept)),
        ("output tokens per kept trace",
         _num(total["completion_tokens"] / kept, 1) if kept else "–"),
        ("engine seconds per kept trace", _num(total["engine_seconds"] / kept, 2) if kept else "–"),
    ]  # fmt: skip
    body = table(
        ("model", "engine", "mode", "traces", "prompt tokens", "output tokens", "engine s",
         "selected"), rows,
    ) + table(("total", "value"), per_kept, cls="totals")  # fmt: skip
    intro = (
        "Engine seconds: the wall time of each vLLM engine call, counted once per call (for an "
        "OpenAI-compatible server, each request's time; concurrent requests overlap)."
    )
    return _section("cost", body, intro)


def _trace_link(trace_id: str, shown: set[str]) -> str:
    short = escape(trace_id[:12])
    if trace_id in shown:
        return f'<a href="#trace-{escape(trace_id)}"><code>{short}</code></a>'
    return f'<code title="{escape(trace_id)}">{short}</code>'


def summary_sections(f: Figures, shown: set[str]) -> str:
    """Every summary section, in the order of SECTIONS."""
    return "".join(
        (_funnel(f), _reasons(f), _flaws(f), _pass_rates(f), _accuracy(f), _provenance(f),
         _dedup(f, shown), _cost(f))
    )  # fmt: skip


def diff_section(diff: VersionDiff | None, shown: set[str], limit: int = 200) -> str:
    """What changed since another version: counts and the changed subjects (up to `limit`)."""
    if diff is None:
        body = '<p class="empty">this is the lake\'s first version: nothing to compare with</p>'
        return f'<section id="diff"><h2>Changes</h2>{body}</section>'
    summary = table(("change", "count"), [(k.replace("_", " "), n) for k, n in diff.summary().items()],
                    attrs='data-diff="summary"')  # fmt: skip
    changes = table(
        ("level", "from", "to", "count"),
        [(c["level"], c["from"], c["to"], c["count"]) for c in diff.changes()],
        attrs='data-diff="changes"',
    )
    listed = [
        (r.level, r.change, ("html", _trace_link(r.subject_id, shown) if r.level == "trace"
         else f"<code>{escape(r.subject_id[:12])}</code>"), r.old_reason or "(not decided)",
         r.new_reason or "(not decided)")
        for r in diff.rows[:limit]
    ]  # fmt: skip
    more = (
        f'<p class="note">{len(diff.rows) - limit} more; '
        f"<code>thresher diff {escape(diff.old.name)} {escape(diff.new.name)} --format csv</code>"
        " lists all</p>"
        if len(diff.rows) > limit
        else ""
    )
    body = (
        f"<p>From <b>{escape(diff.old.name)}</b> (snapshot {diff.old.snapshot_id}) to "
        f"<b>{escape(diff.new.name)}</b> (snapshot {diff.new.snapshot_id}).</p>"
        + summary
        + "<h3>Reason changes</h3>"
        + changes
        + "<h3>Changed subjects</h3>"
        + table(("level", "change", "subject", "from", "to"), listed)
        + more
    )
    return f'<section id="diff"><h2>Changes since {escape(diff.old.name)}</h2>{body}</section>'
