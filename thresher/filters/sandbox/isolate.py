"""How one sandboxed program is confined: the code run in the forked child before exec.

Modes, strongest first (``thresher.filters.sandbox.modes`` picks one per process):
- ``root`` (running as root, or with CAP_SYS_ADMIN): new mount, PID, network, IPC and UTS
  namespaces; a root filesystem holding only the interpreter, its standard library, its shared
  libraries, a size-limited tmpfs scratch directory, a private ``/dev/shm`` and a few device
  nodes; a fresh ``/proc`` showing only the sandbox's processes; a per-supervisor unprivileged
  uid, no capabilities (bounding set emptied), ``no_new_privs`` and a seccomp filter.
- ``userns``: the same through an unprivileged user namespace (the program's uid is the
  supervisor's own, mapped to 1000 inside, with no capabilities).
- ``basic`` (no namespaces allowed): a scrubbed environment, rlimits, the per-supervisor uid
  where the supervisor may switch uids, and, where the kernel has them, Landlock (reads only
  below the interpreter's folders, writes only in scratch, no TCP, abstract Unix sockets and
  signals scoped) and a seccomp filter (no sockets, no SysV/POSIX IPC objects).

In the namespace modes the child forks once more after ``unshare``: the grandchild is the PID
namespace's init and becomes the program; the child waits for it and exits with its status.
When that init exits the kernel kills everything left in the namespace; every link of the
chain has ``PR_SET_PDEATHSIG`` = SIGKILL, so a killed supervisor takes its sandbox with it.
Setup failures are written to a pipe the program never sees (close-on-exec), so a program
cannot fake a sandbox error.
"""

from __future__ import annotations

import os
import resource
import select
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from thresher.filters.sandbox import confine, rootfs
from thresher.filters.sandbox.limits import SandboxLimits
from thresher.filters.sandbox.syscalls import (
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    PR_CAPBSET_DROP,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    prctl,
    unshare,
)

__all__ = ["MODES", "STRONG", "Confinement", "preexec_for", "sandbox_uid", "has_capability"]

MODES = ("root", "userns", "basic")
STRONG = ("root", "userns")
USERNS_UID = 1000  # the program's uid inside its user namespace
SETUP_FAILED = 71  # exit status of a child whose setup failed (details on the report pipe)
CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN = 6, 7, 21


def sandbox_uid() -> int:
    """The unprivileged uid for sandboxes run by this process (unique among live supervisors)."""
    return 200_000 + os.getpid()


def has_capability(cap: int) -> bool:
    """Whether this process holds the capability in its effective set."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> cap & 1)
    except OSError:
        pass
    return False


@dataclass(frozen=True)
class Confinement:
    """Everything the child needs, computed in the supervisor before the fork."""

    mode: str
    plan: rootfs.RootPlan
    limits: SandboxLimits
    uid: int | None  # switch to this uid (root mode, and basic mode where allowed)
    landlock: int = 0  # Landlock ABI to use (basic mode)
    seccomp: bool = True


def _set_limits(limits: SandboxLimits, nproc: bool) -> None:
    mem = limits.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.scratch_mb << 20,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes,) * 2)


def _limit_open_files(limits: SandboxLimits) -> None:
    """The open-files limit, set last: until exec the child still holds every descriptor of the
    supervisor (subprocess closes them only after this preexec), and a supervisor with more open
    than the limit (vLLM opens hundreds) would make the setup's own opens fail with EMFILE."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files,) * 2)


def _fail(report_fd: int, stage: str, exc: BaseException) -> NoReturn:
    try:
        os.write(report_fd, f"sandbox {stage} failed: {exc}".encode()[:1000])
    finally:
        os._exit(SETUP_FAILED)


def _die_with_parent(parent_pid: int) -> None:
    """SIGKILL when the parent exits; exit now if it already has."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(SETUP_FAILED)


def _drop_privileges(uid: int | None, *, bounding: bool) -> None:
    if bounding:  # no capability can come back, even for a uid-0 program in a user namespace
        for cap in range(64):
            try:
                prctl(PR_CAPBSET_DROP, cap)
            except OSError:
                break
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def _relay(child: int, max_fd: int, cpu_s: int) -> None:
    """The namespace launcher: hold nothing of the run open, wait, exit with the child's status.

    The program is its PID namespace's init, which the kernel spares the soft CPU limit's SIGXCPU:
    it ends at the hard limit's SIGKILL instead, reported as the SIGXCPU it stands for."""
    os.closerange(0, max_fd)
    while True:
        try:
            _, status, usage = os.wait4(child, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    if code == -signal.SIGKILL and usage.ru_utime + usage.ru_stime >= cpu_s:
        code = -signal.SIGXCPU
    os._exit(128 - code if code < 0 else code)


def preexec_for(setup: Confinement, place: str, report_fd: int) -> Callable[[], None]:
    """The function run in the forked child before exec (``place``: the empty folder that
    becomes the root in the namespace modes; the scratch directory in the basic mode)."""
    supervisor = os.getpid()
    max_fd = max(os.sysconf("SC_OPEN_MAX"), 1024)
    confine.prepare_filter(confine.ALWAYS_DENIED)  # built here, so the child only copies it
    confine.prepare_filter(confine.ALWAYS_DENIED + confine.BASIC_DENIED)
    limits = setup.limits

    def namespaces() -> None:
        try:
            _set_limits(limits, nproc=setup.mode == "root")
            _die_with_parent(supervisor)
            flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
            if setup.mode == "userns":
                uid, gid = os.getuid(), os.getgid()
                unshare(flags | CLONE_NEWUSER)
                for name, text in (("setgroups", "deny"), ("uid_map", f"{USERNS_UID} {uid} 1"),
                                   ("gid_map", f"{USERNS_UID} {gid} 1")):  # fmt: skip
                    with open(f"/proc/self/{name}", "w") as fh:
                        fh.write(text)
            else:
                unshare(flags)
            launcher = os.getpid()
            alive = os.pidfd_open(launcher)
            child = os.fork()
        except BaseException as exc:
            _fail(report_fd, "namespace", exc)
        if child:
            _relay(child, max_fd, limits.cpu_s)
        try:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if select.select([alive], [], [], 0)[0]:  # the launcher died before the line above
                os._exit(SETUP_FAILED)
            os.close(alive)
            owner = setup.uid if setup.mode == "root" else None
            rootfs.enter_root(setup.plan, place, limits.scratch_mb, owner)
            _drop_privileges(setup.uid if setup.mode == "root" else None, bounding=True)
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # a uid change clears it
            _limit_open_files(limits)
            if setup.seccomp:
                confine.install_seccomp(confine.ALWAYS_DENIED)
        except BaseException as exc:
            _fail(report_fd, "setup", exc)

    def basic() -> None:
        try:
            _set_limits(limits, nproc=setup.uid is not None)
            _die_with_parent(supervisor)
            _drop_privileges(setup.uid, bounding=False)
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if setup.landlock:
                devices = ["/dev/" + d for d in rootfs.DEVICES]
                confine.restrict_filesystem(setup.plan.readable(), [place], devices, setup.landlock)
            _limit_open_files(limits)
            if setup.seccomp:
                confine.install_seccomp(confine.ALWAYS_DENIED + confine.BASIC_DENIED)
            os.chdir(place)
        except BaseException as exc:
            _fail(report_fd, "setup", exc)

    return namespaces if setup.mode in STRONG else basic
