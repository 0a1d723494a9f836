"""A real sandbox for untrusted Python: its own root filesystem and namespaces, rlimits, a
scrubbed environment, nothing left behind; a weaker fallback only when the user accepts it."""

from thresher.filters.sandbox.isolate import MODES, STRONG
from thresher.filters.sandbox.limits import SandboxLimits, SandboxResult, SandboxStatus
from thresher.filters.sandbox.modes import (
    WeakSandboxError,
    admit_code_execution,
    allow_weak_sandbox,
    describe,
    isolation_mode,
    set_reporter,
    unprotected,
    weak_sandbox_accepted,
    weak_sandbox_allowed,
)
from thresher.filters.sandbox.run import run_program, sandbox_python

__all__ = [
    "MODES",
    "STRONG",
    "SandboxLimits",
    "SandboxResult",
    "SandboxStatus",
    "WeakSandboxError",
    "admit_code_execution",
    "allow_weak_sandbox",
    "describe",
    "isolation_mode",
    "run_program",
    "sandbox_python",
    "set_reporter",
    "unprotected",
    "weak_sandbox_accepted",
    "weak_sandbox_allowed",
]
