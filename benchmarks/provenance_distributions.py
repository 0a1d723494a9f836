"""Measure the sentence log-prob distributions that justify thresher's provenance thresholds.

Runs the embedded default (SmolLM2-135M-Instruct in two roles: a privileged teacher that sees
the reference solution, a plain student) on built-in arithmetic problems, over three kinds of
sentences whose origin is known:

- ``copied``: sentences of the reference solution, placed in the trace verbatim;
- ``on_policy``: sentences the student itself sampled (no solution in view);
- ``foreign``: sentences of a *different* problem's reference solution (neither role's).

Prints JSON: percentiles of teacher / student mean log-prob and of their difference per kind,
and the category shares under the default thresholds.

    .venv/bin/python benchmarks/provenance_distributions.py [--problems 24]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--problems", type=int, default=24)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=160)
    args = parser.parse_args()

    import numpy as np

    from thresher.pipeline.engines.base import GenerationRequest
    from thresher.pipeline.engines.vllm import VLLMEngine
    from thresher.pipeline.prompts import on_policy_messages
    from thresher.pipeline.provenance import (
        CATEGORIES,
        ProvenanceThresholds,
        ProvenanceTracer,
        Role,
        privileged_context,
    )
    from thresher.pipeline.scoring import Scorer
    from thresher.schemas import Rollout, SamplingSpec
    from thresher.storage.builtin import builtin_problems

    start = time.perf_counter()
    problems = builtin_problems("arithmetic", n=args.problems, seed=7)
    engine = VLLMEngine(
        "smollm2-135m-instruct", dtype="float32", max_model_len=2048, enforce_eager=True
    )
    engine.setup()
    sampling = SamplingSpec(temperature=0.7, max_tokens=args.max_tokens, seed=0)
    requests = [
        GenerationRequest(key=p.problem_id, messages=on_policy_messages(p), n=args.samples)
        for p in problems
    ]
    generated = engine.generate(requests, sampling)
    scorer = Scorer(engine=engine)
    tracer = ProvenanceTracer(
        teacher=Role("teacher", engine.model_name, scorer, privileged_context),
        student=Role("student", engine.model_name, scorer),
    )
    pairs, kinds = [], []
    for k, (problem, result) in enumerate(zip(problems, generated, strict=True)):
        other = problems[(k + 1) % len(problems)]
        texts = [("on_policy", s.text) for s in result.samples]
        texts += [("copied", problem.solution or ""), ("foreign", other.solution or "")]
        for idx, (kind, text) in enumerate(texts):
            pairs.append(
                (
                    problem,
                    Rollout(
                        problem_id=problem.problem_id,
                        model=engine.model_name,
                        engine="vllm",
                        prompt=result.prompt,
                        completion=text,
                        sample_index=idx,
                    ),
                )
            )
            kinds.append(kind)
    sentences, _ = tracer.trace(pairs)
    kind_of = {r.trace_id: kind for (_, r), kind in zip(pairs, kinds, strict=True)}
    engine.teardown()

    def pct(values: list[float]) -> dict[str, float]:
        if not values:
            return {}
        q = np.percentile(values, [5, 25, 50, 75, 95])
        return {f"p{p}": round(float(v), 3) for p, v in zip((5, 25, 50, 75, 95), q, strict=True)}

    report: dict[str, object] = {
        "model": engine.model_name,
        "problems": len(problems),
        "thresholds": ProvenanceThresholds().__dict__,
        "seconds": round(time.perf_counter() - start, 1),
    }
    for kind in ("copied", "on_policy", "foreign"):
        rows = [s for s in sentences if kind_of[s.trace_id] == kind]
        report[kind] = {
            "sentences": len(rows),
            "teacher_logprob": pct([s.teacher_logprob for s in rows]),
            "student_logprob": pct([s.student_logprob for s in rows]),
            "teacher_minus_student": pct([s.teacher_logprob - s.student_logprob for s in rows]),
            "categories": {
                c: round(sum(s.category == c for s in rows) / max(len(rows), 1), 3)
                for c in CATEGORIES
            },
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
