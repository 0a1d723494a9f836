"""`thresher verify INPUT.jsonl`: the exact line contract, bad lines, unreadable files."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

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
        "",  # a blank line is a line: it gets its own result
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    out = tmp_path / "out.jsonl"
    proc = _thresher("verify", str(src), "-o", str(out), "--workers", "1", "--timeout", "10")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(lines)
    assert all(set(row) == KEYS for row in rows)
    assert [row["id"] for row in rows] == ["a", None, 7, "c", "d", "e", "f", "g", None, None]
    assert [row["status"] for row in rows] == [
        "ok", "invalid_input", "ok", "ok", "ok", "invalid_input", "invalid_input", "ok",
        "invalid_input", "invalid_input",
    ]  # fmt: skip
    assert [row["correct"] for row in rows] == [
        True, None, True, False, True, None, None, True, None, None,
    ]  # fmt: skip
    assert rows[0]["verifier"] == "math_v2" and rows[7]["verifier"] == "code_v2"
    assert "line 2" in rows[1]["reason"]
    assert "kind" in rows[5]["reason"] and "gold" in rows[6]["reason"] and "id" in rows[8]["reason"]
    assert rows[9]["reason"] == "line 10: blank line"
    assert "invalid_input 5" in proc.stderr


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
    for proc in (missing, folder, bad, neither):
        assert "Traceback" not in proc.stderr


def _strict(text: str) -> list[dict[str, Any]]:
    """Parse JSONL as a strict parser would: NaN/Infinity and lone surrogates are errors."""

    def refuse(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")

    rows = []
    for line in text.split("\n")[:-1]:
        line.encode("utf-8")  # a lone surrogate cannot be encoded
        rows.append(json.loads(line, parse_constant=refuse))
    return rows


GOOD = {"kind": "exact", "gold": "a", "response": "a"}


def test_hostile_lines_each_get_one_strict_json_result(tmp_path: Path) -> None:
    """Deep nesting, surrogates, NaN ids, U+2028, CR, binary garbage, blank lines, BOM."""
    good = json.dumps({"id": "ok", **GOOD}).encode()
    lines = [
        b"\xef\xbb\xbf" + good,  # a byte order mark before the first line
        b'{"id": "deep", "kind": "exact", "gold": "a", "response": '
        + b"[" * 5000
        + b"]" * 5000
        + b"}",
        b'{"id": "s\\ud800", "kind": "exact", "gold": "a", "response": "a"}',
        b'{"id": "pair\\ud83d\\ude00", "kind": "exact", "gold": "a", "response": "a"}',
        b'{"id": NaN, "kind": "exact", "gold": "a", "response": "a"}',
        b'{"id": -Infinity, "kind": "exact", "gold": "a", "response": "a"}',
        b'{"id": 1e999, "kind": "exact", "gold": "a", "response": "a"}',
        b'{"id": 1' + b"0" * 5000 + b', "kind": "exact", "gold": "a", "response": "a"}',
        json.dumps(
            {"id": "sep", **GOOD, "response": "a\u2028b\u0085c"}, ensure_ascii=False
        ).encode(),
        b"\x00\xff\xfe\rgarbage\r\x0b\x0c",
        b"",
        b"   \t\r",
        good[:-1] + b', "x": "\\r"}\r',  # CRLF, and an escaped CR inside a string
        b"\xde\xad\xbe\xef",  # the last line has no newline
    ]
    src = tmp_path / "hostile.jsonl"
    src.write_bytes(b"\n".join(lines))
    proc = _thresher("verify", str(src), "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    rows = _strict(proc.stdout)
    assert len(rows) == len(lines) == src.read_bytes().count(b"\n") + 1
    ids = [row["id"] for row in rows]
    assert ids == ["ok", None, None, "pair\U0001f600", None, None, None, None, "sep", None, None,
                   None, "ok", None]  # fmt: skip
    status = [row["status"] for row in rows]
    assert status[0] == status[3] == status[12] == "ok"
    reasons = [row["reason"] for row in rows]
    for i, row in enumerate(rows):
        if row["status"] == "invalid_input":
            assert row["reason"].startswith(f"line {i + 1}: "), row
    assert "nested too deeply" in reasons[1]
    assert "surrogate" in reasons[2]
    assert "NaN" in reasons[4] and "Infinity" in reasons[5] and "out of range" in reasons[6]
    assert "digits" in reasons[7]
    assert rows[8]["status"] == "ok" and rows[8]["correct"] is False  # one line, not three
    assert "not UTF-8" in reasons[9] and "not UTF-8" in reasons[13]
    assert reasons[10] == "line 11: blank line" and reasons[11] == "line 12: blank line"
    # U+2028 / U+0085 are escaped in the output, so no line splitter breaks a result line
    assert len(proc.stdout.splitlines()) == len(lines)


def test_binary_garbage_gets_one_result_per_line(tmp_path: Path) -> None:
    rng = random.Random(7)
    data = bytes(rng.getrandbits(8) for _ in range(20_000)) + b"\n\n\r\n \n"
    src = tmp_path / "garbage.jsonl"
    src.write_bytes(data)
    proc = _thresher("verify", str(src), "--workers", "1")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    rows = _strict(proc.stdout)
    assert len(rows) == data.count(b"\n")  # what `wc -l` counts (the data ends in a newline)
    assert {row["status"] for row in rows} == {"invalid_input"}
    assert [int(row["reason"].split(":")[0].split()[1]) for row in rows] == list(
        range(1, len(rows) + 1)
    )


def test_fifo_input_is_read_once(tmp_path: Path) -> None:
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    lines = [json.dumps({"id": i, **GOOD, "response": "a" if i % 2 else "b"}) for i in range(5)]

    def feed() -> None:
        with open(fifo, "w") as fh:
            fh.write("\n".join(lines) + "\n")

    writer = threading.Thread(target=feed)
    writer.start()
    proc = _thresher("verify", str(fifo), "--workers", "1")
    writer.join(timeout=10)
    assert proc.returncode == 0, proc.stderr
    rows = _strict(proc.stdout)
    assert [r["id"] for r in rows] == list(range(5))
    assert [r["correct"] for r in rows] == [False, True, False, True, False]


def test_a_line_over_the_size_limit_gets_a_status(tmp_path: Path) -> None:
    src = tmp_path / "big.jsonl"
    big = json.dumps({"id": "big", **GOOD, "notes": "x" * 50_000})
    src.write_text(big + "\n" + json.dumps({"id": "after", **GOOD}) + "\n")
    proc = _thresher("verify", str(src), "--max-line-mb", "0.01")
    assert proc.returncode == 0, proc.stderr
    first, second = _strict(proc.stdout)
    assert first["status"] == "invalid_input" and first["id"] is None
    assert "50,0" in first["reason"] and "--max-line-mb" in first["reason"]
    assert second["id"] == "after" and second["correct"] is True
    raised = _thresher("verify", str(src), "--max-line-mb", "1")
    assert [r["status"] for r in _strict(raised.stdout)] == ["ok", "ok"]


def test_output_is_replaced_only_when_complete(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 1, **GOOD}) + "\n")
    out = tmp_path / "out.jsonl"
    out.write_text("previous results\n")
    out.chmod(0o640)
    missing = _thresher("verify", str(tmp_path / "nope.jsonl"), "-o", str(out))
    assert missing.returncode == 2 and out.read_text() == "previous results\n"
    done = _thresher("verify", str(src), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert _strict(out.read_text())[0]["correct"] is True
    assert out.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its permissions
    same = _thresher("verify", str(src), "-o", str(src))  # results over their own input
    assert same.returncode == 0 and _strict(src.read_text())[0]["status"] == "ok"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_unwritable_output_is_one_clear_error_before_any_work(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 1, **GOOD}) + "\n")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for target, words in [
        ("/sys/thresher-out.jsonl", "cannot write here"),  # read-only even for root
        (str(a_file / "out.jsonl"), "cannot write here"),
        (str(tmp_path / "no" / "such" / "out.jsonl"), "does not exist"),
        (str(tmp_path), "is a directory"),
    ]:
        proc = _thresher("verify", str(src), "-o", target)
        assert proc.returncode == 2, (target, proc.stderr)
        assert "Traceback" not in proc.stderr and words in proc.stderr, proc.stderr
        assert proc.stderr.startswith("error: ") and "verified" not in proc.stderr
        assert proc.stdout == ""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_run_keeps_the_previous_output(tmp_path: Path, sig: signal.Signals) -> None:
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    out = tmp_path / "out.jsonl"
    out.write_text("previous results\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "thresher.cli", "verify", str(fifo), "-o", str(out)],
        stderr=subprocess.PIPE,
        text=True,
    )
    with open(fifo, "w") as feed:  # opened once the verifier opens its input
        feed.write(json.dumps({"id": 1, **GOOD}) + "\n")
        feed.flush()
        deadline = time.monotonic() + 60
        while not [p for p in tmp_path.iterdir() if p.name.endswith(".thresher-tmp")]:
            assert time.monotonic() < deadline, "no temporary output appeared"
            time.sleep(0.05)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert out.read_text() == "previous results\n"
    assert "Traceback" not in stderr
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".thresher-tmp")]
    if sig == signal.SIGTERM:
        assert leftovers == []  # a terminated run cleans up after itself


def test_an_error_mid_file_keeps_the_previous_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    import thresher.filters.verify.jsonl as jsonl
    from thresher.config import VerifyConfig
    from thresher.stages.verify import verify_file

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, **GOOD}) + "\n" for i in range(3)))
    out = tmp_path / "out.jsonl"
    out.write_text("previous results\n")
    calls = []
    real = jsonl.verify_items

    def failing(items: Any, **kw: Any) -> Any:
        calls.append(len(items))
        if len(calls) == 2:
            raise RuntimeError("the verifier broke half way")
        return real(items, **kw)

    monkeypatch.setattr(jsonl, "BLOCK", 1)  # one line per block: the first is written
    monkeypatch.setattr(jsonl, "verify_items", failing)
    with pytest.raises(RuntimeError, match="half way"):
        verify_file(str(src), str(out), VerifyConfig(workers=1), console=Console(quiet=True))
    assert calls == [1, 1]
    assert out.read_text() == "previous results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_one_clear_error(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 1, **GOOD}) + "\n")
    to_file = _thresher("verify", str(src), "-o", "/dev/full")
    with open("/dev/full", "w") as full:
        to_stdout = subprocess.run(
            [sys.executable, "-m", "thresher.cli", "verify", str(src)],
            stdout=full, stderr=subprocess.PIPE, text=True, timeout=300,
        )  # fmt: skip
    for proc, where in ((to_file, "/dev/full"), (to_stdout, "standard output")):
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert f"error: cannot write {where}: No space left on device" in proc.stderr
