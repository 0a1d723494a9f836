"""distilabel against thresher through ONE local vLLM OpenAI-compatible server, same problems x
samples, same user message, sampling and token budget.

distilabel 1.5.3 (the newest) cannot drive vLLM 0.32 in process, so both go through the server:
distilabel's `TextGeneration` task with its `OpenAILLM` client, and `thresher generate --engine
openai`. distilabel's pins conflict with this project's (datasets, pydantic, ...), so it runs in
its own virtual environment, created here on first use (--venv; one `pip install
distilabel[openai]==1.5.3` from PyPI). The server is started here on 127.0.0.1 (a free port) with
the embedded model, warmed up with one uncounted request, and stopped at the end.

Figures: traces/s of each generation run (the counted rounds alternate which side goes first), and
what each produced. thresher also verifies the answers and labels flaws (`thresher verify`,
`thresher label`; timed separately and reported end to end); distilabel's output is the text and
its token counts: no verdict, no label, no lake, no version. Prints JSON with a `targets` list.

Tokens are counted by the server (the change of vLLM's `vllm:generation_tokens_total` metric over
each run), so both sides are counted alike. distilabel's own statistics are not used: with n
samples per request each generation's metadata carries the whole request's usage, so their sum
counts every token n times (an earlier run of this benchmark read that as distilabel ignoring
the token limit; the server's count shows both sides generate to the same limit).

    python benchmarks/peers/bench_distilabel.py                    # 16 problems x 4 samples
    python benchmarks/peers/bench_distilabel.py --problems 64 --samples 4 --max-tokens 128
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# distilabel 1.5.3 imports `requests` (models/image_generation) without declaring it.
DISTILABEL = ("distilabel[openai]==1.5.3", "requests==2.34.2")
SERVED = "smollm2"
DEFAULT_VENV = Path(os.environ.get("THRESHER_CACHE") or Path.home() / ".cache" / "thresher")
DEFAULT_VENV = DEFAULT_VENV / "peers" / "distilabel-1.5.3"

# Runs inside distilabel's venv: one TextGeneration pipeline over the given instructions.
_DISTILABEL_RUN = """
import json, sys, time
from distilabel.models import OpenAILLM
from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts
from distilabel.steps.tasks import TextGeneration

cfg = json.loads(sys.argv[1])
with Pipeline(name="thresher-peer", cache_dir=cfg["cache_dir"]) as pipeline:
    load = LoadDataFromDicts(data=[{"instruction": t} for t in cfg["instructions"]],
                             batch_size=len(cfg["instructions"]))
    generate = TextGeneration(
        llm=OpenAILLM(model=cfg["model"], base_url=cfg["base_url"], api_key="EMPTY"),
        num_generations=cfg["samples"], group_generations=True,
        input_batch_size=len(cfg["instructions"]),
    )
    load >> generate
start = time.perf_counter()
# Generation settings as runtime parameters (a constructor value is replaced by the defaults).
kwargs = {"max_new_tokens": cfg["max_tokens"], "temperature": cfg["temperature"]}
distiset = pipeline.run(
    parameters={generate.name: {"llm": {"generation_kwargs": kwargs}}}, use_cache=False
)
seconds = time.perf_counter() - start
rows = distiset["default"]["train"].to_list()
texts = [g for row in rows for g in (row.get("generation") or [])]
def tokens(row):
    meta = row.get("distilabel_metadata") or {}
    total = 0
    for m in meta if isinstance(meta, list) else [meta]:  # a list with group_generations
        value = (m.get("statistics_text_generation_0") or {}).get("output_tokens") or 0
        total += sum(v or 0 for v in value) if isinstance(value, list) else int(value)
    return total
print("RESULT " + json.dumps({
    "seconds": seconds,
    "traces": sum(1 for t in texts if t),
    "columns": sorted(rows[0]) if rows else [],
    "reported_output_tokens": sum(tokens(row) for row in rows),  # n x the real count (n > 1)
}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_venv(venv: Path) -> Path:
    """distilabel's own environment (created and filled on first use)."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import distilabel.models, requests"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"creating {venv} with {' '.join(DISTILABEL)}", file=sys.stderr, flush=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if Path(uv).exists():
        cmd = [uv, "pip", "install", "--python", str(python), *DISTILABEL]
    else:
        cmd = [str(python), "-m", "pip", "install", "--quiet", *DISTILABEL]
    subprocess.run(cmd, check=True)
    subprocess.run(check, check=True, capture_output=True)
    return python


def start_server(log: Path, max_model_len: int) -> tuple[subprocess.Popen[bytes], str]:
    """vLLM's OpenAI-compatible server on the embedded model, on 127.0.0.1 (ready on return)."""
    from thresher.pipeline.models import embedded_checkpoint

    port = _free_port()
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(embedded_checkpoint()), "--served-model-name", SERVED,
        "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
        "--max-model-len", str(max_model_len), "--enforce-eager",
    ]  # fmt: skip
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the vLLM server exited ({proc.returncode}); see {log}")
        try:
            with urllib.request.urlopen(f"{base}/models", timeout=5) as resp:
                if resp.status == 200:
                    return proc, base
        except OSError:
            time.sleep(2)
    stop_server(proc)
    raise SystemExit(f"the vLLM server did not come up in 900 s; see {log}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _warm_up(base: str) -> None:
    body = json.dumps(
        {"model": SERVED, "messages": [{"role": "user", "content": "1+1?"}], "max_tokens": 8}
    ).encode()
    request = urllib.request.Request(
        f"{base}/chat/completions", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=600) as resp:
        resp.read()


def server_generated_tokens(base: str) -> float:
    """Tokens the server has generated so far (its Prometheus counter, summed over models)."""
    root = base.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(f"{root}/metrics", timeout=60) as resp:
        text = resp.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("vllm:generation_tokens_total")
    )


def _thresher(*args: str, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "thresher.cli", *args], env=env, cwd=REPO, capture_output=True,
        text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"thresher {args[0]} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start, done.stdout


def _sql(query: str, lake: str, env: dict[str, str]) -> list[dict]:
    _, out = _thresher("sql", query, "--lake", lake, "-f", "json", env=env)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=16)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--rounds", type=int, default=1, help="Counted rounds per side.")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    args = parser.parse_args()
    from thresher.config import GenerationConfig
    from thresher.pipeline.prompts import on_policy_messages
    from thresher.storage.builtin import builtin_problems

    peer_python = ensure_venv(args.venv)
    problems = builtin_problems("arithmetic", n=args.problems, seed=0)
    instructions = [on_policy_messages(p)[0][1] for p in problems]
    env = {
        **os.environ, "PYTHONPATH": str(REPO), "OPENAI_API_KEY": "EMPTY", "HF_HUB_OFFLINE": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="bench-distilabel-"))
    load = [round(os.getloadavg()[0], 2)]
    proc, base = start_server(work / "vllm-server.log", max_model_len=1024)
    try:
        _warm_up(base)
        runs: dict[str, list[dict]] = {"distilabel": [], "thresher": []}
        for r in range(args.rounds):
            order = ("distilabel", "thresher") if r % 2 == 0 else ("thresher", "distilabel")
            for side in order:
                tokens_before = server_generated_tokens(base)
                if side == "distilabel":
                    cfg = {
                        "instructions": instructions, "model": SERVED, "base_url": base,
                        "max_tokens": args.max_tokens, "temperature": args.temperature,
                        "samples": args.samples, "cache_dir": str(work / f"distilabel-{r}"),
                    }  # fmt: skip
                    start = time.perf_counter()
                    done = subprocess.run(
                        [str(peer_python), "-c", _DISTILABEL_RUN, json.dumps(cfg)],
                        env={**env, "PYTHONPATH": ""}, capture_output=True, text=True,
                    )  # fmt: skip
                    wall = time.perf_counter() - start
                    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
                    if done.returncode != 0 or not lines:
                        raise SystemExit(f"distilabel failed:\n{done.stderr[-3000:]}")
                    got = json.loads(lines[-1].removeprefix("RESULT "))
                    # Both sides are timed as a user waits: the whole process (thresher's is
                    # one `thresher generate`), start-up included.
                    got["pipeline_run_s"] = got.pop("seconds")
                    got["seconds"] = wall
                else:
                    lake = str(work / f"lake-{r}")
                    _thresher("ingest", "builtin:arithmetic", "--n", str(args.problems),
                              "--lake", lake, env=env)  # fmt: skip
                    name = f"arithmetic-n{args.problems}-s0"
                    seconds, _ = _thresher(
                        "generate", "--problems", name, "--engine", "openai", "--base-url", base,
                        "--model", SERVED, "--n", str(args.samples),
                        "--max-tokens", str(args.max_tokens),
                        "--temperature", str(args.temperature), "--lake", lake,
                        # distilabel sends no seed; on this vllm-cpu server a seeded request
                        # prefilled in chunks kills the engine (README: Against distilabel).
                        "--no-request-seeds", env=env,
                    )  # fmt: skip
                    verify_s, _ = _thresher("verify", "--problems", name, "--lake", lake, env=env)
                    label_s, _ = _thresher("label", "--problems", name, "--lake", lake, env=env)
                    facts = _sql(
                        "SELECT (SELECT count(*) FROM rollouts) AS traces, "
                        "(SELECT sum(completion_tokens) FROM rollouts) AS output_tokens, "
                        "(SELECT count(*) FROM verdicts) AS verdicts, "
                        "(SELECT count(*) FROM verdicts WHERE correct) AS correct, "
                        "(SELECT count(*) FROM flaw_labels) AS flaw_labels",
                        lake, env,
                    )[0]  # fmt: skip
                    got = {
                        "seconds": seconds, "verify_s": verify_s, "label_s": label_s, **facts,
                    }  # fmt: skip
                got["server_output_tokens"] = server_generated_tokens(base) - tokens_before
                got["traces_per_s"] = got["traces"] / got["seconds"]
                runs[side].append(got)
                print(f"{side}: {got['traces']} traces in {got['seconds']:.1f} s", file=sys.stderr)
    finally:
        stop_server(proc)
        load.append(round(os.getloadavg()[0], 2))
    rate = {k: statistics.median(r["traces_per_s"] for r in v) for k, v in runs.items()}
    ours = runs["thresher"][-1]
    end_to_end = ours["traces"] / (ours["seconds"] + ours["verify_s"] + ours["label_s"])
    figures = {
        "benchmark": "peer_distilabel",
        "server": "vllm.entrypoints.openai.api_server (vllm-cpu), embedded SmolLM2-135M, float32",
        "problems": args.problems,
        "samples": args.samples,
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
        "rounds": args.rounds,
        "load_avg_1m_start_end": load,
        "distilabel": {"version": "1.5.3", "runs": runs["distilabel"]},
        "thresher": {"runs": runs["thresher"], "end_to_end_traces_per_s": round(end_to_end, 3)},
        "traces_per_s": {k: round(v, 3) for k, v in rate.items()},
        # Like for like only when both sides generate about as many tokens per trace.
        "server_tokens_per_trace": {
            k: round(v[-1]["server_output_tokens"] / max(v[-1]["traces"], 1), 1)
            for k, v in runs.items()
        },
        "requests": {
            "distilabel": f"{args.problems} requests with n={args.samples}, all at once, unseeded",
            "thresher": f"{args.problems * args.samples} requests with n=1, at most "
            f"{GenerationConfig().max_concurrency} in flight (the default), unseeded, with "
            "token log-probs",
        },
        "produced": {
            "distilabel": "generations (text) + token counts per row, in a Distiset; no verdict, "
            "no flaw label, no lake/version",
            "thresher": "rollouts in the lake (versioned), a verdict per trace (math_v1), flaw "
            "labels per trace, queryable with `thresher sql`",
        },
        "targets": [
            {
                "figure": "generation traces/s through one vLLM server: thresher / distilabel",
                "value": round(rate["thresher"] / rate["distilabel"], 3),
                "target": ">= 1",
                "peer": "distilabel 1.5.3 TextGeneration + OpenAILLM",
                "met": rate["thresher"] >= rate["distilabel"],
            }
        ],
    }
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
