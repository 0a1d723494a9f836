"""The layering of docs/ARCHITECTURE.md holds: the import contract in pyproject.toml passes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contract_holds() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(lint).exists():
        pytest.fail("import-linter is not installed: `make setup` installs the dev extra")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "Contracts: 1 kept, 0 broken." in run.stdout


def test_flows_holds_only_the_flow_its_runtime_and_schedules() -> None:
    modules = sorted(p.name for p in (ROOT / "thresher" / "flows").glob("*.py"))
    assert modules == ["__init__.py", "curate.py", "runtime.py", "schedule.py"]
    # Ray is known to one module: the flow and everything below it never import it.
    for path in (ROOT / "thresher").rglob("*.py"):
        if path.name != "runtime.py":
            text = path.read_text()
            assert "import ray" not in text and "prefect_ray" not in text, path


def test_every_stage_is_one_module() -> None:
    stages = {p.stem for p in (ROOT / "thresher" / "stages").glob("*.py")}
    for stage in ("generate", "verify", "label", "provenance", "dedup", "decontaminate",
                  "select", "audit", "export"):  # fmt: skip
        assert stage in stages, stage


def test_architecture_doc_names_every_package() -> None:
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for package in sorted(p.name for p in (ROOT / "thresher").iterdir() if p.is_dir()):
        if not package.startswith("__"):
            assert f"  {package}/ " in doc, package  # a room of the tree at the top
