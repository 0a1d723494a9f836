"""Pass-rate statistics per (problem, model, mode) in the lake, and the migration that added them."""

from __future__ import annotations

from pathlib import Path

import duckdb

from thresher.schemas import Problem, ProblemStats, Rollout, Verdict
from thresher.stages.verify import compute_stats
from thresher.storage import Lake
from thresher.storage.extensions import load_extension


def _rollout(problem: Problem, mode: str, index: int, model: str = "m") -> Rollout:
    return Rollout(
        problem_id=problem.problem_id, model=model, engine="vllm", prompt="p", completion="x",
        mode=mode, conditioned_on_ground_truth=mode == "privileged", sample_index=index,
    )  # fmt: skip


def _verdict(rollout: Rollout, status: str, correct: bool | None) -> Verdict:
    return Verdict(trace_id=rollout.trace_id, verifier="math_v1", status=status, correct=correct)  # type: ignore[arg-type]


def test_stats_are_kept_per_model_and_mode_and_count_failures(tmp_path: Path) -> None:
    problem = Problem(source="s", question="What is 2 + 2?", answer="4")
    own = [_rollout(problem, "on_policy", i) for i in range(4)]
    shown = [_rollout(problem, "privileged", i) for i in range(3)]
    other = [_rollout(problem, "on_policy", 0, model="big")]
    with Lake.open(tmp_path / "lake") as lake:
        lake.append("problems", [problem])
        lake.append("rollouts", [*own, *shown, *other])
        lake.append(
            "verdicts",
            [
                _verdict(own[0], "ok", False),
                _verdict(own[1], "no_answer", False),
                _verdict(own[2], "timeout", None),  # the verifier's own time limit: undecided
                _verdict(own[3], "ok", True),
                *[_verdict(r, "ok", True) for r in shown],
                _verdict(other[0], "ok", True),
            ],
        )
        stats = {(s.model, s.mode): s for s in compute_stats(lake, "s")}
    assert set(stats) == {("m", "on_policy"), ("m", "privileged"), ("big", "on_policy")}
    mine = stats[("m", "on_policy")]
    assert (mine.n_samples, mine.n_checked, mine.n_correct, mine.n_undecided) == (4, 3, 1, 1)
    assert mine.pass_rate == 1 / 3 and mine.difficulty == "medium"
    # Shown the reference, the same model solves it every time: that is not its difficulty.
    assert stats[("m", "privileged")].difficulty == "trivial"


def test_a_no_answer_verdict_from_an_older_lake_counts_as_a_failure(tmp_path: Path) -> None:
    problem = Problem(source="s", question="What is 3 + 3?", answer="6")
    rollouts = [_rollout(problem, "on_policy", i) for i in range(2)]
    with Lake.open(tmp_path / "lake") as lake:
        lake.append("problems", [problem])
        lake.append("rollouts", rollouts)
        # Written as older thresher versions wrote it: no answer left `correct` null.
        old = Verdict.model_construct(
            trace_id=rollouts[0].trace_id, verifier="math_v1", status="no_answer", correct=None,
            extracted=None, reason="", elapsed_s=0.0, created_at=rollouts[0].created_at,
        )  # fmt: skip
        lake.append("verdicts", [old, _verdict(rollouts[1], "ok", True)])
        (stats,) = compute_stats(lake, "s")
    assert (stats.n_checked, stats.n_correct, stats.n_undecided) == (2, 1, 0)


def test_problem_stats_gain_their_new_columns_in_an_existing_lake(tmp_path: Path) -> None:
    location = tmp_path / "lake"
    with Lake.open(location):
        pass
    # Make the lake look like one created before migration 0016.
    conn = duckdb.connect()
    load_extension(conn, "ducklake")
    conn.execute(f"ATTACH 'ducklake:{location / 'catalog.ducklake'}' AS old")
    for column in ("model", "mode", "n_undecided"):
        conn.execute(f"ALTER TABLE old.problem_stats DROP COLUMN {column}")
    conn.execute(
        "DELETE FROM old._thresher_migrations WHERE name = '0016_problem_stats_per_model_mode'"
    )
    conn.close()
    with Lake.open(location) as lake:
        assert "0016_problem_stats_per_model_mode" in lake.migrations()
        row = ProblemStats(
            problem_id="p", source="s", verifier="math_v1", n_samples=2, n_checked=1,
            n_correct=1, pass_rate=1.0, model="m", mode="on_policy", n_undecided=1,
        )  # fmt: skip
        assert lake.append("problem_stats", [row]) == 1
        stored = lake.sql("SELECT model, mode, n_undecided, n_checked FROM problem_stats")
    assert stored.to_dicts() == [
        {"model": "m", "mode": "on_policy", "n_undecided": 1, "n_checked": 1}
    ]


def test_the_newest_verifier_version_decides_a_trace(tmp_path: Path) -> None:
    from thresher.config import Recipe
    from thresher.stages.select import gather_evidence

    problem = Problem(source="s", question="What is 5 + 5?", answer="10")
    rollout = _rollout(problem, "on_policy", 0)
    with Lake.open(tmp_path / "lake") as lake:
        lake.append("problems", [problem])
        lake.append("rollouts", [rollout])
        stale = Verdict(trace_id=rollout.trace_id, verifier="math_v1", status="ok", correct=False)
        fresh = Verdict(trace_id=rollout.trace_id, verifier="math_v2", status="ok", correct=True)
        lake.append("verdicts", [stale, fresh])
        (evidence,) = gather_evidence(lake, Recipe(name="t"), trace_ids=[rollout.trace_id])
    assert evidence.correct is True and evidence.verifier == "math_v2"
