"""Verifiers by versioned name; each kind of problem has a default verifier.

A name may carry options after a colon, ``math_v2:rel_tol=1e-9``; the verdicts then record that
full name, so verdicts made under different settings stay apart in the lake.
"""

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

__all__ = [
    "VERIFIERS",
    "RETIRED",
    "DEFAULT_FOR_KIND",
    "get_verifier",
    "verifier_for_kind",
    "describe",
]


def _code(timeout_s: float, name: str, options: dict[str, float]) -> CodeVerifier:
    return CodeVerifier(SandboxLimits(wall_s=timeout_s, cpu_s=max(1, math.ceil(timeout_s))))


def _math(_t: float, name: str, options: dict[str, float]) -> MathVerifier:
    return MathVerifier(name=name, **options)


VERIFIERS: dict[str, Callable[[float, str, dict[str, float]], Verifier]] = {
    "math_v2": _math,
    "choice_v2": lambda _t, _n, _o: ChoiceVerifier(),
    "exact_v2": lambda _t, _n, _o: ExactVerifier(),
    "code_v2": _code,
}
_OPTIONS: dict[str, tuple[str, ...]] = {"math_v2": ("rel_tol",)}
_CLASSES = {
    "math_v2": MathVerifier,
    "choice_v2": ChoiceVerifier,
    "exact_v2": ExactVerifier,
    "code_v2": CodeVerifier,
}
# Names whose verdicts may still be in a lake, and what replaced them (why, in the README).
RETIRED = {
    "math_v1": "math_v2",
    "choice_v1": "choice_v2",
    "exact_v1": "exact_v2",
    "code_v1": "code_v2",
}
DEFAULT_FOR_KIND = {
    "math": "math_v2",
    "choice": "choice_v2",
    "exact": "exact_v2",
    "code": "code_v2",
}


def _options(name: str, base: str, text: str) -> dict[str, float]:
    """``rel_tol=1e-9,other=2`` -> {"rel_tol": 1e-9, ...}; unknown or malformed ones fail."""
    known = _OPTIONS.get(base, ())
    options: dict[str, float] = {}
    for part in filter(None, text.split(",")):
        key, eq, value = part.partition("=")
        if key.strip() not in known or not eq:
            allowed = ", ".join(known) or "none"
            raise NotFoundError(f"verifier {name!r}: unknown option {part!r}; options: {allowed}")
        try:
            options[key.strip()] = float(value)
        except ValueError as exc:
            raise NotFoundError(f"verifier {name!r}: option {key!r} needs a number") from exc
    return options


def get_verifier(name: str, timeout_s: float = 5.0) -> Verifier:
    """The verifier registered under ``name`` (``base[:option=value,...]``); unknown names
    list the known ones."""
    base, _, text = name.partition(":")
    factory = VERIFIERS.get(base)
    if factory is None:
        known = ", ".join(sorted(VERIFIERS))
        if base in RETIRED:
            raise NotFoundError(
                f"verifier {base!r} was replaced by {RETIRED[base]!r}; known verifiers: {known}"
            )
        raise NotFoundError(f"unknown verifier {name!r}; known verifiers: {known}")
    try:
        return factory(timeout_s, name, _options(name, base, text))
    except ValueError as exc:
        raise NotFoundError(f"verifier {name!r}: {exc}") from exc


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
