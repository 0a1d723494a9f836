"""The unit a verifier checks and what it says about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from thresher.schemas.labels import correct_rule_error

__all__ = ["VerifyItem", "Outcome", "Verifier"]


@dataclass
class VerifyItem:
    """One response to check: its gold answer (or code tests) and the response text."""

    id: str
    kind: str
    response: str
    gold: str | None = None
    tests: dict[str, Any] | None = None


@dataclass
class Outcome:
    """A verifier's finding: ``correct`` is true/false when decided (false for no answer and
    for a program's own crash or limit), null when the verifier itself could not decide."""

    status: str
    correct: bool | None = None
    extracted: str | None = None
    reason: str = ""
    elapsed_s: float = field(default=0.0, compare=False)

    def __post_init__(self) -> None:
        problem = correct_rule_error(self.status, self.correct)
        if problem is not None:
            raise ValueError(problem)


class Verifier(Protocol):
    """A registered verifier: a cheap in-process path and a full check run in a worker."""

    name: str
    kind: str

    def quick(self, item: VerifyItem) -> Outcome | None:
        """Decide cheaply (bounded, in the caller's process) or return None to need `check`."""
        ...

    def check(self, item: VerifyItem) -> Outcome:
        """The full check; runs in a worker process under a time limit."""
        ...

    def time_limit(self, item: VerifyItem, default_s: float) -> float:
        """Seconds the worker may spend on this item before it is killed."""
        ...

    def cache_key(self, item: VerifyItem) -> tuple[str, ...] | None:
        """Items with equal keys get the same outcome (None: never shared)."""
        ...
