"""A real Ray cluster of two nodes on 127.0.0.1 for tests and benchmarks, sized for a 2-core
machine (no dashboard, small object stores, fast failure detection), and the rows two curate
runs are compared on."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from thresher.storage import Lake

OBJECT_STORE_BYTES = 80 * 1024 * 1024
# A node killed with SIGKILL is declared dead after ~10 s instead of ~30 s (not sooner: a busy
# 2-core machine must not lose a live node).
_SYSTEM_CONFIG = {"health_check_period_ms": 1000, "health_check_failure_threshold": 10}


def node_args(cpus: int) -> dict[str, Any]:
    """Arguments of one node: `cpus` CPUs, no dashboard, a small object store."""
    return {
        "num_cpus": cpus, "num_gpus": 0, "object_store_memory": OBJECT_STORE_BYTES,
        "include_dashboard": False, "dashboard_port": _free_port(),
        "dashboard_agent_listen_port": 0,
    }  # fmt: skip


def _free_port() -> int:
    """A free TCP port on 127.0.0.1 (Ray's API server would take the fixed 8265)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_cluster(head_cpus: int = 1, worker_cpus: int = 1) -> Iterator[Any]:
    """A head node and one worker node (separate raylets) on this machine; yields the
    `ray.cluster_utils.Cluster` (its `.address` is what `--ray` takes)."""
    from ray.cluster_utils import Cluster

    # Ray's memory monitor counts the whole machine's memory: on a shared test machine it would
    # kill this cluster's workers for what other processes use.
    os.environ.setdefault("RAY_memory_monitor_refresh_ms", "0")
    cluster = Cluster(
        initialize_head=True,
        head_node_args={**node_args(head_cpus), "_system_config": _SYSTEM_CONFIG},
    )
    try:
        cluster.add_node(**node_args(worker_cpus))
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()


def lake_rows(lake: Lake) -> dict[str, list[tuple[Any, ...]]]:
    """What a curate run decided, independent of when and where it ran: trace ids, verdicts,
    flaw labels, decision events of selection (subject, output, reason), problem statistics and near-duplicate
    clusters."""
    queries = {
        "rollouts": "SELECT trace_id, completion FROM rollouts",
        "verdicts": "SELECT trace_id, verifier, status, correct, extracted FROM verdicts",
        "flaw_labels": "SELECT trace_id, labeler, flaw_type, severity, step FROM flaw_labels",
        "label_passes": "SELECT trace_id, labeler, labels FROM label_passes",
        "decisions": "SELECT decision_context.subject_ids, decision_logic.output, "
        "decision_logic.reason_code FROM decision_events "
        "WHERE decision_context.decision_type LIKE 'curation:%_selection'",
        "problem_stats": "SELECT DISTINCT problem_id, model, mode, verifier, n_samples, n_correct FROM problem_stats",
        "dedup": "SELECT trace_id, method, cluster_id, is_representative FROM dedup_assignments",
        "trace_scores": "SELECT trace_id, scorer FROM trace_scores",
    }
    out = {}
    for name, sql in queries.items():
        out[name] = sorted(tuple(map(repr, row.values())) for row in lake.query(sql).to_dicts())
    return out
