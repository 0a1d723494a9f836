"""`thresher dedup --exact-only` and `thresher decontaminate` over a tiny lake, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thresher.cli import app
from thresher.schemas import FlawLabel, Problem, Rollout, Verdict
from thresher.storage import Lake

LEAKED = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many "
    "clips in May. How many clips did Natalia sell altogether in April and May?"
)


def seed_lake(path: Path) -> dict[str, str]:
    p1 = Problem(source="mini", question=LEAKED, answer="72", solution="48 + 24 = 72.")
    p2 = Problem(source="mini", question="What is 2 + 3?", answer="5", solution="2 + 3 = 5.")
    other = Problem(source="other", question="What is 9 - 1?", answer="8")

    def roll(p: Problem, i: int, text: str) -> Rollout:
        return Rollout(
            problem_id=p.problem_id, model="m", engine="vllm", prompt="q", completion=text,
            sample_index=i,
        )  # fmt: skip

    traces = {
        "a": roll(p2, 0, "2 + 3 = 5. The answer is 5."),
        "b": roll(p2, 1, "2 + 3 = 5.  the answer is 5."),  # exact duplicate after normalising
        "c": roll(p2, 2, "2 + 3 = 6. The answer is 6."),
        "d": roll(p1, 0, "48 / 2 = 24. 48 + 24 = 72."),
    }
    with Lake.open(str(path)) as lake:
        lake.append("problems", [p1, p2, other])
        lake.append("rollouts", list(traces.values()))
        lake.append(
            "verdicts",
            [
                Verdict(trace_id=traces["a"].trace_id, verifier="math_v1", status="ok",
                        correct=False),
                Verdict(trace_id=traces["b"].trace_id, verifier="math_v1", status="ok",
                        correct=True),
            ],
        )  # fmt: skip
        lake.append(
            "flaw_labels",
            [FlawLabel(trace_id=traces["b"].trace_id, labeler="x", flaw_type="f", severity="info")],
        )
    return {k: r.trace_id for k, r in traces.items()}


def test_dedup_exact_only_stores_clusters_with_correct_representative(tmp_path: Path) -> None:
    ids = seed_lake(tmp_path / "lake")
    runner = CliRunner()
    args = ["dedup", "--problems", "mini", "--exact-only", "--lake", str(tmp_path / "lake")]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["traces"] == 4 and summary["exact_duplicates"] == 1
    assert summary["exact_clusters"] == 3 and summary["rows"] == 4
    with Lake.open(str(tmp_path / "lake"), read_only=True) as lake:
        rows = lake.sql("SELECT * FROM dedup_assignments").to_dicts()
    by_id = {r["trace_id"]: r for r in rows}
    # b is correct (an info-level flaw does not count against it), a is wrong: b represents.
    assert by_id[ids["a"]]["representative_trace_id"] == ids["b"]
    assert by_id[ids["b"]]["is_representative"]
    assert by_id[ids["c"]]["is_representative"] and by_id[ids["d"]]["is_representative"]
    again = runner.invoke(app, [*args, "--json"])
    assert json.loads(again.stdout)["rows"] == 0  # idempotent
    table = runner.invoke(app, args)
    assert "exact" in table.output and "duplicates" in table.output


def test_dedup_unknown_set_and_scope_fail_cleanly(tmp_path: Path) -> None:
    seed_lake(tmp_path / "lake")
    runner = CliRunner()
    base = ["dedup", "--exact-only", "--lake", str(tmp_path / "lake")]
    result = runner.invoke(app, [*base, "--problems", "nope"])
    assert result.exit_code != 0 and "no traces for a problem set named 'nope'" in str(
        result.exception
    )
    result = runner.invoke(app, [*base, "--problems", "mini", "--scope", "everywhere"])
    assert "field '--scope': Input should be 'problem' or 'global'" in str(result.exception)


def test_decontaminate_flags_the_planted_item(tmp_path: Path) -> None:
    seed_lake(tmp_path / "lake")
    bench = tmp_path / "gsm8k_test.jsonl"
    bench.write_text(
        json.dumps({"id": "g1", "question": "Tom has 3 apples. How many now?"})
        + "\n"
        + json.dumps({"id": "g2", "question": LEAKED})
        + "\n"
    )
    runner = CliRunner()
    args = [
        "decontaminate",
        "--problems",
        "mini",
        "-b",
        str(bench),
        "--lake",
        str(tmp_path / "lake"),
    ]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["benchmarks"] == {"gsm8k_test": {"items": 2, "problems_flagged": 1}}
    with Lake.open(str(tmp_path / "lake"), read_only=True) as lake:
        flags = lake.sql("SELECT benchmark, benchmark_item, n FROM contamination_flags").to_dicts()
    assert flags == [{"benchmark": "gsm8k_test", "benchmark_item": "g2", "n": 13}]
    shown = runner.invoke(app, args)
    assert "gsm8k_test" in shown.output and "1 / 2" in shown.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-b", "missing.jsonl"], "does not exist"),
        (["-b", "BAD"], "bad.jsonl:1: invalid JSON"),
    ],
)
def test_decontaminate_bad_benchmark_names_the_file(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    seed_lake(tmp_path / "lake")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    extra = [str(bad) if e == "BAD" else str(tmp_path / e) if e.endswith(".jsonl") else e
             for e in extra]  # fmt: skip
    result = CliRunner().invoke(
        app, ["decontaminate", "--problems", "mini", *extra, "--lake", str(tmp_path / "lake")]
    )
    assert result.exit_code != 0 and message in str(result.exception)
