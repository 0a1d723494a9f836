"""Imported only by the pool's forkserver: load and exercise math-verify once, so every
worker forked from it starts with sympy, the LaTeX grammar and caches already warm."""

from __future__ import annotations

import logging

from thresher.filters.verify.worker import preload

preload()
try:
    from thresher.filters.verify.math import math_verify_equal

    math_verify_equal("x^2+2x+1", "(x+1)^2")
    math_verify_equal("\\frac{1}{2}", "0.5")
    math_verify_equal("\\{1,2\\}", "(1,2]")
except Exception:  # warm-up is an optimisation; a failure here shows up per item later
    logging.getLogger(__name__).debug("math-verify warm-up failed", exc_info=True)
