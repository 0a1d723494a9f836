"""Scoring: vLLM prompt log-probs against a direct transformers forward pass."""

from __future__ import annotations

import math

import pytest

from thresher.pipeline.scoring import SKIP_TOO_LONG, Scorer, ScoreRequest, span_means
from thresher.schemas import InputError

CONTEXT = "<|im_start|>user\nWhat is 3 + 4?<|im_end|>\n<|im_start|>assistant\n"
TEXT = "First, 3 + 4 = 7. So the answer is 7."


@pytest.fixture(scope="module")
def scorer(vllm_engine):
    s = Scorer(engine=vllm_engine)
    s.setup()
    return s


def _transformers_logprobs(model_dir, context: str, text: str) -> list[float]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    ctx = tok.encode(context, add_special_tokens=False)
    txt = tok.encode(text, add_special_tokens=False)
    ids = torch.tensor([ctx + txt])
    with torch.no_grad():
        logits = model(ids).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return [float(logp[len(ctx) + k - 1, t]) for k, t in enumerate(txt)]


@pytest.mark.slow
def test_logprobs_match_a_transformers_forward_pass(scorer, embedded_model_dir):
    spans = [(0, 17), (18, len(TEXT))]
    [res] = scorer.score([ScoreRequest(CONTEXT, TEXT, spans)])
    assert res.error is None
    expected = _transformers_logprobs(str(embedded_model_dir), CONTEXT, TEXT)
    assert len(res.token_logprobs) == len(expected) == len(res.token_offsets)
    for got, want in zip(res.token_logprobs, expected, strict=True):
        assert got == pytest.approx(want, abs=2e-2)
    # offsets tile the text and spans aggregate exactly the overlapping tokens
    assert "".join(TEXT[a:b] for a, b in res.token_offsets) == TEXT
    means, counts = span_means(res.token_logprobs, res.token_offsets, spans)
    assert res.span_mean_logprobs == means and res.span_token_counts == counts
    assert sum(counts) == len(res.token_logprobs)
    assert res.mean_logprob == pytest.approx(sum(expected) / len(expected), abs=2e-2)


@pytest.mark.slow
def test_context_changes_the_score_and_batches_keep_order(scorer):
    helpful = ScoreRequest(CONTEXT, "7")
    unhelpful = ScoreRequest(
        "<|im_start|>user\nName a color.<|im_end|>\n<|im_start|>assistant\n", "7"
    )
    results = scorer.score([helpful, unhelpful, helpful])
    assert results[0].token_logprobs == pytest.approx(results[2].token_logprobs, abs=1e-5)
    assert results[0].token_logprobs[0] > results[1].token_logprobs[0]


@pytest.mark.slow
def test_empty_context_conditions_on_bos_and_empty_text_scores_nothing(scorer):
    [res, empty] = scorer.score(
        [ScoreRequest("", "Hello world"), ScoreRequest(CONTEXT, "", [(0, 0)])]
    )
    assert len(res.token_logprobs) == 2 and all(math.isfinite(x) for x in res.token_logprobs)
    assert empty.token_logprobs == [] and empty.span_mean_logprobs == [None]
    assert empty.span_token_counts == [0]


@pytest.mark.slow
def test_too_long_is_reported_not_raised_and_bad_spans_name_the_request(scorer, vllm_engine):
    huge = "word " * (vllm_engine.max_model_len + 10)
    ok, too_long = scorer.score([ScoreRequest(CONTEXT, "7"), ScoreRequest(CONTEXT, huge, [(0, 4)])])
    assert ok.error is None and too_long.error == SKIP_TOO_LONG
    assert too_long.span_mean_logprobs == [None]
    with pytest.raises(InputError, match=r"score request 1: field 'spans'.*outside the text"):
        scorer.score([ScoreRequest(CONTEXT, "7"), ScoreRequest(CONTEXT, "abc", [(1, 9)])])


def test_span_means_counts_overlapping_tokens():
    lps = [-1.0, -2.0, -3.0]
    offsets = [(0, 2), (2, 5), (5, 9)]
    means, counts = span_means(lps, offsets, [(0, 3), (5, 9), (9, 9)])
    assert means == [pytest.approx(-1.5), -3.0, None]
    assert counts == [2, 1, 0]
