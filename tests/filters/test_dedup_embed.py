"""Near-duplicate dedup with the real embedded all-MiniLM-L6-v2 on planted traces."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.filters.dedup import TraceInfo, embed_traces, near_clusters, vectors_of
from thresher.filters.embed import Embedder
from thresher.schemas.errors import NotFoundError

BASE = "Tom has 3 apples and buys 4 more. 3 + 4 = 7. So Tom has 7 apples. The answer is 7."
NEAR_COPY = (
    "Tom has 3 apples and buys 4 more apples. 3 + 4 = 7. Thus Tom has 7 apples. The answer is 7."
)
PARAPHRASE = (
    "Tom starts with three apples and gets four more, so he ends up with seven apples in total."
    " Answer: 7"
)
DISTINCT = [
    "A train travels 60 miles per hour for 3 hours. Distance = 60 * 3 = 180 miles. The answer is 180.",
    "Sara bakes 12 cookies and eats 5. 12 - 5 = 7 cookies remain. The answer is 7.",
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    e = Embedder()
    e.setup()
    return e


def test_embedder_name_dim_and_normalised_vectors(embedder: Embedder) -> None:
    assert embedder.name == "all-minilm-l6-v2"
    assert Embedder("all-MiniLM-L6-v2").name == "all-minilm-l6-v2"
    assert Embedder(backend="int8").name == "all-minilm-l6-v2@int8"
    v = embedder.embed([BASE, "x"])
    assert v.shape == (2, embedder.dim == 384 and 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_unknown_backend_and_model_fail_clearly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFoundError, match="known backends: torch, int8"):
        Embedder(backend="onnx-magic")
    with pytest.raises(NotFoundError, match="cannot load embedder"):
        Embedder(str(tmp_path / "no-such-model")).setup()


def test_planted_near_copy_and_paraphrase_cluster_distinct_stay_apart(embedder: Embedder) -> None:
    traces = [
        TraceInfo("base", "P", BASE, correct=True),
        TraceInfo("copy", "P", NEAR_COPY, correct=True),
        TraceInfo("para", "P", PARAPHRASE, correct=True),
        TraceInfo("train", "P", DISTINCT[0], correct=True),
        TraceInfo("cookies", "P", DISTINCT[1], correct=True),
    ]
    rows = embed_traces(traces, embedder.embed, embedder.name)
    vectors = vectors_of(rows, [t.trace_id for t in traces])
    by_id = {r.trace_id: r for r in near_clusters(traces, vectors, 0.85, embedder.name)}
    # All correct: the shortest (base) represents the cluster under the default policy.
    assert {by_id[t].representative_trace_id for t in ("base", "copy", "para")} == {"base"}
    assert by_id["train"].is_representative and by_id["cookies"].is_representative
    assert by_id["train"].cluster_id != by_id["cookies"].cluster_id != by_id["para"].cluster_id
    # A stricter threshold from the same stored vectors (no re-embedding) keeps only the copy.
    strict = {r.trace_id: r for r in near_clusters(traces, vectors, 0.97, embedder.name)}
    assert strict["copy"].cluster_id == strict["base"].cluster_id
    assert strict["para"].cluster_id != strict["base"].cluster_id
    assert strict["base"].max_similarity > 0.97


def test_run_dedup_stores_embeddings_and_a_new_threshold_reuses_them(
    embedder: Embedder, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from thresher.config import DedupConfig
    from thresher.schemas import Problem, Rollout
    from thresher.stages import dedup
    from thresher.storage import Lake

    problem = Problem(source="mini", question="Tom has 3 apples and buys 4 more. How many?")
    texts = [BASE, NEAR_COPY, DISTINCT[1]]
    rollouts = [
        Rollout(problem_id=problem.problem_id, model="m", engine="vllm", prompt="q",
                completion=t, sample_index=i)
        for i, t in enumerate(texts)
    ]  # fmt: skip
    with Lake.open(str(tmp_path / "lake")) as lake:
        lake.append("problems", [problem])
        lake.append("rollouts", rollouts)
        first = dedup.run(lake, "mini", DedupConfig(threshold=0.95), embedder=embedder)
        assert (first.embedded_now, first.embeddings_reused) == (3, 0)
        assert first.near_duplicates == 1 and first.near_clusters == 2
        second = dedup.run(lake, "mini", DedupConfig(threshold=0.5), embedder=embedder)
        assert (second.embedded_now, second.embeddings_reused) == (0, 3)
        rows = lake.sql(
            "SELECT threshold, count(DISTINCT cluster_id) AS clusters FROM dedup_assignments "
            "WHERE method = 'embedding' GROUP BY threshold ORDER BY threshold"
        ).to_dicts()
        stored = lake.sql("SELECT count(*) AS n FROM embeddings").to_dicts()[0]["n"]
    assert stored == 3
    assert rows[1] == {"threshold": 0.95, "clusters": 2}
    assert rows[0]["threshold"] == 0.5 and rows[0]["clusters"] <= 2
