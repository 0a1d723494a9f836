"""Verifiers by versioned name; each kind of problem has a default verifier."""

from __future__ import annotations

import math
from collections.abc import Callable

from thresher.filters.sandbox import SandboxLimits
from thresher.filters.verify.choice import ChoiceVerifier
from thresher.filters.verify.code import CodeVerifier
from thresher.filters.verify.exact import ExactVerifier
from thresher.filters.verify.math import MathVerifier
from thresher.filters.verify.types import Verifier
from thresher.schemas.errors import NotFoundError

__all__ = ["VERIFIERS", "DEFAULT_FOR_KIND", "get_verifier", "verifier_for_kind", "describe"]


def _code(timeout_s: float) -> CodeVerifier:
    return CodeVerifier(SandboxLimits(wall_s=timeout_s, cpu_s=max(1, math.ceil(timeout_s))))


VERIFIERS: dict[str, Callable[[float], Verifier]] = {
    "math_v1": lambda _t: MathVerifier(),
    "choice_v1": lambda _t: ChoiceVerifier(),
    "exact_v1": lambda _t: ExactVerifier(),
    "code_v1": _code,
}
_CLASSES = {
    "math_v1": MathVerifier,
    "choice_v1": ChoiceVerifier,
    "exact_v1": ExactVerifier,
    "code_v1": CodeVerifier,
}
DEFAULT_FOR_KIND = {
    "math": "math_v1",
    "choice": "choice_v1",
    "exact": "exact_v1",
    "code": "code_v1",
}


def get_verifier(name: str, timeout_s: float = 5.0) -> Verifier:
    """The verifier registered under ``name``; unknown names list the known ones."""
    factory = VERIFIERS.get(name)
    if factory is None:
        raise NotFoundError(
            f"unknown verifier {name!r}; known verifiers: {', '.join(sorted(VERIFIERS))}"
        )
    return factory(timeout_s)


def verifier_for_kind(kind: str) -> str:
    """The default verifier name for a problem kind (math, choice, exact, code)."""
    name = DEFAULT_FOR_KIND.get(kind)
    if name is None:
        raise NotFoundError(
            f"unknown kind {kind!r}; known kinds: {', '.join(sorted(DEFAULT_FOR_KIND))}"
        )
    return name


def describe() -> dict[str, str]:
    """Each registered verifier's name and the one-paragraph meaning from its docstring."""
    return {name: " ".join((cls.__doc__ or "").split()) for name, cls in _CLASSES.items()}
