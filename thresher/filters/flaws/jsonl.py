"""The ``thresher label INPUT.jsonl`` contract: lines ``{"id", "question", "gold", "response"}``
(optional ``kind``, ``reference``, ``conditioned``) in, one result line per input line out, in
order, streamed in chunks; a line over the size limit or whose rule labelling runs past its
time limit gets its own status."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from thresher.filters.flaws.runner import is_flawed_positive, label_traces
from thresher.filters.flaws.types import Labeler, Trace
from thresher.filters.verify.jsonl import (
    KINDS,
    MAX_LINE_BYTES,
    Line,
    dump_line,
    iter_blocks,
    read_object,
)
from thresher.filters.verify.pool import VerifyPool
from thresher.filters.verify.runner import verify_items
from thresher.filters.verify.types import VerifyItem
from thresher.schemas import FlawLabel

__all__ = ["LINE_TIMEOUT_S", "LineTimeout", "label_jsonl", "parse_label_line"]

LINE_TIMEOUT_S = 10.0  # default wall-time limit for one line's rule labelling (--line-timeout)
CHUNK_LINES = 500  # lines labelled together (the judge batches them; the rest streams)
CHUNK_BYTES = 32 << 20


def parse_label_line(text: str, line_no: int) -> tuple[Any, dict[str, Any] | None, str]:
    """(id, fields, '') for a good line; (id or None, None, reason) for a bad one."""
    ident, obj, reason = read_object(text, line_no)
    if obj is None:
        return ident, None, reason
    if not isinstance(obj.get("response"), str):
        return ident, None, f"line {line_no}: field 'response' must be a string"
    kind = obj.get("kind", "math")
    if kind not in KINDS or kind == "code":
        return ident, None, f"line {line_no}: field 'kind' must be math, choice or exact"
    gold = obj.get("gold")
    if gold is not None and (isinstance(gold, bool) or not isinstance(gold, str | int | float)):
        return ident, None, f"line {line_no}: field 'gold' must be a string or number"
    question = obj.get("question", "")
    if not isinstance(question, str):
        return ident, None, f"line {line_no}: field 'question' must be a string"
    reference = obj.get("reference")
    if reference is not None and not isinstance(reference, str):
        return ident, None, f"line {line_no}: field 'reference' must be a string"
    # a reference is, by this field's meaning, one the prompt showed: conditioned by default
    conditioned = obj.get("conditioned", reference is not None)
    if not isinstance(conditioned, bool):
        return ident, None, f"line {line_no}: field 'conditioned' must be true or false"
    fields = {"response": obj["response"], "kind": kind, "question": question}
    fields["gold"] = None if gold is None else str(gold)
    fields |= {"reference": reference, "conditioned": conditioned}
    return ident, fields, ""


class LineTimeout(Exception):
    """A line's rule labelling ran past its time limit."""


@contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise LineTimeout in the body after `seconds` of wall time (main thread only)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum: int, frame: object) -> None:
        raise LineTimeout()

    previous = signal.signal(signal.SIGALRM, fire)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)


def label_jsonl(
    fh: IO[bytes],
    sink: IO[str],
    *,
    pool: VerifyPool,
    labelers: list[Labeler],
    judge: Labeler | None = None,
    source: str = "<input>",
    max_line_bytes: int = MAX_LINE_BYTES,
    line_timeout_s: float | None = LINE_TIMEOUT_S,
) -> dict[str, int]:
    """Label every line of a binary stream into `sink`; returns the counts of the run."""
    counts = {"lines": 0, "flawed_positive": 0, "invalid": 0, "timeout": 0}
    chunks = iter_blocks(
        fh, lines=CHUNK_LINES, max_bytes=CHUNK_BYTES, max_line_bytes=max_line_bytes, source=source
    )
    for chunk in chunks:
        _label_chunk(chunk, sink, pool, labelers, judge, line_timeout_s, counts)
    return counts


def _label_chunk(
    chunk: list[Line],
    sink: IO[str],
    pool: VerifyPool,
    labelers: list[Labeler],
    judge: Labeler | None,
    line_timeout_s: float | None,
    counts: dict[str, int],
) -> None:
    parsed = [
        parse_label_line(line.text, line.number) if line.text is not None
        else (None, None, line.problem)
        for line in chunk
    ]  # fmt: skip
    good = [(i, ident, f) for i, (ident, f, _) in enumerate(parsed) if f is not None]
    items = [
        VerifyItem(str(ident), f["kind"], f["response"], gold=f["gold"])
        for _, ident, f in good
        if f["gold"] is not None
    ]
    verdicts = iter(verify_items(items, pool=pool))
    correct = {i: next(verdicts)[1].correct if f["gold"] is not None else None for i, _, f in good}
    seen: set[str] = set()
    traces: dict[int, Trace] = {}
    for i, ident, f in good:
        key = str(ident) if str(ident) not in seen else f"{ident}#line{chunk[i].number}"
        seen.add(key)
        traces[i] = Trace(
            key, f["response"], question=f["question"], gold=f["gold"], kind=f["kind"],
            reference=f["reference"], conditioned=f["conditioned"],
        )  # fmt: skip
    labels: dict[int, list[FlawLabel]] = {}
    for i, trace in traces.items():
        try:
            with _time_limit(line_timeout_s):
                labels[i] = label_traces([trace], labelers)[0]
        except LineTimeout:
            continue
    if judge is not None and labels:
        judged = label_traces([traces[i] for i in labels], [judge])
        for i, extra in zip(list(labels), judged, strict=True):
            labels[i].extend(extra)
    for i, (ident, _, reason) in enumerate(parsed):
        number = chunk[i].number
        if i in labels:
            flaws = [_flaw(x) for x in labels[i]]
            row = _row(ident, "ok", correct[i], is_flawed_positive(correct[i], labels[i]), flaws)
        elif i in traces:
            limit = f"line {number}: labelling took over {line_timeout_s:g} s"
            row = _row(ident, "timeout", correct[i], None, [], f"{limit} (raise --line-timeout)")
        else:
            row = _row(ident, "invalid_input", None, False, [], reason)
        unwritable = f"line {number}: the result cannot be written as strict JSON"
        text, failed = dump_line(row, _row(None, "invalid_input", None, False, [], unwritable))
        status = "invalid_input" if failed else row["status"]
        counts["lines"] += 1
        counts["flawed_positive"] += status == "ok" and bool(row["flawed_positive"])
        counts["invalid"] += status == "invalid_input"
        counts["timeout"] += status == "timeout"
        sink.write(text)


def _row(
    ident: Any,
    status: str,
    correct: bool | None,
    flawed: bool | None,
    flaws: list[dict[str, Any]],
    error: str = "",
) -> dict[str, Any]:
    """One output line: status ok, invalid_input or timeout; `error` says why when not ok."""
    row = {"id": ident, "status": status, "correct": correct, "flawed_positive": flawed}
    row["flaws"] = flaws
    if error:
        row["error"] = error
    return row


def _flaw(label: FlawLabel) -> dict[str, Any]:
    flaw = {
        "type": label.flaw_type,
        "severity": label.severity,
        "step": label.step,
        "evidence": label.evidence,
    }
    if label.critique is not None:
        flaw["critique"] = label.critique
    return flaw
