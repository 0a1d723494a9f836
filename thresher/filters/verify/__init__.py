"""Verifiers: is a trace's final answer right? (math, choice, exact, code in a sandbox).

Each verifier is registered under a versioned name; ``verify_items`` runs cheap paths in the
caller's process and the rest in worker processes with per-item time limits.
"""

from thresher.filters.verify.jsonl import verify_jsonl
from thresher.filters.verify.pool import VerifyPool
from thresher.filters.verify.registry import (
    DEFAULT_FOR_KIND,
    VERIFIERS,
    describe,
    get_verifier,
    verifier_for_kind,
)
from thresher.filters.verify.runner import verify_items
from thresher.filters.verify.types import Outcome, Verifier, VerifyItem

__all__ = [
    "DEFAULT_FOR_KIND",
    "VERIFIERS",
    "Outcome",
    "Verifier",
    "VerifyItem",
    "VerifyPool",
    "describe",
    "get_verifier",
    "verifier_for_kind",
    "verify_items",
    "verify_jsonl",
]
