"""A tiny lake with labels already stored (3 problems x 3 traces), built without any engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from thresher.config import Recipe, parse_recipe
from thresher.schemas import FlawLabel, Problem, Rollout, SamplingSpec, Verdict
from thresher.stages.generate import sampling_spec
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


# A problem file and stored rollouts of every trace a recipe asks for: the flow runs every stage
# but generation for real on them (with `NoEngine`, which fails if anything starts it).
STORED_QUESTIONS = [("What is 2 + 3?", "5"), ("What is 4 * 6?", "24"), ("What is 10 - 7?", "3")]
# Per problem: a clean correct trace, a wrong answer, a correct answer after a wrong step.
STORED_TRACES = [
    "We compute {a} exactly. The answer is {ans}.",
    "We compute it roughly. The answer is {wrong}.",
    "First, 7 + 8 = 16. Anyway, the answer is {ans}.",
]


class NoEngine:
    """Names a model; generating with it fails the test (every rollout is already stored)."""

    name = "vllm"
    model_name = "m"
    model_revision = ""

    def setup(self) -> None:
        raise AssertionError("the engine was started although every rollout exists")

    generate = setup

    def teardown(self) -> None:
        pass


def build_stored_lake(
    root: Path, *, name: str = "stored", export: str = "", lake: str | None = None
) -> tuple[Recipe, Path]:
    """A recipe over a problem file, and a lake holding all of its rollouts (no labels yet);
    the lake is `root/lake` unless `lake` names another location (a PostgreSQL catalog)."""
    root.mkdir(parents=True, exist_ok=True)
    source = root / "problems.jsonl"
    source.write_text(
        "".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in STORED_QUESTIONS)
    )
    recipe = parse_recipe(
        f"""
name: {name}
problems: {{source: "{source}", name: tiny-set}}
generation: {{model: m, n: 3, sampling: {{max_tokens: 64}}}}
provenance: {{enabled: false}}
dedup: {{enabled: true, method: exact}}
selection: {{max_per_problem: 1}}
export: {{formats: [sft, rl, dpo, prm], out: "{root / "exports"}"{export}}}
"""
    )
    problems = [Problem(source="tiny-set", question=q, answer=a) for q, a in STORED_QUESTIONS]
    rollouts = [
        Rollout(
            problem_id=p.problem_id,
            model="m",
            engine="vllm",
            sampling=sampling_spec(recipe.generation),
            sample_index=k,
            prompt=p.question,
            completion=text.format(a=p.question[8:-1], ans=p.answer, wrong=int(p.answer or 0) + 1),
        )  # fmt: skip
        for p in problems
        for k, text in enumerate(STORED_TRACES)
    ]
    lake_dir = root / "lake"
    with Lake.open(lake or lake_dir) as opened:
        opened.append("rollouts", rollouts)
    return recipe, lake_dir
