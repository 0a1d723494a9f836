"""Export rows from a version's decisions: every format and layout, made without a lake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from thresher.pipeline.card import render_card
from thresher.pipeline.export import ExportSource, build_rows, write_export
from thresher.pipeline.formats import LAYOUTS, assistant_text, reasoning_and_answer
from thresher.pipeline.prm import step_evidence
from thresher.schemas import InputError


def _rollout(pid: str, completion: str, reasoning: str, answer: str, **extra: Any) -> dict:
    return {
        "problem_id": pid,
        "model": "m",
        "mode": "on_policy",
        "conditioned_on_ground_truth": False,
        "prompt": "",
        "prefix_chars": None,
        "completion": completion,
        "reasoning": reasoning,
        "answer_text": answer,
    } | extra


# SmolLM2-style traces have no think markers: generation stores the whole completion as the
# reasoning and the final answer line (its suffix) as the answer.
GOOD = "We add 20 and 20.\nSo 20 + 20 = 40.\nThe answer is 40."
BAD = "We add 20 and 20.\nSo 20 + 20 = 41.\nThe answer is 41."


def _source(**overrides: Any) -> ExportSource:
    problems = {
        "p1": {
            "problem_id": "p1",
            "source": "gsm8k",
            "question": "What is 20 + 20?",
            "answer": "40",
            "solution": "Add them: 20 + 20 = 40.",
            "kind": "math",
            "tests_json": None,
        },
        "p2": {
            "problem_id": "p2",
            "source": "gsm8k",
            "question": "Print 7.",
            "answer": None,
            "solution": "print(7)",
            "kind": "code",
            "tests_json": '{"stdin_stdout": [{"input": "", "output": "7"}]}',
        },
    }
    rollouts = {
        "t-good": _rollout("p1", GOOD, GOOD, "The answer is 40."),
        "t-bad": _rollout("p1", BAD, BAD, "The answer is 41."),
        "t-flawed": _rollout(
            "p1",
            "We add.\nSo 20 + 20 = 41.\nThen 41 - 1 = 40.\nThe answer is 40.",
            "We add.\nSo 20 + 20 = 41.\nThen 41 - 1 = 40.\nThe answer is 40.",
            "The answer is 40.",
        ),
        "t-asserted": _rollout(
            "p1", "Hmm.\nThe answer is 40.", "Hmm.\nThe answer is 40.", "The answer is 40."
        ),
        "t-privileged": _rollout(
            "p1", GOOD, GOOD, "The answer is 40.", conditioned_on_ground_truth=True
        ),
    }
    base = {
        "version": "v1",
        "snapshot_id": 3,
        "run_id": "run",
        "recipe_hash": "h",
        "head_hash": "head",
        "trace_reasons": {
            "t-good": "selected",
            "t-bad": "incorrect",
            "t-flawed": "flawed_positive:arith_step_check",
            "t-asserted": "flawed_positive:unsupported_answer",
            "t-privileged": "flawed_positive:arith_step_check",
        },
        "problem_reasons": {"p1": "selected", "p2": "no_trace_selected"},
        "pass_rates": {"p1": 0.5, "p2": 0.0},
        "problems": problems,
        "rollouts": rollouts,
        "flaws": [
            {
                "trace_id": "t-flawed",
                "labeler": "arith_step_check_v1",
                "flaw_type": "wrong_arithmetic",
                "severity": "error",
                "step": 1,
            },
            {
                "trace_id": "t-flawed",
                "labeler": "unsupported_answer_v2",
                "flaw_type": "answer_not_derived",
                "severity": "error",
                "step": 3,
            },
            {
                "trace_id": "t-asserted",
                "labeler": "unsupported_answer_v2",
                "flaw_type": "answer_not_derived",
                "severity": "error",
                "step": 1,
            },
            {
                "trace_id": "t-privileged",
                "labeler": "arith_step_check_v1",
                "flaw_type": "wrong_arithmetic",
                "severity": "error",
                "step": 1,
            },
        ],
        "correct": {"t-good": True, "t-bad": False, "t-flawed": True, "t-asserted": True},
        "verifiers": {"p1": "math_v2", "p2": "code_v2"},
        "license": "mit",
        "license_origin": "the problem source",
        "recipe_name": "r",
    }
    return ExportSource(**(base | overrides))


def test_the_answer_is_not_repeated_after_the_reasoning() -> None:
    rollout = _source().rollouts["t-good"]
    reasoning, answer, whole = reasoning_and_answer(rollout)
    assert reasoning == "We add 20 and 20.\nSo 20 + 20 = 40." and answer == "The answer is 40."
    assert assistant_text(rollout, "think_tags") == (
        "<think>\nWe add 20 and 20.\nSo 20 + 20 = 40.\n</think>\n\nThe answer is 40."
    )
    assert assistant_text(rollout, "plain") == whole == GOOD  # the trace as written
    # An answer followed by more text: the text is kept once, after the think block.
    noted = _rollout(
        "p1", "", "So 8 * 5 = 40.\nThe answer is 40.\n\nNote: checked.", "The answer is 40."
    )
    assert assistant_text(noted, "think_tags") == (
        "<think>\nSo 8 * 5 = 40.\n</think>\n\nThe answer is 40.\n\nNote: checked."
    )
    # A trace that is only its answer line has no think block at all.
    only = _rollout("p1", "The answer is 40.", "The answer is 40.", "The answer is 40.")
    assert assistant_text(only, "think_tags") == "The answer is 40."


def test_sft_layouts_and_reasoning_content() -> None:
    rows = build_rows(_source(), "sft").to_pylist()
    assert [r["trace_id"] for r in rows] == ["t-good"]
    assert rows[0]["messages"][1]["content"].count("The answer is 40.") == 1
    fielded = build_rows(_source(), "sft", "reasoning_field").to_pylist()[0]["messages"]
    assert fielded[1] == {
        "role": "assistant",
        "content": "The answer is 40.",
        "reasoning_content": "We add 20 and 20.\nSo 20 + 20 = 40.",
    }
    pc = build_rows(_source(), "sft", layout="prompt_completion").to_pylist()[0]
    assert "messages" not in pc
    assert pc["prompt"] == [{"role": "user", "content": "What is 20 + 20?"}]
    assert pc["completion"][0]["role"] == "assistant"
    with pytest.raises(
        InputError, match="has no layout 'chat'; layouts: messages, prompt_completion"
    ):
        build_rows(_source(), "sft", layout="chat")


def test_rl_rows_carry_the_instruction_answer_and_gold_solution() -> None:
    rows = {r["extra_info"]["problem_id"]: r for r in build_rows(_source(), "rl").to_pylist()}
    math, code = rows["p1"], rows["p2"]
    assert math["prompt"][0]["content"] == (
        "What is 20 + 20?\n\nPlease reason step by step, and put your final answer within \\boxed{}."
    )
    assert (math["question"], math["answer"]) == ("What is 20 + 20?", "40")
    assert math["solution"] == "Add them: 20 + 20 = 40.\n\nThe final answer is $\\boxed{40}$."
    assert math["reward_model"]["ground_truth"] == "40"
    info = math["extra_info"]
    assert (info["kind"], info["verifier"], info["index"]) == ("math", "math_v2", 0)
    assert code["ability"] == "code" and code["answer"] is None
    assert code["reward_model"]["ground_truth"].startswith('{"stdin_stdout"')
    assert "```python" in code["prompt"][0]["content"]
    custom = build_rows(_source(), "rl", answer_instruction="End with #### N.").to_pylist()
    assert custom[0]["prompt"][0]["content"].endswith("\n\nEnd with #### N.")
    bare = build_rows(_source(), "rl", answer_instruction="").to_pylist()
    assert bare[0]["prompt"][0]["content"] == "What is 20 + 20?"


def test_dpo_messages_and_strings() -> None:
    rows = build_rows(_source(), "dpo").to_pylist()
    # The privileged trace is not usable (the recipe did not allow conditioned traces).
    assert sorted(r["rejected_trace_id"] for r in rows) == ["t-asserted", "t-bad", "t-flawed"]
    assert rows[0]["prompt"] == [{"role": "user", "content": "What is 20 + 20?"}]
    strings = build_rows(_source(), "dpo", "plain", layout="strings").to_pylist()
    assert strings[0]["prompt"] == "What is 20 + 20?" and strings[0]["chosen"] == GOOD
    with pytest.raises(InputError, match="strings' layout has no message"):
        build_rows(_source(), "dpo", "reasoning_field", layout="strings")
    allowed = build_rows(_source(allow_conditioned=True), "dpo").to_pylist()
    assert "t-privileged" in {r["rejected_trace_id"] for r in allowed}


def test_prm_rows_come_only_from_real_step_evidence() -> None:
    rows = {r["trace_id"]: r for r in build_rows(_source(), "prm").to_pylist()}
    # t-asserted: its only error (an answer never derived) places no step -> no invented labels.
    # t-bad: wrong, with no located error. t-privileged: conditioned on the reference.
    assert sorted(rows) == ["t-flawed", "t-good"]
    assert (
        rows["t-good"]["labels"] == [True, True, True]
        and rows["t-good"]["first_error_step"] is None
    )
    assert rows["t-flawed"]["labels"] == [True, False, False, False]
    assert rows["t-flawed"]["first_error_step"] == 1
    critic = {r["id"]: r for r in build_rows(_source(), "prm", layout="critic").to_pylist()}
    assert critic["t-good"]["label"] == -1 and critic["t-flawed"]["label"] == 1
    assert critic["t-flawed"]["final_answer_correct"] is True
    assert critic["t-flawed"]["problem"] == "What is 20 + 20?"
    assert critic["t-flawed"]["steps"] == rows["t-flawed"]["completions"]
    assert critic["t-good"]["generator"] == "m"


def test_step_evidence_rules() -> None:
    def flaw(kind: str, step: int | None, severity: str = "error") -> dict:
        return {"flaw_type": kind, "step": step, "severity": severity}

    located = step_evidence([flaw("wrong_arithmetic", 4), flaw("judge_first_error", 2)])
    assert (located.first_error, located.unplaced_before) == (2, False)
    # An unplaced error at or before the located one (or with no step) voids the labels.
    assert step_evidence([flaw("wrong_arithmetic", 3), flaw("no_derivation", 0)]).unplaced_before
    assert step_evidence([flaw("wrong_arithmetic", 3), flaw("truncated", None)]).unplaced_before
    assert not step_evidence(
        [flaw("operand_from_nowhere", 1), flaw("guessed_answer", 5)]
    ).unplaced_before
    warning_only = step_evidence([flaw("unmarked_answer", 2, "warning")])
    assert warning_only.errors == 0 and warning_only.first_error is None


def test_opsd_rows_give_the_teacher_the_reference() -> None:
    rows = {r["problem_id"]: r for r in build_rows(_source(), "opsd").to_pylist()}
    math = rows["p1"]
    assert math["prompt"] == [
        {
            "role": "user",
            "content": "What is 20 + 20?\n\nPlease reason step by step, and put your final answer "
            "within \\boxed{}.",
        }
    ]
    assert math["privileged_context"] == (
        "Reference solution:\nAdd them: 20 + 20 = 40.\n\nFinal answer: 40"
    )
    assert math["privileged_kind"] == "reference_solution"
    assert rows["p2"]["privileged_context"] == "Reference solution:\nprint(7)"


def test_every_layout_is_in_the_readme_table() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for lay in LAYOUTS:
        assert f"| `{lay.format}` | `{lay.name}` | {lay.columns} | {lay.trainer} |" in readme


def test_exports_alike_in_size_load_their_own_rows(tmp_path: Path) -> None:
    """`datasets` keys a local folder's cache on its card's configs, not the file contents: the
    shard names carry the rows' digest so two same-sized exports never share an entry."""
    from datasets import load_dataset

    one = _source()
    two = _source(
        problems=one.problems | {"p1": one.problems["p1"] | {"question": "What is 20 + 21?"}}
    )
    tables = [build_rows(s, "rl") for s in (one, two)]
    assert tables[0].nbytes == tables[1].nbytes  # same sizes, different rows
    for name, source, table in (("a", one, tables[0]), ("b", two, tables[1])):
        write_export(
            table,
            tmp_path / name / "rl",
            "rl",
            lambda shards, s=source, t=table: render_card(
                s, "rl", t.num_rows, "n/a", shards=shards
            ),
        )
    got = [load_dataset(str(tmp_path / n / "rl"), split="train")["question"] for n in "ab"]
    assert got[0] != got[1] and "What is 20 + 21?" in got[1]
