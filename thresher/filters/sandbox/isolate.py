"""How a sandboxed program is isolated, from strongest to weakest, chosen once per process.

Modes:
- ``root``: (running as root) a private mount namespace where every mount is read-only except a
  size-limited tmpfs scratch directory, an empty network namespace, a PID namespace whose init is
  the program (when it exits the kernel kills everything it started, even ``setsid`` escapees),
  a fresh ``/proc``, and a per-supervisor unprivileged uid (so ``RLIMIT_NPROC`` is exact and the
  program can signal nothing of ours).
- ``userns``: the same namespaces through an unprivileged user namespace (no uid switch, so no
  process-count limit beyond the PID namespace; still read-only everywhere but scratch).
- ``basic``: where namespaces are not allowed: own session/process group, rlimits, scrubbed
  environment, private scratch dir; leftovers found by an environment marker and killed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import resource
import shutil
import subprocess
from collections.abc import Callable

from thresher.filters.sandbox.limits import SandboxLimits

__all__ = ["isolation_mode", "preexec_for", "launcher_argv", "sandbox_uid", "MODES"]

MODES = ("root", "userns", "basic")
_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_NOEXEC = 8
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
# Mounts left writable: kernel interfaces an unprivileged uid cannot write anyway, and /dev for
# /dev/null; /dev/shm and /dev/mqueue are world-writable, so they are made read-only too.
_KEEP_WRITABLE = ("/proc", "/sys", "/dev")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def sandbox_uid() -> int:
    """The unprivileged uid for sandboxes run by this process (unique among live supervisors)."""
    return 200_000 + os.getpid()


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    rc = _libc.mount(
        None if src is None else src.encode(),
        target.encode(),
        None if fstype is None else fstype.encode(),
        ctypes.c_ulong(flags),
        None if data is None else data.encode(),
    )
    _check(rc, f"mount {target}")


def _mount_points() -> list[tuple[str, str]]:
    points = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            # field 4 is the mount point (octal-escaped), field 5 its per-mount options
            points.append((fields[4].encode().decode("unicode_escape"), fields[5]))
    return points


def _flags_of(options: str) -> int:
    flags = 0
    for opt, bit in (("nosuid", _MS_NOSUID), ("nodev", _MS_NODEV), ("noexec", _MS_NOEXEC)):
        if opt in options.split(","):
            flags |= bit
    return flags


def _read_only_view(scratch: str, scratch_mb: int, owner: int | None) -> None:
    """In a fresh mount namespace: tmpfs scratch, everything else read-only."""
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE, None)
    data = f"size={scratch_mb}m,mode=0700"
    if owner is not None:
        data += f",uid={owner},gid={owner}"
    _mount("tmpfs", scratch, "tmpfs", _MS_NOSUID | _MS_NODEV, data)
    for point, options in _mount_points():
        if point == scratch or any(
            point == keep or (point.startswith(keep + "/") and keep != "/dev")
            for keep in _KEEP_WRITABLE
        ):
            continue
        flags = _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _flags_of(options)
        try:
            _mount(None, point, None, flags, None)
        except OSError:
            if point == "/" or not os.path.isdir(point):
                raise
    os.chdir(scratch)


def _set_limits(limits: SandboxLimits, nproc: bool) -> None:
    mem = limits.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.scratch_mb << 20,) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes,) * 2)


def preexec_for(
    mode: str, scratch: str, limits: SandboxLimits, uid: int | None = None
) -> Callable[[], None]:
    """The function run in the forked child before exec: limits and namespaces."""
    owner = sandbox_uid() if uid is None else uid  # computed here: the child has another pid

    def root() -> None:
        _set_limits(limits, nproc=True)  # NPROC binds after setpriv drops root
        _check(_libc.unshare(_CLONE_NEWNS), "unshare(mount)")
        _read_only_view(scratch, limits.scratch_mb, owner)

    def userns() -> None:
        uid, gid = os.getuid(), os.getgid()
        _set_limits(limits, nproc=False)
        _check(_libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS), "unshare(user, mount)")
        for name, text in (
            ("setgroups", "deny"),
            ("uid_map", f"0 {uid} 1"),
            ("gid_map", f"0 {gid} 1"),
        ):
            with open(f"/proc/self/{name}", "w") as fh:
                fh.write(text)
        _read_only_view(scratch, limits.scratch_mb, None)

    def basic() -> None:
        _set_limits(limits, nproc=False)
        os.chdir(scratch)

    return {"root": root, "userns": userns, "basic": basic}[mode]


def launcher_argv(mode: str, program: list[str], uid: int | None = None) -> list[str]:
    """The command line that enters the network and PID namespaces and drops privileges."""
    if mode == "basic":
        return program
    unshare = shutil.which("unshare") or "unshare"
    argv = [unshare, "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
    if mode == "root":
        user = str(sandbox_uid() if uid is None else uid)
        setpriv = shutil.which("setpriv") or "setpriv"
        argv += [setpriv, "--reuid", user, "--regid", user, "--clear-groups", "--no-new-privs"]
    return argv + program


@functools.cache
def isolation_mode() -> str:
    """The strongest mode that works here (override with THRESHER_SANDBOX_MODE)."""
    forced = os.environ.get("THRESHER_SANDBOX_MODE")
    if forced:
        if forced not in MODES:
            raise ValueError(f"THRESHER_SANDBOX_MODE must be one of {MODES}, got {forced!r}")
        return forced
    candidates = (["root"] if os.geteuid() == 0 else []) + ["userns"]
    if not (shutil.which("unshare") and (os.geteuid() != 0 or shutil.which("setpriv"))):
        candidates = []
    import tempfile

    for mode in candidates:
        scratch = tempfile.mkdtemp(prefix="thresher-probe-")
        try:
            proc = subprocess.run(
                launcher_argv(mode, ["/bin/true"]),
                preexec_fn=preexec_for(mode, scratch, SandboxLimits()),
                capture_output=True,
                timeout=10,
                cwd=scratch,
            )
            if proc.returncode == 0:
                return mode
        except (OSError, subprocess.SubprocessError):
            pass
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return "basic"
