"""The curate flow on a real two-node Ray cluster (head + worker on 127.0.0.1) over a lake whose
catalog is the test run's real PostgreSQL server: the same rows as a single-process run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from thresher.flows.curate import run_curate
from thresher.storage import Lake

from .conftest import NoEngine, build_stored_lake
from .ray_cluster import lake_rows, local_cluster


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


def test_a_duckdb_file_lake_is_refused_on_ray(cluster: Any, tmp_path: Path) -> None:
    from thresher.schemas import InputError

    recipe, lake_dir = build_stored_lake(tmp_path)
    with pytest.raises(InputError, match="every node can write"):
        run_curate(recipe.on_ray(cluster.address), str(lake_dir), engine=NoEngine())
