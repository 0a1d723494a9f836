"""The Prefect curate flow over rollouts already in the lake: every stage but generation runs
for real (verifiers, flaw labelers, dedup, selection, exports); the engine must not be used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from thresher.flows.curate import run_curate
from thresher.stages.audit import audit_verify
from thresher.storage import Lake

from .conftest import NoEngine, build_stored_lake


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("stored")
    recipe, lake_dir = build_stored_lake(root)
    summary = run_curate(recipe, str(lake_dir), engine=NoEngine())
    return {"root": root, "lake": lake_dir, "recipe": recipe, "summary": summary}


def test_flow_labels_stored_rollouts_and_tags_a_version(stored: dict[str, Any]) -> None:
    summary = stored["summary"]
    assert summary.version == "stored-v1"
    assert summary.work["generate"] == 0 and summary.work["verify"] == 9
    assert summary.funnel == {
        "problems": 3,
        "rollouts": 9,
        "correct": 6,
        "clean": 3,
        "unconditioned": 3,
        "after_dedup": 3,
        "selected": 3,
    }
    with Lake.open(stored["lake"], read_only=True) as lake:
        reasons = dict(
            lake.sql(
                "SELECT decision_logic.reason_code AS r, count(*) AS n FROM decision_events "
                "GROUP BY 1"
            ).rows()
        )
        report = audit_verify(lake)
        version = lake.versions()[0]
    assert reasons["incorrect"] == 3 and reasons["selected"] == 6  # 3 traces + 3 problems
    assert any(r.startswith("flawed_positive:") for r in reasons)
    assert report.ok and [s.head_hash for s in report.segments] == [summary.head_hash]
    assert version.decisions_head == summary.head_hash
    assert version.flow_run_id == summary.flow_run_id
    assert version.recipe_hash == stored["recipe"].hash()


def test_flow_exports_load_and_cite_the_version(stored: dict[str, Any]) -> None:
    from datasets import load_dataset

    exports = stored["summary"].exports
    assert set(exports) == {"sft", "rl", "dpo", "prm"}
    assert len(load_dataset(exports["sft"], split="train")) == 3
    rl = load_dataset(exports["rl"], split="train")
    assert sorted(r["reward_model"]["ground_truth"] for r in rl) == ["24", "3", "5"]
    dpo = load_dataset(exports["dpo"], split="train")
    assert len(dpo) == 6 and all(r["chosen_trace_id"] != r["rejected_trace_id"] for r in dpo)
    card = (Path(exports["sft"]) / "README.md").read_text()
    assert "stored-v1" in card and stored["summary"].head_hash in card


def test_rerun_adds_nothing_but_a_version(stored: dict[str, Any]) -> None:
    with Lake.open(stored["lake"], read_only=True) as lake:
        before = lake.table_counts()
    again = run_curate(stored["recipe"], str(stored["lake"]), engine=NoEngine(), export=False)
    assert again.version == "stored-v2" and again.funnel == stored["summary"].funnel
    assert again.work["verify"] == 0 and again.work["label"] == 0 and again.work["dedup"] == 0
    with Lake.open(stored["lake"], read_only=True) as lake:
        after = lake.table_counts()
    for table in ("problems", "rollouts", "verdicts", "flaw_labels", "dedup_assignments"):
        assert after[table] == before[table]
