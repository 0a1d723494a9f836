"""Ray as the curate flow's runtime: the one module that knows about Ray.

`thresher run RECIPE --ray ADDRESS` (or `runtime.ray.address` in the recipe) runs the same flow
with prefect-ray's `RayTaskRunner`; the stages and the lake do not change. The flow process (the
driver) plans each stage (the pending ids in batches, as `Stage.plan` gives them) and runs the
whole-set steps (`Stage.finish`, select, export); the batches run on the cluster:

* CPU stages (verify, label with rule labelers, decontaminate, dedup embedding) fan out as one
  Prefect task per batch, submitted through the task runner with declared resources
  (`num_cpus`), so each batch is a Ray task on whichever node has a free CPU (the code sandbox
  runs on the node that verifies). A stage with fewer pending ids than `min_batch` runs in the
  flow process instead: one small batch gains nothing from the cluster.
* GPU stages (generation, provenance scoring, the in-process judge) run in vLLM engine actors,
  one per `tensor_parallel_size` GPU group (`num_gpus` only when the cluster has GPUs), each fed
  batches of ids by the driver and committing each batch to the lake as it finishes. More
  actors = data parallelism. An actor that dies loses at most its batch in flight: the batch
  goes back to the queue for the other actors, and when none is left the step fails and a
  re-run completes the rest.

Every batch, wherever it runs, opens the lake itself and re-reads what is still pending before
doing anything, so a batch done twice (a retried Ray task, a re-run after a crash, two workers
given the same batch) writes nothing twice; the lake's content ids and its commit-time key check
make the writes idempotent, and concurrent commits retry on conflict (storage/transactions.py).
That needs a catalog several processes write: PostgreSQL (with a data path every node sees) on a
cluster, SQLite on one machine.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from thresher.config import RayConfig, Recipe
from thresher.schemas import InputError, ThresherError
from thresher.stages.base import Stage, StageReport, batches
from thresher.stages.decontaminate import DecontaminateStage
from thresher.stages.dedup import DedupStage
from thresher.stages.engines import engine_for
from thresher.stages.generate import GenerateStage
from thresher.stages.label import LabelStage
from thresher.stages.provenance import ProvenanceStage
from thresher.stages.verify import VerifyStage
from thresher.storage import Lake
from thresher.storage.location import parse_location

__all__ = ["GPU_STAGES", "RAY_ENV", "RayRuntime", "stage_batch", "stage_for"]

# Where each stage's batches run: CPU stages as Ray tasks, GPU stages in the engine actors.
CPU_STAGES = ("verify", "label", "decontaminate", "dedup")
GPU_STAGES = ("generate", "provenance", "judge")
# The cluster a deployment runs on when its recipe names none (docker-compose sets it).
RAY_ENV = "THRESHER_RAY_ADDRESS"
# Environment a batch needs on every node (sandbox policy, offline hub, engine limits).
_FORWARDED_ENV = ("THRESHER_", "VLLM_", "HF_", "TOKENIZERS_", "OMP_NUM_THREADS")


def stage_for(recipe: Recipe, name: str, mode: str = "", *, engine: Any = None) -> Stage[Any]:
    """The stage a batch of `name` runs, built from the recipe as the local flow builds it;
    `engine` is the actor's generation engine (shared when a stage scores with its model)."""
    if name == "generate":
        return GenerateStage(recipe.generation, mode, limit=recipe.problems.limit, engine=engine)
    if name == "verify":
        return VerifyStage(recipe.verify)
    if name in ("label", "judge"):
        return LabelStage(recipe.labels, generation=recipe.generation, judge_engine=engine)
    if name == "provenance":
        return ProvenanceStage(recipe.provenance, recipe.generation, engine=engine)
    if name == "dedup":
        return DedupStage(recipe.dedup)
    if name == "decontaminate":
        return DecontaminateStage(recipe.decontam)
    raise ValueError(f"no batch stage named {name!r}")


def _work(report: StageReport) -> int:
    """The count the flow reports for a stage (what its local task returns)."""
    for attr in ("generated", "verified", "labels"):
        if hasattr(report, attr):
            return int(getattr(report, attr))
    return report.processed if report.stage == "provenance" else report.rows


def stage_batch(
    stage: Stage[Any], lake: Lake, problem_set: str, batch: list[str]
) -> dict[str, int]:
    """Do the ids of `batch` that are still pending (re-read from the lake, so a batch done
    twice commits nothing twice); returns its figures."""
    pending = {i for planned in stage.plan(lake, problem_set) for i in planned}
    todo = [i for i in batch if i in pending]
    report = stage.new_report(problem_set)
    if todo:
        stage.setup()
        try:
            stage.process(lake, todo, report)
        finally:
            stage.teardown()
    report.processed = len(todo)
    return {"rows": report.rows, "processed": len(todo), "work": _work(report)}


@task(name="stage-batch", cache_policy=NO_CACHE)
def stage_batch_task(
    recipe: dict[str, Any], lake: str, name: str, batch: list[str]
) -> dict[str, Any]:
    """One batch of a CPU stage, on whichever Ray node runs it."""
    from thresher.filters.sandbox import weak_sandbox_allowed

    loaded = Recipe.model_validate(recipe)
    stage = stage_for(loaded, name)
    with Lake.open(lake) as opened, weak_sandbox_allowed(loaded.verify.allow_weak_sandbox):
        return {**stage_batch(stage, opened, loaded.problem_set, batch), "node": _node()}


def _node() -> str:
    """The Ray node this process runs on."""
    import ray

    return str(ray.get_runtime_context().get_node_id())


class EngineWorker:
    """A Ray actor holding one vLLM engine (a `tensor_parallel_size` GPU group) and an open
    lake; it runs GPU-stage batches one at a time and commits each as it finishes."""

    def __init__(self, recipe: dict[str, Any], lake: str) -> None:
        self.recipe = Recipe.model_validate(recipe)
        self.location = lake
        self.lake: Lake | None = None
        self.engine: Any = None

    def _shared(self, model: str | None) -> Any:
        gen = self.recipe.generation
        if self.engine is None:
            self.engine = engine_for(gen)
        if model is not None and (model != gen.model or gen.engine != "vllm"):
            return None
        return self.engine

    def run_batch(self, name: str, mode: str, batch: list[str]) -> dict[str, Any]:
        """One batch of a GPU stage on this actor's engine."""
        if self.lake is None:
            self.lake = Lake.open(self.location)
        model = {
            "generate": None,
            "provenance": self.recipe.provenance.student,
            "judge": self.recipe.labels.judge_model,
        }[name]
        stage = stage_for(self.recipe, name, mode, engine=self._shared(model))
        return {**stage_batch(stage, self.lake, self.recipe.problem_set, batch), "node": _node()}

    def close(self) -> None:
        """Stop the engine and close the lake."""
        if self.engine is not None:
            self.engine.teardown()
            self.engine = None
        if self.lake is not None:
            self.lake.close()
            self.lake = None


@dataclass
class RayRuntime:
    """One run's connection to a Ray cluster and the engine actors it started."""

    config: RayConfig
    recipe: Recipe
    location: str
    planner: Any = None  # an engine naming the generation model (never started here)
    nodes: set[str] = field(default_factory=set)  # the nodes that ran this run's batches
    _actors: list[Any] = field(default_factory=list)
    _owns_ray: bool = False

    @classmethod
    def for_recipe(cls, recipe: Recipe, location: str, planner: Any = None) -> RayRuntime | None:
        """The runtime of a recipe whose `runtime.ray.address` (else `$THRESHER_RAY_ADDRESS`)
        is set, else None (the run stays in this process)."""
        config = recipe.runtime.ray
        if not config.address and os.environ.get(RAY_ENV):  # a deployment's setting
            config = config.model_copy(update={"address": os.environ[RAY_ENV]})
        if not config.address:
            return None
        if not parse_location(location).shared:
            raise InputError(
                f"a run on Ray needs a lake that every node can write; {location} has a "
                "DuckDB-file catalog (one writing process)",
                field="lake",
                hint="use a PostgreSQL catalog with a data path every node sees: "
                "--lake 'postgres:dbname=lake host=HOST user=USER|/shared/lake-data'",
            )
        return cls(config, recipe, location, planner)

    # -- connection ------------------------------------------------------------------------

    def init_kwargs(self, api_url: str | None) -> dict[str, Any]:
        """`ray.init` arguments: the cluster address, and what the driver's environment must
        hand to every worker (the Prefect API, the sandbox policy, offline settings)."""
        from thresher.filters.sandbox import weak_sandbox_accepted

        env = {k: v for k, v in os.environ.items() if k.startswith(_FORWARDED_ENV)}
        if weak_sandbox_accepted():  # `--allow-weak-sandbox` holds on every node, not only here
            env["THRESHER_ALLOW_WEAK_SANDBOX"] = "1"
        if api_url:
            env["PREFECT_API_URL"] = api_url
        return {
            "address": self.config.address,
            "namespace": "thresher",
            "log_to_driver": False,
            "runtime_env": {"env_vars": env},
        }

    @contextmanager
    def connected(self) -> Iterator[Any]:
        """Join the cluster (and give the workers a Prefect API they reach) for one flow run;
        yields the flow's task runner. Actors started in the run are stopped at its end."""
        import ray
        from prefect.settings import PREFECT_API_URL, temporary_settings
        from prefect_ray import RayTaskRunner

        api_url = PREFECT_API_URL.value()
        if not api_url:
            # Ephemeral mode: Prefect would start a private API server in every Ray worker.
            # Start the one this process would use, and point every worker at it.
            from prefect.server.api.server import SubprocessASGIServer

            server = SubprocessASGIServer()
            server.start()
            api_url = server.api_url
        kwargs = self.init_kwargs(api_url)
        if not ray.is_initialized():
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise InputError(
                    f"cannot join the Ray cluster at {self.config.address}: {exc}",
                    field="runtime.ray.address",
                    hint="start one with `ray start --head`, or pass --ray HOST:6379",
                ) from exc
            self._owns_ray = True
        try:
            with temporary_settings({PREFECT_API_URL: api_url}):
                yield RayTaskRunner(address=None, init_kwargs=kwargs)
        finally:
            self.close()
            if self._owns_ray:
                ray.shutdown()

    def close(self) -> None:
        """Stop this run's engine actors."""
        import ray

        for actor in self._actors:
            with contextlib.suppress(Exception):  # a dead actor has nothing left to close
                ray.get(actor.close.remote(), timeout=120)
            ray.kill(actor)
        self._actors = []

    # -- scheduling ------------------------------------------------------------------------

    def _gpu(self) -> bool:
        import ray

        if self.config.gpu is not None:
            return self.config.gpu
        return bool(ray.cluster_resources().get("GPU", 0))

    def cpu_slots(self, ids: int) -> int:
        """How many batches a CPU stage of `ids` ids is split into: as set, else one per CPU
        slot of the cluster, as long as each batch keeps `min_batch` ids."""
        import ray

        if self.config.tasks_per_stage:
            return self.config.tasks_per_stage
        cpus = ray.cluster_resources().get("CPU", 1.0)
        slots = max(1, int(cpus // self.config.cpus_per_task))
        return max(1, min(slots, ids // self.config.min_batch))

    def engine_actors(self) -> list[Any]:
        """The run's engine actors, started on first use (one per GPU group, or as set)."""
        if self._actors:
            return self._actors
        import ray

        tp = self.recipe.generation.tensor_parallel_size
        gpu = self._gpu()
        count = self.config.generation_actors
        if count is None:
            count = max(1, int(ray.cluster_resources().get("GPU", 0) // tp)) if gpu else 1
        actor_cls = ray.remote(EngineWorker).options(
            num_cpus=1, num_gpus=tp if gpu else 0, max_restarts=0, max_task_retries=0
        )
        recipe = self.recipe.model_dump(mode="json")
        self._actors = [actor_cls.remote(recipe, self.location) for _ in range(count)]
        return self._actors

    def run_stage(self, lake: Lake, name: str, mode: str = "") -> int:
        """Run one stage on the cluster: plan in the driver, batches on the cluster, the
        whole-set step (`finish`) in the driver. Returns the stage's count of new work."""
        problem_set = self.recipe.problem_set
        # Planning generation names the engine's model and revision; nothing starts here.
        planner = (
            (self.planner or engine_for(self.recipe.generation)) if name == "generate" else None
        )
        stage = stage_for(self.recipe, name, mode, engine=planner)
        planned = stage.plan(lake, problem_set)
        report = stage.new_report(problem_set)
        report.pending = sum(len(b) for b in planned)
        if planned:
            if name in GPU_STAGES:
                results = self._on_actors(name, mode, planned)
            elif self.in_flow_process(report.pending):
                results = [self._here(stage, lake, [i for b in planned for i in b])]
            else:
                results = self._as_tasks(name, self._spread(planned, stage.batch_size))
            for out in results:
                if out["node"]:
                    self.nodes.add(out["node"])
                report.rows += out["rows"]
                report.processed += out["processed"]
        work = sum(out["work"] for out in results) if planned else 0
        before = report.rows
        stage.finish(lake, report)
        return work + (report.rows - before if name == "dedup" else 0)

    def in_flow_process(self, ids: int) -> bool:
        """Whether a CPU stage of `ids` pending ids runs in the flow process: fewer than one
        `min_batch` (a re-run completing a few ids, a small run) gain nothing from the cluster
        and would pay a worker's start-up for it. Never when `tasks_per_stage` is set."""
        return not self.config.tasks_per_stage and ids < self.config.min_batch

    def _here(self, stage: Stage[Any], lake: Lake, ids: list[str]) -> dict[str, Any]:
        from thresher.filters.sandbox import weak_sandbox_allowed

        with weak_sandbox_allowed(self.recipe.verify.allow_weak_sandbox):
            return {**stage_batch(stage, lake, self.recipe.problem_set, ids), "node": ""}

    def _spread(self, planned: list[list[str]], size: int) -> list[list[str]]:
        """A CPU stage's ids in at least as many batches as it gets CPU slots."""
        ids = [i for b in planned for i in b]
        count = max(len(planned), min(self.cpu_slots(len(ids)), len(ids)))
        return batches(ids, max(1, min(size, math.ceil(len(ids) / count))))

    def _as_tasks(self, name: str, planned: list[list[str]]) -> list[dict[str, Any]]:
        from prefect_ray.context import remote_options

        recipe = self.recipe.model_dump(mode="json")
        # SPREAD: a stage's batches go to different nodes before they share one.
        with remote_options(num_cpus=self.config.cpus_per_task, scheduling_strategy="SPREAD"):
            futures = [
                stage_batch_task.with_options(name=f"{name}-batch").submit(
                    recipe, self.location, name, batch
                )
                for batch in planned
            ]
        return [f.result() for f in futures]

    def _on_actors(self, name: str, mode: str, planned: list[list[str]]) -> list[dict[str, Any]]:
        """Feed the batches to the engine actors, one in flight per actor; a batch whose actor
        died goes back to the queue for the others."""
        import ray
        from ray.exceptions import (
            ActorDiedError,
            ActorUnavailableError,
            OutOfMemoryError,
            RayActorError,
        )

        queue = deque(planned)
        idle = list(self.engine_actors())
        in_flight: dict[Any, tuple[Any, list[str]]] = {}
        results: list[dict[str, Any]] = []
        while queue or in_flight:
            while queue and idle:
                actor, batch = idle.pop(0), queue.popleft()
                in_flight[actor.run_batch.remote(name, mode, batch)] = (actor, batch)
            if not in_flight:
                left = sum(len(b) for b in queue)
                raise ThresherError(
                    f"every engine actor died during {name}; {left} ids of {len(queue)} batches "
                    "were not done (the committed batches are kept)",
                    hint="run the same command again: it completes only what is missing",
                )
            done, _ = ray.wait(list(in_flight), num_returns=1)
            actor, batch = in_flight.pop(done[0])
            try:
                results.append(ray.get(done[0]))
            except (RayActorError, ActorDiedError, ActorUnavailableError, OutOfMemoryError):
                # Its worker is gone (node lost, killed, out of memory): so is its engine.
                self._actors.remove(actor)
                queue.appendleft(batch)
                continue
            idle.append(actor)
        return results
