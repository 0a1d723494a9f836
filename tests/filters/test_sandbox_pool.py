"""The verify pool as a target: its forkserver socket and the environment of every process
around a sandboxed program stay out of reach (in each mode), the pool survives a hostile
connection, and a killed ``thresher verify --problems`` leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from thresher.filters.sandbox.run import execute

SECRET = "hf_fake_secret_for_the_sandbox_tests_0123456789"
ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter whose environment holds SECRET: the main process, the forkserver
# and the worker all carry it, as the neighbour process the test starts does.
POOL_SCRIPT = r"""
import json, os, sys
import multiprocessing.forkserver as forkserver
from thresher.filters.sandbox import run_program
from thresher.filters.verify import VerifyItem, VerifyPool, verify_items

SECRET = os.environ["HF_TOKEN"]
PROBE = '''
import os, socket
found = []
try:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    s.connect(ADDRESS)
    s.sendall(b"not a fork request" * 100)
    found.append("forkserver")
except OSError:
    pass
try:
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
except OSError:
    pids = []
for pid in {str(os.getppid()), *pids}:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            if SECRET.encode() in fh.read():
                found.append("environ of " + pid)
    except OSError:
        pass
print(" ".join(found) or "nothing")
'''


def item(i, body):
    return VerifyItem(str(i), "code", "```python\n" + body + "\n```",
                      tests={"stdin_stdout": [{"input": "", "output": "nothing"}]})


if __name__ == "__main__":
    with VerifyPool(workers=1) as pool:
        verify_items([item(0, "print('nothing')")], pool=pool)  # forkserver and worker up
        address = forkserver._forkserver._forkserver_address
        fs_pid = forkserver._forkserver._forkserver_pid
        body = PROBE.replace("ADDRESS", repr(address)).replace("SECRET", repr(SECRET))
        pooled = verify_items([item(1, body), item(2, "print('nothing')")], pool=pool)
        direct = run_program(body)  # the supervisor is this (main) process
        with open(f"/proc/{fs_pid}/stat", "rb") as fh:
            alive = fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
        after = verify_items([item(3, "print('nothing')")], pool=pool)
    print(json.dumps({
        "pooled": [[o.status, o.correct, o.reason] for _, o in pooled],
        "direct": [direct.status, direct.stdout.decode()],
        "forkserver_alive": alive,
        "after": [[o.status, o.correct] for _, o in after],
    }))
"""


def _python(script: str, mode: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script],
        env={
            **os.environ,
            "HF_TOKEN": SECRET,
            "THRESHER_SANDBOX_MODE": mode,
            "THRESHER_ALLOW_WEAK_SANDBOX": "1",
            **env,
        },  # fmt: skip
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["root", "userns", "basic"])
def test_pool_socket_and_environments_are_out_of_reach(mode: str) -> None:
    if execute(mode, "print(1)").stdout != b"1\n":
        pytest.skip(f"the {mode} mode does not work on this machine")
    neighbour = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)"],
        env={**os.environ, "HF_TOKEN": SECRET},
    )
    try:
        done = _python(POOL_SCRIPT, mode)
    finally:
        neighbour.kill()
        neighbour.wait()
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["pooled"][0][:2] == ["ok", True], out  # printed "nothing": reached nothing
    assert out["pooled"][1][:2] == ["ok", True], out
    assert out["direct"] == ["ok", "nothing\n"], out
    assert out["forkserver_alive"] is True
    assert out["after"] == [["ok", True]]


HOSTILE_HOST_SCRIPT = r"""
import json, os, signal, socket, time
import multiprocessing.forkserver as forkserver
from thresher.filters.verify import VerifyItem, VerifyPool, verify_items


def running(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def item(i):
    return VerifyItem(str(i), "code", "```python\nprint(int(input()) * 2)\n```",
                      tests={"stdin_stdout": [{"input": "4\n", "output": "8\n"}]})


if __name__ == "__main__":
    with VerifyPool(workers=2) as pool:
        first = verify_items([item(i) for i in range(4)], pool=pool)
        address = forkserver._forkserver._forkserver_address
        fs_pid = forkserver._forkserver._forkserver_pid
        s = socket.socket(socket.AF_UNIX)
        s.connect(address)
        s.sendall(b"garbage, no file descriptors")
        s.close()
        for _ in range(100):  # the unauthenticated forkserver dies of it (not reaped here:
            if not running(fs_pid):  # multiprocessing reaps and restarts it)
                break
            time.sleep(0.05)
        crashed = not running(fs_pid)
        second = verify_items([item(i) for i in range(6)], pool=pool)
    print(json.dumps({"first": [o.correct for _, o in first], "crashed": crashed,
                      "second": [o.correct for _, o in second]}))
"""


@pytest.mark.slow
def test_pool_survives_a_hostile_connection_to_its_forkserver() -> None:
    done = _python(HOSTILE_HOST_SCRIPT, "root" if os.geteuid() == 0 else "userns")
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.splitlines()[-1])
    assert out == {"first": [True] * 4, "crashed": True, "second": [True] * 6}


# -- process hygiene -------------------------------------------------------------------------


def _code_lake(path: Path) -> None:
    from thresher.schemas import Problem, Rollout
    from thresher.storage import Lake

    tests = json.dumps({"stdin_stdout": [{"input": "", "output": "done"}] * 3})
    problem = Problem(source="sleepy", question="Sleep.", kind="code", tests_json=tests)
    body = "```python\nimport os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(300)\ntime.sleep(300)\n```"  # noqa: E501
    rollouts = [
        Rollout(problem_id=problem.problem_id, model="m", engine="vllm", prompt="p",
                completion=body, sample_index=i, finish_reason="stop")
        for i in range(4)
    ]  # fmt: skip
    with Lake.open(path) as lake:
        lake.append("problems", [problem])
        lake.append("rollouts", rollouts)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rsplit(b")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def _descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z":
            alive.add(pid)
    return alive


def _is_program(pid: int) -> bool:
    try:
        return b"exec(compile(open(" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "group"),
    [(signal.SIGTERM, False), (signal.SIGINT, True), (signal.SIGKILL, False)],
    ids=["SIGTERM", "SIGINT-to-group", "SIGKILL"],
)
def test_a_killed_verify_leaves_no_process(tmp_path: Path, sig: int, group: bool) -> None:
    lake = tmp_path / "lake"
    _code_lake(lake)
    cli = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "thresher.cli",
            "verify",
            "--problems",
            "sleepy",
            "--lake",
            str(lake),
            "--workers",
            "2",
            "--timeout",
            "60",
        ],  # fmt: skip
        cwd=ROOT,
        env={**os.environ, "THRESHER_ALLOW_WEAK_SANDBOX": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # two sandboxed programs (one per worker) running
            seen |= _descendants(cli.pid)
            if sum(_is_program(p) for p in _alive(seen)) >= 2:
                break
            assert cli.poll() is None, cli.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            time.sleep(0.2)
        else:
            pytest.fail("no sandboxed program started")
        time.sleep(0.5)  # the programs' setsid children too
        seen |= _descendants(cli.pid)
        if group:
            os.killpg(cli.pid, sig)
        else:
            os.kill(cli.pid, sig)
        cli.wait(timeout=60)
        for _ in range(100):
            left = _alive(seen)
            if not left:
                break
            time.sleep(0.1)
        names = {p: Path(f"/proc/{p}/cmdline").read_bytes()[:120] for p in left}
        assert not left, f"still running after the kill: {names}"
    finally:
        for pid in _alive(seen | {cli.pid}):
            os.kill(pid, signal.SIGKILL)
