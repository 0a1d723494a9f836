"""The decision trace end to end on a real lake: export and verify without the lake, tampering,
invalid stored events, human review through selection and the card, signing, legacy chains."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from thresher.cli import app
from thresher.schemas import DatasetVersion, ThresherError, verify_events
from thresher.schemas.decision_v1 import (
    DecisionContextV1,
    DecisionEventV1,
    DecisionLogicV1,
    seal_v1,
)
from thresher.stages.audit import audit_verify
from thresher.storage import Lake

from ..conftest import behind_thresher
from .conftest import TINY_RECIPE, build_tiny_lake  # type: ignore[import-not-found]

runner = CliRunner()


def _flat(text: str) -> str:
    return " ".join(text.split())


def _cli(*args: str, code: int = 0) -> str:
    """Run the CLI; code 2 means a ThresherError (which `main` prints and exits 2 with)."""
    result = runner.invoke(app, list(args))
    if code == 2:
        assert isinstance(result.exception, ThresherError), (result.output, result.exception)
        return _flat(result.output + str(result.exception))
    assert result.exit_code == code, (result.output, result.exception)
    return _flat(result.output)


def _selected_lake(root: Path, runs: int = 1, *extra: str) -> tuple[Path, Path]:
    lake = build_tiny_lake(root / "lake")
    recipe = root / "tiny.yaml"
    recipe.write_text(TINY_RECIPE)
    for _ in range(runs):
        _cli("select", "--recipe", str(recipe), "--lake", str(lake), *extra)
    return lake, recipe


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A lake with two selection runs, and the second version exported to a file."""
    root = tmp_path_factory.mktemp("exported")
    lake, _ = _selected_lake(root, runs=2)
    out = root / "events.jsonl"
    said = _cli("audit", "export", "--version", "tiny-v2", "-o", str(out), "--lake", str(lake))
    with Lake.open(lake, read_only=True) as opened:
        heads = {v.name: v.decisions_head for v in opened.versions()}
    return {"lake": lake, "file": out, "said": said, "heads": heads, "root": root}


def test_an_exported_version_verifies_without_the_lake(exported: dict[str, Any]) -> None:
    lines = exported["file"].read_text().splitlines()
    assert len(lines) == 24  # the version's run and the run it follows, back to the start
    assert f"head {exported['heads']['tiny-v2']}" in exported["said"]
    out = _cli("audit", "verify", "--file", str(exported["file"]),
               "--expect-head", exported["heads"]["tiny-v2"])  # fmt: skip
    assert "ok: 24 events in 2 runs verify" in out
    events = [json.loads(line) for line in lines]
    assert all(e["schema_version"] == "0.3.0" for e in events)
    # Written exactly as hashed: each line is the canonical JSON of its event.
    from thresher.schemas import canonical_json

    assert all(canonical_json(e).decode() == line for e, line in zip(events, lines, strict=True))
    with Lake.open(exported["lake"], read_only=True) as opened:
        from_lake = audit_verify(opened)
    assert [s.head_hash for s in from_lake.segments] == list(exported["heads"].values())


def _tamper(tmp_path: Path, lines: list[str]) -> str:
    path = tmp_path / "tampered.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return _cli("audit", "verify", "--file", str(path), code=1)


def test_every_tampering_of_the_file_fails_verification(
    exported: dict[str, Any], tmp_path: Path
) -> None:
    lines = exported["file"].read_text().splitlines()
    head = exported["heads"]["tiny-v2"]
    edited = list(lines)
    edited[5] = edited[5].replace('"output":"drop"', '"output":"select"', 1)
    assert edited != lines and "line 6" in _tamper(tmp_path, edited)
    assert "[chain:link]" in _tamper(tmp_path, lines[:3] + lines[4:])  # one event deleted
    assert "[chain:link]" in _tamper(tmp_path, [lines[1], lines[0], *lines[2:]])  # reordered
    assert "[chain:anchor]" in _tamper(tmp_path, lines[12:])  # the first run dropped
    assert "[chain:truncated]" in _tamper(tmp_path, lines[:-1])  # the tail cut
    # The whole last run gone leaves a valid chain: only a known head catches that.
    path = tmp_path / "short.jsonl"
    path.write_text("".join(line + "\n" for line in lines[:12]))
    _cli("audit", "verify", "--file", str(path))
    cut = _cli("audit", "verify", "--file", str(path), "--expect-head", head, code=1)
    assert "[chain:expected_head]" in cut
    garbage = _tamper(tmp_path, ["{not json", *lines])
    assert "line 1" in garbage and "[read]" in garbage


@pytest.mark.slow
def test_removing_a_whole_run_from_the_lake_is_detected(tmp_path: Path) -> None:
    lake, _ = _selected_lake(tmp_path, runs=2)
    with Lake.open(lake, read_only=True) as opened:
        first, last = (v.flow_run_id for v in opened.versions())
    with behind_thresher(lake) as conn:
        conn.execute("DELETE FROM lake.decision_events WHERE decision_context.run_id = ?", [first])
    out = _cli("audit", "verify", "--lake", str(lake), code=1)
    assert "[chain:anchor]" in out and "[version:run_missing]" in out and "tiny-v1" in out
    with behind_thresher(lake) as conn:
        conn.execute("DELETE FROM lake.decision_events WHERE decision_context.run_id = ?", [last])
    assert "[version:run_missing]" in _cli("audit", "verify", "--lake", str(lake), code=1)


@pytest.mark.slow
def test_an_invalid_stored_event_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    lake, recipe = _selected_lake(tmp_path)
    with Lake.open(lake, read_only=True) as opened:
        victim = opened.sql(
            "SELECT decision_context.decision_id AS id FROM decision_events "
            "WHERE temporal_metadata.sequence_number = 2"
        )["id"][0]
    with behind_thresher(lake) as conn:
        conn.execute(
            "UPDATE lake.decision_events SET schema_version = '0.3', decision_logic = NULL "
            "WHERE decision_context.decision_id = ?",
            [victim],
        )
    out = _cli("audit", "verify", "--lake", str(lake), code=1)
    assert f"(decision {victim})" in out
    assert "schema_version: '0.3' is not MAJOR.MINOR.PATCH [des:pattern]" in out
    assert "decision_logic: is required [des:required]" in out
    assert "[chain:edited]" in out
    # Everything else still reads it: export, explain, and a new selection after it.
    _cli("audit", "export", "-o", str(tmp_path / "all.jsonl"), "--lake", str(lake))
    _cli("select", "--recipe", str(recipe), "--lake", str(lake))


@pytest.mark.slow
def test_a_review_is_honoured_by_the_next_selection_shown_and_counted(tmp_path: Path) -> None:
    lake, recipe = _selected_lake(tmp_path)
    with Lake.open(lake, read_only=True) as opened:
        wrong = opened.sql("SELECT trace_id FROM verdicts WHERE NOT correct ORDER BY 1")[
            "trace_id"
        ].to_list()
    said = _cli("review", wrong[0], "--keep", "--actor", "ana", "--role", "annotator",
                "--rationale", "right answer, typo in the last line", "--lake", str(lake))  # fmt: skip
    assert "recorded 1 review(s) (1 overriding" in said
    reviews = tmp_path / "reviews.jsonl"
    reviews.write_text(json.dumps({"trace_id": wrong[1], "decision": "keep", "actor": "bo",
                                   "rationale": "fine"}) + "\n")  # fmt: skip
    _cli("review", "--file", str(reviews), "--lake", str(lake))
    out = _cli("select", "--recipe", str(recipe), "--lake", str(lake))
    assert "tiny-v2" in out and "2 human override(s)" in out
    why = _cli("audit", "why", wrong[0], "--lake", str(lake))
    assert "human review: ana (annotator) overrode drop -> select: right answer" in why
    assert "select selected" in why and "risk critical" in why
    as_json = runner.invoke(app, ["audit", "why", wrong[0], "-f", "json", "--lake", str(lake)])
    rows = [json.loads(x) for x in as_json.output.replace("}\n{", "}\x00{").split("\x00")]
    assert {r["logic_type"] for r in rows} >= {"human_decision", "policy_evaluation"}
    _cli("export", "-f", "sft", "-o", str(tmp_path / "sft"), "--lake", str(lake))
    card = (tmp_path / "sft" / "README.md").read_text()
    assert "| human overrides | 2 |" in card
    with Lake.open(lake, read_only=True) as opened:
        report = audit_verify(opened)
        kept = opened.sql(
            "SELECT count(*) AS n FROM decision_events WHERE decision_context.dataset_version = "
            "'tiny-v2' AND human_override_record.override_occurred"
        )["n"][0]
    assert report.ok and kept == 2


def test_review_input_errors_name_the_place_and_record_nothing(tmp_path: Path) -> None:
    lake, _ = _selected_lake(tmp_path)
    with Lake.open(lake, read_only=True) as opened:
        before = opened.table_counts()["decision_events"]
        trace = opened.sql("SELECT trace_id FROM rollouts LIMIT 1")["trace_id"][0]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"trace_id": trace, "decision": "keep", "actor": "a", "rationale": "r"}) + "\n"
        + json.dumps({"trace_id": trace, "decision": "maybe", "actor": "a", "rationale": "r"})
        + "\n"
    )  # fmt: skip
    out = _cli("review", "--file", str(bad), "--lake", str(lake), code=2)
    assert f"{bad}:2: field 'decision'" in out
    assert "no rollout with trace_id nope" in _cli(
        "review", "nope", "--drop", "--actor", "a", "--rationale", "r", "--lake", str(lake), code=2
    )
    assert "field '--actor'" in _cli(
        "review", trace, "--drop", "--rationale", "r", "--lake", str(lake), code=2
    )
    _cli("review", trace, "--keep", "--drop", "--actor", "a", "--rationale", "r",
         "--lake", str(lake), code=2)  # fmt: skip
    with Lake.open(lake, read_only=True) as opened:
        assert opened.table_counts()["decision_events"] == before


def test_signed_heads_verify_against_the_public_key(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    assert "public key" in _cli("audit", "keygen", "-o", str(key))
    public = tmp_path / "key.pub.pem"
    lake, _ = _selected_lake(tmp_path, 1, "--sign-key", str(key))
    out = _cli("audit", "verify", "--public-key", str(public), "--lake", str(lake))
    assert "signed by ed25519:" in out and "ok: 12 events" in out
    events = tmp_path / "signed.jsonl"
    _cli("audit", "export", "-o", str(events), "--lake", str(lake))
    _cli("audit", "verify", "--file", str(events), "--public-key", str(public))
    lines = events.read_text().splitlines()
    events.write_text("".join(line + "\n" for line in lines[:-1]))
    cut = _cli("audit", "verify", "--file", str(events), "--public-key", str(public), code=1)
    assert "[signature:missing]" in cut
    assert "not an unencrypted PEM private key" in _cli(
        "select", "--recipe", str(tmp_path / "tiny.yaml"), "--lake", str(lake),
        "--sign-key", str(public), code=2,
    )  # fmt: skip


def _legacy_chain(lake: Lake, run_id: str) -> str:
    """Write one run the way thresher wrote it before DES 0.3.0: the old table, the head in a
    version's note."""
    previous, events = "0" * 64, []
    for i in range(3):
        event = DecisionEventV1(
            decision_context=DecisionContextV1(
                decision_id=f"{run_id}-{i}", decision_type="curation:trace_selection",
                subject_ids=[f"old-trace-{i}"], run_id=run_id, dataset_version="old-v1",
            ),
            decision_logic=DecisionLogicV1(logic_type="curation:selection_policy", output="drop",
                                           reason_code="incorrect", thresholds={"budget": 5.0}),
        )  # fmt: skip
        events.append(seal_v1(event, previous, i))
        previous = events[-1].current_hash
    lake.append("decisions", events)
    note = json.dumps({"kind": "run", "decisions_head": previous, "events": 3})
    lake.append(
        "dataset_versions",
        [DatasetVersion(name="old-v1", snapshot_id=lake.snapshot_id(), note=note,
                        flow_run_id=run_id)],
    )  # fmt: skip
    return previous


@pytest.mark.slow
def test_a_lake_from_before_des_keeps_verifying_its_chain(tmp_path: Path) -> None:
    lake_dir, recipe = tmp_path / "lake", tmp_path / "tiny.yaml"
    build_tiny_lake(lake_dir)
    recipe.write_text(TINY_RECIPE)
    with Lake.open(lake_dir) as lake:
        head = _legacy_chain(lake, "old-run")
    with behind_thresher(lake_dir) as conn:
        # Make it look like a lake that predates the new table and column.
        conn.execute("DROP TABLE lake.decision_events")
        conn.execute("ALTER TABLE lake.dataset_versions DROP COLUMN decisions_head")
        conn.execute(
            "DELETE FROM lake._thresher_migrations WHERE name IN "
            "('0019_create_decision_events', '0020_dataset_versions_decisions_head')"
        )
    with Lake.open(lake_dir) as lake:  # migrates
        assert {"0019_create_decision_events", "0020_dataset_versions_decisions_head"} <= set(
            lake.migrations()
        )
        assert lake.versions()[0].decisions_head is None
    _cli("select", "--recipe", str(recipe), "--lake", str(lake_dir))
    out = _cli("audit", "verify", "--lake", str(lake_dir))
    assert "run old-run (thresher-chain/1): 3 events" in out and "ok: 15 events in 2 runs" in out
    legacy_file = tmp_path / "old.jsonl"
    _cli("audit", "export", "--version", "old-v1", "-o", str(legacy_file), "--lake", str(lake_dir))
    assert "ok: 3 events" in _cli("audit", "verify", "--file", str(legacy_file),
                                  "--expect-head", head)  # fmt: skip
    why = _cli("audit", "why", "old-trace-1", "--lake", str(lake_dir))
    assert "drop incorrect" in why and "version old-v1" in why
    with behind_thresher(lake_dir) as conn:
        conn.execute("DELETE FROM lake.decisions WHERE temporal_metadata.sequence_number = 2")
    broken = _cli("audit", "verify", "--lake", str(lake_dir), code=1)
    assert "[version:head]" in broken and "old-v1" in broken


def test_verification_reads_files_it_did_not_write(tmp_path: Path) -> None:
    """A conforming DES event with fields thresher never writes is read, not rejected."""
    lines = []
    event = {
        "schema_version": "0.3.0",
        "decision_context": {"decision_id": "x", "decision_type": "fraud_detection",
                             "run_id": "ext", "inputs": [{"input_id": "i"}], "vendor": {"a": 1}},
        "decision_logic": {"logic_type": "fintech:credit_scoring", "output": {"score": 3}},
        "human_override_record": {"override_occurred": False, "override_decision": None},
        "temporal_metadata": {"event_timestamp": "2026-01-01T00:00:00Z", "sequence_number": 0,
                              "evidence_tier": "lightweight",
                              "hash_chain": {"previous_hash": None, "algorithm": "SHA-256",
                                             "chain_format": "thresher-chain/2", "run_events": 1}},
    }  # fmt: skip
    from thresher.schemas import event_hash

    event["temporal_metadata"]["hash_chain"]["current_hash"] = event_hash(event)  # type: ignore[index]
    lines.append(json.dumps(event))
    result = verify_events([("line 1", json.loads(lines[0]), lines[0])])
    assert result.ok, result.findings


def test_reading_in_pages_gives_every_event_in_chain_order(
    exported: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from thresher.stages import audit
    from thresher.stages.audit import read_event_items

    with Lake.open(exported["lake"], read_only=True) as opened:
        whole = [e for _, e, _ in read_event_items(opened)]
        monkeypatch.setattr(audit, "PAGE", 5)
        paged = [e for _, e, _ in read_event_items(opened)]
        assert audit_verify(opened).ok
    assert paged == whole and len(whole) == 24
    assert [e["temporal_metadata"]["sequence_number"] for e in paged] == list(range(24))
