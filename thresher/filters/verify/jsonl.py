"""The standalone ``thresher verify`` contract: JSONL in, one JSONL verdict per line out.

A *line* is a run of bytes ended by ``\\n`` (the last one may lack it), exactly what ``wc -l``
counts; nothing else splits a line (not ``\\r``, not U+2028). Every line, blank or garbage,
gets exactly one output line, in input order. The input is read once, as a stream (pipes and
FIFOs work), never more than one line past the block being verified.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from thresher.filters.verify.pool import VerifyPool
from thresher.filters.verify.runner import verify_items
from thresher.filters.verify.types import Outcome, VerifyItem
from thresher.schemas.errors import InputError

__all__ = [
    "KINDS",
    "MAX_LINE_BYTES",
    "Line",
    "check_input",
    "dump_line",
    "iter_blocks",
    "iter_lines",
    "open_input",
    "parse_line",
    "read_object",
    "verify_jsonl",
]

KINDS = ("math", "choice", "exact", "code")
BLOCK = 20_000  # lines verified together: duplicates within a block are checked once
BLOCK_BYTES = 64 << 20  # ... and at most this many input bytes held at once
MAX_LINE_BYTES = 16 << 20  # default per-line size limit (--max-line-mb raises it)
_CHUNK = 1 << 20
_LINE_BREAKERS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


@dataclass(frozen=True)
class Line:
    """One input line: its 1-based number and text, or why it has no usable text."""

    number: int
    text: str | None  # None when the line is blank, too long or not UTF-8
    size: int  # bytes, without the newline
    problem: str = ""  # the reason text is None, naming the line


def check_input(path: str | Path) -> None:
    """A clear error for a missing input or a folder, without opening it (a FIFO stays unread)."""
    if str(path) == "-":
        return
    p = Path(path)
    if p.is_dir():
        raise InputError("is a directory, expected a JSONL file", source=str(path))
    if not p.exists():
        raise InputError("no such file", source=str(path), hint="check the path")


def open_input(path: str | Path) -> IO[bytes]:
    """Open an input for one streaming read ('-' is stdin); a clear error if it cannot be."""
    if str(path) == "-":
        return sys.stdin.buffer
    check_input(path)
    p = Path(path)
    try:
        return p.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read input: {exc.strerror}", source=str(path)) from exc


def iter_lines(
    fh: IO[bytes], *, max_bytes: int = MAX_LINE_BYTES, source: str = ""
) -> Iterator[Line]:
    """Every line of a byte stream, split on b'\\n' only; a line over max_bytes is never held."""
    number = 0
    try:
        while True:
            raw = fh.readline(max_bytes + 1)
            if not raw:
                return
            number += 1
            size = len(raw) - raw.endswith(b"\n")
            if size > max_bytes:
                # Skip the rest of the line without holding it: memory stays bounded.
                while not raw.endswith(b"\n"):
                    raw = fh.readline(_CHUNK)
                    if not raw:
                        break
                    size += len(raw) - raw.endswith(b"\n")
                yield Line(number, None, size, _too_long(number, size, max_bytes))
                continue
            yield _decode(number, raw, size)
    except OSError as exc:
        raise InputError(f"cannot read input: {exc.strerror}", source=source or None) from exc


def iter_blocks(
    fh: IO[bytes], *, lines: int, max_bytes: int, max_line_bytes: int, source: str = ""
) -> Iterator[list[Line]]:
    """The stream's lines in blocks of at most `lines` lines or about `max_bytes` input bytes."""
    block: list[Line] = []
    held = 0
    for line in iter_lines(fh, max_bytes=max_line_bytes, source=source):
        block.append(line)
        held += line.size
        if len(block) >= lines or held >= max_bytes:
            yield block
            block, held = [], 0
    if block:
        yield block


def _too_long(number: int, size: int, max_bytes: int) -> str:
    return (
        f"line {number}: {size:,} bytes, over the per-line limit of {max_bytes:,} bytes "
        f"(raise it with --max-line-mb)"
    )


def _decode(number: int, raw: bytes, size: int) -> Line:
    body = raw[:size]
    if number == 1 and body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]  # a UTF-8 byte order mark at the start of the file
    if not body.strip():
        return Line(number, None, size, f"line {number}: blank line")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Line(number, None, size, f"line {number}: not UTF-8 text (byte {exc.start + 1})")
    return Line(number, text, size)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range for a double")
    return value


def _has_lone_surrogate(obj: Any) -> bool:
    """True if any string (key or value) holds an unpaired UTF-16 surrogate."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def read_object(text: str, line_no: int) -> tuple[Any, dict[str, Any] | None, str]:
    """(id, object, '') for a strict-JSON object line with an id; (None, None, reason) otherwise."""
    try:
        obj = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except json.JSONDecodeError as exc:
        return None, None, f"line {line_no}: not JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return None, None, f"line {line_no}: JSON nested too deeply to read"
    except ValueError as exc:  # NaN/Infinity, 1e999, an integer with too many digits
        return None, None, f"line {line_no}: not valid JSON: {exc}"
    if not isinstance(obj, dict):
        return None, None, f"line {line_no}: expected a JSON object"
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(obj):
        return (
            None,
            None,
            (
                f"line {line_no}: a string holds an unpaired UTF-16 surrogate escape (\\ud800-\\udfff), "
                "which is not Unicode text"
            ),
        )
    ident = obj.get("id")
    if ident is None:
        return None, None, f"line {line_no}: field 'id' is missing"
    return ident, obj, ""


def parse_line(text: str, line_no: int) -> tuple[Any, VerifyItem | None, str]:
    """(id, item, '') for a good line; (id or None, None, reason) for a bad one."""
    ident, obj, reason = read_object(text, line_no)
    if obj is None:
        return ident, None, reason
    kind = obj.get("kind")
    if kind not in KINDS:
        return ident, None, f"line {line_no}: field 'kind' must be one of {', '.join(KINDS)}"
    response = obj.get("response")
    if not isinstance(response, str):
        return ident, None, f"line {line_no}: field 'response' must be a string"
    if kind == "code":
        if "tests" not in obj:
            return ident, None, f"line {line_no}: field 'tests' is missing (code items)"
        return ident, VerifyItem(str(ident), kind, response, tests=obj["tests"]), ""
    gold = obj.get("gold")
    if isinstance(gold, bool) or not isinstance(gold, str | int | float):
        return ident, None, f"line {line_no}: field 'gold' must be a string or number"
    return ident, VerifyItem(str(ident), kind, response, gold=str(gold)), ""


def dump_line(row: dict[str, Any], fallback: dict[str, Any]) -> tuple[str, bool]:
    """(one strict-JSON UTF-8 output line, False), or the `fallback` line and True if `row`
    cannot be written as one (never raises)."""
    try:
        line = json.dumps(row, ensure_ascii=False, allow_nan=False)
        line.encode("utf-8")
        # Escaped so that no reader splits an output line: str.splitlines() breaks on these.
        return line.translate(_LINE_BREAKERS) + "\n", False
    except (ValueError, TypeError, RecursionError):  # UnicodeEncodeError is a ValueError
        return json.dumps(fallback, ensure_ascii=True, allow_nan=False, default=str) + "\n", True


def _record(ident: Any, verifier: str | None, outcome: Outcome) -> dict[str, Any]:
    return {
        "id": ident,
        "correct": outcome.correct,
        "status": outcome.status,
        "extracted": outcome.extracted,
        "verifier": verifier,
        "reason": outcome.reason,
    }


def verify_jsonl(
    path: str | Path,
    out: IO[str],
    *,
    workers: int = 2,
    timeout_s: float = 5.0,
    by_kind: Mapping[str, str] | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
    on_done: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Verify every line of a JSONL file, writing one result line per input line in order
    (``by_kind``: the verifier for a kind, instead of its default)."""
    counts: dict[str, int] = {}
    fh = open_input(path)
    with fh if str(path) != "-" else nullcontext(fh), VerifyPool(workers=workers) as pool:
        blocks = iter_blocks(
            fh, lines=BLOCK, max_bytes=BLOCK_BYTES, max_line_bytes=max_line_bytes, source=str(path)
        )
        for block in blocks:
            _verify_block(block, out, pool, timeout_s, by_kind, counts, on_done)
    return counts


def _verify_block(
    block: list[Line],
    out: IO[str],
    pool: VerifyPool,
    timeout_s: float,
    by_kind: Mapping[str, str] | None,
    counts: dict[str, int],
    on_done: Callable[[int], None] | None,
) -> None:
    parsed = [
        parse_line(line.text, line.number) if line.text is not None else (None, None, line.problem)
        for line in block
    ]
    kinds = {p[1].kind for p in parsed if p[1] is not None}
    if kinds & {"math", "code"}:
        pool.prestart(warm="math" in kinds)  # workers warm up while quick paths run here
    good = [(i, p[1]) for i, p in enumerate(parsed) if p[1] is not None]
    verdicts = verify_items(
        [item for _, item in good if item is not None],
        timeout_s=timeout_s,
        by_kind=by_kind,
        pool=pool,
        on_done=on_done,
    )
    by_pos = {i: v for (i, _), v in zip(good, verdicts, strict=True)}
    for i, (ident, item, reason) in enumerate(parsed):
        if item is None:
            verifier, outcome = None, Outcome("invalid_input", reason=reason)
            if on_done is not None:
                on_done(1)
        else:
            verifier, outcome = by_pos[i]
        fallback = Outcome(
            "invalid_input",
            reason=f"line {block[i].number}: the result cannot be written as strict JSON",
        )
        text, failed = dump_line(_record(ident, verifier, outcome), _record(None, None, fallback))
        status = fallback.status if failed else outcome.status
        counts[status] = counts.get(status, 0) + 1
        out.write(text)
