"""Escape attempts, each in every mode that works here (root, userns, basic): servers the test
starts (Unix sockets, TCP, abstract sockets, PostgreSQL), files holding the tests, IPC objects,
and the program's own transport. Each program reports what it reached as JSON."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import thresher
from thresher.filters.sandbox import SandboxLimits
from thresher.filters.sandbox.run import execute

# Generous wall time: these programs only probe, and this machine may be loaded.
FAST = SandboxLimits(wall_s=30.0, cpu_s=5, memory_mb=256, output_bytes=64 * 1024, processes=16)
_AVAILABLE: dict[str, bool] = {}


@pytest.fixture(params=["root", "userns", "basic"])
def mode(request: pytest.FixtureRequest) -> str:
    name = str(request.param)
    if name not in _AVAILABLE:
        r = execute(name, "print('ok')", b"", FAST)
        _AVAILABLE[name] = r.status == "ok" and r.stdout == b"ok\n"
    if not _AVAILABLE[name]:
        pytest.skip(f"the {name} mode does not work on this machine")
    return name


def probe(mode: str, source: str, stdin: bytes = b"") -> dict:
    """Run a program that prints one JSON object; return it."""
    r = execute(mode, textwrap.dedent(source), stdin, FAST)
    assert r.status == "ok", r
    return json.loads(r.stdout)


CONNECT = """
import json, socket
def attempt(family, address, kind=socket.SOCK_STREAM):
    try:
        s = socket.socket(family, kind)
        s.settimeout(2)
        s.connect(address)
        s.sendall(b"hello from the sandbox")
        return "connected"
    except OSError as exc:
        return type(exc).__name__
"""


class Server:
    """A listening socket in a thread that records every connection it accepts."""

    def __init__(self, family: int, address: object) -> None:
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(address)  # type: ignore[arg-type]
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.accepted = 0
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.stop = True
        self.thread.join()
        self.sock.close()


@contextlib.contextmanager
def serving(family: int, address: object) -> Iterator[Server]:
    server = Server(family, address)
    try:
        yield server
    finally:
        server.close()


def _reachable_from_host(family: int, address: object, server: Server | None = None) -> bool:
    """The test itself can connect (so only the sandbox stands in the program's way)."""
    seen = server.accepted if server else 0
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        s.connect(address)  # type: ignore[arg-type]
    for _ in range(100):  # the server thread counts it
        if server is None or server.accepted > seen:
            return True
        time.sleep(0.02)
    return False


def test_unix_sockets_of_the_host_are_unreachable(mode: str, tmp_path: Path) -> None:
    run_dir = Path("/run") / f"thresher-test-{uuid.uuid4().hex[:12]}"
    paths = [tmp_path / "server.sock"]
    with contextlib.suppress(OSError):
        run_dir.mkdir(mode=0o755)
        paths.append(run_dir / "server.sock")
    try:
        with contextlib.ExitStack() as stack:
            servers = [stack.enter_context(serving(socket.AF_UNIX, str(p))) for p in paths]
            for p, server in zip(paths, servers, strict=True):
                p.chmod(0o777)  # no file permission stands in the way: only the sandbox does
                assert _reachable_from_host(socket.AF_UNIX, str(p), server)
            before = [s.accepted for s in servers]
            got = probe(mode, CONNECT + f"print(json.dumps([attempt(socket.AF_UNIX, p) "
                                         f"for p in {[str(p) for p in paths]!r}]))")  # fmt: skip
            time.sleep(0.3)
            assert "connected" not in got, got
            assert [s.accepted for s in servers] == before
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def test_tcp_loopback_and_abstract_sockets_are_unreachable(mode: str) -> None:
    name = f"\0thresher-test-{uuid.uuid4().hex}"
    with serving(socket.AF_INET, ("127.0.0.1", 0)) as tcp, serving(socket.AF_UNIX, name) as ab:
        port = tcp.sock.getsockname()[1]
        assert _reachable_from_host(socket.AF_INET, ("127.0.0.1", port), tcp)
        assert _reachable_from_host(socket.AF_UNIX, name, ab)
        before = (tcp.accepted, ab.accepted)
        got = probe(
            mode,
            CONNECT + f"print(json.dumps([attempt(socket.AF_INET, ('127.0.0.1', {port})), "
            f"attempt(socket.AF_UNIX, {name!r}), "
            f"attempt(socket.AF_INET, ('127.0.0.1', {port}), socket.SOCK_DGRAM)]))",
        )
        time.sleep(0.3)
        assert "connected" not in got, got
        assert (tcp.accepted, ab.accepted) == before


@pytest.fixture(scope="module")
def postgres_socket() -> Iterator[Path]:
    """A real PostgreSQL server listening only on a Unix socket (trust authentication)."""
    initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
    if not (initdb and postgres) or os.geteuid() != 0:
        pytest.skip("PostgreSQL binaries (and root, to run them as 'postgres') needed")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no 'postgres' user")
    root = Path(tempfile.mkdtemp(prefix="thresher-pg-"))
    shutil.chown(root, "postgres")
    data, sock = root / "data", root / "sock"
    try:
        subprocess.run([initdb, "-D", str(data), "-A", "trust", "-U", "postgres"],
                       user="postgres", check=True, capture_output=True, timeout=300)  # fmt: skip
        sock.mkdir()
        shutil.chown(sock, "postgres")
        server = subprocess.Popen(
            [postgres, "-D", str(data), "-k", str(sock), "-c", "listen_addresses=", "-p", "5439"],
            user="postgres",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        path = sock / ".s.PGSQL.5439"
        try:
            for _ in range(600):
                if path.exists():
                    break
                time.sleep(0.1)
            assert _reachable_from_host(socket.AF_UNIX, str(path))
            yield path
        finally:
            server.terminate()
            server.wait(timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_a_real_postgresql_on_a_unix_socket_is_unreachable(
    mode: str, postgres_socket: Path
) -> None:
    pwned = Path("/tmp") / f"thresher-pwned-{uuid.uuid4().hex}"
    try:
        # The probe of the issue: connect, authenticate (trust), run a shell command.
        startup = b"\x00\x03\x00\x00user\x00postgres\x00database\x00postgres\x00\x00"
        startup = (len(startup) + 4).to_bytes(4, "big") + startup
        query = f"COPY (SELECT 1) TO PROGRAM 'touch {pwned}';".encode() + b"\x00"
        got = probe(
            mode,
            f"""
            import json, socket, time
            try:
                s = socket.socket(socket.AF_UNIX)
                s.settimeout(3)
                s.connect({str(postgres_socket)!r})
                s.sendall({startup!r})
                time.sleep(0.5)
                s.sendall(b"Q" + ({len(query) + 4}).to_bytes(4, "big") + {query!r})
                time.sleep(0.5)
                print(json.dumps("connected"))
            except OSError as exc:
                print(json.dumps(type(exc).__name__))
            """,
        )
        assert got != "connected"
        assert not pwned.exists()
    finally:
        pwned.unlink(missing_ok=True)


def test_tests_inputs_lake_and_sources_cannot_be_read(mode: str, tmp_path: Path) -> None:
    secret = f"expected-output-{uuid.uuid4().hex}"
    inputs = tmp_path / "problems.jsonl"
    inputs.write_text(json.dumps({"tests": {"stdin_stdout": [{"input": "", "output": secret}]}}))
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "catalog.duckdb").write_text(secret)
    for p in (tmp_path, lake, inputs, lake / "catalog.duckdb"):
        p.chmod(0o777 if p.is_dir() else 0o666)  # readable by anyone: only the sandbox hides it
    source = Path(thresher.__file__).resolve()
    targets = [str(inputs), str(lake / "catalog.duckdb"), str(source), str(Path.cwd() / "README.md"),
               "/etc/passwd", os.path.expanduser("~/.bash_history")]  # fmt: skip
    got = probe(
        mode,
        f"""
        import json, os
        out = {{}}
        for path in {targets!r}:
            try:
                out[path] = open(path, errors="replace").read(200)
            except OSError as exc:
                out[path] = type(exc).__name__
        try:
            out["listing"] = sorted(os.listdir("/"))
        except OSError as exc:
            out["listing"] = type(exc).__name__
        print(json.dumps(out))
        """,
    )
    for path in targets:
        assert got[path] in ("FileNotFoundError", "PermissionError"), (path, got[path])
    assert secret not in json.dumps(got)
    if mode != "basic":
        assert not {"tmp", "home", "run", "var", "mnt", "opt", "srv", "boot"} & set(got["listing"])


def test_the_program_and_its_asserts_are_no_file_or_descriptor(mode: str) -> None:
    got = probe(
        mode,
        """
        import json, os
        open_fds = []
        for fd in range(3, 64):
            try:
                os.fstat(fd)
                open_fds.append(fd)
            except OSError:
                pass
        print(json.dumps({"fds": open_fds, "cwd": os.listdir("."),
                          "has_file": "__file__" in globals()}))
        """,
    )
    assert got == {"fds": [], "cwd": [], "has_file": False}


IPC = """
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.mq_open.restype = ctypes.c_int
out = {{}}
for name, call in (("shm", lambda: libc.shmget({key}, 4096, 0o1666)),
                   ("msg", lambda: libc.msgget({key}, 0o1666)),
                   ("sem", lambda: libc.semget({key}, 1, 0o1666))):
    out[name] = "created" if call() >= 0 else os.strerror(ctypes.get_errno())
try:
    with open("/dev/shm/{name}", "w") as fh:
        fh.write("left behind")
    out["posix_shm"] = "created"
except OSError as exc:
    out["posix_shm"] = type(exc).__name__
fd = libc.mq_open(b"/{name}", os.O_CREAT | os.O_RDWR, 0o666, None)
out["mq"] = "created" if fd >= 0 else os.strerror(ctypes.get_errno())
print(json.dumps(out))
"""


def _sysv_keys(kind: str) -> set[int]:
    lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
    return {int(line.split()[0]) for line in lines if line.strip()}


def test_ipc_objects_die_with_the_run(mode: str) -> None:
    key, name = int.from_bytes(os.urandom(3), "big") + 1, f"thresher-test-{uuid.uuid4().hex}"
    got = probe(mode, IPC.format(key=key, name=name))
    if mode == "basic":  # no IPC namespace: creating them is refused
        assert set(got.values()) <= {"Operation not permitted", "PermissionError"}, got
    else:  # created in the run's own IPC namespace and /dev/shm
        assert set(got.values()) == {"created"}, got
    for kind in ("shm", "msg", "sem"):
        assert key not in _sysv_keys(kind)
    assert not Path(f"/dev/shm/{name}").exists()
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.mq_open(f"/{name}".encode(), os.O_RDONLY) == -1  # not on the host
    assert ctypes.get_errno() == 2


def test_kernel_surfaces_outside_namespaces_are_denied(mode: str) -> None:
    got = probe(
        mode,
        """
        import ctypes, json, os
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        nr = {"x86_64": (101, 250, 425), "aarch64": (117, 219, 425)}[os.uname().machine]
        out = []
        for number, args in zip(nr, ((16, os.getppid(), 0, 0), (0, -3, 0, 0), (4, 0, 0, 0))):
            rc = libc.syscall(number, *args)  # ptrace(ATTACH), keyctl(session), io_uring_setup
            out.append(os.strerror(ctypes.get_errno()) if rc < 0 else "allowed")
        print(json.dumps(out))
        """,
    )
    assert got == ["Operation not permitted"] * 3


def test_environment_is_scrubbed(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret_do_not_leak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "also_secret")
    got = probe(mode, "import json, os\nprint(json.dumps(dict(os.environ)))")
    assert set(got) == {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONDONTWRITEBYTECODE",
                        "PYTHONIOENCODING", "THRESHER_SANDBOX_RUN"}  # fmt: skip
    assert "secret" not in json.dumps(got)


def test_a_program_cannot_pass_by_reading_its_expected_output(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from thresher.filters.sandbox import modes
    from thresher.filters.verify import VerifyItem, get_verifier

    expected = f"answer-{uuid.uuid4().hex}"
    tests = {"stdin_stdout": [{"input": "", "output": expected}]}
    inputs = tmp_path / "in.jsonl"
    cheat = (
        "import json, re\n"
        "try:\n"
        f"    text = open({str(inputs)!r}).read()\n"
        "    print(re.search(r'answer-[0-9a-f]+', text).group(0))\n"
        "except OSError:\n"
        "    print('could not cheat')\n"
    )
    line = {"id": 1, "kind": "code", "response": f"```python\n{cheat}```", "tests": tests}
    inputs.write_text(json.dumps(line) + "\n")
    inputs.chmod(0o644)
    monkeypatch.setattr(modes, "isolation_mode", lambda: mode)
    out = get_verifier("code_v2", 20.0).check(
        VerifyItem("1", "code", line["response"], tests=tests)
    )
    assert (out.status, out.correct) == ("ok", False), out
