"""The quiet console: engine and Prefect logs go to <lake>/logs, progress and results stay on the
terminal, --verbose shows the logs too, and errors surface with their cause."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from thresher.config import parse_recipe
from thresher.quiet import CommandFailed, log_dir, quiet_command
from thresher.schemas import NotFoundError, Problem, Rollout
from thresher.stages.generate import sampling_spec
from thresher.storage import Lake

PREFECT_INFO = re.compile(r"\| INFO +\| (prefect|Flow run|Task run)")
# vLLM's own log format: "(MainProcess pid=…) INFO 12-01 03:29:45 [model.py:733] …" or, from
# an engine-core child, "(EngineCore pid=…) INFO …"; plus its engine start-up line.
VLLM_INFO = re.compile(r"(\) INFO \d\d-\d\d |Initializing a V1 LLM engine)")


def test_log_dir_is_under_the_lake(tmp_path: Path) -> None:
    assert log_dir(str(tmp_path / "lake")) == tmp_path / "lake" / "logs"
    assert log_dir(f"sqlite:{tmp_path / 'lk'}") == tmp_path / "lk" / "logs"
    assert log_dir(f"postgres:dbname=x|{tmp_path / 'data'}") == tmp_path / "data" / "logs"
    assert log_dir("postgres:dbname=x|s3://bucket/lake") == Path("thresher-logs").resolve()


SCRIPT = """
import os, subprocess, sys
from pathlib import Path
from thresher.quiet import captured_output
with captured_output(Path(sys.argv[1]), verbose=sys.argv[2] == "1") as terminal:
    print("python stdout")
    print("python stderr", file=sys.stderr)
    subprocess.run([sys.executable, "-c", "import sys; print('child fd1'); "
                    "print('child fd2', file=sys.stderr)"], check=True)
    terminal.stdout.write("for the user\\n")
print("after the block")
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_output_of_this_process_and_its_children_goes_to_the_log(
    tmp_path: Path, verbose: bool
) -> None:
    log = tmp_path / "logs" / "x.log"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(log), str(int(verbose))],
                          capture_output=True, text=True, env=_env(tmp_path), timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown, text = done.stdout + done.stderr, log.read_text()
    for line in ("python stdout", "python stderr", "child fd1", "child fd2"):
        assert line in text and (line in shown) == verbose
    assert "for the user" in done.stdout and "for the user" not in text
    assert "after the block" in done.stdout and "after the block" not in text


def test_unexpected_errors_surface_with_their_cause_and_the_log(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    console = Console(file=None)
    lake = str(tmp_path / "lake")
    with pytest.raises(CommandFailed) as failed, quiet_command(lake, "t", [console]):
        try:
            raise OSError("device not ready")
        except OSError as exc:
            raise RuntimeError("engine core failed to start") from exc
    message = str(failed.value)
    assert message.startswith("RuntimeError: engine core failed to start")
    assert "caused by OSError: device not ready" in message
    (log,) = (tmp_path / "lake" / "logs").glob("t-*.log")
    assert f"the full log, with the traceback, is {log}" in message
    assert "Traceback" in log.read_text() and "device not ready" in log.read_text()
    assert "Traceback" not in "".join(capfd.readouterr())
    # Our own errors pass through unchanged (the CLI prints them as they are).
    with pytest.raises(NotFoundError), quiet_command(lake, "t", [console]):
        raise NotFoundError("no problem set 'x'")


def _stored_run_lake(root: Path) -> Path:
    """A lake whose rollouts are all stored: `thresher run` needs no engine (the openai engine's
    URL is never contacted)."""
    problems = [Problem(source="q-set", question=f"What is {i} + {i}?", answer=str(2 * i))
                for i in (1, 2)]  # fmt: skip
    source = root / "problems.jsonl"
    source.write_text("".join(json.dumps({"question": p.question, "answer": p.answer}) + "\n"
                              for p in problems))  # fmt: skip
    text = f"""
name: quiet
problems: {{source: "{source}", name: q-set}}
generation: {{model: m, engine: openai, base_url: "http://127.0.0.1:9/v1", n: 2,
              sampling: {{max_tokens: 64}}}}
provenance: {{enabled: false}}
dedup: {{enabled: true, method: exact}}
export: {{formats: [sft], out: "{root / "exports"}"}}
"""
    (root / "recipe.yaml").write_text(text)
    recipe = parse_recipe(text)
    with Lake.open(root / "lake") as lake:
        lake.append("rollouts", [
            Rollout(problem_id=p.problem_id, model="m", engine="openai",
                    sampling=sampling_spec(recipe.generation), sample_index=k, prompt=p.question,
                    completion=f"So {p.question[8:-1]} = {p.answer}. The answer is {p.answer}.")
            for p in problems for k in range(2)
        ])  # fmt: skip
    return root / "recipe.yaml"


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, PREFECT_LOGGING_LEVEL="INFO", PREFECT_HOME=str(tmp_path / "ph"))
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")])
    return env


@pytest.mark.slow
def test_run_shows_progress_and_results_not_prefect_logs(tmp_path: Path) -> None:
    recipe = _stored_run_lake(tmp_path)
    cmd = [sys.executable, "-m", "thresher.cli", "run", str(recipe), "--lake",
           str(tmp_path / "lake")]  # fmt: skip
    quiet = subprocess.run(cmd, capture_output=True, text=True, env=_env(tmp_path), timeout=600)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    seen = quiet.stdout + quiet.stderr
    assert not PREFECT_INFO.search(seen), seen
    assert "verify     done" in seen and "funnel of quiet-v1" in seen
    report = tmp_path / "exports" / "quiet-v1" / "report.html"
    assert quiet.stdout.rstrip().splitlines()[-1] == f"report: {report} (open it in a browser)"
    assert report.exists() and (tmp_path / "exports" / "quiet-v1" / "sft" / "report.html").exists()
    (log,) = (tmp_path / "lake" / "logs").glob("run-*.log")
    assert f"engine and Prefect logs: {log}" in quiet.stderr
    assert "Beginning flow run" in log.read_text() and PREFECT_INFO.search(log.read_text())

    verbose = subprocess.run([*cmd, "--verbose"], capture_output=True, text=True,
                             env=_env(tmp_path), timeout=600)  # fmt: skip
    assert verbose.returncode == 0, verbose.stdout + verbose.stderr
    assert "Beginning flow run" in verbose.stderr and "funnel of quiet-v2" in verbose.stdout
    logs = sorted((tmp_path / "lake" / "logs").glob("run-*.log"))
    assert len(logs) == 2 and "Beginning flow run" in (set(logs) - {log}).pop().read_text()


@pytest.mark.slow
def test_generate_keeps_vllm_logs_in_the_file_unless_verbose(tmp_path: Path) -> None:
    with Lake.open(tmp_path / "lake") as lake:
        lake.append("problems", [Problem(source="g", question="What is 2 + 2?", answer="4")])
    cmd = [sys.executable, "-m", "thresher.cli", "generate", "--problems", "g", "--max-tokens",
           "8", "--max-model-len", "512", "--dtype", "float32", "--lake", str(tmp_path / "lake")]  # fmt: skip
    env = _env(tmp_path) | {"VLLM_CPU_KVCACHE_SPACE": "1"}
    quiet = subprocess.run([*cmd, "--n", "1"], capture_output=True, text=True, env=env,
                           timeout=900)  # fmt: skip
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert not VLLM_INFO.search(quiet.stdout + quiet.stderr), quiet.stdout + quiet.stderr
    assert "generate: 1/1 prompts" in quiet.stderr  # the one progress display
    (log,) = (tmp_path / "lake" / "logs").glob("generate-*.log")
    assert VLLM_INFO.search(log.read_text())
    verbose = subprocess.run([*cmd, "--n", "2", "--verbose"], capture_output=True, text=True,
                             env=env, timeout=900)  # fmt: skip
    assert verbose.returncode == 0, verbose.stdout + verbose.stderr
    assert VLLM_INFO.search(verbose.stdout + verbose.stderr)
    second = (set((tmp_path / "lake" / "logs").glob("generate-*.log")) - {log}).pop()
    assert VLLM_INFO.search(second.read_text())
