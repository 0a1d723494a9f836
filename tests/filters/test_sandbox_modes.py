"""The isolation mode is reported when code is about to run; the weak mode is refused unless
accepted, and then says once what it does not protect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from thresher.config import parse_recipe
from thresher.filters.sandbox import (
    STRONG,
    WeakSandboxError,
    admit_code_execution,
    describe,
    isolation_mode,
    modes,
    unprotected,
    weak_sandbox_allowed,
)

ROOT = Path(__file__).resolve().parents[2]
CODE = {"id": 1, "kind": "code", "response": "```python\nprint(int(input()) * 2)\n```",
        "tests": {"stdin_stdout": [{"input": "3\n", "output": "6\n"}]}}  # fmt: skip
MATH = {"id": 2, "kind": "math", "gold": "4", "response": "\\boxed{4}"}


def _verify(
    tmp_path: Path, lines: list[dict], *args: str, **env: str
) -> subprocess.CompletedProcess:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(line) + "\n" for line in lines))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("THRESHER_")}
    return subprocess.run(
        [sys.executable, "-m", "thresher.cli", "verify", str(src), "--workers", "1", *args],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env={**clean, **env},
    )  # fmt: skip


def test_the_mode_is_described() -> None:
    for mode in STRONG:
        assert "own root filesystem" in describe(mode) and unprotected(mode) == []
    assert describe("basic").startswith("basic: no namespaces")
    gaps = unprotected("basic")
    assert any("PID namespace" in g for g in gaps) and any("scratch" in g for g in gaps)


@pytest.mark.slow
def test_weak_mode_refuses_code_unless_accepted(tmp_path: Path) -> None:
    refused = _verify(tmp_path, [CODE, MATH], THRESHER_SANDBOX_MODE="basic")
    assert refused.returncode == 2
    said = " ".join(refused.stderr.split())  # rich wraps long lines
    assert said.startswith("error: code verification needs an isolating sandbox")
    assert "does NOT protect" in said and "--allow-weak-sandbox" in said
    assert "Traceback" not in said and refused.stdout == ""
    for accept in (["--allow-weak-sandbox"], []):
        env = {"THRESHER_SANDBOX_MODE": "basic"} | (
            {} if accept else {"THRESHER_ALLOW_WEAK_SANDBOX": "1"}
        )
        done = _verify(tmp_path, [CODE, MATH], *accept, **env)
        assert done.returncode == 0, done.stderr
        said = " ".join(done.stderr.split())
        assert said.count("WARNING: sandbox: basic") == 1 and "does NOT protect" in said
        assert [json.loads(x)["correct"] for x in done.stdout.splitlines()] == [True, True]


@pytest.mark.slow
def test_the_mode_is_reported_when_code_runs_and_only_then(tmp_path: Path) -> None:
    done = _verify(tmp_path, [CODE, MATH])
    assert done.returncode == 0, done.stderr
    mode = isolation_mode()
    assert " ".join(done.stderr.split()).count(f"sandbox: {mode}:") == 1
    math_only = _verify(tmp_path, [MATH], THRESHER_SANDBOX_MODE="basic")
    assert math_only.returncode == 0 and "sandbox" not in math_only.stderr


def test_recipe_accepts_the_weak_mode_only_inside_its_run(monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = parse_recipe(
        "name: r\nproblems: {source: 'builtin:arithmetic'}\ngeneration: {model: m}\n"
        "verify: {allow_weak_sandbox: true}\n"
    )
    assert recipe.verify.allow_weak_sandbox is True
    assert parse_recipe("name: r\nproblems: {source: 'builtin:arithmetic'}\n"
                        "generation: {model: m}\n").verify.allow_weak_sandbox is False  # fmt: skip
    monkeypatch.setattr(modes, "isolation_mode", lambda: "basic")
    reported: list[str] = []
    monkeypatch.setattr(modes, "_settings", {"allow_weak": False, "report": reported.append,
                                             "reported": False})  # fmt: skip
    with pytest.raises(WeakSandboxError) as refused:
        admit_code_execution()
    assert "verify.allow_weak_sandbox" in str(refused.value)
    with weak_sandbox_allowed(recipe.verify.allow_weak_sandbox):
        assert admit_code_execution().startswith("sandbox: basic")
    with pytest.raises(WeakSandboxError):
        admit_code_execution()  # the recipe's consent ended with its run
    assert len(reported) == 1 and reported[0].startswith("WARNING: sandbox: basic")


def test_a_code_recipe_is_refused_before_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from thresher.config import load_recipe
    from thresher.flows.curate import run_stages_directly

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(modes, "isolation_mode", lambda: "basic")
    monkeypatch.setattr(modes, "_settings", {"allow_weak": False, "report": None,
                                             "reported": False})  # fmt: skip
    recipe = load_recipe("recipes/code.yaml")
    # An engine that cannot generate: the refusal must come first, right after ingest.
    with pytest.raises(WeakSandboxError):
        run_stages_directly(recipe, str(tmp_path / "lake"), engine=object(), export=False)
