"""Benchmark: `thresher verify` vs a plain math-verify loop; sandbox executions/s; labelers/s.

Prints one JSON object. The math pairs are seeded and labelled with the truth when they are
made (an equivalent form of the gold, or a different value), so verdicts can be compared:
where the plain loop is right, `thresher verify` must give the identical verdict.

    .venv/bin/python benchmarks/bench_verify.py [--pairs 20000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _int_forms(rng: random.Random) -> tuple[str, list[str], list[str]]:
    n = rng.randint(2, 5000)
    right = [str(n), f"{n}.0"] + ([f"{n:,}"] if n >= 1000 else [])
    return str(n), right, [str(n + rng.choice([-2, -1, 1, 10])), str(n * 2)]


def _decimal_forms(rng: random.Random) -> tuple[str, list[str], list[str]]:
    half = rng.randint(1, 99)
    gold = f"{half / 2:g}" if half % 2 else f"{half / 2 + 0.25:g}"
    num = round(float(gold) * 4)
    return gold, [gold, f"\\frac{{{num}}}{{4}}", f"{num}/4"], [f"{float(gold) + 0.5:g}"]


def _fraction_forms(rng: random.Random) -> tuple[str, list[str], list[str]]:
    q = rng.choice([3, 7, 9, 11, 13])
    p = rng.randint(1, q - 1)
    gold = f"\\frac{{{p}}}{{{q}}}"
    return gold, [gold, f"{p}/{q}", f"\\dfrac{{{2 * p}}}{{{2 * q}}}"], [f"\\frac{{{p + q}}}{{{q}}}"]


def _expression_forms(rng: random.Random) -> tuple[str, list[str], list[str]]:
    a = rng.randint(1, 9)
    gold = f"x^2+{2 * a}x+{a * a}"
    return gold, [f"(x+{a})^2", gold], [f"(x-{a})^2", f"x^2+{a}x+{a * a}"]


def _sqrt_forms(rng: random.Random) -> tuple[str, list[str], list[str]]:
    k = rng.choice([2, 3, 5, 6, 7])
    m = rng.randint(2, 6)
    return (
        f"{m}\\sqrt{{{k}}}",
        [f"\\sqrt{{{m * m * k}}}", f"{m}\\sqrt{{{k}}}"],
        [f"{m + 1}\\sqrt{{{k}}}"],
    )


def _set_forms(rng: random.Random) -> tuple[str, list[str], list[str]]:
    xs = rng.sample(range(1, 20), 3)
    gold = "\\{" + ",".join(map(str, sorted(xs))) + "\\}"
    shuffled = "\\{" + ", ".join(map(str, reversed(sorted(xs)))) + "\\}"
    return gold, [shuffled], ["\\{" + ",".join(map(str, sorted(xs)[:2])) + "\\}"]


def _interval_forms(rng: random.Random) -> tuple[str, list[str], list[str]]:
    a = rng.randint(-5, 5)
    b = a + rng.randint(1, 9)
    return f"({a},{b}]", [f"({a}, {b}]"], [f"[{a},{b}]", f"({a},{b + 1}]"]


def _tuple_forms(rng: random.Random) -> tuple[str, list[str], list[str]]:
    a, b = rng.sample(range(1, 30), 2)
    return f"({a},{b})", [f"({a}, {b})"], [f"({b},{a})"]


_FORMS = [
    (_int_forms, 45), (_decimal_forms, 10), (_fraction_forms, 15), (_expression_forms, 10),
    (_sqrt_forms, 5), (_set_forms, 5), (_interval_forms, 5), (_tuple_forms, 5),
]  # fmt: skip
_TEMPLATES = [
    "Let me work through it. First we find 3 + 4 = 7, then combine.\n"
    "Therefore, the final answer is $\\boxed{{{a}}}$.",
    "<think>\nWe have 12 items and 5 boxes; compute carefully.\n</think>\nThe answer is \\boxed{{{a}}}.",
    "Step 1: set up the equation.\nStep 2: solve it.\n\nFinal answer: $\\boxed{{{a}}}$",
    "Working: 2 * 6 = 12 and 12 - 1 = 11 are intermediate values.\nSo we get $\\boxed{{{a}}}$",
]


def make_pairs(n_pairs: int, seed: int = 0, samples: int = 8) -> list[dict]:
    """Seeded pairs: problems x samples, each sample an equivalent or a wrong answer."""
    rng = random.Random(seed)
    weights = [w for _, w in _FORMS]
    pairs = []
    while len(pairs) < n_pairs:
        make = rng.choices([f for f, _ in _FORMS], weights)[0]
        gold, right, wrong = make(rng)
        candidates = [(a, True) for a in right] + [(a, False) for a in wrong]
        for _ in range(min(samples, n_pairs - len(pairs))):
            answer, truth = rng.choice(candidates)
            response = rng.choice(_TEMPLATES).format(a=answer)
            pairs.append({"id": len(pairs), "kind": "math", "gold": gold,
                          "response": response, "truth": truth})  # fmt: skip
    return pairs


def plain_loop(pairs: list[dict]) -> tuple[list[bool], float]:
    """math_verify.parse/verify per pair, as a user would write it (default settings)."""
    import logging

    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    start = time.perf_counter()
    out = [bool(verify(parse(p["gold"]), parse(p["response"]))) for p in pairs]
    return out, time.perf_counter() - start


def thresher_verify(pairs: list[dict], workers: int, tmp: Path) -> tuple[list[dict], float]:
    """The `thresher verify` command on the same pairs (process start-up included)."""
    src, dst = tmp / "pairs.jsonl", tmp / "verdicts.jsonl"
    src.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    thresher = Path(sys.executable).with_name("thresher")
    start = time.perf_counter()
    subprocess.run([str(thresher), "verify", str(src), "-o", str(dst), "--workers",
                    str(workers)], check=True, capture_output=True)  # fmt: skip
    elapsed = time.perf_counter() - start
    return [json.loads(line) for line in dst.read_text().splitlines()], elapsed


def sandbox_rate(n: int, workers: int) -> dict:
    """Trivial correct programs through the code verifier (pool) and the bare sandbox."""
    from thresher.filters.sandbox import isolation_mode, run_program
    from thresher.filters.verify import VerifyItem, VerifyPool, verify_items

    tests = {"stdin_stdout": [{"input": "20 22\n", "output": "42\n"}]}
    body = "```python\nprint(sum(map(int, input().split())))\n```"
    items = [VerifyItem(str(i), "code", body, tests=tests) for i in range(n)]
    with VerifyPool(workers=workers) as pool:
        verify_items(items[:workers], pool=pool)  # start the workers outside the timing
        start = time.perf_counter()
        got = verify_items(items, pool=pool)
        pooled = time.perf_counter() - start
    import resource

    def cpu() -> float:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + kids.ru_utime + kids.ru_stime

    start, cpu0 = time.perf_counter(), cpu()
    for _ in range(n // 2):
        run_program("print(1)")
    single, cpu_used = time.perf_counter() - start, cpu() - cpu0
    return {
        "isolation": isolation_mode(),
        "executions": n,
        "all_correct": all(out.correct for _, out in got),
        "executions_per_s_pool": round(n / pooled, 1),
        "executions_per_s_one_process": round((n // 2) / single, 1),
        # Supervisor + sandbox CPU per run: what 2 idle cores could sustain, load aside.
        "cpu_ms_per_execution": round(1000 * cpu_used / (n // 2), 1),
        "executions_per_s_2_idle_cores_from_cpu": round(2 * (n // 2) / cpu_used, 1),
        "target_per_s": 20,
    }


def labeler_rate(n: int) -> dict:
    """The rule-based labeler set on one core, over generated traces (some flawed)."""
    from thresher.filters.flaws import Trace, label_traces, rule_labelers

    rng = random.Random(1)
    traces = []
    for i in range(n):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        c = a + b if rng.random() < 0.8 else a + b + 1
        text = (
            f"<think>Tom has {a} apples and buys {b} more, so {a} + {b} = {c}.\n\n"
            f"Then he packs them in bags of 2: {c} / 2 = {c / 2:g} bags.\n\n"
            f"Each bag costs $3, so {c / 2:g} * 3 = {c * 1.5:g} dollars.</think>\n"
            f"The answer is \\boxed{{{c}}}."
        )
        question = (
            f"Tom has {a} apples and buys {b} more. He packs them in bags of 2 and sells each "
            "bag for $3. How many apples does he have?"
        )
        traces.append(Trace(str(i), text, question=question, finish_reason="stop"))
    labelers = rule_labelers()
    cpu, wall = time.process_time(), time.perf_counter()
    labels = label_traces(traces, labelers)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "traces": n,
        "labelers": [lab.name for lab in labelers],
        "traces_with_error_flaw": sum(any(x.severity == "error" for x in ls) for ls in labels),
        "traces_per_s_wall": round(n / wall),
        "traces_per_cpu_s": round(n / cpu),
        "target_per_s": 2000,
    }


def main() -> None:
    """Run all three benchmarks and print JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--code", type=int, default=100)
    parser.add_argument("--traces", type=int, default=5000)
    args = parser.parse_args()
    pairs = make_pairs(args.pairs)
    with tempfile.TemporaryDirectory() as tmp:
        ours, ours_s = thresher_verify(pairs, args.workers, Path(tmp))
    loop, loop_s = plain_loop(pairs)
    loop_right = [i for i, p in enumerate(pairs) if loop[i] == p["truth"]]
    differ = [i for i in loop_right if ours[i]["correct"] is not loop[i]]
    statuses: dict[str, int] = {}
    for row in ours:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    result = {
        "benchmark": "bench_verify",
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)},
        "math": {
            "pairs": len(pairs),
            "peer": "plain loop of math_verify.parse/verify (1 process, default settings)",
            "thresher_verify_s": round(ours_s, 2),
            "thresher_pairs_per_s": round(len(pairs) / ours_s, 1),
            "loop_s": round(loop_s, 2),
            "loop_pairs_per_s": round(len(pairs) / loop_s, 1),
            "speedup": round(loop_s / ours_s, 2),
            "target_speedup": 5,
            "workers": args.workers,
            "statuses": statuses,
            "loop_accuracy": round(len(loop_right) / len(pairs), 4),
            "thresher_accuracy": round(
                sum(ours[i]["correct"] is p["truth"] for i, p in enumerate(pairs)) / len(pairs), 4
            ),
            "pairs_where_loop_is_right": len(loop_right),
            "verdicts_differing_where_loop_is_right": len(differ),
            "examples_differing": [
                {
                    "gold": pairs[i]["gold"],
                    "response": pairs[i]["response"][-80:],
                    "loop": loop[i],
                    "thresher": ours[i]["correct"],
                }
                for i in differ[:5]
            ],  # fmt: skip
        },
        "code_sandbox": sandbox_rate(args.code, args.workers),
        "labelers": labeler_rate(args.traces),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
