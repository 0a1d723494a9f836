"""A corpus of hostile programs: each gets the right status and leaves the host untouched."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from thresher.filters.sandbox import SandboxLimits, isolation_mode, run_program
from thresher.filters.sandbox.isolate import sandbox_uid

FAST = SandboxLimits(wall_s=3.0, cpu_s=2, memory_mb=256, output_bytes=64 * 1024, processes=16)


def _leftovers() -> list[int]:
    """Processes still running as this supervisor's sandbox uid."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            uid_line = next((ln for ln in status.splitlines() if ln.startswith("Uid:")), "")
            if uid_line and int(uid_line.split()[1]) == sandbox_uid():
                found.append(int(entry))
    return found


def run(source: str, stdin: bytes = b"", limits: SandboxLimits = FAST):  # noqa: ANN201
    result = run_program(textwrap.dedent(source), stdin, limits)
    if isolation_mode() == "root":
        assert _leftovers() == [], "a sandboxed process survived the verdict"
    return result


def test_trivial_program_reads_stdin_and_writes_scratch() -> None:
    r = run(
        """
        import os
        open("note.txt", "w").write(input()[::-1])
        print(open("note.txt").read(), os.getcwd() == os.environ["HOME"])
        """,
        b"abc\n",
    )
    assert r.status == "ok", r
    assert r.stdout == b"cba True\n"


@pytest.mark.parametrize(
    ("name", "source", "status"),
    [
        ("busy_loop", "while True: pass", "timeout"),
        ("sleep", "import time; time.sleep(60)", "timeout"),
        ("memory", "x = bytearray(1 << 31)", "memory_limit"),
        ("memory_growth", "xs = []\nwhile True: xs.append(bytearray(1 << 24))", "memory_limit"),
        ("stdout_flood", "import sys\nwhile True: sys.stdout.write('x' * 65536)", "output_limit"),
        ("stderr_flood", "import sys\nwhile True: sys.stderr.write('y' * 65536)", "output_limit"),
        ("exception", "raise SystemExit(3)", "runtime_error"),
        ("ignore_sigterm", "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
         "time.sleep(60)", "timeout"),
    ],
)  # fmt: skip
def test_limits(name: str, source: str, status: str) -> None:
    r = run(source)
    assert r.status == status, (name, r)


def test_fork_storm_is_contained() -> None:
    r = run(
        """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """
    )
    assert r.status in ("timeout", "runtime_error")


def test_children_that_escape_the_process_group_are_gone() -> None:
    marker = f"/proc/self/{uuid.uuid4().hex}"
    r = run(
        f"""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(120)  # {marker}
            os._exit(0)
        print("parent done")
        """
    )
    assert r.status == "ok" and r.stdout == b"parent done\n"
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                assert marker not in Path(f"/proc/{entry}/cmdline").read_text()


def test_cannot_write_outside_scratch(tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    tmp_path.chmod(0o777)
    for path in (target, Path("/tmp") / f"thresher-escape-{uuid.uuid4().hex}", Path.cwd() / "x"):
        r = run(f"open({str(path)!r}, 'w').write('pwned')")
        assert r.status == "runtime_error", r
        assert not path.exists()


def test_environment_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret_do_not_leak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "also_secret")
    r = run("import os, json; print(json.dumps(dict(os.environ)))")
    assert r.status == "ok"
    env = json.loads(r.stdout)
    assert "HF_TOKEN" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert b"secret" not in r.stdout


def test_no_network() -> None:
    from thresher.filters.sandbox.modes import basic_features

    if isolation_mode() == "basic" and not basic_features().seccomp:
        pytest.skip("no network namespace and no seccomp filter here")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        r = run(
            f"""
            import socket
            s = socket.create_connection(("127.0.0.1", {port}), timeout=1)
            print("connected")
            """
        )
    finally:
        server.close()
    assert r.status == "runtime_error"
    assert b"connected" not in r.stdout


def test_killing_the_parent_or_everything_does_not_stop_the_supervisor() -> None:
    r = run("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(-1, signal.SIGKILL)")
    assert r.status in ("ok", "runtime_error")
    after = run("print('still answering')")
    assert after.status == "ok" and after.stdout == b"still answering\n"


def test_cannot_see_host_processes() -> None:
    if isolation_mode() == "basic":
        pytest.skip("no PID namespace available here")
    r = run("import os; print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))")
    assert r.status == "ok"
    assert len(json.loads(r.stdout)) <= 2


@pytest.mark.parametrize("mode", ["userns", "basic"])
def test_fallback_modes_still_answer_and_clean_up(mode: str, tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import json, sys
        from thresher.filters.sandbox import SandboxLimits, run_program, isolation_mode
        limits = SandboxLimits(wall_s=10, cpu_s=1)  # wall room for a loaded machine
        out = {"mode": isolation_mode()}
        out["ok"] = run_program("print(6 * 7)", b"", limits).stdout.decode()
        out["loop"] = run_program("while True: pass", b"", limits).status
        # The parent exits only once its child has left the session: no race with the cleanup.
        daemon = (
            "import os, time\\nr, w = os.pipe()\\nif os.fork() == 0:\\n"
            "    os.setsid(); os.write(w, b'x'); time.sleep(60)\\nos.read(r, 1)\\n"
        )
        out["leftovers"] = run_program(daemon, b"", limits).leftovers
        print(json.dumps(out))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "THRESHER_SANDBOX_MODE": mode},
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    out = json.loads(proc.stdout)
    assert out["mode"] == mode and out["ok"] == "42\n" and out["loop"] == "timeout"
    if mode == "basic":
        assert out["leftovers"] >= 1  # the setsid escapee was found by its marker and killed


def test_a_broken_sandbox_is_sandbox_error_never_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    from thresher.filters.verify import VerifyItem, get_verifier

    monkeypatch.setenv("THRESHER_SANDBOX_PYTHON", "/nonexistent/python3")
    r = run_program("print(1)", b"", FAST)
    assert r.status == "sandbox_error", r
    item = VerifyItem(
        "c",
        "code",
        "```python\nprint(2)\n```",
        tests={"stdin_stdout": [{"input": "", "output": "2"}]},
    )
    out = get_verifier("code_v2").check(item)
    assert out.status == "sandbox_error" and out.correct is None


def test_the_cpu_limit_is_a_timeout_before_the_wall_limit() -> None:
    # In the namespace modes the program is a PID namespace's init, which never gets SIGXCPU:
    # the hard limit's SIGKILL must still read as the CPU limit, not as a crash.
    r = run_program("while True: pass", b"", SandboxLimits(wall_s=30, cpu_s=1))
    assert r.status == "timeout" and "cpu time limit" in r.reason, r
    assert not r.killed  # the kernel ended it, not the wall clock


@pytest.mark.parametrize("mode", ["root", "userns", "basic"])
def test_a_supervisor_holding_many_files_still_runs_programs(mode: str) -> None:
    # A supervisor with more descriptors open than the program may have (vLLM opens hundreds)
    # still starts programs, and the program still gets only the open-files limit.
    from thresher.filters.sandbox.modes import basic_features
    from thresher.filters.sandbox.run import execute

    if mode == "root" and isolation_mode() != "root":
        pytest.skip("the root mode needs root")
    source = """
        held = []
        try:
            while True:
                held.append(open("/dev/null"))
        except OSError as exc:
            print(exc.errno, len(held) < 64)
        """
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(4 * FAST.open_files)]
    try:
        features = basic_features() if mode == "basic" else None
        r = execute(mode, textwrap.dedent(source), b"", FAST, features=features)
    finally:
        for fd in held:
            os.close(fd)
    assert r.status == "ok", r
    assert r.stdout == b"24 True\n"  # EMFILE within the limit
