"""A recipe's generation settings decide how the engine talks to its server."""

from __future__ import annotations

import pytest

from thresher.config import GenerationConfig
from thresher.pipeline.engines import GenerationRequest
from thresher.schemas import SamplingSpec
from thresher.stages.engines import engine_for

SPEC = SamplingSpec(temperature=0.8, max_tokens=8, seed=3)
REQUEST = GenerationRequest("t1", (("user", "What is 2 + 5?"),), seed=1234)


def openai_settings(**settings: object) -> GenerationConfig:
    return GenerationConfig(engine="openai", base_url="http://127.0.0.1:9/v1", **settings)


@pytest.mark.parametrize(("request_seeds", "sent"), [(True, 1234), (False, None)])
def test_request_seeds_decides_whether_a_trace_seed_is_sent(request_seeds, sent):
    engine = engine_for(openai_settings(request_seeds=request_seeds))
    body = engine._payload(REQUEST, SPEC)
    assert body.get("seed") == sent
    assert body["n"] == 1 and body["max_tokens"] == 8  # everything else is sent alike


def test_requests_in_flight_default_to_64_and_follow_the_recipe():
    assert engine_for(openai_settings()).max_concurrency == 64
    assert engine_for(openai_settings(max_concurrency=8)).max_concurrency == 8
