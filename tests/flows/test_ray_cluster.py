"""The curate flow on a real two-node Ray cluster (head + worker on 127.0.0.1) over a lake whose
catalog is the test run's real PostgreSQL server: the same rows as a single-process run."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from thresher.config import parse_recipe
from thresher.flows.curate import run_curate
from thresher.schemas import ThresherError
from thresher.storage import Lake

from .conftest import NoEngine, build_stored_lake
from .ray_cluster import lake_rows, local_cluster, node_args


@pytest.fixture(scope="module")
def cluster() -> Any:
    with local_cluster(head_cpus=1, worker_cpus=1) as started:
        yield started


@pytest.fixture(scope="module")
def one_process(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Stored rollouts curated in one process: what the cluster must reproduce."""
    recipe, lake_dir = build_stored_lake(tmp_path_factory.mktemp("local"))
    summary = run_curate(recipe, str(lake_dir), engine=NoEngine(), export=False)
    with Lake.open(lake_dir, read_only=True) as lake:
        rows = lake_rows(lake)
    assert rows["verdicts"] and rows["flaw_labels"] and rows["decisions"] and rows["dedup"]
    return {"summary": summary, "rows": rows}


def shared_lake(postgres_server: Any, tmp_path: Path) -> str:
    """A fresh lake every node writes: a new database of the test run's PostgreSQL server, data
    under `tmp_path`."""
    return f"postgres:{postgres_server.new_database()}|{tmp_path / 'shared-data'}"


def count(location: str, table: str) -> int:
    with Lake.open(location, read_only=True) as lake:
        return int(lake.query(f"SELECT count(*) AS n FROM {table}")["n"][0])


def kill_when_committed(cluster: Any, node: Any, location: str, table: str) -> threading.Thread:
    """A watcher that SIGKILLs `node` as soon as `table` has a committed row."""

    def watch() -> None:
        while not count(location, table):
            time.sleep(0.1)
        cluster.remove_node(node, allow_graceful=False)  # SIGKILL to the node's processes

    Lake.open(location).close()  # the empty lake it watches
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


def test_cpu_stages_on_two_nodes_match_one_process(
    cluster: Any, one_process: dict[str, Any], postgres_server: Any, tmp_path: Path
) -> None:
    shared = shared_lake(postgres_server, tmp_path)
    recipe, _ = build_stored_lake(tmp_path, lake=shared)
    recipe = recipe.on_ray(cluster.address)
    recipe.runtime.ray.tasks_per_stage = 2  # nine traces: one batch per node
    on_ray = run_curate(recipe, shared, engine=NoEngine(), export=False)

    local = one_process["summary"]
    assert on_ray.funnel == local.funnel and on_ray.version == local.version
    assert on_ray.work == local.work
    with Lake.open(shared, read_only=True) as lake:
        assert lake_rows(lake) == one_process["rows"]
    # Batches really ran as Ray tasks on both nodes.
    assert len(on_ray.nodes) == 2 and not local.nodes


def test_a_worker_killed_mid_stage_leaves_the_others_to_finish(
    cluster: Any, one_process: dict[str, Any], postgres_server: Any, tmp_path: Path
) -> None:
    shared = shared_lake(postgres_server, tmp_path)
    recipe, _ = build_stored_lake(tmp_path, lake=shared)
    # One trace per verify batch: the worker dies with batches in flight and to come.
    recipe = recipe.on_ray(cluster.address)
    recipe.runtime.ray.tasks_per_stage = 9
    worker = cluster.list_all_nodes()[1]
    watcher = kill_when_committed(cluster, worker, shared, "verdicts")
    first = run_curate(recipe, shared, engine=NoEngine(), export=False)
    watcher.join(timeout=60)
    cluster.add_node(**node_args(1))  # the next tests get two nodes again
    cluster.wait_for_nodes()

    assert not watcher.is_alive()  # the kill happened during the run
    with Lake.open(shared, read_only=True) as lake:
        assert lake_rows(lake) == one_process["rows"]
    assert first.funnel == one_process["summary"].funnel
    again = run_curate(recipe, shared, engine=NoEngine(), export=False)
    assert sum(again.work.values()) == 0  # nothing was missing, nothing is written twice
    with Lake.open(shared, read_only=True) as lake:
        for table, key in [
            ("verdicts", "trace_id, verifier"),
            ("label_passes", "trace_id, labeler"),
        ]:
            n = lake.query(f"SELECT count(*) AS n, count(DISTINCT ({key})) AS d FROM {table}")
            assert n["n"][0] == n["d"][0], table


def test_run_with_ray_refuses_a_lake_one_process_writes(tmp_path: Path) -> None:
    recipe, lake_dir = build_stored_lake(tmp_path)
    recipe.generation.model = "smollm2-135m-instruct"  # the plan checks the model first
    path = tmp_path / "recipe.yaml"
    path.write_text(recipe.to_yaml())
    proc = subprocess.run(
        [sys.executable, "-m", "thresher.cli", "run", str(path), "--lake", str(lake_dir),
         "--ray", "auto", "--no-export"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "a run on Ray needs a lake that every node can write" in proc.stderr
    assert "postgres:" in proc.stderr  # the hint shows the catalog that works


def test_the_weak_sandbox_option_reaches_every_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from thresher.filters.sandbox import allow_weak_sandbox
    from thresher.flows.runtime import RayRuntime

    monkeypatch.delenv("THRESHER_ALLOW_WEAK_SANDBOX", raising=False)
    recipe, _ = build_stored_lake(tmp_path)
    runtime = RayRuntime.for_recipe(recipe.on_ray("auto"), f"sqlite:{tmp_path / 'shared'}")
    assert runtime is not None
    assert "THRESHER_ALLOW_WEAK_SANDBOX" not in runtime.init_kwargs(None)["runtime_env"]["env_vars"]
    allow_weak_sandbox(True)  # what `thresher run --allow-weak-sandbox` does in the driver
    try:
        env = runtime.init_kwargs("http://127.0.0.1:4200/api")["runtime_env"]["env_vars"]
    finally:
        allow_weak_sandbox(False)
    assert env["THRESHER_ALLOW_WEAK_SANDBOX"] == "1"
    assert env["PREFECT_API_URL"] == "http://127.0.0.1:4200/api"


def test_a_stage_smaller_than_one_batch_runs_in_the_flow_process(tmp_path: Path) -> None:
    from thresher.flows.runtime import RayRuntime

    recipe, _ = build_stored_lake(tmp_path)
    runtime = RayRuntime.for_recipe(recipe.on_ray("auto"), f"sqlite:{tmp_path / 'shared'}")
    assert runtime is not None and runtime.config.min_batch == 64
    assert runtime.in_flow_process(63) and not runtime.in_flow_process(64)
    runtime.config = runtime.config.model_copy(update={"tasks_per_stage": 2})
    assert not runtime.in_flow_process(1)  # an explicit split always goes to the cluster


# Greedy sampling: the engine actor and the test run's shared engine (same settings) write the
# same completions, so every later row can be compared.
GENERATED = """
name: on-ray
problems: {{source: "builtin:arithmetic", limit: 3, seed: 0}}
generation:
  model: smollm2-135m-instruct
  n: 2
  modes: [on_policy, privileged]
  sampling: {{temperature: 0.0, max_tokens: 48, seed: 0}}
  batch_size: 1
  max_model_len: 2048
  enforce_eager: true
  dtype: float32
provenance: {{enabled: {provenance}, max_traces: 4}}
dedup: {{enabled: true, method: {dedup}}}
"""


def test_curate_on_the_embedded_model_matches_one_process(
    cluster: Any, postgres_server: Any, vllm_engine: Any, tmp_path: Path
) -> None:
    recipe = parse_recipe(GENERATED.format(provenance="true", dedup="embedding"))
    local = run_curate(recipe, str(tmp_path / "local"), engine=vllm_engine, export=False)
    shared = shared_lake(postgres_server, tmp_path)
    on_ray = run_curate(recipe.on_ray(cluster.address), shared, export=False)

    assert on_ray.funnel == local.funnel and on_ray.work == local.work
    with Lake.open(tmp_path / "local", read_only=True) as a, Lake.open(shared, read_only=True) as b:
        expected, got = lake_rows(a), lake_rows(b)
    assert len(expected["rollouts"]) == 3 * 2 * 2 and expected["trace_scores"]
    assert got == expected
    # Generation and scoring ran in an engine actor; twelve traces (fewer than one min_batch)
    # were verified, labelled and embedded in the flow process.
    assert len(on_ray.nodes) == 1


def test_a_worker_killed_mid_generation_leaves_a_lake_a_rerun_completes(
    postgres_server: Any, tmp_path: Path
) -> None:
    recipe = parse_recipe(GENERATED.format(provenance="false", dedup="exact"))
    shared = shared_lake(postgres_server, tmp_path)
    total = 3 * 2 * 2
    # Everything runs on the worker (the head has no CPU): killing it kills the engine actor.
    with local_cluster(head_cpus=0, worker_cpus=2) as cluster:
        worker = cluster.list_all_nodes()[1]
        watcher = kill_when_committed(cluster, worker, shared, "rollouts")
        with pytest.raises(ThresherError, match="every engine actor died") as failed:
            run_curate(recipe.on_ray(cluster.address), shared, export=False)
        watcher.join(timeout=60)
        assert not watcher.is_alive() and "run the same command again" in (failed.value.hint or "")
        kept = count(shared, "rollouts")
        assert 0 < kept < total

        cluster.add_node(**node_args(2))
        cluster.wait_for_nodes()
        again = run_curate(recipe.on_ray(cluster.address), shared, export=False)

    assert again.work["generate"] == total - kept
    with Lake.open(shared, read_only=True) as lake:
        for table, key in [("rollouts", "trace_id"), ("verdicts", "trace_id, verifier")]:
            counts = lake.query(f"SELECT count(*) AS n, count(DISTINCT ({key})) AS d FROM {table}")
            assert counts["n"][0] == counts["d"][0] == total, table
        assert again.funnel["rollouts"] == total
