"""The standalone ``thresher verify`` contract: JSONL in, one JSONL verdict per line out."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from thresher.filters.verify.pool import VerifyPool
from thresher.filters.verify.runner import verify_items
from thresher.filters.verify.types import Outcome, VerifyItem
from thresher.schemas.errors import InputError

__all__ = ["parse_line", "read_object", "verify_jsonl", "KINDS"]

KINDS = ("math", "choice", "exact", "code")
BLOCK = 20_000  # lines verified together: duplicates within a block are checked once


def read_object(text: str, line_no: int) -> tuple[Any, dict[str, Any] | None, str]:
    """(id, object, '') for a JSON object line with an id; (None, None, reason) otherwise."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, None, f"line {line_no}: not JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(obj, dict):
        return None, None, f"line {line_no}: expected a JSON object"
    ident = obj.get("id")
    if ident is None:
        return None, None, f"line {line_no}: field 'id' is missing"
    return ident, obj, ""


def parse_line(text: str, line_no: int) -> tuple[Any, VerifyItem | None, str]:
    """(id, item, '') for a good line; (id or None, None, reason) for a bad one."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None, None, f"line {line_no}: not UTF-8 text"
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


def _record(ident: Any, verifier: str | None, outcome: Outcome) -> dict[str, Any]:
    return {
        "id": ident,
        "correct": outcome.correct,
        "status": outcome.status,
        "extracted": outcome.extracted,
        "verifier": verifier,
        "reason": outcome.reason,
    }


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Non-blank lines with their numbers; a line that is not UTF-8 is passed on as-is."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read input: {exc.strerror}", source=str(path)) from exc
    with fh:
        try:
            for line_no, raw in enumerate(fh, start=1):
                if raw.strip():
                    yield line_no, raw.decode("utf-8", errors="surrogateescape")
        except OSError as exc:
            raise InputError(f"cannot read input: {exc.strerror}", source=str(path)) from exc


def verify_jsonl(
    path: Path,
    out: IO[str],
    *,
    workers: int = 2,
    timeout_s: float = 5.0,
    on_done: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Verify every line of a JSONL file, writing one result line per input line in order."""
    if path.is_dir():
        raise InputError("is a directory, expected a JSONL file", source=str(path))
    if not path.exists():
        raise InputError("no such file", source=str(path), hint="check the path")
    counts: dict[str, int] = {}
    with VerifyPool(workers=workers) as pool:
        block: list[tuple[int, str]] = []
        for entry in _lines(path):
            block.append(entry)
            if len(block) >= BLOCK:
                _verify_block(block, out, pool, timeout_s, counts, on_done)
                block = []
        if block:
            _verify_block(block, out, pool, timeout_s, counts, on_done)
    return counts


def _verify_block(
    block: list[tuple[int, str]],
    out: IO[str],
    pool: VerifyPool,
    timeout_s: float,
    counts: dict[str, int],
    on_done: Callable[[int], None] | None,
) -> None:
    parsed = [parse_line(text, n) for n, text in block]
    kinds = {p[1].kind for p in parsed if p[1] is not None}
    if kinds & {"math", "code"}:
        pool.prestart(warm="math" in kinds)  # workers warm up while quick paths run here
    good = [(i, p[1]) for i, p in enumerate(parsed) if p[1] is not None]
    verdicts = verify_items(
        [item for _, item in good if item is not None],
        timeout_s=timeout_s,
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
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
        out.write(json.dumps(_record(ident, verifier, outcome), ensure_ascii=False) + "\n")
