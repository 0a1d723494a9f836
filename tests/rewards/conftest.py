"""An RL export of four problems (math, choice, exact, code) written by thresher's exporter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from thresher.pipeline.card import render_card
from thresher.pipeline.export import ExportSource, build_rows, write_export

TESTS = json.dumps({"stdin_stdout": [{"input": "3\n", "output": "6\n"}]})
PROBLEMS = {
    "p-math": ("What is 20 + 20?", "40", None, "math", "Twenty and twenty: 20 + 20 = 40."),
    "p-choice": ("Which is even? A) 3 B) 4", "B", None, "choice", None),
    "p-exact": ("Name the capital of France.", "Paris", None, "exact", None),
    "p-code": ("Read n and print 2n.", None, TESTS, "code", None),
}

# Responses a policy might give, with the reward thresher's verifier must give them.
RESPONSES = {
    "p-math": [
        ("20 + 20 = 40.\nThe answer is 40.", 1.0),  # verl's GSM8K/MATH scorers give this 0.0
        ("So the total is \\boxed{40}.", 1.0),
        ("20 + 20 = 41.\nThe answer is 41.", 0.0),
        ("I am not sure.", 0.0),
    ],
    "p-choice": [("4 is even, so the answer is (B).", 1.0), ("The answer is A.", 0.0)],
    "p-exact": [("The capital is **Paris**.", 1.0), ("Answer: Lyon", 0.0)],
    "p-code": [
        ("```python\nprint(int(input()) * 2)\n```", 1.0),
        ("```python\nprint(int(input()) + 2)\n```", 0.0),
        ("```python\nwhile True: pass\n```", 0.0),  # killed at its time limit: wrong
    ],
}


def rl_source() -> ExportSource:
    problems = {
        pid: {
            "problem_id": pid,
            "source": "quiz",
            "question": q,
            "answer": a,
            "solution": solution,
            "kind": kind,
            "tests_json": tests,
        }
        for pid, (q, a, tests, kind, solution) in PROBLEMS.items()
    }
    return ExportSource(
        version="quiz-v1",
        snapshot_id=1,
        run_id="run",
        recipe_hash="h",
        head_hash="head",
        trace_reasons={},
        problem_reasons=dict.fromkeys(problems, "no_trace_selected"),
        pass_rates=dict.fromkeys(problems, 0.0),
        problems=problems,
        rollouts={},
        verifiers={pid: f"{spec[3]}_v2" for pid, spec in PROBLEMS.items()},
        license="mit",
    )


@pytest.fixture(scope="session")
def rl_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of an RL export (data/*.parquet + README.md)."""
    source = rl_source()
    table = build_rows(source, "rl")
    out = tmp_path_factory.mktemp("rl") / "rl"
    write_export(
        table,
        out,
        "rl",
        lambda shards: render_card(source, "rl", table.num_rows, "", shards=shards),
    )
    return out
