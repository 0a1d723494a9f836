"""Synthetic traces with planted near-duplicates, shared by bench_dedup and its peers.

Each trace is 60-140 words about one of ``topics`` problems: ~30% of its words come from the
problem's own 12 words, ~10% are numbers, ~5% punctuation, the rest general English words (the
whole words of MiniLM's vocabulary). Planted groups of 2-4 traces are copies of one base trace
with 1-6% of the words replaced: a trace regenerated with a few words changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Corpus", "make_corpus"]


@dataclass
class Corpus:
    """The texts and the planted groups (index arrays, base first)."""

    texts: list[str]
    groups: list[np.ndarray]
    mean_words: float


def _words() -> list[str]:
    from thresher.filters.embed import resolve_embedder

    vocab = Path(resolve_embedder("all-minilm-l6-v2")[0]) / "vocab.txt"
    return [w for w in vocab.read_text().split() if w.isascii() and w.isalpha() and len(w) >= 3]


def make_corpus(n: int, topics: int = 10_000, groups: int = 20_000, seed: int = 0) -> Corpus:
    """``n`` traces, ``groups`` of them bases of planted near-duplicate groups."""
    rng = np.random.default_rng(seed)
    general = _words()
    numbers = [str(k) for k in range(1000)]
    punct = [".", ",", "=", "+", "-", "*", "(", ")", ":", "?"]
    vocab = np.array(general + numbers + punct, dtype=object)
    n_gen, n_num = len(general), len(numbers)
    topic_words = rng.integers(0, n_gen, (topics, 12))
    lengths = rng.integers(60, 141, n)
    bounds = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=bounds[1:])
    total = int(bounds[-1])
    owner_topic = np.repeat(rng.integers(0, topics, n), lengths)
    kind = rng.random(total, dtype=np.float32)
    ids = rng.integers(0, n_gen, total).astype(np.int32)  # general words
    topical = kind < 0.30
    ids[topical] = topic_words[owner_topic[topical], rng.integers(0, 12, int(topical.sum()))]
    num = (kind >= 0.30) & (kind < 0.40)
    ids[num] = n_gen + rng.integers(0, n_num, int(num.sum()))
    pun = (kind >= 0.40) & (kind < 0.45)
    ids[pun] = n_gen + n_num + rng.integers(0, len(punct), int(pun.sum()))

    # Planted groups: members after the base become copies of the base with a few words changed.
    sizes = rng.integers(2, 5, groups)
    members = rng.permutation(n)[: int(sizes.sum())]
    planted: list[np.ndarray] = []
    pieces: dict[int, np.ndarray] = {}
    pos = 0
    for size in sizes:
        group = members[pos : pos + size]
        pos += size
        base = ids[bounds[group[0]] : bounds[group[0] + 1]]
        for m in group[1:]:
            copy = base.copy()
            change = rng.random(len(copy)) < rng.uniform(0.01, 0.06)
            copy[change] = rng.integers(0, n_gen, int(change.sum()))
            pieces[int(m)] = copy
        planted.append(group)
    words = vocab[ids].tolist()
    starts = bounds.tolist()
    texts = [" ".join(words[starts[k] : starts[k + 1]]) for k in range(n)]
    for k, piece in pieces.items():
        texts[k] = " ".join(vocab[piece].tolist())
    return Corpus(texts=texts, groups=planted, mean_words=float(lengths.mean()))
