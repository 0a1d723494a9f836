"""``reference_leak_v1``: traces written with the reference in the prompt that talk about it or
copy it; the label command's and the lake's way of saying which traces saw a reference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from thresher.config import VerifyConfig
from thresher.filters.flaws import Trace, get_labeler
from thresher.schemas import Problem, Rollout
from thresher.stages import label, verify
from thresher.storage import Lake

QUESTION = (
    "A baker makes 24 rolls. She sells 15 of them in the morning and gives 3 to a neighbour. "
    "How many rolls does she have left?"
)
REFERENCE = (
    "The baker sells and gives away 15 + 3 = <<15+3=18>>18 rolls in total.\n"
    "That leaves her with 24 - 18 = <<24-18=6>>6 rolls at the end of the day.\n#### 6"
)
CLEAN = "She parts with 15 + 3 = 18 rolls, and 24 - 18 = 6 remain.\nFinal answer: 6"


def _leak(text: str, conditioned: bool = True, reference: str | None = REFERENCE) -> list:
    trace = Trace("t", text, question=QUESTION, reference=reference, conditioned=conditioned)
    return [(x.flaw_type, x.severity) for x in get_labeler("reference_leak_v1").label(trace)]


@pytest.mark.parametrize(
    "text",
    [
        "Note that the solution contains an error, but 24 - 18 = 6.\nFinal answer: 6",
        "According to the solution, 15 + 3 = 18 and 24 - 18 = 6.\nFinal answer: 6",
        "Following the reference solution: 24 - 18 = 6.\nFinal answer: 6",
        "The solution given uses 15 + 3 = 18, so 24 - 18 = 6.\nFinal answer: 6",
        "I checked it against the provided answer: 6.\nFinal answer: 6",
        "You've already solved the problem. Here is the last line:\nFinal answer: 6",
        "As shown in the solution, 6 rolls remain.\nFinal answer: 6",
    ],
)
def test_a_mention_of_the_reference_is_an_error(text: str) -> None:
    assert ("reference_mention", "error") in _leak(text)


def test_a_long_verbatim_copy_is_a_warning_with_its_span() -> None:
    copied = (
        "First, the baker sells and gives away 15 + 3 = 18 rolls in total. "
        "That leaves her with 24 - 18 = 6 rolls at the end of the day.\nFinal answer: 6"
    )
    trace = Trace("t", copied, question=QUESTION, reference=REFERENCE, conditioned=True)
    [label] = get_labeler("reference_leak_v1").label(trace)
    assert (label.flaw_type, label.severity) == ("reference_copy", "warning")
    assert copied[label.char_start : label.char_end] == label.evidence  # type: ignore[index]
    assert label.evidence.startswith("the baker sells") and label.evidence.endswith("the day")
    assert "copied verbatim" in (label.critique or "")


def test_a_clean_privileged_trace_and_the_question_s_own_words_are_not_leaks() -> None:
    assert _leak(CLEAN) == []
    # restating the question at length is no copy of the reference, even when both do it
    restated = f"{QUESTION} She sells 15 + 3 = 18, so 24 - 18 = 6.\nFinal answer: 6"
    reference = f"{QUESTION}\n15 + 3 = 18 and 24 - 18 = 6.\n#### 6"
    assert _leak(restated, reference=reference) == []
    # self-checks and idioms are not mentions
    checks = (
        "For reference, 24 - 18 = 6. Subtract 3 from the answer? No: the answer is correct, "
        "and this solution has two steps.\nFinal answer: 6"
    )
    assert _leak(checks) == []


def test_traces_generated_without_the_reference_get_no_labels() -> None:
    words = "According to the reference solution, the solution given contains an error. " + (
        "The baker sells and gives away 15 + 3 = 18 rolls in total. That leaves her with "
        "24 - 18 = 6 rolls at the end of the day.\nFinal answer: 6"
    )
    assert _leak(words, conditioned=False) == []
    assert _leak(words, conditioned=False, reference=None) == []
    # conditioned without a stored reference: mentions are still found, copies cannot be
    assert _leak(words, reference=None) == [("reference_mention", "error")]


def test_label_command_reads_reference_and_conditioned(tmp_path: Path) -> None:
    mention = "Note that the solution contains an error: 15 + 3 = 18, 24 - 18 = 6.\nFinal answer: 6"
    lines = [
        {"id": "a", "question": QUESTION, "gold": "6", "response": mention,
         "reference": REFERENCE},  # a reference given: it was in the prompt
        {"id": "b", "question": QUESTION, "gold": "6", "response": mention,
         "reference": REFERENCE, "conditioned": False},
        {"id": "c", "question": QUESTION, "gold": "6", "response": mention},
        {"id": "d", "question": QUESTION, "gold": "6", "response": mention, "reference": 7},
        {"id": "e", "question": QUESTION, "gold": "6", "response": mention,
         "conditioned": "yes"},
    ]  # fmt: skip
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    run = subprocess.run(
        [sys.executable, "-m", "thresher.cli", "label", str(src), "-o", str(out)],
        capture_output=True, text=True, timeout=300, env={**os.environ},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert [f["type"] for f in rows["a"]["flaws"]] == ["reference_mention"]
    assert rows["a"]["correct"] is True and rows["a"]["flawed_positive"] is True
    assert rows["b"]["flaws"] == [] and rows["c"]["flaws"] == []
    assert rows["d"]["error"] == "line 4: field 'reference' must be a string"
    assert rows["e"]["error"] == "line 5: field 'conditioned' must be true or false"
    assert "Traceback" not in run.stderr


def test_lake_labels_privileged_rollouts_against_the_problem_s_solution(tmp_path: Path) -> None:
    problem = Problem(source="bakery", question=QUESTION, answer="6", solution=REFERENCE)
    texts = {
        "on_policy": "According to the solution, 15 + 3 = 18, 24 - 18 = 6.\nFinal answer: 6",
        "privileged": "According to the solution, 15 + 3 = 18, 24 - 18 = 6.\nFinal answer: 6",
    }
    rollouts = [
        Rollout(
            problem_id=problem.problem_id, model="m", engine="vllm", prompt="p", completion=text,
            mode=mode, conditioned_on_ground_truth=mode == "privileged", finish_reason="stop",
        )
        for mode, text in texts.items()
    ]  # fmt: skip
    with Lake.open(tmp_path / "lake") as lake:
        lake.append("problems", [problem])
        lake.append("rollouts", rollouts)
        verify.run(lake, "bakery", VerifyConfig(workers=1, timeout_s=10))
        report = label.run(lake, "bakery")
        assert report.classes == {"clean": 1, "flawed_positive": 1}
        found = lake.sql(
            "SELECT r.mode, l.flaw_type, l.severity FROM flaw_labels l JOIN rollouts r "
            "USING (trace_id) WHERE l.labeler = 'reference_leak_v1'"
        ).rows()
        assert found == [("privileged", "reference_mention", "error")]


def test_a_prefix_continuation_of_a_privileged_trace_is_checked_whole(tmp_path: Path) -> None:
    problem = Problem(source="bakery", question=QUESTION, answer="6", solution=REFERENCE)
    shown = Rollout(
        problem_id=problem.problem_id, model="m", engine="vllm", prompt="p",
        completion="As the reference solution says, 15 + 3 = 18.\n24 - 18 = 6.\nFinal answer: 6",
        mode="privileged", conditioned_on_ground_truth=True, finish_reason="stop",
    )  # fmt: skip
    prefix = "As the reference solution says, 15 + 3 = 18.\n"
    continued = Rollout(
        problem_id=problem.problem_id, model="m", engine="vllm", prompt=f"question {prefix}",
        completion="24 - 18 = 6.\nFinal answer: 6", mode="prefix",
        prefix_trace_id=shown.trace_id, prefix_fraction=0.5, prefix_chars=len(prefix),
        finish_reason="stop",
    )  # fmt: skip
    with Lake.open(tmp_path / "lake") as lake:
        lake.append("problems", [problem])
        lake.append("rollouts", [shown, continued])
        verify.run(lake, "bakery", VerifyConfig(workers=1, timeout_s=10))
        label.run(lake, "bakery")
        found = lake.sql(
            "SELECT r.mode, l.flaw_type FROM flaw_labels l JOIN rollouts r USING (trace_id) "
            "WHERE l.labeler = 'reference_leak_v1' ORDER BY r.mode"
        ).rows()
    # Its own prompt holds no reference, but the prefix it continues was written seeing one.
    assert found == [("prefix", "reference_mention"), ("privileged", "reference_mention")]
