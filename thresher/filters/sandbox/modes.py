"""Which isolation mode this process uses, what it protects, and the weak-mode policy.

The mode is detected once per process by running a probe program in each mode, strongest
first (``THRESHER_SANDBOX_MODE`` forces one). The namespace modes isolate; ``basic`` does not,
so code verification refuses it unless the user accepts it (``--allow-weak-sandbox``, the
recipe's ``verify.allow_weak_sandbox``, or ``THRESHER_ALLOW_WEAK_SANDBOX=1``); then it says what
it does not protect, once, as a warning.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from thresher.filters.sandbox import confine
from thresher.filters.sandbox.isolate import (
    CAP_SETGID,
    CAP_SETUID,
    CAP_SYS_ADMIN,
    MODES,
    STRONG,
    has_capability,
    sandbox_uid,
)
from thresher.filters.sandbox.limits import SandboxLimits
from thresher.schemas.errors import ThresherError

__all__ = [
    "BasicFeatures",
    "WeakSandboxError",
    "admit_code_execution",
    "allow_weak_sandbox",
    "basic_features",
    "describe",
    "isolation_mode",
    "set_reporter",
    "unprotected",
    "weak_sandbox_accepted",
    "weak_sandbox_allowed",
]

log = logging.getLogger("thresher.sandbox")
_PROBE = SandboxLimits(wall_s=20.0, cpu_s=10, memory_mb=256)
_refused: dict[str, str] = {}  # mode -> why its probe failed
_settings: dict[str, object] = {"allow_weak": False, "report": None, "reported": False}


class WeakSandboxError(ThresherError):
    """Code verification was asked for where only the non-isolating sandbox works."""


@dataclass(frozen=True)
class BasicFeatures:
    """What the basic mode can still apply here."""

    uid: bool  # programs run as the per-supervisor uid
    landlock: int  # Landlock ABI in use (0: none)
    seccomp: bool


def _probe(mode: str, features: BasicFeatures | None = None) -> str:
    """'' when a trivial program runs correctly in ``mode``, else why not."""
    from thresher.filters.sandbox.run import execute

    result = execute(mode, "print('ok')", b"", _PROBE, python=sys.executable, features=features)
    if result.status == "ok" and result.stdout == b"ok\n":
        return ""
    return result.reason or result.stderr.decode("utf-8", "replace")[-300:] or result.status


@functools.cache
def isolation_mode() -> str:
    """The strongest mode that works here (override with THRESHER_SANDBOX_MODE)."""
    forced = os.environ.get("THRESHER_SANDBOX_MODE")
    if forced:
        if forced not in MODES:
            raise ValueError(f"THRESHER_SANDBOX_MODE must be one of {MODES}, got {forced!r}")
        return forced
    candidates = ["userns"]
    if all(has_capability(c) for c in (CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID)):
        candidates.insert(0, "root")
    else:
        _refused["root"] = "not root (CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID needed)"
    for mode in candidates:
        why = _probe(mode)
        if not why:
            return mode
        _refused[mode] = why.strip().splitlines()[-1][:200]
    return "basic"


@functools.cache
def basic_features() -> BasicFeatures:
    """The basic mode's confinement here; a layer whose probe fails is dropped (and reported)."""
    full = BasicFeatures(
        uid=has_capability(CAP_SETUID) and has_capability(CAP_SETGID),
        landlock=confine.landlock_abi(),
        seccomp=confine.seccomp_available(),
    )
    # The uid may not reach the interpreter (installed under a private home): then Landlock and
    # seccomp alone; a layer the kernel refuses is dropped.
    ladder = [full, replace(full, uid=False), replace(full, landlock=0),
              replace(full, uid=False, landlock=0)]  # fmt: skip
    for candidate in dict.fromkeys(ladder):
        why = _probe("basic", candidate)
        if not why:
            return candidate
        _refused[f"basic {candidate}"] = why
    return BasicFeatures(uid=False, landlock=0, seccomp=False)


def describe(mode: str) -> str:
    """One line: the mode and what it isolates."""
    if mode in STRONG:
        who = f"uid {sandbox_uid()}" if mode == "root" else "an unprivileged user namespace"
        return (
            f"{mode}: own root filesystem (interpreter, standard library, scratch tmpfs), own "
            f"mount/PID/network/IPC/UTS namespaces, {who}, no capabilities, seccomp filter"
        )
    f = basic_features()
    why = "; ".join(f"{m}: {r}" for m, r in _refused.items() if m in STRONG)
    parts = [f"uid {sandbox_uid()}" if f.uid else "the supervisor's own uid"]
    if f.landlock:
        parts.append(f"Landlock ABI {f.landlock} (reads only the interpreter's folders, writes "
                     "only scratch" + (", no TCP" if f.landlock >= 4 else "")
                     + (", abstract sockets and signals scoped" if f.landlock >= 6 else "") + ")")  # fmt: skip
    else:
        parts.append("no Landlock")
    parts.append("seccomp: no sockets, no IPC objects" if f.seccomp else "no seccomp")
    return f"basic: no namespaces ({why or 'forced'}); " + ", ".join(parts)


def unprotected(mode: str) -> list[str]:
    """What the mode does not protect (empty for the namespace modes)."""
    if mode in STRONG:
        return []
    f = basic_features()
    gaps = [
        "no PID namespace: processes the program leaves are killed by uid or marker after each "
        "run, but outlive a supervisor killed with SIGKILL",
        "scratch is a host folder: only each file's size is limited, not the total",
    ]
    if not f.landlock:
        gaps.append("host files readable by its uid (input JSONL with the tests, lake, sources)")
    if not f.seccomp:
        net = ["Unix sockets (/run, /tmp: PostgreSQL, the verify pool's forkserver)", "UDP"]
        net += [] if f.landlock >= 4 else ["TCP (127.0.0.1 services)"]
        net += [] if f.landlock >= 6 else ["abstract Unix sockets"]
        gaps.append("network: " + ", ".join(net))
        gaps.append("SysV/POSIX IPC objects can outlive the run")
    if not f.uid:
        gaps.append("no process-count limit")
        if not f.landlock:
            gaps.append("/proc of your uid's other processes (environment, memory)")
        if f.landlock < 6:
            gaps.append("signals to your uid's other processes")
    return gaps


def allow_weak_sandbox(allow: bool = True) -> None:
    """Accept the basic mode for code verification in this process (the CLI option)."""
    _settings["allow_weak"] = allow


def weak_sandbox_accepted() -> bool:
    """Whether this process accepts the basic mode (the CLI option, a recipe block in progress,
    or ``THRESHER_ALLOW_WEAK_SANDBOX``): what a run hands on to the processes it starts."""
    env = os.environ.get("THRESHER_ALLOW_WEAK_SANDBOX", "").lower() in ("1", "true", "yes")
    return env or bool(_settings["allow_weak"])


@contextlib.contextmanager
def weak_sandbox_allowed(allow: bool) -> Iterator[None]:
    """Within the block, also accept the basic mode when ``allow`` (a recipe's setting)."""
    before = _settings["allow_weak"]
    _settings["allow_weak"] = bool(before) or allow
    try:
        yield
    finally:
        _settings["allow_weak"] = before


def set_reporter(report: Callable[[str], None] | None) -> None:
    """Where the mode line and the weak-mode warning go (default: the thresher.sandbox log)."""
    _settings["report"] = report
    _settings["reported"] = False


def _report(line: str, *, warn: bool) -> None:
    if _settings["reported"]:
        return
    _settings["reported"] = True
    report = _settings["report"]
    if callable(report):
        report(line)
    else:
        log.log(logging.WARNING if warn else logging.INFO, "%s", line)


def admit_code_execution(allow_weak: bool = False) -> str:
    """Check, before any program runs, that the sandbox isolates (or that weakness is accepted);
    reports the mode once per process. Raises WeakSandboxError otherwise."""
    try:
        mode = isolation_mode()
    except ValueError as exc:
        raise WeakSandboxError(str(exc)) from exc
    line = f"sandbox: {describe(mode)}"
    if mode in STRONG:
        _report(line, warn=False)
        return line
    gaps = "; ".join(unprotected(mode))
    if not (allow_weak or weak_sandbox_accepted()):
        raise WeakSandboxError(
            f"code verification needs an isolating sandbox, and only the weak 'basic' mode works "
            f"here ({describe(mode)}). It does NOT protect: {gaps}",
            hint="run as root or allow unprivileged user namespaces (in Docker: the worker's "
            "cap_add/security_opt in docker-compose.yml), or accept the risk with "
            "--allow-weak-sandbox (recipe: verify.allow_weak_sandbox: true)",
        )
    _report(f"WARNING: {line}. It does NOT protect: {gaps}", warn=True)
    return line
