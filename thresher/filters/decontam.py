"""Decontamination: word n-gram overlap of problems against benchmark sets the user supplies.

Text is normalised (NFKC, lower case, punctuation to spaces) and split into words; a problem is
flagged against a benchmark item when they share an n-gram (default 13 words, as in the GPT-3
and Llama contamination studies). A problem shorter than n words matches when its whole word
sequence appears in the item. Flags are labels; dropping is the selection policy's call.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from thresher.schemas import ContaminationFlag, Problem
from thresher.schemas.errors import InputError, NotFoundError, ThresherError

__all__ = [
    "DECONTAM_METHOD",
    "TEXT_FIELDS",
    "BenchmarkItem",
    "NgramIndex",
    "load_benchmark",
    "normalize_words",
    "decontaminate",
]

DECONTAM_METHOD = "ngram_overlap_v1"
TEXT_FIELDS = ("question", "problem", "prompt", "text", "input", "query", "content")
ID_FIELDS = ("id", "problem_id", "task_id", "question_id", "idx", "uid")


@dataclass(frozen=True)
class BenchmarkItem:
    """One benchmark item: the set it comes from, its id, and its text."""

    benchmark: str
    item_id: str
    text: str


def normalize_words(text: str) -> list[str]:
    """Lower-cased words of the NFKC text, punctuation removed."""
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"[^\w]+", " ", text).split()


def _gram_key(words: Sequence[str]) -> bytes:
    return hashlib.blake2b(" ".join(words).encode("utf-8"), digest_size=8).digest()


class NgramIndex:
    """Benchmark items indexed by hashed word n-grams (any length asked for, built lazily)."""

    def __init__(self, items: Sequence[BenchmarkItem], n: int = 13) -> None:
        if n < 1:
            raise InputError(f"n-gram length must be >= 1, got {n}", field="n")
        self.items = list(items)
        self.n = n
        self._words = [normalize_words(item.text) for item in self.items]
        self._by_len: dict[int, dict[bytes, list[int]]] = {}

    def _index(self, m: int) -> dict[bytes, list[int]]:
        if m not in self._by_len:
            grams: dict[bytes, list[int]] = defaultdict(list)
            for pos, words in enumerate(self._words):
                seen: set[bytes] = set()
                for k in range(len(words) - m + 1):
                    key = _gram_key(words[k : k + m])
                    if key not in seen:
                        seen.add(key)
                        grams[key].append(pos)
            self._by_len[m] = dict(grams)
        return self._by_len[m]

    def check(self, problem: Problem, min_overlap: float = 0.0) -> list[ContaminationFlag]:
        """Flags for one problem: one per benchmark item sharing an n-gram with its question."""
        words = normalize_words(problem.question)
        if not words:
            return []
        m = min(self.n, len(words))
        index = self._index(m)
        grams = [words[k : k + m] for k in range(len(words) - m + 1)]
        hits: dict[int, list[int]] = defaultdict(list)
        for g, gram in enumerate(grams):
            for pos in index.get(_gram_key(gram), ()):
                hits[pos].append(g)
        flags = []
        for pos, matched in sorted(hits.items()):
            overlap = len(matched) / len(grams)
            if overlap < min_overlap:
                continue
            item = self.items[pos]
            flags.append(
                ContaminationFlag(
                    problem_id=problem.problem_id,
                    benchmark=item.benchmark,
                    benchmark_item=item.item_id,
                    method=DECONTAM_METHOD,
                    n=self.n,
                    matched_ngrams=len(matched),
                    overlap=overlap,
                    evidence=" ".join(grams[matched[0]]),
                    benchmark_text=item.text[:500],
                )
            )
        return flags


def decontaminate(
    problems: Iterable[Problem],
    items: Sequence[BenchmarkItem],
    n: int = 13,
    min_overlap: float = 0.0,
) -> list[ContaminationFlag]:
    """Contamination flags of problems against benchmark items."""
    index = NgramIndex(items, n)
    return [flag for p in problems for flag in index.check(p, min_overlap)]


def _pick(row: dict, wanted: str | None, candidates: Sequence[str], source: str, line: int | None):  # type: ignore[no-untyped-def,type-arg]
    if wanted is not None:
        if wanted not in row:
            raise InputError(
                f"no column {wanted!r}; columns: {', '.join(map(str, row))}",
                source=source,
                line=line,
                field=wanted,
            )
        return wanted
    for name in candidates:
        if name in row:
            return name
    return None


def _items_from_rows(
    rows: Iterable[tuple[int | None, dict]],  # type: ignore[type-arg]
    name: str,
    source: str,
    field: str | None,
) -> list[BenchmarkItem]:
    items: list[BenchmarkItem] = []
    for index, (line, row) in enumerate(rows):
        if not isinstance(row, dict):
            raise InputError("expected a JSON object per row", source=source, line=line)
        text_field = _pick(row, field, TEXT_FIELDS, source, line)
        if text_field is None:
            raise InputError(
                f"no text column among {', '.join(TEXT_FIELDS)}; columns: {', '.join(row)}",
                source=source,
                line=line,
                hint="name the column with --field",
            )
        text = row[text_field]
        if not isinstance(text, str):
            raise InputError(
                f"expected text, got {type(text).__name__}",
                source=source,
                line=line,
                field=text_field,
            )
        id_field = _pick(row, None, ID_FIELDS, source, line)
        item_id = str(row[id_field]) if id_field else str(index)
        items.append(BenchmarkItem(name, item_id, text))
    return items


def _jsonl_rows(path: Path) -> Iterable[tuple[int | None, dict]]:  # type: ignore[type-arg]
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"invalid JSON: {exc.msg}", source=str(path), line=line_no
                ) from None


def load_benchmark(
    spec: str, field: str | None = None, name: str | None = None
) -> list[BenchmarkItem]:
    """Benchmark items from a file (.jsonl/.json/.parquet/.csv/.txt), a saved dataset
    directory, or ``hf:NAME[:CONFIG][@SPLIT]`` (a Hugging Face dataset)."""
    if spec.startswith("hf:"):
        return _load_hf(spec[3:], field, name)
    path = Path(spec).expanduser()
    if not path.exists():
        raise NotFoundError(
            f"benchmark file {spec} does not exist",
            hint="give a .jsonl/.json/.parquet/.csv/.txt file, a saved dataset folder, "
            "or hf:NAME[@SPLIT]",
        )
    label = name or path.stem
    suffix = path.suffix.lower()
    if path.is_dir():
        from datasets import load_from_disk

        ds = load_from_disk(str(path))
        # A DatasetDict holds several splits: use every one of them.
        rows = [r for split in ds for r in ds[split]] if hasattr(ds, "keys") else list(ds)
        return _items_from_rows(((None, r) for r in rows), label, spec, field)
    if suffix == ".jsonl":
        return _items_from_rows(_jsonl_rows(path), label, spec, field)
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg}", source=spec, line=exc.lineno) from None
        if isinstance(data, dict):
            data = next((v for v in data.values() if isinstance(v, list)), None)
        if not isinstance(data, list):
            raise InputError("expected a JSON list of objects", source=spec)
        return _items_from_rows(((None, r) for r in data), label, spec, field)
    if suffix in (".parquet", ".csv"):
        import polars as pl

        frame = pl.read_parquet(path) if suffix == ".parquet" else pl.read_csv(path)
        # CSV rows are named by their line in the file (line 1 is the header).
        numbered = (
            (k + 2 if suffix == ".csv" else None, r) for k, r in enumerate(frame.to_dicts())
        )
        return _items_from_rows(numbered, label, spec, field)
    if suffix == ".txt":
        lines = path.read_text(encoding="utf-8").splitlines()
        return [BenchmarkItem(label, str(k + 1), t) for k, t in enumerate(lines) if t.strip()]
    raise InputError(
        f"unsupported benchmark file type {suffix or '(none)'!r}",
        source=spec,
        hint="use .jsonl, .json, .parquet, .csv or .txt",
    )


def _load_hf(ref: str, field: str | None, name: str | None) -> list[BenchmarkItem]:
    dataset, _, split = ref.partition("@")
    dataset, _, config = dataset.partition(":")
    try:
        from datasets import load_dataset

        ds = load_dataset(dataset, config or None, split=split or "test")
    except Exception as exc:  # datasets raises many types for a missing/offline dataset
        raise ThresherError(
            f"cannot load benchmark dataset {dataset!r}: {exc}",
            hint="check the name and network access, or save it locally and pass the folder",
        ) from exc
    return _items_from_rows(((None, r) for r in ds), name or dataset, "hf:" + ref, field)
