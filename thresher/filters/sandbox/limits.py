"""Resource limits and the result of one sandboxed execution."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["SandboxLimits", "SandboxResult", "SandboxStatus"]

SandboxStatus = Literal[
    "ok", "timeout", "memory_limit", "output_limit", "runtime_error", "sandbox_error"
]


@dataclass(frozen=True)
class SandboxLimits:
    """Limits applied to one execution; every process the program starts shares them."""

    wall_s: float = 5.0
    cpu_s: int = 4
    memory_mb: int = 512
    output_bytes: int = 1 << 20
    processes: int = 32
    scratch_mb: int = 64
    open_files: int = 64

    def __post_init__(self) -> None:
        if self.wall_s <= 0 or self.cpu_s <= 0 or self.memory_mb <= 0:
            raise ValueError("sandbox limits must be positive")


@dataclass
class SandboxResult:
    """What one execution did: status, exit code, captured (truncated) output."""

    status: SandboxStatus
    exit_code: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    elapsed_s: float = 0.0
    reason: str = ""
    isolation: str = ""
    leftovers: int = field(default=0, metadata={"doc": "processes swept after the run"})
    killed: bool = field(default=False, metadata={"doc": "the supervisor killed the run"})
