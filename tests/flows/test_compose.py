"""docker-compose.yml, .env.example and prefect.yaml: parsed and checked without a Docker engine."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _console_scripts() -> set[str]:
    return {ep.name for ep in importlib.metadata.entry_points(group="console_scripts")}


def test_services_ports_and_dependencies() -> None:
    services = COMPOSE["services"]
    assert set(services) == {
        "postgres", "prefect-server", "vllm", "worker", "ray-head", "ray-gpu-worker"
    }  # fmt: skip
    assert "4200:4200" in services["prefect-server"]["ports"]
    assert "8000:8000" in services["vllm"]["ports"]
    assert services["worker"]["depends_on"]["prefect-server"]["condition"] == "service_healthy"
    assert services["prefect-server"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    gpu = services["vllm"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    env = services["worker"]["environment"]
    assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert env["THRESHER_LAKE"].startswith("postgres:") and "host=postgres" in env["THRESHER_LAKE"]
    db_url = services["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert db_url.startswith("postgresql+asyncpg://") and "@postgres:5432/" in db_url


def test_named_volumes_are_declared_and_bind_mounts_exist() -> None:
    declared = set(COMPOSE["volumes"])
    used = set()
    for service in COMPOSE["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                # Output folders are created by Docker; inputs (recipes, init SQL) must exist.
                if source != "./exports":
                    assert (ROOT / source).exists(), f"bind mount {source} missing"
            else:
                used.add(source)
    assert used == declared


def test_env_example_covers_every_variable() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    variables = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    example = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert variables <= example, variables - example


def test_prefect_server_command_exists() -> None:
    command = COMPOSE["services"]["prefect-server"]["command"]
    assert command[:3] == ["prefect", "server", "start"]
    assert "prefect" in _console_scripts()
    prefect = shutil.which("prefect", path=str(Path(sys.executable).parent))
    assert prefect is not None
    done = subprocess.run(
        [prefect, "server", "start", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "--host" in done.stdout and "--port" in done.stdout


def test_vllm_serve_command_exists() -> None:
    service = COMPOSE["services"]["vllm"]
    assert service["entrypoint"] == ["vllm", "serve"]
    assert "vllm" in _console_scripts()
    (script,) = [
        ep for ep in importlib.metadata.entry_points(group="console_scripts") if ep.name == "vllm"
    ]
    assert script.value.startswith("vllm.entrypoints.cli")
    # The serve subcommand and the options the compose file passes, without starting torch.
    spec = importlib.util.find_spec("vllm")  # finds the package without importing it
    assert spec is not None and spec.submodule_search_locations
    root = Path(next(iter(spec.submodule_search_locations)))
    source = (root / "entrypoints" / "cli" / "serve.py").read_text()
    assert 'name = "serve"' in source or "'serve'" in source or '"serve"' in source
    args = [str(a) for a in service["command"]]
    for flag in ("--host", "--port", "--max-model-len", "--gpu-memory-utilization"):
        assert flag in args


def test_worker_command_is_the_thresher_schedule_command() -> None:
    from thresher.cli import app

    command = COMPOSE["services"]["worker"]["command"]
    assert command[:2] == ["thresher", "schedule"] and "--cron" in command
    assert "thresher" in _console_scripts()
    result = CliRunner().invoke(app, ["schedule", "--help"])
    assert result.exit_code == 0 and "--cron" in result.output
    recipe = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", command[2])
    from thresher.config import load_recipe

    loaded = load_recipe(ROOT / recipe)
    assert loaded.generation.engine == "openai"
    assert loaded.generation.base_url == "http://vllm:8000/v1"
    dockerfile = ROOT / COMPOSE["services"]["worker"]["build"]["dockerfile"]
    assert dockerfile.is_file()


def test_ray_head_and_gpu_workers_share_the_lake_and_the_drivers_ray() -> None:
    services = COMPOSE["services"]
    head, gpu_worker, worker = services["ray-head"], services["ray-gpu-worker"], services["worker"]
    assert head["profiles"] == gpu_worker["profiles"] == ["ray"]  # opt-in: `--profile ray`
    assert head["command"][:3] == ["ray", "start", "--head"] and "--block" in head["command"]
    port = head["command"][head["command"].index("--port") + 1]
    assert gpu_worker["command"] == ["ray", "start", "--address", f"ray-head:{port}", "--block"]
    assert gpu_worker["depends_on"]["ray-head"]["condition"] == "service_healthy"
    gpu = gpu_worker["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    # Every node reaches the Prefect server and sees the lake's data path where the driver does.
    data_path = worker["environment"]["THRESHER_LAKE"].rsplit("|", 1)[1]
    for node in (head, gpu_worker):
        assert node["environment"]["PREFECT_API_URL"] == worker["environment"]["PREFECT_API_URL"]
        assert f"lake-data:{data_path}" in node["volumes"]
    assert "THRESHER_RAY_ADDRESS" in worker["environment"]
    # The driver (worker image) and the nodes (ray image): same Python, same pinned Ray.
    images = [ROOT / s["build"]["dockerfile"] for s in (head, gpu_worker, worker)]
    bases = {re.search(r"^FROM (\S+)", p.read_text(), re.M).group(1) for p in images}  # type: ignore[union-attr]
    assert bases == {"python:3.11-slim"}
    pyproject = (ROOT / "pyproject.toml").read_text()
    lock = (ROOT / "requirements" / "cpu.lock").read_text().splitlines()
    ray_pin = re.search(r'"ray\[default\]==([0-9.]+)"', pyproject)
    assert ray_pin and f"ray=={ray_pin.group(1)}" in lock
    assert importlib.metadata.version("ray") == ray_pin.group(1)
    # The commands exist here with the options the compose file passes.
    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent))
    assert ray_cli is not None
    done = subprocess.run([ray_cli, "start", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    for flag in {a for a in head["command"] + gpu_worker["command"] if a.startswith("--")}:
        assert flag in done.stdout, flag


def test_prefect_yaml_deployments_point_at_the_curate_flow() -> None:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    for deployment in config["deployments"]:
        module_path, _, attr = deployment["entrypoint"].partition(":")
        module = importlib.import_module(module_path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, attr)
        assert flow.name == "curate"
        params = inspect.signature(flow.fn).parameters
        assert set(deployment["parameters"]) <= set(params)
        assert (ROOT / deployment["parameters"]["recipe"]).is_file()
        assert deployment["schedules"][0]["cron"].count(" ") == 4


# -- the worker's privileges: exactly what the code sandbox needs ------------------------------

# Docker's default capability set (moby oci/caps/defaults.go) by number (linux/capability.h).
DOCKER_DEFAULT_CAPS = {"CHOWN": 0, "DAC_OVERRIDE": 1, "FOWNER": 3, "FSETID": 4, "KILL": 5,
                       "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "NET_BIND_SERVICE": 10,
                       "NET_RAW": 13, "SYS_CHROOT": 18, "MKNOD": 27, "AUDIT_WRITE": 29,
                       "SETFCAP": 31}  # fmt: skip
CAP_NUMBERS = {**DOCKER_DEFAULT_CAPS, "SYS_ADMIN": 21}


def test_worker_gets_exactly_the_sandbox_privileges() -> None:
    worker = COMPOSE["services"]["worker"]
    assert worker["cap_add"] == ["SYS_ADMIN"]
    assert set(worker["security_opt"]) == {"apparmor=unconfined", "no-new-privileges=true"}
    assert not worker.get("privileged") and not worker.get("cap_drop")
    for name, service in COMPOSE["services"].items():
        assert not service.get("privileged"), name
        assert not any("seccomp" in opt for opt in service.get("security_opt", [])), name
        if name != "worker":
            assert "cap_add" not in service and "security_opt" not in service, name


# Emulates the container: Docker's default capabilities plus the compose file's cap_add, and
# the part of Docker's default seccomp profile (moby profiles seccomp/default_linux.go) that
# concerns the sandbox: pivot_root is never allowed; unshare, mount and umount2 only with
# CAP_SYS_ADMIN. (AppArmor is not emulated: apparmor=unconfined lifts it.)
EMULATE = r"""
import json, struct, sys
from thresher.filters.sandbox.confine import install_seccomp
from thresher.filters.sandbox.syscalls import PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, check, libc, prctl
caps = set(json.loads(sys.argv[1]))
prctl(PR_SET_NO_NEW_PRIVS, 1)
install_seccomp(("pivot_root",) + (() if 21 in caps else ("unshare", "mount", "umount2")))
for cap in range(64):
    if cap not in caps:
        try:
            prctl(PR_CAPBSET_DROP, cap)
        except OSError:
            break
mask = sum(1 << c for c in caps)
low, high = mask & 0xFFFFFFFF, mask >> 32
check(libc.capset(struct.pack("=Ii", 0x20080522, 0), struct.pack("=6I", low, low, 0, high, high, 0)), "capset")
from thresher.filters.sandbox import WeakSandboxError, admit_code_execution, isolation_mode, run_program
program = "import os, json\nprint(json.dumps([os.getuid(), sorted(os.listdir('/'))]))"
result = run_program(program)
try:
    admit_code_execution()
    admitted = True
except WeakSandboxError:
    admitted = False
print(json.dumps({"mode": isolation_mode(), "status": result.status, "admitted": admitted,
                  "out": result.stdout.decode()}))
"""


def _emulated(caps: set[int]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", EMULATE, json.dumps(sorted(caps))],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("THRESHER_")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_worker_privileges_run_the_namespace_sandbox() -> None:
    if os.geteuid() != 0:
        pytest.skip("emulating the container's root needs root")
    worker = COMPOSE["services"]["worker"]
    granted = set(DOCKER_DEFAULT_CAPS.values()) | {CAP_NUMBERS[c] for c in worker["cap_add"]}
    got = _emulated(granted)
    assert got["mode"] == "root" and got["status"] == "ok" and got["admitted"], got
    uid, listing = json.loads(got["out"])
    assert uid >= 200_000 and "tmp" not in listing and "app" not in listing
    # Without the compose file's additions the sandbox is weak, and code is refused.
    plain = _emulated(set(DOCKER_DEFAULT_CAPS.values()))
    assert plain["mode"] == "basic" and plain["admitted"] is False, plain
