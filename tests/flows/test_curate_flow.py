"""The curate flow end to end on the embedded model: run, resume after SIGKILL, re-select, export.

The in-process tests share the session's `vllm_engine`. The SIGKILL test runs `thresher run`
three times as subprocesses (clean, killed, resumed), each with its own engine of the same
settings, one at a time, so all of them sample the same texts.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from thresher.config import Recipe, parse_recipe
from thresher.flows.curate import run_curate
from thresher.stages import select
from thresher.stages.audit import audit_verify
from thresher.storage import Lake

# Matches tests/conftest.py SHARED_ENGINE_OPTIONS, so a separately started engine samples alike.
RECIPE = """
name: e2e
problems: {source: "builtin:arithmetic", limit: 3, seed: 0}
generation:
  model: smollm2-135m-instruct
  n: 2
  sampling: {temperature: 0.7, top_p: 0.95, max_tokens: 64, seed: 0}
  batch_size: 1
  max_model_len: 2048
  dtype: float32
  enforce_eager: true
provenance: {enabled: true}
dedup: {enabled: true, threshold: 0.95}
selection: {max_per_problem: 2, sampled_fraction: 0.5}
export: {formats: [sft, rl, dpo, prm], out: EXPORTS}
"""

# What must be identical between a clean run and a resumed one (content, not timestamps).
COMPARE = {
    "problems": "SELECT problem_id, question, answer FROM problems ORDER BY 1",
    "rollouts": "SELECT trace_id, completion, finish_reason FROM rollouts ORDER BY 1",
    "verdicts": "SELECT trace_id, verifier, status, correct FROM verdicts ORDER BY 1, 2",
    "flaw_labels": "SELECT trace_id, labeler, flaw_type, severity, step FROM flaw_labels "
    "ORDER BY ALL",
    "sentence_scores": "SELECT trace_id, sentence_index, scorer, category FROM sentence_scores "
    "ORDER BY ALL",
    "trace_scores": "SELECT trace_id, scorer, n_sentences FROM trace_scores ORDER BY ALL",
    "embeddings": "SELECT trace_id, embedder, text_hash FROM embeddings ORDER BY ALL",
    "dedup_assignments": "SELECT trace_id, cluster_id, is_representative FROM dedup_assignments "
    "ORDER BY ALL",
}


def _recipe(root: Path) -> Recipe:
    return parse_recipe(RECIPE.replace("EXPORTS", str(root / "exports")))


def _snapshot(lake_dir: Path, version_name: str) -> dict[str, Any]:
    with Lake.open(lake_dir, read_only=True) as lake:
        (version,) = [v for v in lake.versions() if v.name == version_name]
        tables = {name: lake.sql(sql, version=version_name).rows() for name, sql in COMPARE.items()}
        selected = lake.query(
            "SELECT decision_context.subject_ids[1] AS s, decision_logic.reason_code AS r "
            "FROM decision_events WHERE decision_context.run_id = ? ORDER BY 1",
            [version.flow_run_id],
        ).rows()
    return {"tables": tables, "decisions": selected, "funnel": version.counts}


@pytest.fixture(scope="module")
def clean_run(vllm_engine: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("clean")
    recipe = _recipe(root)
    summary = run_curate(recipe, str(root / "lake"), engine=vllm_engine)
    return {"root": root, "recipe": recipe, "summary": summary, "engine": vllm_engine}


@pytest.mark.slow
def test_flow_runs_end_to_end_and_tags_a_version(clean_run: dict[str, Any]) -> None:
    summary = clean_run["summary"]
    assert summary.version == "e2e-v1" and summary.flow_run_id
    assert summary.funnel["problems"] == 3 and summary.funnel["rollouts"] == 6
    funnel = [summary.funnel[k] for k in ("rollouts", "correct", "clean", "after_dedup")]
    assert funnel == sorted(funnel, reverse=True)
    assert summary.funnel["selected"] <= min(summary.funnel["after_dedup"], 6)
    assert summary.work["generate"] == 6
    lake_dir = clean_run["root"] / "lake"
    with Lake.open(lake_dir, read_only=True) as lake:
        counts = lake.table_counts()
        (version,) = lake.versions()
        report = audit_verify(lake, version="e2e-v1")
    assert counts["verdicts"] == 6
    assert counts["dedup_assignments"] == 2 * 6  # one exact and one embedding cluster per trace
    assert counts["trace_scores"] == 6 and counts["embeddings"] == 6
    assert counts["decision_events"] == 3 + 6 and counts["decisions"] == 0
    assert version.recipe_hash == clean_run["recipe"].hash()
    assert version.flow_run_id == summary.flow_run_id and version.counts == summary.funnel
    assert report.ok and [s.head_hash for s in report.segments] == [summary.head_hash]
    assert set(summary.exports) == {"sft", "rl", "dpo", "prm"}


@pytest.mark.slow
def test_every_export_of_the_run_loads_with_datasets(clean_run: dict[str, Any]) -> None:
    from datasets import load_dataset

    summary = clean_run["summary"]
    for fmt, path in summary.exports.items():
        card = (Path(path) / "README.md").read_text()
        assert summary.head_hash in card and "e2e-v1" in card
        shards = sorted((Path(path) / "data").glob("*.parquet"))
        rows = sum(pq.read_metadata(p).num_rows for p in shards)
        if fmt == "sft":
            assert rows == summary.funnel["selected"]
        if rows:  # an empty split is a valid export but `datasets` refuses to build it
            assert len(load_dataset(path, split="train")) == rows


@pytest.mark.slow
def test_rerun_is_incremental_and_reselection_needs_no_engine(
    clean_run: dict[str, Any], tmp_path: Path
) -> None:
    lake_dir = clean_run["root"] / "lake"

    real = clean_run["engine"]

    class NoEngine:
        """Names the same model as the real engine; sampling or scoring with it fails the test."""

        name = "vllm"
        model_name = real.model_name
        model_revision = real.model_revision

        def resolve(self) -> Any:
            return real.resolve()

        def setup(self) -> None:
            raise AssertionError("the engine was started although nothing was missing")

        generate = setup

        def teardown(self) -> None:
            pass

    again = run_curate(clean_run["recipe"], str(lake_dir), engine=NoEngine(), export=False)
    assert again.version == "e2e-v2" and again.work["generate"] == 0
    assert again.funnel == clean_run["summary"].funnel
    stricter = clean_run["recipe"].model_copy(deep=True)
    stricter.selection.max_per_problem = 1
    with Lake.open(lake_dir) as lake:
        before = lake.table_counts()["rollouts"]
        result = select.run(lake, stricter, kind="reselect")
        assert lake.table_counts()["rollouts"] == before
    assert result.version.name == "e2e-v3"
    assert result.funnel["selected"] <= 3
    assert result.funnel["rollouts"] == clean_run["summary"].funnel["rollouts"]


def _kill_when_committed(proc: subprocess.Popen[str], lake_dir: Path, killed: list[int]) -> None:
    """SIGKILL the run's process group as soon as its lake holds a committed rollout."""
    while proc.poll() is None:
        try:
            with Lake.open(lake_dir, read_only=True) as lake:
                rows = lake.table_counts().get("rollouts", 0)
        except Exception:  # noqa: BLE001 - the lake may not exist yet
            rows = 0
        if rows:
            os.killpg(proc.pid, signal.SIGKILL)
            killed.append(rows)
            return
        time.sleep(0.2)


def _cli_run(root: Path, lake_dir: Path, kill_after_first_batch: bool = False) -> str:
    """`thresher run` in a subprocess (its own engine); SIGKILLed, if asked, as soon as its first
    generation batch is committed (the next one is then in flight)."""
    recipe_file = root / "e2e.yaml"
    root.mkdir(parents=True, exist_ok=True)
    errors = root / f"stderr-{lake_dir.name}-{kill_after_first_batch}.log"
    recipe_file.write_text(RECIPE.replace("EXPORTS", str(root / "exports")))
    env = {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "PREFECT_HOME": str(root / "prefect"),
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "thresher.cli", "run", str(recipe_file), "--lake", str(lake_dir),
         "--no-export"],
        env=env, stdout=subprocess.PIPE, stderr=errors.open("w"), text=True,
        start_new_session=True,
    )  # fmt: skip
    killed: list[int] = []
    watcher = threading.Thread(target=_kill_when_committed, args=(proc, lake_dir, killed))
    if kill_after_first_batch:
        watcher.start()
    try:
        assert proc.stdout is not None
        output = proc.stdout.read()
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if kill_after_first_batch:
        watcher.join()
        assert killed, "the run ended before it could be killed:\n" + output
    else:
        assert proc.returncode == 0, output + errors.read_text()[-3000:]
    return output


@pytest.mark.slow
def test_sigkill_then_rerun_ends_with_the_rows_of_a_clean_run(tmp_path: Path) -> None:
    # Every run is a separate `thresher run` process, one engine at a time, same settings.
    _cli_run(tmp_path / "a", tmp_path / "clean")
    # Killed as soon as its first generation batch is committed, while the next is in flight.
    _cli_run(tmp_path / "b", tmp_path / "killed", kill_after_first_batch=True)
    with Lake.open(tmp_path / "killed", read_only=True) as lake:
        committed = lake.table_counts()["rollouts"]
        assert lake.versions() == []
    assert 0 < committed < 6
    output = _cli_run(tmp_path / "b", tmp_path / "killed")
    # Nothing committed was generated again: the resumed run generated only what was missing.
    new = sum(int(m) for m in re.findall(r"generate\s+done in [\d.]+s \((\d+) new\)", output))
    assert new == 6 - committed
    clean = _snapshot(tmp_path / "clean", "e2e-v1")
    after = _snapshot(tmp_path / "killed", "e2e-v1")
    assert after["tables"] == clean["tables"]
    assert after["funnel"] == clean["funnel"]
    assert after["decisions"] == clean["decisions"]
