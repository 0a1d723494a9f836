"""`thresher verify INPUT.jsonl`: the exact line contract, bad lines, unreadable files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

KEYS = {"id", "correct", "status", "extracted", "verifier", "reason"}


def _thresher(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thresher.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_verify_jsonl_contract(tmp_path: Path) -> None:
    lines = [
        {"id": "a", "kind": "math", "gold": "42", "response": "so \\boxed{42}", "extra": [1]},
        "this is not json",
        {"id": 7, "kind": "math", "gold": 0.5, "response": "The answer is 1/2."},
        {"id": "c", "kind": "choice", "gold": "B", "response": "Answer: C"},
        {"id": "d", "kind": "exact", "gold": "Paris", "response": "**paris**"},
        {"id": "e", "kind": "essay", "gold": "x", "response": "y"},
        {"id": "f", "kind": "math", "response": "\\boxed{1}"},
        {
            "id": "g",
            "kind": "code",
            "response": "```python\nprint(sum(map(int, input().split())))\n```",
            "tests": {"stdin_stdout": [{"input": "1 2\n", "output": "3\n"}]},
        },
        {"kind": "math", "gold": "1", "response": "1"},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n\n")
    out = tmp_path / "out.jsonl"
    proc = _thresher("verify", str(src), "-o", str(out), "--workers", "1", "--timeout", "10")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(lines)
    assert all(set(row) == KEYS for row in rows)
    assert [row["id"] for row in rows] == ["a", None, 7, "c", "d", "e", "f", "g", None]
    assert [row["status"] for row in rows] == [
        "ok", "invalid_input", "ok", "ok", "ok", "invalid_input", "invalid_input", "ok",
        "invalid_input",
    ]  # fmt: skip
    assert [row["correct"] for row in rows] == [
        True,
        None,
        True,
        False,
        True,
        None,
        None,
        True,
        None,
    ]
    assert rows[0]["verifier"] == "math_v2" and rows[7]["verifier"] == "code_v2"
    assert "line 2" in rows[1]["reason"]
    assert "kind" in rows[5]["reason"] and "gold" in rows[6]["reason"] and "id" in rows[8]["reason"]
    assert "invalid_input 4" in proc.stderr


def test_unreadable_input_is_a_clear_error(tmp_path: Path) -> None:
    missing = _thresher("verify", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2
    assert "nope.jsonl" in missing.stderr and "Traceback" not in missing.stderr
    folder = _thresher("verify", str(tmp_path))
    assert folder.returncode == 2 and "directory" in folder.stderr
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(
        b'\xff\xfe\x00garbage\n{"id": 1, "kind": "exact", "gold": "a", "response": "a"}\n'
    )
    bad = _thresher("verify", str(binary))
    assert bad.returncode == 0, bad.stderr
    rows = [json.loads(line) for line in bad.stdout.splitlines()]
    assert rows[0]["status"] == "invalid_input" and "UTF-8" in rows[0]["reason"]
    assert rows[1]["correct"] is True
    neither = _thresher("verify")
    assert neither.returncode == 2 and "--problems" in neither.stderr
