"""Problem sources read as streams of raw rows: JSONL, CSV, Parquet, datasets on disk, the Hub.

A reader never raises on a bad row: it yields the row with the reason it could not be read, so
the caller decides whether to fail or quarantine. Whole-source problems (missing file, unreadable
Parquet, no rows) raise `InputError` naming the source.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thresher.schemas import InputError

__all__ = ["RawRow", "Source", "open_source", "SUPPORTED"]

SUPPORTED = ".jsonl / .ndjson, .csv, .parquet, a `datasets` folder from save_to_disk, a Hub id"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_SURROGATE = re.compile("[\udc80-\udcff]")
RAW_LIMIT = 4096


@dataclass
class RawRow:
    """One input row: where it is, its values (None if unreadable), and why it is unreadable."""

    location: str
    values: dict[str, Any] | None
    raw: str
    error: str = ""
    field: str = ""


@dataclass
class Source:
    """An opened problem source: its display name, known columns, and a batch iterator."""

    display: str
    columns: list[str] | None  # known up front for tabular sources; None for JSONL
    total: int | None  # progress units (bytes or rows) when known
    batches: Iterator[tuple[list[RawRow], int]]  # rows and progress units advanced


def _clip(text: str) -> str:
    return text if len(text) <= RAW_LIMIT else text[:RAW_LIMIT] + "…"


def _raw_json(values: dict[str, Any]) -> str:
    return _clip(json.dumps(values, ensure_ascii=False, default=repr))


def _empty(display: str) -> InputError:
    return InputError(
        "the input is empty: it has no rows", source=display, hint="check the path or the split"
    )


def _bad_utf8(data: bytes, err: UnicodeDecodeError) -> str:
    return f"not valid UTF-8: byte 0x{data[err.start]:02x} at column {err.start + 1}"


# -- JSONL ---------------------------------------------------------------------------------------


def _jsonl_row(location: str, data: bytes, last: bool) -> RawRow:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        return RawRow(location, None, data.decode("utf-8", "replace"), _bad_utf8(data, err))
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        truncated = err.msg.startswith("Unterminated") or err.pos >= len(text.rstrip())
        if truncated:
            end = " (the file ends mid-record)" if last else ""
            reason = f"truncated JSON: the line ends before the record is complete{end}"
        else:
            reason = f"invalid JSON at column {err.colno}: {err.msg}"
        return RawRow(location, None, _clip(text), reason)
    if not isinstance(value, dict):
        return RawRow(location, None, _clip(text), f"expected a JSON object, got {_kind(value)}")
    return RawRow(location, value, _clip(text))


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _jsonl(path: Path, display: str, batch_size: int) -> Iterator[tuple[list[RawRow], int]]:
    batch: list[RawRow] = []
    consumed = 0
    seen_rows = False
    with path.open("rb") as handle:
        lines = iter(handle)
        line = next(lines, None)
        number = 0
        while line is not None:
            number += 1
            following = next(lines, None)
            consumed += len(line)
            data = line.rstrip(b"\r\n")
            if number == 1:
                data = data.removeprefix(codecs.BOM_UTF8)
            if data.strip():
                seen_rows = True
                batch.append(_jsonl_row(f"{display}:{number}", data, following is None))
            if len(batch) >= batch_size:
                yield batch, consumed
                batch, consumed = [], 0
            line = following
    if not seen_rows:
        raise _empty(display)
    if batch or consumed:
        yield batch, consumed


# -- CSV -----------------------------------------------------------------------------------------


def _csv_header(path: Path, display: str) -> list[str]:
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        try:
            header = next(csv.reader(handle, strict=True), None)
        except csv.Error as err:
            raise InputError(f"unreadable CSV header: {err}", source=display, line=1) from None
    if not header or not any(h.strip() for h in header):
        raise _empty(display)
    if any(_SURROGATE.search(h) for h in header):
        raise InputError("the header is not valid UTF-8", source=display, line=1)
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise InputError(
            f"duplicate column names in the header: {duplicates}", source=display, line=1
        )
    return header


def _csv_row(location: str, header: list[str], cells: list[str]) -> RawRow:
    raw = _clip(",".join(cells).encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    if len(cells) != len(header):
        how = "fewer" if len(cells) < len(header) else "more"
        reason = f"expected {len(header)} fields (one per header column), found {len(cells)}: " + (
            "the row is truncated or a quote is unbalanced" if how == "fewer" else "too many"
        )
        return RawRow(location, None, raw, reason)
    for column, cell in zip(header, cells, strict=True):
        bad = _SURROGATE.search(cell)
        if bad:
            byte = ord(bad.group()) - 0xDC00
            reason = f"not valid UTF-8: byte 0x{byte:02x} at column {bad.start() + 1} of the field"
            return RawRow(location, None, raw, reason, column)
    return RawRow(location, dict(zip(header, cells, strict=True)), raw)


def _csv(
    path: Path, display: str, header: list[str], batch_size: int
) -> Iterator[tuple[list[RawRow], int]]:
    batch: list[RawRow] = []
    rows = 0
    with path.open("rb") as binary:
        handle = io.TextIOWrapper(
            binary, encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
        reader = csv.reader(handle, strict=True)
        next(reader)
        start, done = reader.line_num + 1, binary.tell()
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as err:  # unbalanced quote at end of file: nothing more to read
                batch.append(
                    RawRow(f"{display}:{start}", None, "", f"truncated or mis-quoted row: {err}")
                )
                break
            if any(c.strip() for c in cells):
                rows += 1
                batch.append(_csv_row(f"{display}:{start}", header, cells))
            start = reader.line_num + 1
            if len(batch) >= batch_size:
                now = binary.tell()
                yield batch, now - done
                batch, done = [], now
    if rows == 0 and not batch:
        raise _empty(display)
    yield batch, path.stat().st_size - done


# -- Parquet and datasets ------------------------------------------------------------------------


def _decode_bytes(location: str, values: dict[str, Any]) -> RawRow:
    """Binary cells that hold UTF-8 are read as text; other bytes make the row unreadable."""
    for column, value in values.items():
        if isinstance(value, bytes):
            try:
                values[column] = value.decode("utf-8")
            except UnicodeDecodeError as err:
                raw = _raw_json({k: v for k, v in values.items() if not isinstance(v, bytes)})
                return RawRow(location, None, raw, _bad_utf8(value, err), column)
    return RawRow(location, values, _raw_json(values))


def _parquet(path: Path, display: str, batch_size: int) -> Source:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(
            f"not a readable Parquet file (truncated or corrupt?): {err}", source=display
        ) from None
    total = handle.metadata.num_rows
    if total == 0:
        raise _empty(display)

    def batches() -> Iterator[tuple[list[RawRow], int]]:
        row = 0
        try:
            for record_batch in handle.iter_batches(batch_size=batch_size):
                rows = record_batch.to_pylist()
                yield (
                    [_decode_bytes(f"{display}:row {row + i}", r) for i, r in enumerate(rows)],
                    len(rows),
                )
                row += len(rows)
        except (pa.ArrowInvalid, OSError) as err:
            raise InputError(
                f"cannot read rows from row {row} on (truncated or corrupt?): {err}",
                source=display,
            ) from None

    return Source(display, list(handle.schema_arrow.names), total, batches())


def _dataset_source(dataset: Any, display: str, batch_size: int) -> Source:
    total = dataset.num_rows
    if total == 0:
        raise _empty(display)

    def batches() -> Iterator[tuple[list[RawRow], int]]:
        row = 0
        for chunk in dataset.iter(batch_size=batch_size):
            columns = list(chunk)
            count = len(chunk[columns[0]]) if columns else 0
            rows = [{c: chunk[c][i] for c in columns} for i in range(count)]
            yield [_decode_bytes(f"{display}:row {row + i}", r) for i, r in enumerate(rows)], count
            row += count

    return Source(display, list(dataset.column_names), total, batches())


def _pick_split(loaded: Any, split: str | None, display: str) -> tuple[Any, str]:
    from datasets import DatasetDict

    if not isinstance(loaded, DatasetDict):
        if split is not None:
            raise InputError(
                f"--split {split!r} given, but this is a single dataset without splits",
                source=display,
                field="--split",
            )
        return loaded, display
    names = list(loaded)
    if split is None:
        if len(names) == 1:
            return loaded[names[0]], f"{display}[{names[0]}]"
        raise InputError(
            f"the dataset has splits {names}; choose one", source=display, hint="pass --split NAME"
        )
    if split not in loaded:
        raise InputError(f"no split {split!r}; splits are {names}", source=display, field="--split")
    return loaded[split], f"{display}[{split}]"


def _saved_dataset(path: Path, display: str, split: str | None, batch_size: int) -> Source:
    """A `save_to_disk` folder; of a DatasetDict only the chosen split's folder is loaded."""
    from datasets import load_from_disk

    dict_file = path / "dataset_dict.json"
    if dict_file.exists():
        try:
            splits = list(json.loads(dict_file.read_text(encoding="utf-8"))["splits"])
        except (ValueError, KeyError, TypeError) as err:
            raise InputError(f"unreadable dataset_dict.json: {err}", source=display) from None
        if split is None and len(splits) != 1:
            raise InputError(
                f"the dataset has splits {splits}; choose one",
                source=display,
                hint="pass --split NAME",
            )
        split = splits[0] if split is None else split
        if split not in splits:
            raise InputError(
                f"no split {split!r}; splits are {splits}", source=display, field="--split"
            )
        path, display = path / split, f"{display}[{split}]"
    elif split is not None:
        raise InputError(
            f"--split {split!r} given, but this is a single dataset without splits",
            source=display,
            field="--split",
        )
    try:  # datasets cannot load a saved dataset with no data files: check the state first
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"not a readable saved dataset: {err}", source=display) from None
    if not state.get("_data_files"):
        raise _empty(display)
    try:
        dataset = load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as err:
        raise InputError(f"not a readable saved dataset: {err}", source=display) from None
    return _dataset_source(dataset, display, batch_size)


def _hub_dataset(dataset_id: str, split: str | None, batch_size: int) -> Source:
    """A Hub dataset through `datasets.load_dataset` (downloads, or uses the local HF cache)."""
    from datasets import load_dataset

    try:
        loaded = load_dataset(dataset_id, split=split)
    except ValueError as err:  # e.g. an unknown split: datasets lists the known ones
        raise InputError(f"cannot load Hub dataset: {err}", source=dataset_id) from None
    except Exception as err:  # network, auth, missing repo: datasets raises many kinds
        raise InputError(
            f"cannot load Hub dataset: {type(err).__name__}: {err}",
            source=dataset_id,
            hint="check the dataset id and your network (offline, only cached datasets load); "
            "a local file path must exist",
        ) from None
    dataset, shown = _pick_split(
        loaded, None, dataset_id if split is None else f"{dataset_id}[{split}]"
    )
    return _dataset_source(dataset, shown, batch_size)


# -- dispatch ------------------------------------------------------------------------------------


def open_source(source: str, *, split: str | None = None, batch_size: int = 10_000) -> Source:
    """Open a problem source by path or Hub id; unknown kinds fail with the supported list."""
    if source.startswith("hub:"):
        return _hub_dataset(source.removeprefix("hub:"), split, batch_size)
    path = Path(source).expanduser()
    display = source
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
            return _saved_dataset(path, display, split, batch_size)
        raise InputError(
            "this folder is not a dataset saved with `Dataset.save_to_disk`",
            source=display,
            hint=f"supported sources: {SUPPORTED}",
        )
    if not path.exists():
        if _HUB_ID.match(source) and not path.suffix:
            return _hub_dataset(source, split, batch_size)
        raise InputError("no such file", source=display, hint=f"supported sources: {SUPPORTED}")
    if split is not None:
        raise InputError(
            "--split applies to saved datasets and Hub datasets, not to a single file",
            source=display,
            field="--split",
        )
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        if path.stat().st_size == 0:
            raise _empty(display)
        return Source(display, None, path.stat().st_size, _jsonl(path, display, batch_size))
    if suffix == ".csv":
        header = _csv_header(path, display)
        return Source(display, header, path.stat().st_size, _csv(path, display, header, batch_size))
    if suffix == ".parquet":
        return _parquet(path, display, batch_size)
    raise InputError(
        f"unsupported file type {suffix or '(none)'!r}",
        source=display,
        hint=f"supported sources: {SUPPORTED}",
    )
