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


def test_cpu_stages_on_two_nodes_match_one_process(
    cluster: Any, postgres_server: Any, tmp_path: Path
) -> None:
    # The same stored rollouts, curated in one process and on the cluster.
    recipe, local_lake = build_stored_lake(tmp_path / "local", export="")
    local = run_curate(recipe, str(local_lake), engine=NoEngine(), export=False)
    shared = f"postgres:{postgres_server.new_database()}|{tmp_path / 'shared-data'}"
    recipe, _ = build_stored_lake(tmp_path / "ray", lake=shared)
    on_ray = run_curate(recipe.on_ray(cluster.address), shared, engine=NoEngine(), export=False)

    assert on_ray.funnel == local.funnel and on_ray.version == local.version
    with Lake.open(local_lake, read_only=True) as a, Lake.open(shared, read_only=True) as b:
        expected, got = lake_rows(a), lake_rows(b)
    assert got == expected
    assert expected["verdicts"] and expected["flaw_labels"] and expected["decisions"]
    # Batches really ran as Ray tasks on both nodes.
    assert len(on_ray.nodes) == 2 and not local.nodes


def test_run_with_ray_refuses_a_lake_one_process_writes(tmp_path: Path) -> None:
    recipe, lake_dir = build_stored_lake(tmp_path)
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


@pytest.mark.slow
def test_curate_on_the_embedded_model_matches_one_process(
    cluster: Any, postgres_server: Any, vllm_engine: Any, tmp_path: Path
) -> None:
    recipe = parse_recipe(GENERATED.format(provenance="true", dedup="embedding"))
    local = run_curate(recipe, str(tmp_path / "local"), engine=vllm_engine, export=False)
    shared = f"postgres:{postgres_server.new_database()}|{tmp_path / 'shared-data'}"
    on_ray = run_curate(recipe.on_ray(cluster.address), shared, export=False)

    assert on_ray.funnel == local.funnel and on_ray.work == local.work
    with Lake.open(tmp_path / "local", read_only=True) as a, Lake.open(shared, read_only=True) as b:
        expected, got = lake_rows(a), lake_rows(b)
    assert len(expected["rollouts"]) == 3 * 2 * 2 and expected["trace_scores"]
    assert got == expected


@pytest.mark.slow
def test_a_worker_killed_mid_generation_leaves_a_lake_a_rerun_completes(
    postgres_server: Any, tmp_path: Path
) -> None:
    recipe = parse_recipe(GENERATED.format(provenance="false", dedup="exact"))
    shared = f"postgres:{postgres_server.new_database()}|{tmp_path / 'shared-data'}"
    total = 3 * 2 * 2
    # Everything runs on the worker (the head has no CPU): killing it kills the engine actor.
    with local_cluster(head_cpus=0, worker_cpus=2) as cluster:
        worker = cluster.list_all_nodes()[1]
        seen: list[int] = []

        def kill_after_first_commit() -> None:
            while True:
                with Lake.open(shared, read_only=True) as lake:
                    n = int(lake.query("SELECT count(*) AS n FROM rollouts")["n"][0])
                if n:
                    seen.append(n)
                    cluster.remove_node(worker, allow_graceful=False)  # SIGKILL
                    return
                time.sleep(0.2)

        killer = threading.Thread(target=kill_after_first_commit, daemon=True)
        Lake.open(shared).close()  # the empty lake the killer watches
        killer.start()
        with pytest.raises(ThresherError, match="every engine actor died") as failed:
            run_curate(recipe.on_ray(cluster.address), shared, export=False)
        killer.join(timeout=60)
        assert "run the same command again" in (failed.value.hint or "")
        with Lake.open(shared, read_only=True) as lake:
            kept = int(lake.query("SELECT count(*) AS n FROM rollouts")["n"][0])
        assert 0 < seen[0] <= kept < total

        cluster.add_node(**node_args(2))
        cluster.wait_for_nodes()
        again = run_curate(recipe.on_ray(cluster.address), shared, export=False)

    assert again.work["generate"] == total - kept
    with Lake.open(shared, read_only=True) as lake:
        for table, key in [("rollouts", "trace_id"), ("verdicts", "trace_id, verifier")]:
            counts = lake.query(f"SELECT count(*) AS n, count(DISTINCT ({key})) AS d FROM {table}")
            assert counts["n"][0] == counts["d"][0] == total, table
        assert again.funnel["rollouts"] == total
