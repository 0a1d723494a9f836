"""A real sandbox for untrusted Python: namespaces, rlimits, scrubbed env, nothing left behind."""

from thresher.filters.sandbox.isolate import MODES, isolation_mode
from thresher.filters.sandbox.limits import SandboxLimits, SandboxResult, SandboxStatus
from thresher.filters.sandbox.run import run_program, sandbox_python

__all__ = [
    "MODES",
    "SandboxLimits",
    "SandboxResult",
    "SandboxStatus",
    "isolation_mode",
    "run_program",
    "sandbox_python",
]
