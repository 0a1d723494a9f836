"""Exports in the trainers they target: TRL trains on them for a few steps on the embedded model.

SFTTrainer and DPOTrainer train two steps from exported folders on CPU; GRPOTrainer trains two
steps on the RL export with `thresher.rewards.trl.verifier_reward` as its reward (called by TRL
itself); SDFTTrainer takes one step on the OPSD export. TRL comes from the `dev` extra (pinned
in requirements/cpu.lock). Slow: every trainer loads the model and runs real steps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from thresher.config import parse_recipe
from thresher.stages import select
from thresher.stages.export import export_version
from thresher.storage import Lake

from .conftest import TINY_RECIPE, build_tiny_lake  # type: ignore[import-not-found]

pytestmark = pytest.mark.slow

EXPORTS: dict[str, dict[str, Any]] = {
    "sft": {},
    "sft-pc": {"fmt": "sft", "layout": "prompt_completion", "think_style": "reasoning_field"},
    "dpo": {},
    "rl": {},
    "opsd": {},
}


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clients")
    lake_path = build_tiny_lake(root / "lake")
    folders = {}
    with Lake.open(lake_path) as lake:
        select.run(lake, parse_recipe(TINY_RECIPE), run_id="run-test")
        for name, options in EXPORTS.items():
            opts = dict(options)
            fmt = opts.pop("fmt", name)
            folders[name] = export_version(lake, "tiny-v1", fmt, root / name, **opts).out
    return folders


def _args(config: Any, out: Path, steps: int = 2, **extra: Any) -> Any:
    return config(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=2,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        learning_rate=1e-6,
        seed=0,
        **extra,
    )


def _losses(trainer: Any) -> list[float]:
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


def test_sft_trains_on_the_messages_export(exports, embedded_model_dir, tmp_path) -> None:
    from datasets import load_dataset
    from trl import SFTConfig, SFTTrainer

    ds = load_dataset(str(exports["sft"]), split="train")
    trainer = SFTTrainer(
        model=str(embedded_model_dir),
        args=_args(SFTConfig, tmp_path / "out", max_length=256),
        train_dataset=ds,
    )
    text = trainer.processing_class.decode(trainer.train_dataset[0]["input_ids"])
    assert "<think>" in text and "</think>" in text and text.count("The answer is") == 1
    result = trainer.train()
    assert result.global_step == 2
    assert len(_losses(trainer)) == 2 and all(loss > 0 for loss in _losses(trainer))


def test_sft_reasoning_content_reaches_a_template_that_reads_it(
    exports, embedded_model_dir, tmp_path
) -> None:
    """The prompt/completion export with the reasoning as `reasoning_content`: a chat template
    that renders it (TRL's Qwen3 training template, on the embedded ChatML tokenizer) trains
    on the reasoning, with the loss on the completion only."""
    import trl
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    ds = load_dataset(str(exports["sft-pc"]), split="train")
    reasoning = ds[0]["completion"][0]["reasoning_content"]
    assert reasoning and reasoning not in ds[0]["completion"][0]["content"]
    tokenizer = AutoTokenizer.from_pretrained(str(embedded_model_dir))
    template = Path(trl.__file__).parent / "chat_templates" / "qwen3_training.jinja"
    tokenizer.chat_template = template.read_text(encoding="utf-8")
    trainer = SFTTrainer(
        model=str(embedded_model_dir),
        args=_args(SFTConfig, tmp_path / "out", max_length=256),
        train_dataset=ds,
        processing_class=tokenizer,
    )
    row = trainer.train_dataset[0]
    text = tokenizer.decode(row["input_ids"])
    assert f"<think>\n{reasoning}\n</think>" in text
    trained = tokenizer.decode(
        [t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100]
    )
    assert reasoning in trained and ds[0]["prompt"][0]["content"] not in trained
    assert trainer.train().global_step == 2


def test_dpo_trains_on_the_pairs_export(exports, embedded_model_dir, tmp_path) -> None:
    from datasets import load_dataset
    from trl import DPOConfig, DPOTrainer

    ds = load_dataset(str(exports["dpo"]), split="train")
    trainer = DPOTrainer(
        model=str(embedded_model_dir),
        args=_args(DPOConfig, tmp_path / "out", max_length=256),
        train_dataset=ds,
    )
    result = trainer.train()
    assert result.global_step == 2 and len(_losses(trainer)) == 2
    margins = [h["rewards/margins"] for h in trainer.state.log_history if "rewards/margins" in h]
    assert len(margins) == 2


def test_grpo_trains_on_the_rl_export_with_thresher_as_the_reward(
    exports, embedded_model_dir, tmp_path
) -> None:
    from datasets import load_dataset
    from trl import GRPOConfig, GRPOTrainer

    from thresher.rewards import verifier_reward

    calls: list[dict[str, Any]] = []

    def reward(**kwargs: Any) -> list[float | None]:
        calls.append(kwargs)
        return verifier_reward(**kwargs)

    reward.__name__ = "verifier_reward"
    ds = load_dataset(str(exports["rl"]), split="train")
    trainer = GRPOTrainer(
        model=str(embedded_model_dir),
        args=_args(GRPOConfig, tmp_path / "out", num_generations=2, max_completion_length=12),
        train_dataset=ds,
        reward_funcs=[reward],
    )
    assert trainer.train().global_step == 2
    first = calls[0]
    assert {"prompts", "completions", "completion_ids", "trainer_state"} <= set(first)
    assert {"answer", "solution", "question", "reward_model", "extra_info"} <= set(first)
    assert first["completions"][0][0]["role"] == "assistant"  # conversational completions
    n = len(first["completions"])
    assert all(len(first[c]) == n for c in ("answer", "reward_model", "extra_info"))
    # What TRL recorded is what thresher's verifier says of the completions it was given.
    logged = [h for h in trainer.state.log_history if "rewards/verifier_reward/mean" in h]
    assert len(logged) == 2
    for call, entry in zip(calls, logged, strict=True):
        scores = verifier_reward(**call)
        decided = [s for s in scores if s is not None]
        assert entry["rewards/verifier_reward/mean"] == pytest.approx(sum(decided) / len(decided))


def test_sdft_takes_a_step_on_the_opsd_export(exports, embedded_model_dir, tmp_path) -> None:
    from datasets import load_dataset
    from trl.experimental.sdft import SDFTConfig, SDFTTrainer

    ds = load_dataset(str(exports["opsd"]), split="train")
    trainer = SDFTTrainer(
        model=str(embedded_model_dir),
        args=_args(
            SDFTConfig, tmp_path / "out", steps=1, num_generations=2, max_completion_length=12
        ),
        train_dataset=ds,
    )
    assert trainer.train().global_step == 1
    assert any("sdft/distillation_loss" in h for h in trainer.state.log_history)
