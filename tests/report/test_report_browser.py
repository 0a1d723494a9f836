"""The report in a real headless Chromium: it renders cleanly, offline, and shows the lake's data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from thresher.report import write_report
from thresher.report.spans import CATEGORY_COLORS
from thresher.schemas import trace_text
from thresher.storage import Lake

from .conftest import HOSTILE_TRACE, ReportLake  # type: ignore[import-not-found]


def _rgb(hex_color: str) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


@pytest.fixture(scope="module")
def page(report_lake: ReportLake, chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("page") / "report.html"
    with Lake.open(report_lake.path, read_only=True) as lake:
        write_report(lake, out, report_lake.v2)
    chromium.events.clear()
    chromium.open(out.as_uri())
    chromium.path = out
    return chromium


def test_report_renders_with_no_console_error_and_loads_nothing(page: Any) -> None:
    assert page.errors() == []
    assert page.requests() == [page.path.as_uri()]  # no CDN, font, image or script fetched
    assert page.eval("document.title") == "thresher report — rep-v2"
    sections = page.eval("Array.from(document.querySelectorAll('main > section')).map(s => s.id)")
    assert sections == ["funnel", "reasons", "flaws", "pass-rates", "accuracy", "provenance",
                        "dedup", "cost", "diff", "traces"]  # fmt: skip
    assert page.eval("document.querySelectorAll('svg.chart').length") >= 7
    assert page.eval("document.querySelector('#traces .controls').hidden") is False


def test_funnel_in_the_page_equals_the_sql_counts(page: Any, report_lake: ReportLake) -> None:
    shown = page.eval(
        "Object.fromEntries(Array.from(document.querySelectorAll('[data-funnel]'))"
        ".map(e => [e.dataset.funnel, Number(e.textContent)]))"
    )
    with Lake.open(report_lake.path, read_only=True) as lake:
        version = next(v for v in lake.versions() if v.name == report_lake.v2)
        # Independently of the report: count the run's decisions by the stage each trace missed.
        row = lake.sql(
            "WITH d AS (SELECT decision_context.decision_type AS t, decision_logic.output AS o, "
            "json_extract_string(evidence_json, '$.stage') AS stage FROM decision_events "
            f"WHERE decision_context.dataset_version = '{report_lake.v2}') SELECT "
            "count(*) FILTER (WHERE t LIKE '%problem%') AS problems, "
            "count(*) FILTER (WHERE t LIKE '%trace%') AS rollouts, "
            "count(*) FILTER (WHERE t LIKE '%trace%' AND stage <> 'correct') AS correct, "
            "count(*) FILTER (WHERE t LIKE '%trace%' AND stage NOT IN ('correct', 'clean')) "
            "AS clean, count(*) FILTER (WHERE t LIKE '%trace%' AND o = 'select') AS selected "
            "FROM d",
            version=report_lake.v2,
        ).to_dicts()[0]
        rollouts = lake.sql("SELECT count(*) AS n FROM rollouts", version=report_lake.v2)
    assert shown == version.counts
    assert {k: shown[k] for k in row} == row
    assert shown["rollouts"] == rollouts["n"][0] == 11
    assert shown["selected"] == 6


def test_coloured_sentences_match_the_stored_sentence_scores(
    page: Any, report_lake: ReportLake
) -> None:
    for trace_id in (report_lake.hostile, report_lake.flawed[0]):
        with Lake.open(report_lake.path, read_only=True) as lake:
            rollout = lake.sql(
                f"SELECT completion, prompt, prefix_chars FROM rollouts WHERE trace_id = '{trace_id}'"
            ).to_dicts()[0]
            stored = lake.sql(
                "SELECT sentence_index, char_start, char_end, category FROM sentence_scores "
                f"WHERE trace_id = '{trace_id}' ORDER BY sentence_index"
            ).to_dicts()
        text = trace_text(rollout["completion"], rollout["prompt"], rollout["prefix_chars"])
        page.eval(f"document.getElementById('trace-{trace_id}').open = true")
        shown = page.eval(
            f"Array.from(document.querySelectorAll('pre[data-trace=\"{trace_id}\"] span.sent'))"
            ".map(e => ({i: Number(e.dataset.sentence), text: e.textContent, "
            "category: e.dataset.category, color: getComputedStyle(e).backgroundColor}))"
        )
        assert len(shown) == len(stored) > 2
        for s, row in zip(shown, stored, strict=True):
            assert s["i"] == row["sentence_index"]
            assert s["text"] == text[row["char_start"] : row["char_end"]]
            assert s["category"] == row["category"]
            assert s["color"] == _rgb(CATEGORY_COLORS[row["category"]])
        assert {s["category"] for s in shown} >= {"teacher_originated", "shared", "novel"}


def test_flaw_evidence_is_marked_at_its_span(page: Any, report_lake: ReportLake) -> None:
    trace_id = report_lake.flawed_twice
    with Lake.open(report_lake.path, read_only=True) as lake:
        flaws = lake.sql(
            "SELECT labeler, char_start, char_end FROM flaw_labels "
            f"WHERE trace_id = '{trace_id}' ORDER BY labeler"
        ).to_dicts()
        text = lake.sql(f"SELECT completion FROM rollouts WHERE trace_id = '{trace_id}'")
    completion = text["completion"][0]
    page.eval(f"document.getElementById('trace-{trace_id}').open = true")
    marks = page.eval(
        f"Array.from(document.querySelectorAll('pre[data-trace=\"{trace_id}\"] mark.flaw'))"
        ".map(e => [e.textContent, e.dataset.flaws, e.className])"
    )
    assert [f["labeler"] for f in flaws] == ["arith_step_check_v2", "operand_origin_v2"]
    span = completion[flaws[0]["char_start"] : flaws[0]["char_end"]]
    assert span == "7 + 8 = 16"
    assert marks == [[span, "0 1", "flaw sev-error"]]  # both labels cover the same span
    rows = page.eval(f"document.querySelectorAll('#trace-{trace_id} table.flaws tbody tr').length")
    assert rows == 2


def test_trace_text_is_escaped_not_run(page: Any, report_lake: ReportLake) -> None:
    html = page.path.read_text()
    assert "<script>alert" not in html and "<img" not in html and "<b>3</b>" not in html
    assert page.eval("document.scripts.length") == 1  # the report's own
    assert page.eval("document.images.length") == 0
    shown = page.eval(
        f"document.querySelector('pre[data-trace=\"{report_lake.hostile}\"]').textContent"
    )
    assert shown == HOSTILE_TRACE
    question = page.eval(
        f"document.querySelector('#trace-{report_lake.hostile} .question pre').textContent"
    )
    assert "<script>alert('q')</script>" in question
    assert page.eval("document.body.innerText").count("contaminated:bench<i>") >= 1


def test_decision_trail_shows_events_hash_and_tier(page: Any, report_lake: ReportLake) -> None:
    trace_id = report_lake.flawed[0]
    with Lake.open(report_lake.path, read_only=True) as lake:
        events = lake.sql(
            "SELECT decision_context.dataset_version AS v, decision_logic.reason_code AS r, "
            "temporal_metadata.evidence_tier AS tier, "
            "temporal_metadata.hash_chain.current_hash AS h FROM decision_events "
            f"WHERE decision_context.subject_ids[1] = '{trace_id}' "
            "ORDER BY temporal_metadata.event_timestamp"
        ).to_dicts()
    rows = page.eval(
        f"Array.from(document.querySelectorAll('#trace-{trace_id} table.trail tbody tr'))"
        ".map(tr => Array.from(tr.cells).map(c => c.textContent))"
    )
    trace_rows = [r for r in rows if r[2] == "trace_selection"]
    assert [(r[1], r[4], r[5]) for r in trace_rows] == [(e["v"], e["r"], e["tier"]) for e in events]
    assert [r[6][:16] for r in trace_rows] == [e["h"][:16] for e in events]
    assert any(r[2] == "problem_selection" for r in rows)  # the upstream problem decision
    evidence = page.eval(
        f"document.querySelector('#trace-{trace_id} table.trail tbody tr:last-child pre')"
        ".textContent"
    )
    assert json.loads(evidence)["level"] in ("trace", "problem")


def test_diff_section_lists_the_changes(page: Any, report_lake: ReportLake) -> None:
    rows = page.eval(
        "Array.from(document.querySelectorAll('[data-diff=changes] tbody tr'))"
        ".map(tr => Array.from(tr.cells).map(c => c.textContent))"
    )
    assert rows == [
        ["trace", "flawed_positive:arith_step_check", "selected", "2"],
        ["trace", "(not decided)", "selected", "1"],
        ["trace", "flawed_positive:arith_step_check", "flawed_positive:operand_origin", "1"],
    ]


def test_readable_without_javascript(page: Any, report_lake: ReportLake) -> None:
    page.events.clear()
    page.open(page.path.as_uri(), javascript=False)
    try:
        assert page.errors() == []
        # The controls stay hidden, but the figures and every trace are there.
        assert page.eval("document.querySelector('#traces .controls').hidden") is True
        assert page.eval("document.querySelector('[data-funnel=selected]').textContent") == "6"
        assert page.eval("document.querySelectorAll('details.trace').length") == 10
    finally:
        page.open(page.path.as_uri())


def test_screenshot_of_the_trace_viewer(page: Any, report_lake: ReportLake, tmp_path: Path) -> None:
    trace_id = report_lake.flawed_twice
    page.eval(f"document.getElementById('trace-{trace_id}').open = true")
    shot = page.screenshot(tmp_path / "trace-viewer.png", f"#trace-{trace_id}")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
