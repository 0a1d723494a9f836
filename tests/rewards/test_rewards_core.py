"""The scorer behind both reward functions: verifier choice, completion shapes, worker start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from thresher.rewards.core import RewardItem, RewardScorer, completion_text, verifier_name


def test_verifier_names() -> None:
    assert verifier_name("math", None) == "math_v2"
    assert verifier_name("code", None) == "code_v2"
    assert verifier_name("unknown-kind", None) == "math_v2"
    assert verifier_name("math", "math_v1") == "math_v2"  # retired: its successor
    assert verifier_name("math", "math_v1:rel_tol=1e-9") == "math_v2:rel_tol=1e-9"
    assert verifier_name("math", "exact_v2") == "exact_v2"


def test_completion_shapes() -> None:
    assert completion_text("plain text") == "plain text"
    assert completion_text([{"role": "assistant", "content": "a"}]) == "a"
    # A multi-turn completion (tool calls): the assistant turns, not the tool output.
    turns = [
        {"role": "assistant", "content": "call"},
        {"role": "tool", "content": "42"},
        {"role": "assistant", "content": "The answer is 42."},
    ]
    assert completion_text(turns) == "call\nThe answer is 42."
    assert completion_text(None) == ""


def test_bad_items_get_a_status_not_an_exception() -> None:
    scorer = RewardScorer()
    try:
        outcomes = scorer.outcomes(
            [
                RewardItem("The answer is 4.", None),  # no gold
                RewardItem("```python\nprint(1)\n```", "not json", "code"),
                RewardItem("The answer is 4.", "4", verifier="nope_v9"),
            ]
        )
    finally:
        scorer.close()
    assert [o.status for o in outcomes] == ["invalid_input", "invalid_input", "invalid_input"]
    assert all(o.correct is None for o in outcomes)
    assert "unknown verifier 'nope_v9'" in outcomes[2].reason


@pytest.mark.slow
def test_a_script_without_a_main_guard_is_not_run_again_by_the_workers(tmp_path: Path) -> None:
    """Training scripts rarely guard their top level; the verifier workers must not re-run it."""
    script = tmp_path / "train.py"
    script.write_text(
        "from thresher.rewards import compute_score\n"
        "print('script ran', flush=True)\n"
        # Answers only math-verify decides: they go to the worker processes.
        "print(compute_score('x', 'so \\\\boxed{\\\\sqrt{8}}', '2\\\\sqrt{2}'))\n"
        "print(compute_score('x', 'so \\\\boxed{\\\\sqrt{6}}', '2\\\\sqrt{2}'))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["script ran", "1.0", "0.0"]
