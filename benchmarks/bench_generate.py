"""`thresher generate` (the library job behind the command) vs bare `vllm.LLM.generate`.

Same engine instance, model, prompts (chat-templated) and sampling parameters, in one run,
alternating rounds so background load hits both alike. Prints JSON: output tokens/s of each
and the ratio thresher / vllm (target >= 0.95).

    python benchmarks/bench_generate.py [--problems 32] [--n 4] [--max-tokens 48] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

# vLLM logs to stdout by default; keep stdout for the JSON result.
os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")


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


def _bare(engine, problems, spec, n: int) -> tuple[int, float]:
    from vllm import SamplingParams

    from thresher.pipeline.engines import GenerationRequest
    from thresher.pipeline.prompts import on_policy_messages

    prompts = [
        engine.prompt_text(GenerationRequest(key="", messages=on_policy_messages(p)))
        for p in problems
    ]
    params = SamplingParams(
        n=n, temperature=spec.temperature, top_p=spec.top_p, max_tokens=spec.max_tokens
    )
    start = time.perf_counter()
    outputs = engine.llm.generate(prompts, params, use_tqdm=False)
    elapsed = time.perf_counter() - start
    return sum(len(c.token_ids) for o in outputs for c in o.outputs), elapsed


def _thresher(engine, problems, spec, n: int, batch_size: int) -> tuple[int, float]:
    from thresher.config import GenerationConfig, SamplingConfig
    from thresher.stages import generate
    from thresher.storage import Lake

    sampling = SamplingConfig(
        temperature=spec.temperature, top_p=spec.top_p, max_tokens=spec.max_tokens, seed=spec.seed
    )
    # One engine call for the whole set, as the bare vLLM side does.
    config = GenerationConfig(n=n, sampling=sampling, batch_size=max(batch_size, len(problems)))
    with tempfile.TemporaryDirectory() as tmp, Lake.open(os.path.join(tmp, "lake")) as lake:
        lake.append("problems", problems)
        start = time.perf_counter()
        report = generate.run(lake, "bench", config, engine=engine, progress=True)
        elapsed = time.perf_counter() - start
        stored = lake.sql("SELECT sum(completion_tokens) AS t FROM rollouts").item()
    assert stored == report.completion_tokens and report.generated == len(problems) * n
    return report.completion_tokens, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--problems", type=int, default=32)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()

    from thresher.pipeline.engines.vllm import VLLMEngine
    from thresher.schemas import SamplingSpec

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    t0 = time.perf_counter()
    engine = VLLMEngine(args.model, dtype=args.dtype, max_model_len=2048, enforce_eager=True)
    engine.setup()
    startup = time.perf_counter() - t0
    problems = _problems(args.problems)
    spec = SamplingSpec(temperature=args.temperature, max_tokens=args.max_tokens)
    _bare(engine, problems[:4], spec, 1)  # warm-up outside the timed rounds
    totals = {"vllm": [0, 0.0], "thresher": [0, 0.0]}
    rounds = []
    for _ in range(args.rounds):
        for name in ("vllm", "thresher"):
            if name == "vllm":
                tokens, secs = _bare(engine, problems, spec, args.n)
            else:
                tokens, secs = _thresher(engine, problems, spec, args.n, args.batch_size)
            totals[name][0] += tokens
            totals[name][1] += secs
            rounds.append(
                {
                    "engine": name,
                    "output_tokens": tokens,
                    "seconds": round(secs, 2),
                    "tokens_per_s": round(tokens / secs, 2),
                }
            )
    rate = {k: v[0] / v[1] for k, v in totals.items()}
    print(json.dumps({
        "benchmark": "generate",
        "peer": "vllm.LLM.generate (same engine instance, prompts and sampling)",
        "device": "cpu" if engine._on_cpu else "cuda",
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "model": args.model,
        "prompts": args.problems, "n": args.n, "max_tokens": args.max_tokens,
        "temperature": args.temperature, "batch_size": args.batch_size,
        "engine_startup_s": round(startup, 1),
        "rounds": rounds,
        "thresher_tokens_per_s": round(rate["thresher"], 2),
        "vllm_tokens_per_s": round(rate["vllm"], 2),
        "ratio": round(rate["thresher"] / rate["vllm"], 3),
        "target_ratio": 0.95,
    }, indent=2))  # fmt: skip
    engine.teardown()


if __name__ == "__main__":
    main()
