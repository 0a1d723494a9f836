"""Run an untrusted Python program once, under limits, and leave nothing of it behind.

The program's source reaches the interpreter through an anonymous memory file read once and
closed before the program starts (``-c`` bootstrap), so no file of the run holds the program
or the tests appended to it; stdin is the only other way in.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

from thresher.filters.sandbox.isolate import STRONG, Confinement, preexec_for, sandbox_uid
from thresher.filters.sandbox.limits import SandboxLimits, SandboxResult
from thresher.filters.sandbox.rootfs import SCRATCH, SandboxSetupError, root_plan

__all__ = ["run_program", "execute", "sandbox_python"]

_MARKER = "THRESHER_SANDBOX_RUN"
_BOOT = 'exec(compile(open({fd}, "rb").read(), "main.py", "exec"))'


def sandbox_python() -> str:
    """The interpreter used for programs: $THRESHER_SANDBOX_PYTHON, else this one."""
    return os.environ.get("THRESHER_SANDBOX_PYTHON") or sys.executable


def _scrubbed_env(home: str, run_id: str) -> dict[str, str]:
    # Nothing of the host's environment: no tokens, keys or proxies reach generated code.
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        _MARKER: run_id,
    }


def _pids_to_sweep(uid: int | None, run_id: str) -> list[int]:
    """Live processes that belong to this run: by sandbox uid, or by the environment marker."""
    me = os.getpid()
    found = []
    needle = f"{_MARKER}={run_id}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            if uid is not None:  # status, not the /proc entry's owner: that turns root when a
                with open(f"/proc/{entry}/status", "rb") as fh:  # process is not dumpable
                    for line in fh:
                        if line.startswith(b"Uid:"):
                            if int(line.split()[1]) == uid:
                                found.append(int(entry))
                            break
            else:
                with open(f"/proc/{entry}/environ", "rb") as fh:
                    if needle in fh.read():
                        found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found


def _sweep(uid: int | None, run_id: str, deadline_s: float = 3.0) -> int:
    """Kill every process left by the run until none remain; returns how many were found."""
    killed: set[int] = set()
    stop = time.monotonic() + deadline_s
    while True:
        pids = _pids_to_sweep(uid, run_id)
        if not pids:
            return len(killed)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except OSError:
                pass
        if time.monotonic() > stop:
            return len(killed)
        time.sleep(0.005)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        proc.kill()


def _classify(rc: int, stderr: bytes, limits: SandboxLimits) -> tuple[str, str]:
    if rc == 0:
        return "ok", ""
    tail = stderr[-2000:]
    if rc in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        return "timeout", f"cpu time limit ({limits.cpu_s} s)"
    if b"MemoryError" in tail or b"Cannot allocate memory" in tail:
        return "memory_limit", f"memory limit ({limits.memory_mb} MiB)"
    if b"File too large" in tail or rc in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ):
        return "output_limit", f"file size limit ({limits.scratch_mb} MiB)"
    last = tail.decode("utf-8", "replace").strip().splitlines()
    return "runtime_error", f"exit {rc}: {last[-1][:200] if last else 'no stderr'}"


def confinement(
    mode: str, limits: SandboxLimits, python: str | None = None, features: object = None
) -> Confinement:
    """The confinement of one run in ``mode`` (the basic mode's features as detected)."""
    from thresher.filters.sandbox.modes import BasicFeatures, basic_features

    plan = root_plan(python or sandbox_python())
    if mode in STRONG:
        return Confinement(mode, plan, limits, sandbox_uid() if mode == "root" else None)
    found = features if isinstance(features, BasicFeatures) else basic_features()
    uid = sandbox_uid() if found.uid else None
    return Confinement(mode, plan, limits, uid, landlock=found.landlock, seccomp=found.seccomp)


def run_program(
    source: str, stdin: bytes = b"", limits: SandboxLimits | None = None
) -> SandboxResult:
    """Run Python source in the sandbox, feeding stdin; never raises for program behaviour."""
    from thresher.filters.sandbox.modes import isolation_mode

    limits = limits or SandboxLimits()
    try:
        mode = isolation_mode()
    except ValueError as exc:
        return SandboxResult("sandbox_error", reason=str(exc))
    return execute(mode, source, stdin, limits)


def _memfile(source: str) -> int:
    fd = os.memfd_create("thresher-program")
    data = memoryview(source.encode("utf-8", "surrogatepass"))
    while data:
        data = data[os.write(fd, data) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def execute(
    mode: str,
    source: str,
    stdin: bytes = b"",
    limits: SandboxLimits | None = None,
    *,
    python: str | None = None,
    features: object = None,
) -> SandboxResult:
    """One run in the given mode (``run_program`` uses the detected mode)."""
    limits = limits or SandboxLimits()
    start = time.monotonic()
    try:
        setup = confinement(mode, limits, python, features)
    except SandboxSetupError as exc:
        return SandboxResult("sandbox_error", reason=str(exc), isolation=mode)
    run_id = uuid.uuid4().hex
    base = tempfile.mkdtemp(prefix="thresher-sbx-")
    code_fd, (report_r, report_w) = _memfile(source), os.pipe()
    try:
        os.chmod(base, 0o711)
        place = os.path.join(base, "root" if mode in STRONG else "work")
        os.mkdir(place, 0o700)
        if mode not in STRONG and setup.uid is not None:
            os.chown(place, setup.uid, setup.uid)
        home = SCRATCH if mode in STRONG else place
        argv = [setup.plan.interpreter, "-I", "-S", "-B", "-c", _BOOT.format(fd=code_fd)]
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=base,
                env=_scrubbed_env(home, run_id),
                preexec_fn=preexec_for(setup, place, report_w),
                start_new_session=True,
                close_fds=True,
                pass_fds=(code_fd,),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return SandboxResult(
                "sandbox_error", reason=f"could not start sandbox: {exc}", isolation=mode
            )
        finally:
            os.close(code_fd)
            os.close(report_w)
        result = _communicate(proc, stdin, limits, start)
        result.isolation = mode
        os.set_blocking(report_r, False)
        with contextlib.suppress(BlockingIOError):
            failure = os.read(report_r, 4096).decode("utf-8", "replace")
            if failure:
                result.status, result.reason = "sandbox_error", failure
        # With a PID namespace, an init that exited took everything in it along; the basic mode
        # (and a run the supervisor killed) is swept for leftovers by uid or marker.
        if mode not in STRONG or (result.killed and setup.uid is not None):
            result.leftovers = _sweep(setup.uid, run_id)
        result.elapsed_s = time.monotonic() - start
        return result
    finally:
        os.close(report_r)
        shutil.rmtree(base, ignore_errors=True)


def _communicate(
    proc: subprocess.Popen[bytes], stdin: bytes, limits: SandboxLimits, start: float
) -> SandboxResult:
    """Feed stdin and collect output under the wall-time and output limits."""
    assert proc.stdin and proc.stdout and proc.stderr
    sel = selectors.DefaultSelector()
    out, err = bytearray(), bytearray()
    pending = memoryview(stdin)
    if pending:
        os.set_blocking(proc.stdin.fileno(), False)
        sel.register(proc.stdin, selectors.EVENT_WRITE)
    else:
        proc.stdin.close()
    sel.register(proc.stdout, selectors.EVENT_READ, out)
    sel.register(proc.stderr, selectors.EVENT_READ, err)
    # The launcher's exit ends the run even if an escaped child still holds the pipes open.
    exit_fd = os.pidfd_open(proc.pid)
    sel.register(exit_fd, selectors.EVENT_READ, "exit")
    deadline = start + limits.wall_s
    verdict: tuple[str, str] | None = None
    exited = False
    try:
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                if not exited:  # else: a leftover child holds the pipes; the run is over
                    verdict = ("timeout", f"wall time limit ({limits.wall_s} s)")
                break
            for key, _ in sel.select(timeout=min(left, 0.5)):
                if key.data == "exit":
                    sel.unregister(exit_fd)
                    exited = True
                    deadline = min(deadline, time.monotonic() + 0.25)  # drain what is buffered
                    continue
                if key.fileobj is proc.stdin:
                    try:
                        sent = os.write(proc.stdin.fileno(), pending[:65536])
                    except (BrokenPipeError, OSError):
                        sent = len(pending)
                    pending = pending[sent:]
                    if not pending:
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                key.data.extend(chunk)
                if len(out) + len(err) > limits.output_bytes:
                    verdict = ("output_limit", f"output over {limits.output_bytes} bytes")
                    break
            if verdict:
                break
        if verdict is None:
            try:
                rc = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                verdict = ("timeout", f"wall time limit ({limits.wall_s} s)")
    finally:
        sel.close()
        os.close(exit_fd)
    if verdict is not None:
        _kill_group(proc)
        proc.wait()
        for fh in (proc.stdin, proc.stdout, proc.stderr):
            fh.close()
        cap = limits.output_bytes
        return SandboxResult(
            verdict[0],  # type: ignore[arg-type]
            exit_code=proc.returncode,
            stdout=bytes(out[:cap]),
            stderr=bytes(err[:cap]),
            reason=verdict[1],
            killed=True,
        )
    _kill_group(proc)  # the group may still hold children of the program
    proc.stdout.close()
    proc.stderr.close()
    status, reason = _classify(rc, bytes(err), limits)
    return SandboxResult(status, exit_code=rc, stdout=bytes(out), stderr=bytes(err), reason=reason)  # type: ignore[arg-type]
