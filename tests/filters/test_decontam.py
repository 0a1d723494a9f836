"""Decontamination finds planted benchmark items and names what matched."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from thresher.filters.decontam import (
    BenchmarkItem,
    decontaminate,
    load_benchmark,
    normalize_words,
)
from thresher.schemas import Problem
from thresher.schemas.errors import InputError, NotFoundError

LEAKED = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many "
    "clips in May. How many clips did Natalia sell altogether in April and May?"
)


def problem(q: str) -> Problem:
    return Problem(source="s", question=q)


def test_normalisation_ignores_case_punctuation_and_spacing() -> None:
    assert normalize_words("Hello,  WORLD!\n(x=3.5)") == ["hello", "world", "x", "3", "5"]


def test_planted_item_is_flagged_with_evidence() -> None:
    items = [
        BenchmarkItem("gsm", "0", "Tom has 3 apples and buys 4 more. How many apples now?"),
        BenchmarkItem("gsm", "7", "Preamble. " + LEAKED.upper() + " Extra text."),
    ]
    # The problem rewords the start but keeps a long verbatim run.
    leaked = problem("Question: " + LEAKED.replace("Natalia sold", "Natalia, a girl, sold"))
    clean = problem("A train leaves at 3 pm going 60 miles per hour toward a city 180 miles away.")
    flags = decontaminate([leaked, clean], items, n=13)
    assert len(flags) == 1
    flag = flags[0]
    assert flag.problem_id == leaked.problem_id
    assert (flag.benchmark, flag.benchmark_item, flag.n) == ("gsm", "7", 13)
    assert flag.matched_ngrams >= 1 and 0 < flag.overlap < 1
    assert len(flag.evidence.split()) == 13 and flag.evidence in " ".join(normalize_words(LEAKED))


def test_n_controls_sensitivity() -> None:
    items = [BenchmarkItem("b", "1", "the quick brown fox jumps over the lazy dog again")]
    p = problem("we saw the quick brown fox jumps high")
    assert decontaminate([p], items, n=5) != []
    assert decontaminate([p], items, n=8) == []


def test_short_problem_matches_when_contained_whole() -> None:
    items = [BenchmarkItem("b", "x", "Compute: What is 17 times 23? Show work.")]
    assert len(decontaminate([problem("What is 17 times 23?")], items)) == 1
    assert decontaminate([problem("What is 17 times 24?")], items) == []


def test_min_overlap_filters_partial_matches() -> None:
    items = [BenchmarkItem("b", "1", "a b c d e")]
    p = problem("a b c d e f g h i")
    (flag,) = decontaminate([p], items, n=3)
    assert flag.overlap == pytest.approx(3 / 7)
    assert decontaminate([p], items, n=3, min_overlap=0.5) == []


def test_load_benchmark_formats(tmp_path: Path) -> None:
    jsonl = tmp_path / "math500.jsonl"
    jsonl.write_text(json.dumps({"unique_id": "u1", "problem": LEAKED, "id": "a"}) + "\n\n")
    (item,) = load_benchmark(str(jsonl))
    assert (item.benchmark, item.item_id, item.text) == ("math500", "a", LEAKED)
    pq = tmp_path / "set.parquet"
    pl.DataFrame({"prompt": ["p1", "p2"]}).write_parquet(pq)
    assert [(i.item_id, i.text) for i in load_benchmark(str(pq))] == [("0", "p1"), ("1", "p2")]
    txt = tmp_path / "lines.txt"
    txt.write_text("first\n\nsecond\n")
    assert [i.text for i in load_benchmark(str(txt), name="L")] == ["first", "second"]
    js = tmp_path / "list.json"
    js.write_text(json.dumps({"data": [{"body": "b1"}]}))
    assert load_benchmark(str(js), field="body")[0].text == "b1"


def test_load_benchmark_errors_name_file_line_and_field(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        load_benchmark(str(tmp_path / "missing.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "ok"}) + "\n{not json\n")
    with pytest.raises(InputError, match=r"bad\.jsonl:2: invalid JSON"):
        load_benchmark(str(bad))
    nofield = tmp_path / "nofield.jsonl"
    nofield.write_text(json.dumps({"body": "x"}) + "\n")
    with pytest.raises(InputError, match=r"nofield\.jsonl:1: no text column.*columns: body"):
        load_benchmark(str(nofield))
    with pytest.raises(InputError, match=r"field 'question': no column"):
        load_benchmark(str(nofield), field="question")
    wrongtype = tmp_path / "wt.jsonl"
    wrongtype.write_text(json.dumps({"question": 3}) + "\n")
    with pytest.raises(InputError, match=r"wt\.jsonl:1: field 'question': expected text"):
        load_benchmark(str(wrongtype))
    odd = tmp_path / "x.xml"
    odd.write_text("<a/>")
    with pytest.raises(InputError, match="unsupported benchmark file type"):
        load_benchmark(str(odd))
