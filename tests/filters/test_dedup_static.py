"""The static (model2vec) embedder: distilled once into the cache, reused, chosen by 'auto'.

Fast tests distil a tiny BERT made in the test (a real model with random weights, seconds to
distil); the slow ones distil the embedded all-MiniLM-L6-v2 itself (minutes, once per cache).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from thresher.cache import MANIFEST
from thresher.config import DedupConfig, parse_recipe
from thresher.filters.dedup import TraceInfo, near_clusters
from thresher.filters.embed import (
    DEFAULT_EMBEDDER,
    STATIC_EMBEDDER,
    Embedder,
    make_embedder,
    pick_embedder,
    resolve_embedder,
)
from thresher.filters.static import StaticEmbedder
from thresher.schemas.errors import NotFoundError, ThresherError
from thresher.stages.dedup import embedder_for

WORDS = [
    "tom",
    "has",
    "apples",
    "and",
    "buys",
    "more",
    "so",
    "the",
    "answer",
    "is",
    "sara",
    "bakes",
    "cookies",
    "eats",
    "remain",
    "train",
    "travels",
    "miles",
    "per",
    "hour",
    "for",
    "hours",
    "distance",
    "total",
    "plus",
    "minus",
    "times",
    "equals",
    "then",
    "we",
    "get",
]


def _tiny_bert(root: Path) -> Path:
    """A 1-layer BERT with a word-piece vocabulary of the test's words, saved like a Hub model."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *".,+-=*", *WORDS, *letters]
    vocab += [f"##{c}" for c in letters]
    out = root / "tiny-bert"
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(dict.fromkeys(vocab))})
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64,
    )  # fmt: skip
    BertModel(config).save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


@pytest.fixture(scope="module")
def tiny_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_bert(tmp_path_factory.mktemp("source"))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("THRESHER_CACHE", str(root))
    return root


def _count_distillations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Calls of model2vec's distill (the real one runs; each call is recorded)."""
    import model2vec.distill as m2v_distill

    real, calls = m2v_distill.distill, []

    def spy(model_name, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(model_name)
        return real(model_name, *args, **kwargs)

    monkeypatch.setattr(m2v_distill, "distill", spy)
    return calls


def test_distilled_once_into_the_cache_and_reused(
    tiny_source: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_distillations(monkeypatch)
    first = StaticEmbedder("tiny-static", str(tiny_source))
    first.setup()
    assert calls == [str(tiny_source)]
    assert first.path is not None and first.path.parent == cache / "models"
    assert (first.path / MANIFEST).is_file() and (first.path / "model.safetensors").is_file()
    assert first.revision.startswith("m2v-")
    # A second embedder (another process, a later run) loads the cached model: no distillation.
    second = StaticEmbedder("tiny-static", str(tiny_source))
    second.setup()
    assert calls == [str(tiny_source)]
    assert second.path == first.path
    text = ["tom has apples and buys more"]
    assert np.array_equal(first.embed(text), second.embed(text))


def test_vectors_agree_with_model2vec_encode(tiny_source: Path, cache: Path) -> None:
    from model2vec import StaticModel

    embedder = StaticEmbedder("tiny-static", str(tiny_source), batch_size=2)
    texts = [
        "Tom has 3 apples, and buys 4 more: 3 + 4 = 7.",
        "Sara bakes 12 cookies; she eats 5 (12 - 5 = 7) so 7 remain.",
        "The train travels 60 miles per hour for 3 hours.",
        "zzz qqq xylophone",  # words outside the vocabulary: word pieces
        "",
    ]
    ours = embedder.embed(texts)
    assert ours.shape == (5, embedder.dim) and ours.dtype == np.float32
    assert embedder.path is not None
    reference = StaticModel.from_pretrained(str(embedder.path)).encode(texts[:4])
    reference = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    assert np.allclose(np.sum(ours[:4] * reference, axis=1), 1.0, atol=1e-4)
    assert np.allclose(np.linalg.norm(ours[:4], axis=1), 1.0, atol=1e-5)
    assert not ours[4].any()  # no words, no direction
    assert embedder.embed([]).shape == (0, embedder.dim)


def test_planted_near_duplicates_found_with_a_static_model(tiny_source: Path, cache: Path) -> None:
    base = "tom has 3 apples and buys 4 more so tom has 7 apples then the answer is 7"
    texts = {
        "base": base,
        "copy": base.replace("then the", "so the"),
        "cookies": "sara bakes 12 cookies and eats 5 so 7 cookies remain the answer is 7",
        "train": "train travels 60 miles per hour for 3 hours distance equals 180 miles",
        "cookies2": "sara bakes 12 cookies and eats 5 so 7 cookies remain then the answer is 7",
    }
    traces = [TraceInfo(k, "P", t, correct=True) for k, t in texts.items()]
    embedder = StaticEmbedder("tiny-static", str(tiny_source))
    vectors = embedder.embed([t.text for t in traces])
    by_id = {r.trace_id: r for r in near_clusters(traces, vectors, 0.95, embedder.name)}
    assert by_id["copy"].cluster_id == by_id["base"].cluster_id
    assert by_id["cookies2"].cluster_id == by_id["cookies"].cluster_id
    assert by_id["copy"].max_similarity >= 0.95
    assert len({r.cluster_id for r in by_id.values()}) == 3  # base+copy, cookies x2, train
    assert all(r.embedder == "tiny-static" for r in by_id.values())


def test_an_unwritable_cache_fails_with_a_clear_error(
    tiny_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("THRESHER_CACHE", str(blocker / "cache"))
    with pytest.raises(ThresherError, match="cannot write the model cache at") as err:
        StaticEmbedder("tiny-static", str(tiny_source)).setup()
    assert "THRESHER_CACHE" in (err.value.hint or "")


def test_a_missing_source_fails_with_a_clear_error(tmp_path: Path, cache: Path) -> None:
    with pytest.raises(NotFoundError, match="not a local model directory"):
        StaticEmbedder("x-static", str(tmp_path / "nowhere")).setup()
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFoundError, match="no model files"):
        StaticEmbedder("x-static", str(tmp_path / "empty")).setup()


def test_auto_picks_the_static_model_above_the_threshold_on_cpu() -> None:
    assert pick_embedder("auto", 50_001, 50_000, "cpu") == STATIC_EMBEDDER
    assert pick_embedder("auto", 50_000, 50_000, "cpu") == DEFAULT_EMBEDDER  # small sets: MiniLM
    assert pick_embedder("auto", 10**6, 50_000, "cuda") == DEFAULT_EMBEDDER  # GPU: MiniLM
    assert pick_embedder("auto", 10**6, 50_000, "cpu", backend="int8") == DEFAULT_EMBEDDER
    assert pick_embedder(STATIC_EMBEDDER, 3, 50_000, "cuda") == STATIC_EMBEDDER  # named: itself
    assert pick_embedder("all-minilm-l6-v2", 10**6, 0, "cpu") == "all-minilm-l6-v2"
    big = embedder_for(DedupConfig(static_above=2, device="cpu"), 3)
    small = embedder_for(DedupConfig(static_above=2, device="cpu"), 2)
    assert isinstance(big, StaticEmbedder) and big.name == STATIC_EMBEDDER
    assert isinstance(small, Embedder) and small.name == DEFAULT_EMBEDDER
    assert big.source == resolve_embedder(DEFAULT_EMBEDDER)[0]  # distilled from the embedded MiniLM


def test_the_recipe_selects_the_static_embedder() -> None:
    recipe = parse_recipe(
        "name: big\ndedup:\n  embedder: all-minilm-l6-v2-static\n  static_above: 1000\n"
    )
    assert recipe.dedup.embedder == STATIC_EMBEDDER and recipe.dedup.static_above == 1000
    assert DedupConfig().embedder == "auto" and DedupConfig().static_above == 50_000
    chosen = embedder_for(recipe.dedup, 5)
    assert isinstance(chosen, StaticEmbedder) and chosen.name == STATIC_EMBEDDER
    with pytest.raises(NotFoundError, match="has no 'int8' backend"):
        make_embedder(STATIC_EMBEDDER, backend="int8")
    with pytest.raises(ThresherError, match="auto"):
        make_embedder("auto")
    with pytest.raises(ValueError, match="static_above"):
        DedupConfig(static_above=-1)


@pytest.mark.slow
def test_minilm_static_is_distilled_once_and_finds_planted_duplicates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real thing: all-MiniLM-L6-v2 distilled (minutes, once per cache), then reused."""
    first = make_embedder(STATIC_EMBEDDER)
    first.setup()  # distils unless this cache has it already
    calls = _count_distillations(monkeypatch)
    second = make_embedder(STATIC_EMBEDDER)
    second.setup()
    assert calls == [] and second.path == first.path and second.dim == 256
    base = "Tom has 3 apples and buys 4 more. 3 + 4 = 7. So Tom has 7 apples. The answer is 7."
    texts = {
        "base": base,
        "copy": base.replace("So Tom has", "Thus Tom has"),
        "train": "A train travels 60 miles per hour for 3 hours. 60 * 3 = 180. The answer is 180.",
        "cookies": "Sara bakes 12 cookies and eats 5. 12 - 5 = 7 cookies remain. The answer is 7.",
    }
    traces = [TraceInfo(k, "P", t, correct=True) for k, t in texts.items()]
    vectors = second.embed([t.text for t in traces])
    by_id = {r.trace_id: r for r in near_clusters(traces, vectors, 0.95, second.name)}
    assert by_id["copy"].representative_trace_id == "base"
    assert by_id["train"].is_representative and by_id["cookies"].is_representative
