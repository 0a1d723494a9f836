"""The generation job against a real lake and the shared vLLM engine."""

from __future__ import annotations

import pytest

from thresher.config import GenerationConfig, SamplingConfig
from thresher.pipeline.engines.openai import OpenAIEngine
from thresher.pipeline.prompts import prefix_cut
from thresher.schemas import (
    FlawLabel,
    NotFoundError,
    Problem,
    SamplingSpec,
    Verdict,
    trace_text,
)
from thresher.stages import generate
from thresher.storage import Lake

SPEC = SamplingSpec(temperature=0.8, max_tokens=8, seed=1)


def gen(lake, engine, problem_set="tiny", mode="on_policy", *, limit=None, **settings):
    """The generate stage with this file's sampling settings."""
    sampling = SamplingConfig(temperature=0.8, max_tokens=8, seed=1)
    config = GenerationConfig(sampling=sampling, **settings)
    return generate.run(lake, problem_set, config, mode, limit=limit, engine=engine)


def problems(source: str = "tiny", k: int = 3) -> list[Problem]:
    return [
        Problem(
            source=source,
            question=f"What is {i} + {i + 2}?",
            answer=str(2 * i + 2),
            solution=f"{i} + {i + 2} = {2 * i + 2}. Final answer: {2 * i + 2}",
        )
        for i in range(k)
    ]


@pytest.fixture
def lake(tmp_path):
    with Lake.open(tmp_path / "lake") as opened:
        opened.append("problems", problems())
        yield opened


def rows(lake, sql):
    return lake.sql(sql).to_dicts()


@pytest.mark.slow
def test_n_samples_per_problem_then_rerun_generates_nothing(lake, vllm_engine):
    report = gen(lake, vllm_engine, "tiny", n=2)
    assert (report.planned, report.generated, report.existing) == (6, 6, 0)
    got = rows(
        lake,
        "SELECT problem_id, sample_index, engine, model, mode, prompt_tokens, "
        "completion_tokens, finish_reason, model_revision FROM rollouts",
    )
    assert sorted((r["problem_id"], r["sample_index"]) for r in got) == sorted(
        (p.problem_id, i) for p in problems() for i in range(2)
    )
    for r in got:
        assert r["engine"] == "vllm" and r["model"] == "smollm2-135m-instruct"
        assert r["mode"] == "on_policy" and r["model_revision"].startswith("gguf-")
        assert r["prompt_tokens"] > 0 and 1 <= r["completion_tokens"] <= 8
        assert r["finish_reason"] in {"stop", "length"}
    again = gen(lake, vllm_engine, "tiny", n=2)
    assert (again.generated, again.existing, again.batches) == (0, 6, 0)
    more = gen(lake, vllm_engine, "tiny", n=3)
    assert (more.generated, more.existing) == (3, 6)  # only sample 2 of each problem
    assert rows(lake, "SELECT count(*) AS c, count(DISTINCT trace_id) AS d FROM rollouts") == [
        {"c": 9, "d": 9}
    ]


@pytest.mark.slow
def test_long_prompt_is_skipped_with_reason_and_others_stay_aligned(tmp_path, vllm_engine):
    long_q = "Add these: " + " + ".join(["1"] * vllm_engine.max_model_len)
    probs = [*problems("mix", 2), Problem(source="mix", question=long_q, answer="x")]
    with Lake.open(tmp_path / "lake") as lake:
        lake.append("problems", probs)
        report = gen(lake, vllm_engine, "mix", n=2, batch_size=3)
        assert report.generated == 4 and report.skipped == {"prompt_too_long": 2}
        skips = rows(lake, "SELECT problem_id, reason, detail FROM generation_skips")
        assert {s["problem_id"] for s in skips} == {probs[2].problem_id}
        assert all("prompt tokens" in s["detail"] for s in skips)
        for r in rows(
            lake, "SELECT r.prompt, p.question FROM rollouts r JOIN problems p USING (problem_id)"
        ):
            assert r["question"] in r["prompt"]  # each rollout carries its own problem's prompt


@pytest.mark.slow
def test_privileged_mode_marks_ground_truth_and_skips_without_reference(tmp_path, vllm_engine):
    bare = Problem(source="priv", question="Is this provable?", answer=None, kind="exact")
    with Lake.open(tmp_path / "lake") as lake:
        lake.append("problems", [*problems("priv", 1), bare])
        report = gen(lake, vllm_engine, "priv", "privileged", n=1)
        assert report.generated == 1 and report.skipped == {"no_reference": 1}
        [r] = rows(lake, "SELECT * FROM rollouts")
        assert r["mode"] == "privileged" and r["conditioned_on_ground_truth"] is True
        assert "Reference solution:\n0 + 2 = 2" in r["prompt"]


@pytest.mark.slow
def test_prefix_mode_conditions_on_a_correct_trace_and_records_it(lake, vllm_engine):
    gen(lake, vllm_engine, "tiny", n=2)
    traces = rows(lake, "SELECT trace_id, problem_id, completion FROM rollouts ORDER BY trace_id")
    first = traces[0]
    lake.append(
        "verdicts",
        [Verdict(trace_id=first["trace_id"], verifier="math_v1", status="ok", correct=True)],
    )
    report = gen(lake, vllm_engine, "tiny", "prefix", n=1, prefix_fractions=[0.5])
    assert report.generated == 1 and report.skipped == {"no_correct_trace": 2}
    [r] = rows(lake, "SELECT * FROM rollouts WHERE mode = 'prefix'")
    prefix = prefix_cut(first["completion"], 0.5)
    assert r["prefix_trace_id"] == first["trace_id"] and r["prefix_fraction"] == 0.5
    assert r["prefix_chars"] == len(prefix) and r["prompt"].endswith(prefix)
    assert r["problem_id"] == first["problem_id"] and r["conditioned_on_ground_truth"] is False


@pytest.mark.slow
def test_prefix_mode_can_continue_a_privileged_trace_and_keeps_the_whole_text(lake, vllm_engine):
    gen(lake, vllm_engine, "tiny", "privileged", n=2, limit=1)
    flawed, source = rows(lake, "SELECT trace_id, completion FROM rollouts ORDER BY trace_id")
    lake.append(
        "verdicts",
        [
            Verdict(trace_id=t["trace_id"], verifier="math_v1", status="ok", correct=True)
            for t in (flawed, source)
        ],
    )
    # A right answer on broken reasoning is no prefix to continue.
    lake.append(
        "flaw_labels",
        [FlawLabel(trace_id=flawed["trace_id"], labeler="x_v1", flaw_type="f", severity="error")],
    )
    own_only = gen(lake, vllm_engine, "tiny", "prefix", n=1, prefix_fractions=[0.5])
    assert own_only.generated == 0
    both = ["on_policy", "privileged"]
    opts = gen(
        lake, vllm_engine, "tiny", "prefix", n=1, prefix_fractions=[0.5], prefix_sources=both
    )
    assert opts.generated == 1
    [r] = rows(lake, "SELECT * FROM rollouts WHERE mode = 'prefix'")
    prefix = prefix_cut(source["completion"], 0.5)
    assert r["prefix_trace_id"] == source["trace_id"]
    # The reference is not in its prompt: only the prefix it was given was written seeing it.
    assert r["conditioned_on_ground_truth"] is False and "Reference solution" not in r["prompt"]
    whole = trace_text(r["completion"], r["prompt"], r["prefix_chars"])
    assert whole == prefix + r["completion"]
    # reasoning then answer (text.split's rule) cover the whole trace, prefix first
    assert whole.strip().startswith(r["reasoning"]) and whole.strip().endswith(r["answer_text"])
    with pytest.raises(ValueError, match="prefix_sources"):  # the recipe section refuses it
        gen(lake, vllm_engine, "tiny", "prefix", prefix_sources=["prefix"])


def test_engine_failures_are_retried_then_recorded(lake):
    dead = OpenAIEngine(
        "m", base_url="http://127.0.0.1:9/v1", max_retries=1, backoff_s=0.01, timeout_s=2.0
    )
    report = gen(lake, dead, "tiny", n=1, retries=0)
    assert report.generated == 0 and report.skipped == {"engine_error": 3}
    assert dead.attempts == 6  # 3 requests x (1 try + 1 retry)
    skips = rows(lake, "SELECT reason, detail FROM generation_skips")
    assert all("gave up after 2 attempts" in s["detail"] for s in skips)
    assert rows(lake, "SELECT count(*) AS c FROM rollouts") == [{"c": 0}]


def test_unknown_problem_set_names_the_known_ones(lake):
    dead = OpenAIEngine("m", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(NotFoundError, match="known problem sets: tiny"):
        gen(lake, dead, "nope")
