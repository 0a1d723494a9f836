"""Prompts, prefixes, reasoning/answer split and option validation (no engine needed)."""

from __future__ import annotations

import pytest

from thresher.pipeline.generate import check_mode, plan_traces, sample_seed
from thresher.pipeline.prompts import (
    on_policy_messages,
    prefix_cut,
    privileged_messages,
    sentence_ends,
)
from thresher.schemas import InputError, Problem, SamplingSpec, trace_id_for
from thresher.text.split import SplitMarkers, split_reasoning

P = Problem(source="s", question="What is 2 + 2?", answer="4", solution="2 + 2 = 4.")


def test_split_think_markers_truncation_and_plain_text():
    assert split_reasoning("<think>add 2 and 2</think>\nThe answer is 4.") == (
        "add 2 and 2",
        "The answer is 4.",
    )
    # the template already opened <think>; only the end marker is in the completion
    assert split_reasoning("add them</think>4") == ("add them", "4")
    assert split_reasoning("<think>still thinking when cut") == ("still thinking when cut", "")
    plain = "2 + 2 = 4.\nFinal answer: 4\n"
    assert split_reasoning(plain) == ("2 + 2 = 4.", "Final answer: 4")
    gsm8k = "16 - 3 = <<16-3=13>>13 eggs.\n#### 13"
    assert split_reasoning(gsm8k) == ("16 - 3 = <<16-3=13>>13 eggs.", "#### 13")
    assert split_reasoning("one\ntwo\n\n") == ("one\ntwo", "")  # no mark: no marked answer
    custom = SplitMarkers(think_start="[R]", think_end="[/R]", answer_mark=None)
    assert split_reasoning("[R]why[/R] so", custom) == ("why", "so")


def test_prefix_cut_takes_whole_sentences():
    text = "First we add. Then we carry the one. Finally we write 4."
    assert sentence_ends(text)[-1] == len(text)
    assert prefix_cut(text, 0.1) == "First we add."
    assert prefix_cut(text, 0.5) == "First we add. Then we carry the one."
    assert prefix_cut(text, 0.99) == "First we add. Then we carry the one."  # never the last
    assert prefix_cut("", 0.5) == "" and prefix_cut("One sentence only.", 0.5) == ""


def test_a_prefix_never_holds_the_final_answer():
    trace = "Leila has 11 beads.\n11 * 4 = 44\n</think>\nThe answer is 44."
    for fraction in (0.25, 0.5, 0.9, 1.0):
        assert prefix_cut(trace, fraction) == "Leila has 11 beads."
    gsm8k = "She has 16 - 3 = 13 eggs. She sells 13 * 2 = 26 dollars.\n#### 26"
    assert prefix_cut(gsm8k, 0.9) == "She has 16 - 3 = 13 eggs."


def test_privileged_prompt_holds_the_reference_and_on_policy_does_not():
    assert "2 + 2 = 4." in privileged_messages(P)[0][1]
    assert "2 + 2 = 4." not in on_policy_messages(P)[0][1]
    only_answer = Problem(source="s", question="q?", answer="7")
    assert "The final answer is 7." in privileged_messages(only_answer)[0][1]
    assert privileged_messages(Problem(source="s", question="q?", kind="exact")) is None


def test_plan_ids_are_content_ids_and_seeds_per_trace():
    spec = SamplingSpec(seed=3)
    common = {"n": 2, "model": "m", "model_revision": "rev", "engine": "vllm"}
    planned, skips = plan_traces([P], mode="on_policy", sampling=spec, **common)
    assert not skips and [p.sample_index for p in planned] == [0, 1]
    for p in planned:
        assert p.trace_id == trace_id_for(
            P.problem_id, "m", "rev", spec, "on_policy", None, None, p.sample_index
        )
        assert p.seed == sample_seed(3, p.trace_id)
    assert planned[0].seed != planned[1].seed
    unseeded, _ = plan_traces([P], mode="on_policy", sampling=SamplingSpec(), **common)
    assert unseeded[0].seed is None
    other_rev, _ = plan_traces(
        [P], mode="on_policy", sampling=spec, **{**common, "model_revision": "rev2"}
    )
    assert other_rev[0].trace_id != planned[0].trace_id


def test_modes_and_fractions_fail_with_the_field():
    with pytest.raises(InputError, match="field 'prefix_fractions'"):
        check_mode("prefix", (0.5, 1.0), ("on_policy",))
    with pytest.raises(InputError, match="field 'mode'.*unknown mode"):
        check_mode("teacher", (0.5,), ("on_policy",))
    with pytest.raises(InputError, match="field 'prefix_sources'"):
        check_mode("prefix", (0.5,), ("prefix",))


def test_cli_reports_user_errors_without_a_traceback(tmp_path):
    import subprocess
    import sys

    base = [sys.executable, "-m", "thresher.cli", "generate", "--lake", str(tmp_path / "lake")]
    no_url = subprocess.run(
        [*base, "--problems", "p", "--engine", "openai"], capture_output=True, text=True
    )
    assert no_url.returncode == 2 and "engine 'openai' needs the server's URL" in no_url.stderr
    assert "Traceback" not in no_url.stderr
    bad = subprocess.run(
        [*base, "--problems", "p", "--mode", "prefix", "--prefix-fractions", "0.5,x"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "field '--prefix-fractions'" in bad.stderr
