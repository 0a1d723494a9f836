"""dedup commits embeddings batch by batch: a kill loses at most the batch in progress."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from thresher.schemas import Problem, Rollout
from thresher.storage import Lake

pytestmark = pytest.mark.slow

# The real embedder, slowed down (1.5 s per batch) so the test can kill it mid-run.
SLOW_DEDUP = textwrap.dedent(
    """
    import sys, time
    from thresher.config import DedupConfig
    from thresher.filters.embed import Embedder
    from thresher.stages.dedup import run
    from thresher.storage import Lake

    embedder = Embedder()
    embedder.setup()
    real = embedder.embed

    def slow(texts):
        time.sleep(1.5)
        return real(texts)

    embedder.embed = slow
    print("embedder ready", flush=True)
    with Lake.open(sys.argv[1]) as lake:
        run(lake, "mini", DedupConfig(batch_size=4), embedder=embedder, progress=False)
    print("finished", flush=True)
    """
)


def embeddings(path) -> int:
    with Lake.open(path, read_only=True) as lake:
        return int(lake.sql("SELECT count(*) AS n FROM embeddings")["n"][0])


def test_a_killed_dedup_keeps_the_embedding_batches_it_committed(tmp_path):
    from thresher.config import DedupConfig
    from thresher.filters.embed import Embedder
    from thresher.stages.dedup import run

    path = tmp_path / "lake"
    problem = Problem(source="mini", question="How many apples?")
    rollouts = [
        Rollout(problem_id=problem.problem_id, model="m", engine="vllm", prompt="q",
                completion=f"Tom has {i} apples and buys {i + 1} more, so {2 * i + 1}.",
                sample_index=i)
        for i in range(32)
    ]  # fmt: skip
    with Lake.open(path) as lake:
        lake.append("problems", [problem])
        lake.append("rollouts", rollouts)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_DEDUP, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        deadline = time.monotonic() + 300
        while embeddings(path) < 8:  # readers see each committed batch while dedup runs
            assert proc.poll() is None, "dedup ended before it was killed"
            assert time.monotonic() < deadline
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    kept = embeddings(path)
    assert 8 <= kept < 32 and kept % 4 == 0  # whole batches only
    embedder = Embedder()
    embedder.setup()
    with Lake.open(path) as lake:
        report = run(lake, "mini", DedupConfig(batch_size=4), embedder=embedder, progress=False)
    assert (report.embeddings_reused, report.embedded_now) == (kept, 32 - kept)
    assert embeddings(path) == 32
