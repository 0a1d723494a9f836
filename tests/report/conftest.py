"""A small lake with two versions for the report and diff tests, built with the real stages.

Rollouts are written directly (no engine); the real verifier, rule labelers, segmentation,
provenance categories, selection policy and decision chain do the rest. Version `rep-v1`
selects clean traces; between it and `rep-v2` one new clean trace is added and the policy stops
acting on arithmetic-step flags: three traces enter the selection (two flawed positives whose
only flaw was arithmetic, and the new trace) and one changes reason code (its numbers from
nowhere now decide it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from thresher.config import Recipe, VerifyConfig, parse_recipe
from thresher.pipeline.provenance import categorize, summarize_trace
from thresher.schemas import (
    ContaminationFlag,
    DedupAssignment,
    Problem,
    Rollout,
    SentenceScore,
    content_id,
)
from thresher.stages import label, select, verify
from thresher.stages.generate import sampling_spec
from thresher.storage import Lake
from thresher.text.segment import segment

SET = "report-set"
HOSTILE_QUESTION = "Tom has <b>3</b> apples & 4 pears <script>alert('q')</script>. How many fruits?"
HOSTILE_TRACE = (
    "<script>alert('x')</script> Tom counts </pre><img src=x onerror=alert(1)> the fruit. "
    "He adds 3 + 4 = 7 pieces. The answer is 7."
)
QUESTIONS = [("What is 2 + 3?", "5", 2, 3), ("What is 4 + 6?", "10", 4, 6),
             (HOSTILE_QUESTION, "7", 3, 4)]  # fmt: skip
CLEAN = "We add {a} and {b}. So {a} + {b} = {ans}. The answer is {ans}."
WRONG = "We add {a} and {b} in our head. The answer is {wrong}."
FLAWED = "First, {a} + {a} = {bad}. Then {a} + {b} = {ans}. The answer is {ans}."
# Also cites numbers from nowhere: still a flawed positive once arithmetic flags are ignored.
FLAWED_TWICE = "First, 7 + 8 = 16. Then {a} + {b} = {ans}. The answer is {ans}."
NEW_CLEAN = "Adding {a} to {b} gives {a} + {b} = {ans}. The answer is {ans}."
SCORER = "provenance_v1:teacher=t,student=s"
# (teacher, student) mean log-probs cycled over a trace's sentences: teacher_originated,
# shared, novel, student_originated.
LOGPROBS = [(-0.2, -2.0), (-0.5, -0.6), (-3.0, -3.2), (-2.0, -0.3)]


def recipe(selection: str) -> Recipe:
    return parse_recipe(
        f"""
name: rep
problems: {{source: "unused.jsonl", name: {SET}}}
generation: {{model: m, n: 5, sampling: {{max_tokens: 64}}}}
provenance: {{enabled: false}}
dedup: {{enabled: true, method: exact}}
selection: {selection}
"""
    )


RECIPE_V1 = "{max_per_problem: 5}"
RECIPE_V2 = "{max_per_problem: 5, ignore_labelers: [arith_step_check]}"


@dataclass
class ReportLake:
    path: Path
    v1: str
    v2: str
    flawed: list[str]  # flawed_positive:arith_step_check in v1, selected in v2
    flawed_twice: str  # flawed_positive:arith_step_check in v1, :operand_origin in v2
    new_trace: str  # added between the versions
    hostile: str  # the trace full of markup


def _rollout(r: Recipe, p: Problem, k: int, text: str) -> Rollout:
    return Rollout(problem_id=p.problem_id, model="m", engine="vllm", sampling=sampling_spec(r.generation),
                   sample_index=k, prompt=p.question, completion=text)  # fmt: skip


def _scores(rollouts: list[Rollout]) -> tuple[list[SentenceScore], list]:
    sentences, traces = [], []
    for r in rollouts:
        rows = []
        for seg in segment(r.completion):
            t, s = LOGPROBS[seg.index % len(LOGPROBS)]
            rows.append(
                SentenceScore(
                    trace_id=r.trace_id, sentence_index=seg.index, char_start=seg.start,
                    char_end=seg.end, scorer=SCORER, teacher_logprob=t, student_logprob=s,
                    teacher_tokens=3, student_tokens=3, category=categorize(t, s),
                )
            )  # fmt: skip
        sentences += rows
        traces.append(summarize_trace(r.trace_id, r.problem_id, SCORER, rows))
    return sentences, traces


def _exact_dedup(rollouts: list[Rollout]) -> list[DedupAssignment]:
    return [
        DedupAssignment(trace_id=r.trace_id, method="exact", cluster_id=content_id("c", r.trace_id),
                        representative_trace_id=r.trace_id, is_representative=True)
        for r in rollouts
    ]  # fmt: skip


def build_report_lake(root: Path) -> ReportLake:
    """The lake with versions rep-v1 and rep-v2 (see the module docstring)."""
    r1, r2 = recipe(RECIPE_V1), recipe(RECIPE_V2)
    problems = [Problem(source=SET, question=q, answer=a) for q, a, _, _ in QUESTIONS]
    rollouts, flawed = [], []
    for i, (p, (_, ans, a, b)) in enumerate(zip(problems, QUESTIONS, strict=True)):
        texts = [CLEAN, WRONG, FLAWED_TWICE if i == 1 else FLAWED]
        for k, text in enumerate(texts):
            values = {"a": a, "b": b, "ans": ans, "wrong": int(ans) + 1, "bad": 2 * a + 1}
            rollouts.append(_rollout(r1, p, k, text.format(**values)))
        flawed.append(rollouts[-1].trace_id)
    flawed_twice = flawed.pop(1)
    hostile = _rollout(r1, problems[2], 3, HOSTILE_TRACE)
    rollouts.append(hostile)
    path = root / "lake"
    with Lake.open(path) as lake:
        lake.append("problems", problems)
        lake.append("rollouts", rollouts)
        verify.run(lake, SET, VerifyConfig(workers=1))
        label.run(lake, SET)
        sentences, traces = _scores(rollouts)
        lake.append("sentence_scores", sentences)
        lake.append("trace_scores", traces)
        lake.append("dedup_assignments", _exact_dedup(rollouts))
        lake.append(
            "contamination_flags",
            [ContaminationFlag(problem_id=problems[1].problem_id, benchmark="bench<i>", n=3,
                               benchmark_item="7", matched_ngrams=1, overlap=0.25,
                               evidence="what is 4")],
        )  # fmt: skip
        v1 = select.run(lake, r1).version.name
        new = _rollout(r2, problems[0], 4, NEW_CLEAN.format(a=2, b=3, ans=5))
        lake.append("rollouts", [new])
        verify.run(lake, SET, VerifyConfig(workers=1))
        label.run(lake, SET)
        lake.append("dedup_assignments", _exact_dedup([new]))
        v2 = select.run(lake, r2).version.name
    return ReportLake(path, v1, v2, flawed, flawed_twice, new.trace_id, hostile.trace_id)


@pytest.fixture(scope="session")
def report_lake(tmp_path_factory: pytest.TempPathFactory) -> ReportLake:
    return build_report_lake(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="session")
def chromium():
    """A headless Chromium for the whole session (Debian's package; `make test` installs it)."""
    from .chromium import CHROMIUM, Chromium  # type: ignore[import-not-found]

    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    with Chromium() as browser:
        yield browser
