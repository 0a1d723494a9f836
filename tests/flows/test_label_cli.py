"""`thresher label INPUT.jsonl`: one strict-JSON result per input line, per-line limits, safe -o."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

KEYS = {"id", "status", "correct", "flawed_positive", "flaws"}


def _thresher(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thresher.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )


def _strict(text: str) -> list[dict[str, Any]]:
    def refuse(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")

    rows = []
    for line in text.split("\n")[:-1]:
        line.encode("utf-8")  # a lone surrogate cannot be encoded
        rows.append(json.loads(line, parse_constant=refuse))
    return rows


def _line(ident: Any, response: str, **extra: Any) -> bytes:
    row = {"id": ident, "question": "Tom has 3 apples and buys 4. How many?", "gold": "7"}
    return json.dumps({**row, "response": response, **extra}, ensure_ascii=False).encode()


def test_label_contract_with_hostile_lines(tmp_path: Path) -> None:
    lines = [
        _line("clean", "3 + 4 = 7. The answer is 7."),
        _line("flawed", "She buys 4: 3 + 4 = 8. The answer is 7."),
        _line("sep", "3 + 4 = 7.\u2028The answer is 7."),  # U+2028 is not a line break
        b'{"id": "deep", "response": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"id": "s", "question": "q", "gold": "7", "response": "bad \\udc80 text = 7"}',
        b'{"id": NaN, "question": "q", "gold": "7", "response": "7"}',
        b"\xff\xfe binary \x00 garbage",
        b"",
        _line("nogold", "3 + 4 = 7.", gold=None),
        b'{"id": "k", "kind": "code", "response": "x"}',
    ]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.jsonl"
    proc = _thresher("label", str(src), "-o", str(out), "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    rows = _strict(out.read_text(encoding="utf-8"))
    assert len(rows) == len(lines)
    assert all(set(row) >= KEYS for row in rows)
    assert [row["status"] for row in rows] == [
        "ok", "ok", "ok", "invalid_input", "invalid_input", "invalid_input", "invalid_input",
        "invalid_input", "ok", "invalid_input",
    ]  # fmt: skip
    assert [row["id"] for row in rows[:3]] == ["clean", "flawed", "sep"]
    assert rows[0]["correct"] is True and rows[0]["flawed_positive"] is False
    assert rows[1]["flawed_positive"] is True
    assert "wrong_arithmetic" in {f["type"] for f in rows[1]["flaws"]}
    assert rows[2]["correct"] is True
    errors = [row.get("error", "") for row in rows]
    assert "nested too deeply" in errors[3] and "surrogate" in errors[4]
    assert "NaN" in errors[5] and "not UTF-8" in errors[6] and errors[7] == "line 8: blank line"
    assert rows[8]["correct"] is None  # no gold: nothing to verify, flaws still labelled
    assert "kind" in errors[9]
    assert "labelled 10 lines" in proc.stderr and "6 invalid" in proc.stderr


def test_per_line_size_and_time_limits(tmp_path: Path) -> None:
    # 6,000 wrong steps: a second or more of rule labelling, far over a 0.05 s limit.
    slow = " ".join(f"Step {i}: {i} + 1 = {i + 2}." for i in range(6000))
    lines = [
        _line("slow", slow),
        _line("big", "3 + 4 = 7.", notes="x" * 30_000),
        _line("quick", "3 + 4 = 7. The answer is 7."),
    ]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    proc = _thresher(
        "label", str(src), "--line-timeout", "0.05", "--max-line-mb", "1", "--workers", "1"
    )
    assert proc.returncode == 0, proc.stderr
    slow_row, big_row, quick_row = _strict(proc.stdout)
    assert slow_row["status"] == "timeout" and slow_row["id"] == "slow"
    assert slow_row["flawed_positive"] is None and "--line-timeout" in slow_row["error"]
    assert big_row["status"] == "ok"  # 30 kB is under 1 MiB
    assert quick_row["status"] == "ok" and quick_row["correct"] is True
    assert "1 over the time limit" in proc.stderr
    small = _thresher("label", str(src), "--max-line-mb", "0.02", "--workers", "1")
    rows = _strict(small.stdout)
    assert [r["status"] for r in rows] == ["invalid_input", "invalid_input", "ok"]
    assert "per-line limit" in rows[1]["error"] and "--max-line-mb" in rows[1]["error"]
    assert rows[0]["id"] is None and "line 1: " in rows[0]["error"]


def test_label_streams_a_fifo_and_stdin(tmp_path: Path) -> None:
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as fh:
            fh.write(_line("a", "3 + 4 = 7.") + b"\n" + _line("b", "3 + 4 = 9.") + b"\n")

    writer = threading.Thread(target=feed)
    writer.start()
    proc = _thresher("label", str(fifo), "--workers", "1")
    writer.join(timeout=10)
    assert proc.returncode == 0, proc.stderr
    assert [r["correct"] for r in _strict(proc.stdout)] == [True, False]
    piped = subprocess.run(
        [sys.executable, "-m", "thresher.cli", "label", "-", "--workers", "1"],
        input=_line("c", "7") + b"\n",
        capture_output=True,
        timeout=600,
    )
    assert piped.returncode == 0 and _strict(piped.stdout.decode())[0]["id"] == "c"


def test_terminated_label_keeps_the_previous_output(tmp_path: Path) -> None:
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    out = tmp_path / "labels.jsonl"
    out.write_text("previous labels\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "thresher.cli", "label", str(fifo), "-o", str(out)],
        stderr=subprocess.PIPE,
        text=True,
    )
    with open(fifo, "wb") as feed:
        feed.write(_line("a", "3 + 4 = 7.") + b"\n")
        feed.flush()
        deadline = time.monotonic() + 60
        while not [p for p in tmp_path.iterdir() if p.name.endswith(".thresher-tmp")]:
            assert time.monotonic() < deadline, "no temporary output appeared"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert out.read_text() == "previous labels\n"
    assert "Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.fifo", "labels.jsonl"]


@pytest.mark.parametrize("target", ["/sys/thresher-labels.jsonl", "{tmp}/missing/x.jsonl"])
def test_unwritable_label_output_fails_before_work(tmp_path: Path, target: str) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(_line("a", "7") + b"\n")
    proc = _thresher("label", str(src), "-o", target.format(tmp=tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert "labelled" not in proc.stderr


def test_a_missing_judge_model_fails_before_work(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(_line("a", "7") + b"\n")
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    proc = _thresher("label", str(src), "-o", str(out), "--judge", str(tmp_path / "no-model"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--judge" in proc.stderr and "not found" in proc.stderr
    assert out.read_text() == "previous\n"
