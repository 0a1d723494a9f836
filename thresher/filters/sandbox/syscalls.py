"""The few Linux system calls the sandbox needs that Python's ``os`` module does not offer."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

__all__ = [
    "CLONE_NEWIPC",
    "CLONE_NEWNET",
    "CLONE_NEWNS",
    "CLONE_NEWPID",
    "CLONE_NEWUSER",
    "CLONE_NEWUTS",
    "MS",
    "SYSCALL",
    "check",
    "libc",
    "mount",
    "pivot_root",
    "prctl",
    "syscall",
    "umount",
    "unshare",
    "PR_CAPBSET_DROP",
    "PR_SET_CHILD_SUBREAPER",
    "PR_SET_DUMPABLE",
    "PR_SET_NO_NEW_PRIVS",
    "PR_SET_PDEATHSIG",
    "PR_SET_SECCOMP",
]

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS = {
    "rdonly": 1,
    "nosuid": 2,
    "nodev": 4,
    "noexec": 8,
    "remount": 32,
    "noatime": 1024,
    "nodiratime": 2048,
    "bind": 4096,
    "move": 8192,
    "rec": 16384,
    "private": 1 << 18,
    "relatime": 1 << 21,
    "strictatime": 1 << 24,
}
MNT_DETACH = 2

# Generic numbers (asm-generic) on aarch64; x86_64 has its own table. Newer calls share numbers.
_TABLES = {
    "x86_64": {"pivot_root": 155, "socket": 41, "shmget": 29, "semget": 64, "msgget": 68,
               "mq_open": 240, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "keyctl": 250,
               "add_key": 248, "request_key": 249, "userfaultfd": 323, "bpf": 321,
               "perf_event_open": 298, "unshare": 272, "mount": 165, "umount2": 166},
    "aarch64": {"pivot_root": 41, "socket": 198, "shmget": 194, "semget": 190, "msgget": 186,
                "mq_open": 180, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "keyctl": 219,
                "add_key": 217, "request_key": 218, "userfaultfd": 282, "bpf": 280,
                "perf_event_open": 241, "unshare": 97, "mount": 40, "umount2": 39},
}  # fmt: skip
_COMMON = {
    "pidfd_open": 434,
    "close_range": 436,
    "pidfd_getfd": 438,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "landlock_create_ruleset": 444,
    "landlock_add_rule": 445,
    "landlock_restrict_self": 446,
}
MACHINE = platform.machine()
SYSCALL: dict[str, int] = {**_TABLES.get(MACHINE, {}), **(_COMMON if MACHINE in _TABLES else {})}

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
libc.syscall.restype = ctypes.c_long


def check(rc: int, what: str) -> int:
    """Raise OSError with errno for a failed libc call; return rc otherwise."""
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return rc


def syscall(name: str, *args: object) -> int:
    """A raw system call by name (OSError when it fails or this architecture lacks it)."""
    if name not in SYSCALL:
        raise OSError(38, f"{name}: not supported on {MACHINE}")
    return check(libc.syscall(ctypes.c_long(SYSCALL[name]), *args), name)


def mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    """mount(2)."""
    rc = libc.mount(
        None if src is None else src.encode(),
        target.encode(),
        None if fstype is None else fstype.encode(),
        ctypes.c_ulong(flags),
        None if data is None else data.encode(),
    )
    check(rc, f"mount {target}")


def umount(target: str) -> None:
    """umount2(2) with MNT_DETACH."""
    check(libc.umount2(target.encode(), MNT_DETACH), f"umount {target}")


def unshare(flags: int) -> None:
    """unshare(2)."""
    check(libc.unshare(ctypes.c_int(flags)), "unshare")


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2)."""
    syscall("pivot_root", new_root.encode(), put_old.encode())


def prctl(option: int, arg: int = 0, arg3: int = 0) -> int:
    """prctl(2) with up to two arguments."""
    return check(
        libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(arg3), 0, 0),
        f"prctl({option})",
    )


PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_CAPBSET_DROP = 24
PR_SET_SECCOMP = 22
