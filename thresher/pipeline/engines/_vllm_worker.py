"""A vLLM worker extension: methods the engine calls on every worker via `collective_rpc`.

Kept free of thresher imports so that vLLM's worker processes load it cheaply.
"""

from __future__ import annotations

__all__ = ["ThresherWorkerExtension"]


class ThresherWorkerExtension:
    """Mixed into vLLM workers (`worker_extension_cls`)."""

    def thresher_reseed(self, seed: int) -> int:
        """Reseed the worker's global RNGs, which sample every request without its own seed."""
        import random

        import numpy as np
        import torch

        random.seed(seed)
        np.random.seed(seed % (2**32))
        torch.manual_seed(seed)
        return seed
