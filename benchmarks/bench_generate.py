"""thresher against bare vLLM on one engine: generation (`stages.generate.run`, lake writes
included) vs `vllm.LLM.generate`, and provenance scoring (`Scorer.score`) vs bare
`prompt_logprobs`; plus an A/B of the CPU thread settings, each in a fresh process.

Method: the same engine instance, model, chat-templated prompts and sampling parameters for both
sides. One warm-up round of each side is run first and not counted (the first engine calls pay
for warm-up: 204 s against 27 s for the same work later, once). Then --rounds pairs, the order
alternating (vLLM first in even rounds, thresher first in odd ones) so drifting machine load hits
both alike; each pair gives a ratio (thresher tokens/s / vLLM tokens/s) and the figure is the
median of the per-pair ratios (target >= 0.95). Scoring is measured the same way on the texts the
last bare round generated (prompt tokens scored per second).

`--threads-ab` runs this benchmark once per CPU thread setting in a fresh process (settings are
read when the engine starts), reports bare vLLM's tokens/s of each, and the fastest. The default
of thresher's engine setup on CPU is the one this A/B picked (see VLLMEngine.setup).

    python benchmarks/bench_generate.py                      # 8 prompts x 2 samples, 32 tokens
    python benchmarks/bench_generate.py --rounds 5 --problems 16
    python benchmarks/bench_generate.py --threads-ab         # + one fresh process per setting
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# vLLM logs to stdout by default; keep stdout for the JSON result.
os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")

RATIO_TARGET = 0.95
# The CPU thread settings compared by --threads-ab (environment set before the engine starts).
# "thresher": VLLMEngine.setup's CPU default, one process and one torch thread (chosen by this
# A/B: on 2 cores one thread generated 5x faster than one per core); "per_core": torch's own
# default of one thread per core (in one process vLLM's "Reducing Torch threads" does not take
# effect: its CPU worker has disabled torch.set_num_threads); "vllm_mp": vLLM's own default, the
# engine core in a separate process with its OpenMP binding (VLLM_CPU_OMP_THREADS_BIND=auto).
THREAD_SETTINGS: dict[str, dict[str, str]] = {
    "thresher": {},
    "per_core": {"OMP_NUM_THREADS": str(os.cpu_count() or 1)},
    "vllm_mp": {"VLLM_ENABLE_V1_MULTIPROCESSING": "1"},
}


def _problems(k: int):
    from thresher.schemas import Problem

    return [
        Problem(
            source="bench",
            question=f"Sam has {i + 3} apples and buys {2 * i + 5} more. "
            f"He gives away {i % 4 + 1}. How many apples does he have now?",
            answer=str((i + 3) + (2 * i + 5) - (i % 4 + 1)),
        )
        for i in range(k)
    ]


def _prompts(engine, problems) -> list[str]:
    from thresher.pipeline.engines import GenerationRequest
    from thresher.pipeline.prompts import on_policy_messages

    return [
        engine.prompt_text(GenerationRequest(key="", messages=on_policy_messages(p)))
        for p in problems
    ]


def _bare(engine, prompts, spec, n: int) -> tuple[int, float, list[tuple[str, str]]]:
    """Bare vLLM: output tokens, seconds, and (prompt, completion) pairs for scoring."""
    from vllm import SamplingParams

    params = SamplingParams(
        n=n, temperature=spec.temperature, top_p=spec.top_p, max_tokens=spec.max_tokens
    )
    start = time.perf_counter()
    outputs = engine.llm.generate(prompts, params, use_tqdm=False)
    elapsed = time.perf_counter() - start
    pairs = [(o.prompt, c.text) for o in outputs for c in o.outputs]
    return sum(len(c.token_ids) for o in outputs for c in o.outputs), elapsed, pairs


def _thresher(engine, problems, spec, n: int) -> tuple[int, float]:
    """thresher's generate stage into a fresh lake: output tokens and seconds."""
    from thresher.config import GenerationConfig, SamplingConfig
    from thresher.stages import generate
    from thresher.storage import Lake

    sampling = SamplingConfig(
        temperature=spec.temperature, top_p=spec.top_p, max_tokens=spec.max_tokens, seed=spec.seed
    )
    # One engine call for the whole set, as the bare vLLM side does.
    config = GenerationConfig(n=n, sampling=sampling, batch_size=max(256, len(problems)))
    with tempfile.TemporaryDirectory() as tmp, Lake.open(os.path.join(tmp, "lake")) as lake:
        lake.append("problems", problems)
        start = time.perf_counter()
        report = generate.run(lake, "bench", config, engine=engine, progress=True)
        elapsed = time.perf_counter() - start
        stored = lake.sql("SELECT sum(completion_tokens) AS t FROM rollouts").item()
    assert stored == report.completion_tokens and report.generated == len(problems) * n
    return report.completion_tokens, elapsed


def _bare_scoring(engine, pairs) -> tuple[int, float]:
    """Bare vLLM prompt log-probs of prompt + completion: scored tokens and seconds."""
    from vllm import SamplingParams

    params = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
    start = time.perf_counter()
    outputs = engine.llm.generate([p + c for p, c in pairs], params, use_tqdm=False)
    elapsed = time.perf_counter() - start
    return sum(len(o.prompt_token_ids) for o in outputs), elapsed


def _thresher_scoring(engine, pairs) -> tuple[int, float]:
    """thresher's Scorer (tokenization with offsets, per-sentence means): scored tokens, seconds."""
    from thresher.pipeline.scoring import Scorer, ScoreRequest

    scorer = Scorer(engine=engine, batch_size=max(64, len(pairs)))
    requests = [ScoreRequest(context=p, text=c, spans=[(0, len(c))]) for p, c in pairs]
    start = time.perf_counter()
    results = scorer.score(requests)
    elapsed = time.perf_counter() - start
    assert all(r.error is None for r in results)
    # Same count as the bare side: context tokens + text tokens of every request.
    tokenizer = engine.tokenizer
    tokens = sum(len(tokenizer.encode(p + c, add_special_tokens=False)) for p, c in pairs)
    return tokens, elapsed


def _pair(first_is_vllm: bool, bare, ours) -> dict[str, float]:
    """Run one pair in the given order; tokens/s of each side and their ratio."""
    runs = {}
    for name in ("vllm", "thresher") if first_is_vllm else ("thresher", "vllm"):
        tokens, secs = (bare if name == "vllm" else ours)()
        runs[name] = tokens / secs
    return {
        "vllm_tokens_per_s": round(runs["vllm"], 2),
        "thresher_tokens_per_s": round(runs["thresher"], 2),
        "ratio": round(runs["thresher"] / runs["vllm"], 4),
        "first": "vllm" if first_is_vllm else "thresher",
    }


def run(args: argparse.Namespace) -> dict:
    """The in-process benchmark: one engine, warm-up, alternating pairs, median ratios."""
    import torch

    from thresher.pipeline.engines.vllm import VLLMEngine
    from thresher.schemas import SamplingSpec

    t0 = time.perf_counter()
    engine = VLLMEngine(args.model, dtype=args.dtype, max_model_len=2048, enforce_eager=True)
    engine.setup()
    startup = time.perf_counter() - t0
    problems = _problems(args.problems)
    prompts = _prompts(engine, problems)
    spec = SamplingSpec(temperature=args.temperature, max_tokens=args.max_tokens)
    last_pairs: list[tuple[str, str]] = []

    def bare() -> tuple[int, float]:
        nonlocal last_pairs
        tokens, secs, last_pairs = _bare(engine, prompts, spec, args.n)
        return tokens, secs

    def ours() -> tuple[int, float]:
        return _thresher(engine, problems, spec, args.n)

    t = time.perf_counter()
    bare()  # warm-up round of each side, not counted
    ours()
    warmup = time.perf_counter() - t
    generation = [_pair(i % 2 == 0, bare, ours) for i in range(args.rounds)]
    pairs = list(last_pairs)
    _bare_scoring(engine, pairs)  # warm-up of the scoring path, not counted
    _thresher_scoring(engine, pairs)
    scoring = [
        _pair(
            i % 2 == 0,
            lambda: _bare_scoring(engine, pairs),
            lambda: _thresher_scoring(engine, pairs),
        )
        for i in range(args.rounds)
    ]
    gen_ratio = statistics.median(p["ratio"] for p in generation)
    score_ratio = statistics.median(p["ratio"] for p in scoring)
    figures = {
        "benchmark": "generate",
        "peer": "vllm.LLM.generate (same engine instance, prompts and sampling)",
        "device": "cpu" if engine._on_cpu else "cuda",
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "load_average_1min": round(os.getloadavg()[0], 2),
        "thread_env": {
            k: os.environ.get(k)
            for k in (
                "OMP_NUM_THREADS",
                "VLLM_CPU_OMP_THREADS_BIND",
                "VLLM_ENABLE_V1_MULTIPROCESSING",
            )
        },
        "torch_threads_after_setup": torch.get_num_threads(),
        "model": args.model,
        "prompts": args.problems,
        "n": args.n,
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
        "rounds": args.rounds,
        "engine_startup_s": round(startup, 1),
        "warmup_round_s": round(warmup, 1),
        "generation_pairs": generation,
        "generation_ratio_median": round(gen_ratio, 4),
        "scoring_texts": len(pairs),
        "scoring_pairs": scoring,
        "scoring_ratio_median": round(score_ratio, 4),
        "vllm_generation_tokens_per_s_median": round(
            statistics.median(p["vllm_tokens_per_s"] for p in generation), 2
        ),
        "targets": [
            {
                "figure": "generation: thresher / bare vLLM tokens/s (median of pairs)",
                "value": round(gen_ratio, 4),
                "target": f">= {RATIO_TARGET}",
                "peer": "vllm.LLM.generate",
                "met": gen_ratio >= RATIO_TARGET,
            },
            {
                "figure": "provenance scoring: thresher / bare vLLM prompt tokens/s (median)",
                "value": round(score_ratio, 4),
                "target": f">= {RATIO_TARGET}",
                "peer": "vllm prompt_logprobs",
                "met": score_ratio >= RATIO_TARGET,
            },
        ],
    }
    engine.teardown()
    return figures


def threads_ab(args: argparse.Namespace) -> dict:
    """One fresh process per thread setting; bare vLLM tokens/s (median of its rounds) of each."""
    results = {}
    for name, extra in THREAD_SETTINGS.items():
        env = {**os.environ, **extra}
        cmd = [sys.executable, str(Path(__file__).resolve()), "--in-process", *_passthrough(args)]
        print(f"== threads A/B: {name} {extra}", file=sys.stderr, flush=True)
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            results[name] = {"env": extra, "error": done.stderr[-2000:]}
            continue
        figures = json.loads(done.stdout)
        results[name] = {
            "env": extra,
            "torch_threads_after_setup": figures["torch_threads_after_setup"],
            "vllm_generation_tokens_per_s_median": figures["vllm_generation_tokens_per_s_median"],
            "thresher_generation_tokens_per_s_median": statistics.median(
                p["thresher_tokens_per_s"] for p in figures["generation_pairs"]
            ),
            "engine_startup_s": figures["engine_startup_s"],
        }
    rated = {k: v for k, v in results.items() if "error" not in v}
    fastest = (
        max(rated, key=lambda k: rated[k]["vllm_generation_tokens_per_s_median"]) if rated else None
    )
    return {"settings": results, "fastest": fastest}


def _passthrough(args: argparse.Namespace) -> list[str]:
    return [
        "--model", args.model, "--problems", str(args.problems), "--n", str(args.n),
        "--max-tokens", str(args.max_tokens), "--temperature", str(args.temperature),
        "--rounds", str(args.rounds), "--dtype", args.dtype,
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--problems", type=int, default=8)
    parser.add_argument("--n", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--rounds", type=int, default=3, help="Counted pairs (after a warm-up).")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads-ab", action="store_true", help="Also compare thread settings.")
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    if args.in_process or not args.threads_ab:
        print(json.dumps(run(args), indent=2))
        return
    ab = threads_ab(args)
    print(json.dumps({"benchmark": "generate_threads_ab", **ab}, indent=2))


if __name__ == "__main__":
    main()
