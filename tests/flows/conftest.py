"""A tiny lake with labels already stored (3 problems x 3 traces), built without any engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from thresher.config import Recipe, parse_recipe
from thresher.schemas import FlawLabel, Problem, Rollout, SamplingSpec, Verdict
from thresher.storage import Lake

TINY_RECIPE = """
name: tiny
problems: {source: "builtin:arithmetic", seed: 0}
generation:
  model: m
  n: 3
  sampling: {temperature: 0.7, top_p: 1.0, max_tokens: 64}
dedup: {enabled: false}
selection: {max_per_problem: 2}
"""


@pytest.fixture(scope="session")
def tiny_recipe() -> Recipe:
    return parse_recipe(TINY_RECIPE)


def _rollout(p: Problem, k: int, answer: str, steps: str) -> Rollout:
    return Rollout(
        problem_id=p.problem_id,
        model="m",
        engine="vllm",
        sampling=SamplingSpec(temperature=0.7, top_p=1.0, max_tokens=64),
        sample_index=k,
        prompt=p.question,
        completion=f"{steps} The answer is {answer}.",
        reasoning=steps,
        answer_text=f"The answer is {answer}.",
    )


def build_tiny_lake(path: Path) -> Path:
    """Problems with a correct, an incorrect and a flawed-positive trace each."""
    problems = [
        Problem(source="arithmetic-s0", question=f"What is {i} + {i}?", answer=str(2 * i))
        for i in (1, 2, 3)
    ]
    rollouts, verdicts, flaws = [], [], []
    for p in problems:
        a = int(p.answer or 0)
        good = _rollout(p, 0, str(a), f"First, {a // 2} + {a // 2} = {a}. So we are done.")
        bad = _rollout(p, 1, str(a + 1), f"We add: {a // 2} + {a // 2} = {a + 1}. Done.")
        flawed = _rollout(p, 2, str(a), f"Add them: {a // 2} + {a // 2} = {a + 5}. Then fix it.")
        rollouts += [good, bad, flawed]
        verdicts += [
            Verdict(trace_id=good.trace_id, verifier="math_v1", status="ok", correct=True),
            Verdict(trace_id=bad.trace_id, verifier="math_v1", status="ok", correct=False),
            Verdict(trace_id=flawed.trace_id, verifier="math_v1", status="ok", correct=True),
        ]
        flaws.append(
            FlawLabel(
                trace_id=flawed.trace_id,
                labeler="arith_step_check_v1",
                flaw_type="wrong_arithmetic",
                severity="error",
                step=0,
            )
        )
    with Lake.open(path) as lake:
        lake.append("problems", problems)
        lake.append("rollouts", rollouts)
        lake.append("verdicts", verdicts)
        lake.append("flaw_labels", flaws)
    return path
