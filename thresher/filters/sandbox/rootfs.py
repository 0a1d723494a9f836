"""The program's whole filesystem: the interpreter, its standard library, the shared libraries
they load, a scratch directory and a few device nodes; nothing else of the host.

``root_plan`` finds what the interpreter needs (once per interpreter, by running it unsandboxed
and reading which libraries it maps after importing every extension module of its standard
library). ``enter_root`` runs in the sandboxed child, in a fresh mount namespace: it builds that
tree on a tmpfs, bind-mounting each host path read-only at the same place, and makes it the
root (``pivot_root``; where that call is refused, as under Docker's default seccomp profile, the
tree is moved over ``/`` and ``chroot`` into it, which the unprivileged program cannot undo).
"""

from __future__ import annotations

import functools
import json
import os
import struct
import subprocess
from dataclasses import dataclass

from thresher.filters.sandbox.syscalls import MS, mount, pivot_root, umount

__all__ = ["RootPlan", "SandboxSetupError", "root_plan", "enter_root", "SCRATCH", "DEVICES"]

SCRATCH = "/work"  # the program's cwd, HOME and TMPDIR inside the sandbox
DEVICES = ("null", "zero", "full", "random", "urandom")

_PROBE = r"""
import importlib, json, os, sys, sysconfig
paths = sysconfig.get_paths()
dynload = [p for p in sys.path if p.endswith("lib-dynload") and os.path.isdir(p)]
for folder in dynload:
    for name in sorted(os.listdir(folder)):
        if name.endswith(".so"):
            try:
                importlib.import_module(name.split(".")[0])
            except BaseException:
                pass
maps = set()
with open("/proc/self/maps") as fh:
    for line in fh:
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and parts[5].startswith("/"):
            maps.add(parts[5].strip())
print(json.dumps({"maps": sorted(maps), "dynload": dynload,
                  "stdlib": [paths["stdlib"], paths["platstdlib"]],
                  "hide": [paths["purelib"], paths["platlib"]]}))
"""


class SandboxSetupError(RuntimeError):
    """The sandbox cannot be prepared (interpreter missing or unusable)."""


@dataclass(frozen=True)
class RootPlan:
    """What the program's root holds; every host path appears at its own path, read-only."""

    interpreter: str
    dirs: tuple[tuple[str, int], ...]  # (host directory, mount flags to keep)
    files: tuple[tuple[str, int], ...]  # (host file, mount flags to keep)
    links: tuple[tuple[str, str], ...]  # (path, symlink target) recreated in the tree
    hidden: tuple[str, ...]  # folders inside bound directories covered by an empty tmpfs

    def readable(self) -> list[str]:
        """Every host path the program may read (the Landlock rules of the basic mode)."""
        return [self.interpreter] + [p for p, _ in self.dirs] + [p for p, _ in self.files]


def _elf_interpreter(path: str) -> str | None:
    """The PT_INTERP of an ELF executable (the dynamic loader the kernel starts)."""
    with open(path, "rb") as fh:
        head = fh.read(64)
        if head[:4] != b"\x7fELF":
            return None
        wide, order = head[4] == 2, "<" if head[5] == 1 else ">"
        if wide:
            (phoff,) = struct.unpack_from(order + "Q", head, 32)
            entsize, count = struct.unpack_from(order + "HH", head, 54)
        else:
            (phoff,) = struct.unpack_from(order + "I", head, 28)
            entsize, count = struct.unpack_from(order + "HH", head, 42)
        for i in range(count):
            fh.seek(phoff + i * entsize)
            header = fh.read(entsize)
            if struct.unpack_from(order + "I", header, 0)[0] != 3:  # PT_INTERP
                continue
            if wide:
                (offset,) = struct.unpack_from(order + "Q", header, 8)
                (length,) = struct.unpack_from(order + "Q", header, 32)
            else:
                (offset,) = struct.unpack_from(order + "I", header, 4)
                (length,) = struct.unpack_from(order + "I", header, 16)
            fh.seek(offset)
            return fh.read(length).rstrip(b"\0").decode()
    return None


def _resolve(path: str, links: dict[str, str]) -> str:
    """Follow ``path`` component by component, recording each symlink met; returns the real path."""
    parts = [p for p in path.split("/") if p]
    current, followed = "/", 0
    while parts:
        step = os.path.join(current, parts.pop(0))
        if not os.path.islink(step):
            current = step
            continue
        followed += 1
        if followed > 40:
            raise SandboxSetupError(f"too many symlinks resolving {path}")
        target = os.readlink(step)
        links[step] = target
        joined = os.path.normpath(os.path.join(current, target))  # join keeps an absolute target
        parts = [p for p in joined.split("/") if p] + parts
        current = "/"
    return current


def _mount_flags(path: str, table: list[tuple[str, str]]) -> int:
    """The per-mount flags of the host mount holding ``path`` (kept on read-only binds: a user
    namespace may not clear them)."""
    best = max((p for p, _ in table if path == p or path.startswith(p.rstrip("/") + "/")), key=len)
    options = dict(table)[best].split(",")
    flags = 0
    for name in ("nosuid", "nodev", "noexec", "noatime", "nodiratime", "relatime"):
        if name in options:
            flags |= MS[name]
    return flags


def _mount_table() -> list[tuple[str, str]]:
    table = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            table.append((fields[4].encode().decode("unicode_escape"), fields[5]))
    return table


def _under(path: str, folders: set[str] | list[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


@functools.cache
def root_plan(python: str) -> RootPlan:
    """The tree for one interpreter (computed once per process)."""
    real = os.path.realpath(python)
    if not (os.path.isfile(real) and os.access(real, os.X_OK)):
        raise SandboxSetupError(f"sandbox interpreter {python!r} is not an executable file")
    try:
        done = subprocess.run(
            [real, "-I", "-S", "-c", _PROBE],
            capture_output=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            cwd="/",
        )
        probe = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise SandboxSetupError(f"sandbox interpreter {python!r} failed its probe: {exc}") from exc
    links: dict[str, str] = {}
    files = {real}
    loader = _elf_interpreter(real)
    for path in probe["maps"] + ([loader] if loader else []):
        if os.path.isfile(path):
            files.add(_resolve(path, links))
    folders = {os.path.dirname(f) for f in files if f != real}
    folders |= {_resolve(p, links) for p in probe["stdlib"] + probe["dynload"] if os.path.isdir(p)}
    folders.discard(os.path.dirname(real))  # the interpreter's bin folder: only the binary
    dirs = sorted(f for f in folders if not _under(f, folders - {f}))
    extra = [p for p in ("/etc/ld.so.cache",) if os.path.isfile(p)]
    bound_files = sorted({real, *extra} | {f for f in files if not _under(f, dirs)})
    # Symlinks at the top of the host (lib -> usr/lib, ...) are how the loader's paths resolve.
    for entry in os.listdir("/"):
        if os.path.islink("/" + entry):
            links["/" + entry] = os.readlink("/" + entry)
    # site-packages inside a bound folder (the standard library's): not the program's to see
    hidden = sorted(
        {r for r in map(os.path.realpath, probe["hide"]) if os.path.isdir(r) and _under(r, dirs)}
    )
    table = _mount_table()
    return RootPlan(
        interpreter=real,
        dirs=tuple((d, _mount_flags(d, table)) for d in dirs),
        files=tuple((f, _mount_flags(f, table)) for f in bound_files),
        links=tuple(sorted((k, v) for k, v in links.items() if not _under(k, dirs))),
        hidden=tuple(hidden),
    )


def _bind(host: str, root: str, keep: int, *, writable: bool = False) -> None:
    target = root + host
    if os.path.isdir(host):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
    try:
        mount(host, target, None, MS["bind"], None)
    except OSError as exc:
        if exc.errno != 22:  # EINVAL: a user namespace refuses to split locked sub-mounts
            raise
        mount(host, target, None, MS["bind"] | MS["rec"], None)
    if not writable:  # device nodes stay as bound: nothing but the node itself is visible
        flags = MS["remount"] | MS["bind"] | MS["nosuid"] | MS["nodev"] | MS["rdonly"] | keep
        mount(None, target, None, flags, None)


def enter_root(plan: RootPlan, root: str, scratch_mb: int, owner: int | None) -> None:
    """Build the tree on ``root`` (an empty host folder) and make it this process's ``/``.

    Runs after unshare(CLONE_NEWNS) in the sandbox's PID-namespace init, before exec."""
    mount(None, "/", None, MS["rec"] | MS["private"], None)
    mount("tmpfs", root, "tmpfs", MS["nosuid"] | MS["nodev"], "size=1m,mode=755")
    for folder, keep in plan.dirs:
        _bind(folder, root, keep)
    for path, keep in plan.files:
        _bind(path, root, keep)
    for folder in plan.hidden:
        mount("tmpfs", root + folder, "tmpfs", MS["rdonly"] | MS["nosuid"] | MS["nodev"],
              "size=4k,mode=555")  # fmt: skip
    for path, target in plan.links:
        os.makedirs(os.path.dirname(root + path), exist_ok=True)
        if not os.path.lexists(root + path):
            os.symlink(target, root + path)
    dev = root + "/dev"
    os.makedirs(dev, exist_ok=True)
    for name in DEVICES:
        _bind("/dev/" + name, root, 0, writable=True)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):  # fmt: skip
        os.symlink(target, f"{dev}/{name}")
    size = f"size={scratch_mb}m"
    os.mkdir(dev + "/shm")  # POSIX shared memory and semaphores: private, gone with the run
    mount("tmpfs", dev + "/shm", "tmpfs", MS["nosuid"] | MS["nodev"] | MS["noexec"],
          f"{size},mode=1777")  # fmt: skip
    os.mkdir(root + "/proc")
    proc_flags = MS["nosuid"] | MS["nodev"] | MS["noexec"]
    try:
        mount("proc", root + "/proc", "proc", proc_flags, "subset=pid")
    except OSError:
        mount("proc", root + "/proc", "proc", proc_flags, None)
    os.mkdir(root + SCRATCH)
    data = f"{size},mode=0700" + ("" if owner is None else f",uid={owner},gid={owner}")
    mount("tmpfs", root + SCRATCH, "tmpfs", MS["nosuid"] | MS["nodev"], data)
    os.chdir(root)
    try:
        pivot_root(".", ".")  # the old root is stacked under the new one ...
        umount(".")  # ... and detached: nothing of the host stays reachable
    except OSError:
        # pivot_root refused (Docker's default seccomp profile, or a chroot): move the tree
        # over / and chroot into it; the program has no capability to chroot back out.
        mount(".", "/", None, MS["move"], None)
        os.chroot(".")
    os.chdir("/")
    mount(None, "/", None, MS["remount"] | MS["rdonly"] | MS["nosuid"] | MS["nodev"], None)
    os.chdir(SCRATCH)
