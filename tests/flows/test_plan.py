"""The plan checked before a curate flow starts: models exist, the size is printed and bounded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from thresher.config import parse_recipe
from thresher.schemas import InputError, NotFoundError
from thresher.stages.plan import MAX_ROLLOUTS, check_model, max_rollouts_default, plan_run

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _recipe(extra: str = "", provenance: str = "{enabled: false}") -> str:
    return f"name: r\nprovenance: {provenance}\ndedup: {{enabled: false}}\n" + extra


def test_plan_sizes_problems_modes_and_n() -> None:
    recipe = parse_recipe(
        _recipe(
            "problems: {limit: 10}\n"
            "generation: {n: 3, modes: [on_policy, prefix, privileged],"
            " prefix_fractions: [0.25, 0.5], sampling: {max_tokens: 100}}\n"
        )
    )
    plan = plan_run(recipe)
    assert plan.problems == 10
    assert plan.per_problem == {"on_policy": 3, "prefix": 6, "privileged": 3}
    assert plan.rollouts == 120
    text = "\n".join(plan.lines())
    assert "10 problems" in text and "120 rollouts" in text and "12,000 new tokens" in text
    assert "generation.model = smollm2-135m-instruct: embedded model" in text


def test_plan_counts_a_local_problem_file(tmp_path: Path) -> None:
    src = tmp_path / "p.jsonl"
    src.write_text(
        "".join(json.dumps({"question": f"q{i}", "answer": "1"}) + "\n" for i in range(7))
    )
    plan = plan_run(parse_recipe(_recipe(f"problems: {{source: {src}}}\n")))
    assert plan.problems == 7 and plan.rollouts == 28  # generation.n defaults to 4
    hub = plan_run(parse_recipe(_recipe("problems: {source: 'hf:openai/gsm8k'}\n")))
    assert hub.problems is None and hub.rollouts is None
    assert "unknown number of rollouts" in hub.lines()[0]
    with pytest.raises(InputError, match="does not exist") as info:
        plan_run(parse_recipe(_recipe(f"problems: {{source: {tmp_path / 'nope.jsonl'}}}\n")))
    assert info.value.field == "problems.source"


def test_impossible_plans_fail_fast_with_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    huge = parse_recipe(_recipe("generation: {n: 1000000000}\n"))
    with pytest.raises(InputError) as info:
        plan_run(huge)
    message = str(info.value)
    assert "64,000,000,000 rollouts" in message and f"limit of {MAX_ROLLOUTS:,}" in message
    assert "--max-rollouts" in message and "THRESHER_MAX_ROLLOUTS" in message
    big = parse_recipe(_recipe("problems: {limit: 1000}\ngeneration: {n: 2000}\n"))
    with pytest.raises(InputError, match="2,000,000 rollouts"):
        plan_run(big)
    assert plan_run(big, max_rollouts=2_000_000).rollouts == 2_000_000
    monkeypatch.setenv("THRESHER_MAX_ROLLOUTS", "3_000_000")
    assert max_rollouts_default() == 3_000_000 and plan_run(big).rollouts == 2_000_000
    monkeypatch.setenv("THRESHER_MAX_ROLLOUTS", "lots")
    with pytest.raises(InputError, match="THRESHER_MAX_ROLLOUTS"):
        plan_run(big)


def test_models_are_checked_without_loading_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert check_model("smollm2-135m-instruct", "m") == "embedded model"
    with pytest.raises(NotFoundError, match="not found") as info:
        check_model(str(tmp_path / "no" / "model"), "generation.model")
    assert "generation.model" in str(info.value)
    folder = tmp_path / "ckpt"
    folder.mkdir()
    with pytest.raises(NotFoundError, match="no config.json"):
        check_model(str(folder), "provenance.teacher")
    (folder / "config.json").write_text("{}")
    assert check_model(str(folder), "x").startswith("local checkpoint")
    with pytest.raises(NotFoundError, match="is a file"):
        check_model(str(folder / "config.json"), "x")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(NotFoundError, match="not in the local Hugging Face cache"):
        check_model("nobody-here/no-such-model-xyz", "labels.judge_model")
    recipe = parse_recipe(_recipe(provenance=f"{{enabled: true, teacher: {tmp_path}/nope}}"))
    with pytest.raises(NotFoundError, match="provenance.teacher"):
        plan_run(recipe)
    with pytest.raises(InputError, match="base_url") as info2:
        plan_run(parse_recipe(_recipe("generation: {engine: openai, model: x}\n")))
    assert info2.value.field == "generation.base_url"
    a_file = tmp_path / "exports"
    a_file.write_text("x")
    with pytest.raises(InputError, match="is a file") as info3:
        plan_run(parse_recipe(_recipe(f"export: {{formats: [sft], out: {a_file}}}\n")))
    assert info3.value.field == "export.out"
    with pytest.raises(NotFoundError, match="unknown labeler"):
        plan_run(parse_recipe(_recipe("labels: {labelers: [arith_step_check_v9]}\n")))


@pytest.mark.parametrize("name", ["default.yaml", "code.yaml"])
def test_shipped_offline_recipes_plan(name: str) -> None:
    from thresher.config import load_recipe

    plan = plan_run(load_recipe(RECIPES / name))
    assert plan.rollouts is not None and 0 < plan.rollouts <= MAX_ROLLOUTS


# 9 aliases of 9 aliases of ... 6 strings: 258 million values when built.
BOMB = "name: r\na0: &a0 [a, b, c, d, e, f]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)
)


def _run(recipe: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thresher.cli", "run", str(recipe), "--lake",
         str(recipe.parent / "lake"), *args],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("name: r\ngeneration: {model: /no/such/model}\n", "model '/no/such/model' not found"),
        ("name: r\ngeneration: {n: 1000000000}\n", "64,000,000,000 rollouts"),
        ("name: r\ngeneration:\n  n: 2\n  n: 3\n", "duplicate key 'n' on lines 3 and 4"),
        (b"name: r\n\x89PNG\r\n\x1a\n\xff\xfe\x00", "not UTF-8 text"),
        (None, "more than 100,000 YAML values"),
    ],
    ids=["missing-model", "huge-n", "duplicate-key", "binary", "alias-bomb"],
)
def test_run_with_a_bad_recipe_is_one_error_before_the_flow(
    tmp_path: Path, body: str | bytes | None, words: str
) -> None:
    recipe = tmp_path / "bad.yaml"
    if isinstance(body, bytes):
        recipe.write_bytes(body)
    else:
        recipe.write_text(body if body is not None else BOMB)
    proc = _run(recipe)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: ") and words in proc.stderr
    assert not (tmp_path / "lake").exists()  # the flow never started
