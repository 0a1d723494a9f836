"""`--problems NAME`: verify unverified rollouts in a lake, store stats, label verified ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from thresher.config import VerifyConfig
from thresher.schemas import Problem, Rollout, Verdict
from thresher.schemas.base import utc_now
from thresher.schemas.errors import NotFoundError
from thresher.stages import label, verify
from thresher.storage import Lake

RESPONSES = {
    # problem answer -> responses (sampled traces)
    "42": ["17 + 25 = 42. \\boxed{42}", "17 + 25 = 32... \\boxed{42}", "\\boxed{41}", "no idea"],
    "7": ["3 + 4 = 7, so \\boxed{7}", "3 + 4 = 7. \\boxed{7}"],
    "9": ["\\boxed{8}", "2 * 4 = 8 so \\boxed{8}"],
}
QUESTIONS = {"42": "What is 17 + 25?", "7": "What is 3 + 4?", "9": "What is 2 * 4 + 1?"}


def _fill(lake: Lake) -> list[Rollout]:
    problems = [
        Problem(source="tiny", question=QUESTIONS[answer], answer=answer) for answer in RESPONSES
    ]
    other = Problem(source="other", question="1+1?", answer="2")
    lake.append("problems", [*problems, other])
    rollouts = []
    for problem in problems:
        for i, text in enumerate(RESPONSES[problem.answer or ""]):
            rollouts.append(
                Rollout(
                    problem_id=problem.problem_id, model="m", engine="vllm", prompt="p",
                    completion=text, sample_index=i, finish_reason="stop",
                )
            )  # fmt: skip
    lake.append("rollouts", rollouts)
    return rollouts


def test_verify_then_label_problem_set(tmp_path: Path) -> None:
    with Lake.open(tmp_path / "lake") as lake:
        _fill(lake)
        report = verify.run(lake, "tiny", VerifyConfig(workers=1, timeout_s=10))
        assert report.verified == 8
        assert report.by_status == {"ok": 7, "no_answer": 1}
        assert report.correct == 4
        verdicts = lake.sql("SELECT verifier, status, correct FROM verdicts").to_dicts()
        assert len(verdicts) == 8 and {v["verifier"] for v in verdicts} == {"math_v2"}
        assert [v["correct"] for v in verdicts if v["status"] == "no_answer"] == [False]
        stats = lake.sql(
            "SELECT p.answer, s.n_samples, s.n_checked, s.n_correct, s.pass_rate, s.difficulty, "
            "s.pass_at_k FROM problem_stats s JOIN problems p USING (problem_id) ORDER BY p.answer"
        ).to_dicts()
        assert [(s["answer"], s["n_checked"], s["n_correct"], s["difficulty"]) for s in stats] == [
            ("42", 4, 2, "medium"), ("7", 2, 2, "trivial"), ("9", 2, 0, "unsolved"),
        ]  # fmt: skip
        first = stats[0]  # "no idea" has no answer: a failure, not left out of the rate
        assert first["pass_rate"] == pytest.approx(2 / 4)
        assert dict(first["pass_at_k"])["2"] == pytest.approx(1 - 1 / 6)

        again = verify.run(lake, "tiny", VerifyConfig(workers=1))
        assert again.verified == 0 and again.stats_rows == 0

        labels = label.run(lake, "tiny")
        assert labels.processed == 8
        assert labels.classes["flawed_positive"] == 1
        assert labels.classes["clean"] == 3
        flawed = lake.sql(
            "SELECT DISTINCT l.trace_id FROM flaw_labels l JOIN verdicts v USING (trace_id) "
            "WHERE v.correct AND l.severity = 'error'"
        )
        assert flawed.height == 1
        assert label.run(lake, "tiny").labels == 0  # idempotent

        with pytest.raises(NotFoundError, match="tiny"):
            verify.run(lake, "nope", VerifyConfig())


def test_cli_problems_path(tmp_path: Path) -> None:
    location = tmp_path / "lake"
    with Lake.open(location) as lake:
        _fill(lake)
    env = {**os.environ, "THRESHER_LAKE": str(location)}
    run = [sys.executable, "-m", "thresher.cli"]
    verify = subprocess.run([*run, "verify", "--problems", "tiny", "--workers", "1"],
                            capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    assert "verified 8 rollouts" in verify.stderr
    label = subprocess.run([*run, "label", "--problems", "tiny"],
                           capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert label.returncode == 0, label.stderr
    assert "flawed_positive 1" in label.stderr
    sql = subprocess.run([*run, "sql", "SELECT difficulty FROM problem_stats ORDER BY 1",
                          "--format", "json"], capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert [json.loads(x)["difficulty"] for x in sql.stdout.splitlines()] == [
        "medium", "trivial", "unsolved",
    ]  # fmt: skip
    missing = subprocess.run([*run, "verify", "--problems", "nope"],
                             capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert missing.returncode == 2 and "known problem sets" in missing.stderr


def test_a_lake_with_math_v1_verdicts_still_reads(tmp_path: Path) -> None:
    """Verdicts of the retired math_v1 (no answer was null then) stay readable; math_v2 adds
    its own verdicts beside them instead of failing or overwriting them."""
    with Lake.open(tmp_path / "lake") as lake:
        rollouts = _fill(lake)
        old = [
            Verdict.model_construct(  # written under the old rule, which validation now rejects
                trace_id=r.trace_id, verifier="math_v1", status="no_answer", correct=None,
                extracted=None, reason="no final answer", elapsed_s=0.0, created_at=utc_now(),
            )
            for r in rollouts
        ]  # fmt: skip
        assert lake.append("verdicts", old) == 8
        report = verify.run(lake, "tiny", VerifyConfig(workers=1, timeout_s=10))
        assert report.verified == 8
        rows = lake.sql(
            "SELECT verifier, count(*) AS n, count(correct) AS decided FROM verdicts "
            "GROUP BY verifier ORDER BY verifier"
        ).to_dicts()
        assert rows == [
            {"verifier": "math_v1", "n": 8, "decided": 0},
            {"verifier": "math_v2", "n": 8, "decided": 8},
        ]
        assert verify.run(lake, "tiny", VerifyConfig(workers=1)).verified == 0
