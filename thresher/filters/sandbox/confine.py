"""Per-process confinement that needs no privilege: a seccomp filter and Landlock rules.

Both are applied in the sandboxed child right before exec, after ``no_new_privs``; both hold
for every process the program starts and cannot be lifted by it.

- seccomp: system calls the program has no use for fail with EPERM. Every mode denies kernel
  surfaces that namespaces do not cover (keyrings are shared, ptrace, io_uring, bpf,
  userfaultfd, perf events); the basic mode also denies ``socket`` (TCP, UDP and Unix sockets,
  the verify pool's forkserver socket included) and SysV/POSIX IPC objects, which would
  outlive the run without an IPC namespace.
- Landlock (basic mode): reads only below the interpreter's folders, writes only in scratch;
  TCP bind/connect denied (ABI >= 4); abstract Unix sockets and signals scoped to the sandbox
  (ABI >= 6).
"""

from __future__ import annotations

import ctypes
import functools
import os
import struct

from thresher.filters.sandbox.syscalls import (
    MACHINE,
    PR_SET_SECCOMP,
    SYSCALL,
    check,
    libc,
    prctl,
    syscall,
)

__all__ = [
    "ALWAYS_DENIED",
    "BASIC_DENIED",
    "install_seccomp",
    "prepare_filter",
    "landlock_abi",
    "restrict_filesystem",
    "seccomp_available",
]

ALWAYS_DENIED = ("keyctl", "add_key", "request_key", "ptrace", "process_vm_readv",
                 "process_vm_writev", "pidfd_getfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "bpf",
                 "userfaultfd", "perf_event_open")  # fmt: skip
BASIC_DENIED = ("socket", "shmget", "semget", "msgget", "mq_open")

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_BIT = 0x40000000
_EPERM = 1
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000
_LD_ABS_W, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06


def seccomp_available() -> bool:
    """Whether this architecture's filter is known and the kernel has seccomp filters."""
    if MACHINE not in _AUDIT_ARCH:
        return False
    try:
        prctl(21)  # PR_GET_SECCOMP: 0 when not filtered yet, EINVAL without CONFIG_SECCOMP
        return True
    except OSError:
        return False


def _filter(names: tuple[str, ...]) -> bytes:
    """A classic BPF program: wrong architecture or x32 calls and each named call -> EPERM."""
    numbers = [SYSCALL[n] for n in names if n in SYSCALL]
    deny_at = 4 + (1 if MACHINE == "x86_64" else 0) + len(numbers) + 1  # index of the deny
    prog = [(_LD_ABS_W, 0, 0, 4), (_JEQ, 1, 0, _AUDIT_ARCH[MACHINE])]
    prog.append((_RET, 0, 0, _RET_ERRNO | _EPERM))  # another architecture (int 0x80, ...)
    prog.append((_LD_ABS_W, 0, 0, 0))
    if MACHINE == "x86_64":
        prog.append((_JGE, deny_at - len(prog) - 1, 0, _X32_BIT))
    for number in numbers:
        prog.append((_JEQ, deny_at - len(prog) - 1, 0, number))
    prog.append((_RET, 0, 0, _RET_ALLOW))
    prog.append((_RET, 0, 0, _RET_ERRNO | _EPERM))
    assert len(prog) == deny_at + 1
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)


@functools.cache
def prepare_filter(names: tuple[str, ...]) -> tuple[ctypes.Array[ctypes.c_char], bytes]:
    """The filter for these calls, built once (in the supervisor, before the fork)."""
    code = _filter(names)
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("=HxxxxxxQ", len(code) // 8, ctypes.addressof(buffer))
    return buffer, fprog


def install_seccomp(names: tuple[str, ...]) -> None:
    """Deny the named system calls (EPERM) for this process and its children; needs NNP."""
    _, fprog = prepare_filter(names)
    holder = ctypes.create_string_buffer(fprog, len(fprog))
    address = ctypes.c_ulong(ctypes.addressof(holder))
    check(libc.prctl(PR_SET_SECCOMP, ctypes.c_ulong(2), address, ctypes.c_ulong(0), 0), "seccomp")


# -- Landlock --------------------------------------------------------------------------------

_FS_BITS_BY_ABI = {1: 13, 2: 14, 3: 15, 4: 15, 5: 16}  # number of filesystem rights
_READ = 1 | 4 | 8  # EXECUTE, READ_FILE, READ_DIR
_FILE_RIGHTS = 1 | 2 | 4 | (1 << 14) | (1 << 15)  # rights that apply to a file, not a folder


@functools.cache
def landlock_abi() -> int:
    """The Landlock ABI version of this kernel (0: not available or refused)."""
    try:
        return syscall("landlock_create_ruleset", None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except OSError:
        return 0


def _fs_rights(abi: int) -> int:
    return (1 << _FS_BITS_BY_ABI.get(abi, 16)) - 1


def _add_path(ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path that does not exist needs no rule
    try:
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS
        attr = struct.pack("=Qi", rights, fd)
        syscall("landlock_add_rule", ruleset, 1, attr, 0)  # LANDLOCK_RULE_PATH_BENEATH
    finally:
        os.close(fd)


def restrict_filesystem(
    readable: list[str], writable: list[str], devices: list[str], abi: int
) -> None:
    """Confine this process (and children) with Landlock; needs NNP."""
    fs = _fs_rights(abi)
    net = 3 if abi >= 4 else 0  # BIND_TCP | CONNECT_TCP, no port allowed
    scoped = 3 if abi >= 6 else 0  # abstract Unix sockets, signals
    attr = struct.pack("=QQQ", fs, net, scoped)
    size = 8 if abi < 4 else (16 if abi < 6 else 24)
    ruleset = syscall("landlock_create_ruleset", attr, ctypes.c_size_t(size), 0)
    try:
        for path in readable:
            _add_path(ruleset, path, _READ)
        for path in writable:
            _add_path(ruleset, path, fs)
        for path in devices:
            _add_path(ruleset, path, (2 | 4 | (1 << 14) | (1 << 15)) & fs)
        syscall("landlock_restrict_self", ruleset, 0)
    finally:
        os.close(ruleset)
