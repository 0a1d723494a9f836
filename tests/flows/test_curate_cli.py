"""select / audit / export / schedule over stored labels: no engine involved."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thresher.cli import app
from thresher.config import Recipe
from thresher.flows.schedule import build_deployment, validate_cron
from thresher.schemas import InputError
from thresher.stages.audit import audit_verify
from thresher.storage import Lake

from ..conftest import behind_thresher
from .conftest import TINY_RECIPE, build_tiny_lake  # type: ignore[import-not-found]

runner = CliRunner()


def _flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def _run(root: Path) -> tuple[Path, Path]:
    lake = build_tiny_lake(root / "lake")
    recipe = root / "tiny.yaml"
    recipe.write_text(TINY_RECIPE)
    result = runner.invoke(app, ["select", "--recipe", str(recipe), "--lake", str(lake)])
    assert result.exit_code == 0, result.output
    assert "tiny-v1" in result.output
    return lake, recipe


@pytest.fixture()
def lake_with_run(tmp_path: Path) -> tuple[Path, Path]:
    """A fresh lake with one selection run (for tests that change it)."""
    return _run(tmp_path)


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One lake with one selection run, shared by tests that only read it."""
    return _run(tmp_path_factory.mktemp("shared"))


def test_select_with_a_new_threshold_makes_a_new_version_without_generation(
    lake_with_run: tuple[Path, Path], tmp_path: Path
) -> None:
    lake, recipe = lake_with_run
    with Lake.open(lake, read_only=True) as opened:
        before = opened.table_counts()
    looser = tmp_path / "looser.yaml"
    looser.write_text(
        TINY_RECIPE.replace(
            "selection: {max_per_problem: 2}",
            "selection: {max_per_problem: 2, drop_flaw_severity: null}",
        )
    )
    result = runner.invoke(app, ["select", "--recipe", str(looser), "--lake", str(lake)])
    assert result.exit_code == 0, result.output
    with Lake.open(lake, read_only=True) as opened:
        after = opened.table_counts()
        versions = {v.name: v for v in opened.versions()}
    assert set(versions) == {"tiny-v1", "tiny-v2"}
    assert versions["tiny-v1"].counts["selected"] == 3
    assert versions["tiny-v2"].counts["selected"] == 6  # flawed positives now kept
    assert versions["tiny-v1"].recipe_hash != versions["tiny-v2"].recipe_hash
    for table in ("problems", "rollouts", "verdicts", "flaw_labels"):
        assert after[table] == before[table]
    assert after["decision_events"] == 2 * before["decision_events"]


def test_audit_verify_passes_then_detects_an_edited_event(
    lake_with_run: tuple[Path, Path],
) -> None:
    lake, _ = lake_with_run
    result = runner.invoke(app, ["audit", "verify", "--lake", str(lake), "--version", "tiny-v1"])
    assert result.exit_code == 0, result.output
    assert "ok: 12 events in 1 runs verify" in _flat(result.output)
    with Lake.open(lake, read_only=True) as opened:
        victim = opened.sql(
            "SELECT decision_context.decision_id AS id FROM decision_events "
            "WHERE temporal_metadata.sequence_number = 4"
        )["id"][0]
    with behind_thresher(lake) as conn:  # edit one stored event as a tamperer would
        conn.execute(
            "UPDATE lake.decision_events SET evidence_json = '{\"forged\":true}' "
            "WHERE decision_context.decision_id = ?",
            [victim],
        )
    result = runner.invoke(app, ["audit", "verify", "--lake", str(lake)])
    assert result.exit_code == 1
    out = _flat(result.output)
    assert "BROKEN" in out and "event 4" in out and victim in out and "edited" in out
    with Lake.open(lake, read_only=True) as opened:
        report = audit_verify(opened)
    assert [(f.decision_id, f.rule) for f in report.findings] == [(victim, "chain:edited")]


def test_audit_verify_detects_a_removed_tail_via_the_version_head(
    lake_with_run: tuple[Path, Path],
) -> None:
    lake, _ = lake_with_run
    with behind_thresher(lake) as conn:
        conn.execute(
            "DELETE FROM lake.decision_events WHERE temporal_metadata.sequence_number = 11"
        )
    result = runner.invoke(app, ["audit", "verify", "--lake", str(lake)])
    out = _flat(result.output)
    assert result.exit_code == 1 and "removed at its end" in out
    assert "[chain:truncated]" in out and "[version:head]" in out


def test_audit_why_shows_decisions_with_evidence(shared_run: tuple[Path, Path]) -> None:
    lake, _ = shared_run
    with Lake.open(lake, read_only=True) as opened:
        trace_id = opened.sql("SELECT trace_id FROM verdicts WHERE NOT correct")["trace_id"][0]
    result = runner.invoke(app, ["audit", "why", trace_id, "--lake", str(lake), "-f", "json"])
    assert result.exit_code == 0, result.output
    assert '"reason_code": "incorrect"' in result.output
    assert '"reason_code": "selected"' in result.output  # its problem's decision
    missing = runner.invoke(app, ["audit", "why", "nope", "--lake", str(lake)])
    assert missing.exit_code != 0


def test_export_cli_writes_a_loadable_folder(shared_run: tuple[Path, Path], tmp_path: Path) -> None:
    lake, _ = shared_run
    out = tmp_path / "sft"
    result = runner.invoke(
        app, ["export", "--format", "sft", "--out", str(out), "--lake", str(lake)]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 3 sft rows" in _flat(result.output)
    assert (out / "README.md").is_file() and list((out / "data").glob("*.parquet"))
    bad = runner.invoke(
        app, ["export", "-f", "sft", "-o", str(out), "--think-style", "xml", "--lake", str(lake)]
    )
    assert bad.exit_code != 0


def test_export_cli_refuses_a_folder_it_did_not_create(
    shared_run: tuple[Path, Path], tmp_path: Path
) -> None:
    lake, _ = shared_run
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "README.md").write_text("# mine\n")
    (project / "src" / "main.py").write_text("print(1)\n")
    proc = subprocess.run(
        [sys.executable, "-m", "thresher.cli", "export", "-f", "sft", "-o", str(project),
         "--lake", str(lake)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and "not created by `thresher export`" in proc.stderr
    assert sorted(str(p.relative_to(project)) for p in project.rglob("*")) == [
        "README.md",
        "src",
        "src/main.py",
    ]


def test_schedule_builds_a_cron_deployment_of_the_curate_flow(tmp_path: Path) -> None:
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY_RECIPE)
    deployment = build_deployment(recipe, "0 3 * * *", lake=str(tmp_path / "lake"))
    assert deployment.name == "tiny"
    assert deployment.schedules[0].schedule.cron == "0 3 * * *"
    assert deployment.parameters["recipe"] == str(recipe.resolve())
    assert deployment.parameters["lake"] == str(tmp_path / "lake")
    assert (
        deployment.version
        == Recipe.model_validate(
            json.loads(json.dumps(__import__("yaml").safe_load(TINY_RECIPE)))
        ).hash()[:12]
    )
    with pytest.raises(InputError, match="5"):
        validate_cron("0 3 * *")
    with pytest.raises(InputError, match="Invalid cron"):
        validate_cron("61 3 * * *")
    with pytest.raises(InputError) as info:
        validate_cron("0 3 * * *", timezone="Mars/Olympus")
    assert info.value.field == "--timezone"
