"""Ingestion: every format, every kind of bad input, fail-closed default and quarantine mode."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher.schemas import InputError, NotFoundError, problem_id_for
from thresher.storage import Lake
from thresher.storage.ingest import ingest, parse_mapping

ROWS = [
    {"problem": "What is 2 + 3?", "solution": "5", "level": 1},
    {"problem": "What is 7 * 6?", "solution": "42", "level": 2},
    {"problem": "What is 9 - 4?", "solution": "5", "level": 1},
]
MAP = "question=problem,answer=solution,difficulty=level"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory):
    # Creating a lake runs every migration (seconds): one lake per module, one name per test.
    with Lake.open(tmp_path_factory.mktemp("ingest") / "lake") as opened:
        yield opened


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    return request.node.name


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _problems(lake: Lake, name: str) -> list[dict]:
    return lake.query(
        "SELECT source, question, answer, difficulty FROM problems WHERE source = ? "
        "ORDER BY question",
        [name],
    ).to_dicts()


def _count(lake: Lake, table: str, name: str) -> int:
    return lake.query(f"SELECT count(*) AS n FROM {table} WHERE source = ?", [name])["n"][0]


def _expected(name: str) -> list[dict]:
    rows = [
        {
            "source": name,
            "question": r["problem"],
            "answer": r["solution"],
            "difficulty": r["level"],
        }
        for r in ROWS
    ]
    return sorted(rows, key=lambda r: r["question"])


# -- every format --------------------------------------------------------------------------------


def test_jsonl_rows_are_mapped_validated_and_committed(lake, name, tmp_path):
    report = ingest(lake, str(_write_jsonl(tmp_path / "p.jsonl", ROWS)), name=name, mapping=MAP)
    assert (report.rows_read, report.added, report.quarantined) == (3, 3, 0)
    assert _problems(lake, name) == _expected(name)
    ids = lake.query("SELECT problem_id FROM problems WHERE source = ?", [name])["problem_id"]
    assert set(ids) == {problem_id_for(name, r["problem"]) for r in ROWS}


def test_csv_rows_are_read_with_blank_cells_as_missing(lake, name, tmp_path):
    path = tmp_path / "p.csv"
    lines = ["problem,solution,level"] + [
        f'"{r["problem"]}",{r["solution"]},{r["level"]}' for r in ROWS
    ]
    path.write_text("\n".join(lines + ["What is 1 + 1?,,"]) + "\n", encoding="utf-8")
    report = ingest(lake, str(path), name=name, mapping=MAP)
    assert report.added == 4
    extra = lake.query(
        "SELECT answer, difficulty FROM problems WHERE source = ? AND question = 'What is 1 + 1?'",
        [name],
    )
    assert extra.to_dicts() == [{"answer": None, "difficulty": None}]


def test_parquet_rows_are_read_and_unused_columns_reported(lake, name, tmp_path):
    path = tmp_path / "p.parquet"
    pq.write_table(pa.Table.from_pylist([{**r, "extra": "x"} for r in ROWS]), path)
    report = ingest(lake, str(path), name=name, mapping=MAP)
    assert report.added == 3
    assert report.ignored_columns == ["extra"]
    assert _problems(lake, name) == _expected(name)


def test_saved_dataset_with_splits_needs_split_and_reads_the_chosen_one(lake, name, tmp_path):
    from datasets import Dataset, DatasetDict

    folder = tmp_path / "saved"
    DatasetDict(
        {"train": Dataset.from_list(ROWS), "test": Dataset.from_list(ROWS[:1])}
    ).save_to_disk(str(folder))
    with pytest.raises(InputError, match=r"(?s)splits \['train', 'test'\].*--split"):
        ingest(lake, str(folder), name=name, mapping=MAP)
    with pytest.raises(InputError, match="no split 'dev'"):
        ingest(lake, str(folder), name=name, mapping=MAP, split="dev")
    assert ingest(lake, str(folder), name=name, mapping=MAP, split="train").added == 3
    assert _problems(lake, name) == _expected(name)


def test_saved_single_dataset_is_read_without_split(lake, name, tmp_path):
    from datasets import Dataset

    folder = tmp_path / "one"
    Dataset.from_list(ROWS).save_to_disk(str(folder))
    assert ingest(lake, str(folder), name=name, mapping=MAP).added == 3


def test_builtin_arithmetic_is_ingested_and_idempotent(lake):
    first = ingest(lake, "builtin:arithmetic", n=8, seed=0)
    again = ingest(lake, "builtin:arithmetic", n=8, seed=0)
    assert (first.name, first.added, again.added, again.already_present) == (
        "arithmetic-n8-s0", 8, 0, 8,
    )  # fmt: skip
    counts = lake.sql(
        "SELECT difficulty, count(*) AS n FROM problems WHERE source = 'arithmetic-n8-s0' "
        "GROUP BY 1 ORDER BY 1"
    )
    assert counts["n"].to_list() == [2, 2, 2, 2]


def test_big_inputs_stream_in_batches_with_progress(lake, name, tmp_path):
    rows = [{"question": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(25)]
    path = _write_jsonl(tmp_path / "many.jsonl", rows)
    seen: list[tuple[int, int | None]] = []
    report = ingest(
        lake, str(path), name=name, batch_size=10, progress=lambda u, t: seen.append((u, t))
    )
    assert report.added == 25
    assert len(seen) == 3 and sum(u for u, _ in seen) == path.stat().st_size
    assert all(t == path.stat().st_size for _, t in seen)


def test_rows_that_repeat_a_question_are_stored_once(lake, name, tmp_path):
    path = _write_jsonl(tmp_path / "dup.jsonl", [{"question": "Q?", "answer": "1"}] * 3)
    report = ingest(lake, str(path), name=name)
    assert (report.added, report.duplicates) == (1, 2)


# -- bad input fails with file, line or row, and field; nothing is committed ---------------------


def _fails(lake: Lake, source: Path | str, match: str, **kwargs) -> InputError:
    before = lake.snapshot_id()
    with pytest.raises(InputError, match=match) as caught:
        ingest(lake, str(source), name="bad", **kwargs)
    assert lake.snapshot_id() == before  # nothing was committed
    assert _count(lake, "problems", "bad") == 0
    return caught.value


def test_empty_inputs_say_so(lake, name, tmp_path):
    (tmp_path / "e.jsonl").write_bytes(b"")
    (tmp_path / "blank.jsonl").write_text("\n  \n")
    (tmp_path / "e.csv").write_text("question,answer\n")
    pq.write_table(pa.table({"question": pa.array([], pa.string())}), tmp_path / "e.parquet")
    from datasets import Dataset

    Dataset.from_dict({"question": []}).save_to_disk(str(tmp_path / "e_saved"))
    for name in ("e.jsonl", "blank.jsonl", "e.csv", "e.parquet", "e_saved"):
        error = _fails(lake, tmp_path / name, "the input is empty: it has no rows")
        assert error.source == str(tmp_path / name)


def test_non_utf8_bytes_name_the_line_byte_and_column(lake, name, tmp_path):
    path = tmp_path / "bytes.jsonl"
    path.write_bytes(b'{"question": "ok?"}\n{"question": "caf\xe9?"}\n')
    error = _fails(lake, path, r"bytes.jsonl:2: not valid UTF-8: byte 0xe9 at column 18")
    assert error.line is None and error.source.endswith("bytes.jsonl:2")
    csv_path = tmp_path / "bytes.csv"
    csv_path.write_bytes(b"question,answer\nok?,1\nna\xffme?,2\n")
    error = _fails(lake, csv_path, r"bytes.csv:3: field 'question': not valid UTF-8: byte 0xff")
    parquet = tmp_path / "bytes.parquet"
    pq.write_table(pa.table({"question": pa.array([b"ok?", b"\xfe?"], pa.binary())}), parquet)
    _fails(lake, parquet, r"bytes.parquet:row 1: field 'question': not valid UTF-8: byte 0xfe")


def test_truncated_inputs_are_named_as_truncated(lake, name, tmp_path):
    path = tmp_path / "cut.jsonl"
    path.write_text('{"question": "a?"}\n{"question": "b?", "answ')
    _fails(lake, path, r"cut.jsonl:2: truncated JSON.*file ends mid-record")
    short = tmp_path / "short.csv"
    short.write_text("question,answer,solution\nq1?,1,s\nq2?,2\n")
    _fails(lake, short, r"short.csv:3: expected 3 fields .* found 2: the row is truncated")
    quote = tmp_path / "quote.csv"
    quote.write_text('question,answer\nq1?,1\n"q2?,2\n')
    _fails(lake, quote, r"quote.csv:3: truncated or mis-quoted row")
    parquet = tmp_path / "cut.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), parquet)
    parquet.write_bytes(parquet.read_bytes()[:-40])
    _fails(lake, parquet, r"not a readable Parquet file \(truncated or corrupt\?\)", mapping=MAP)


def test_invalid_json_and_non_objects_are_named(lake, name, tmp_path):
    path = tmp_path / "junk.jsonl"
    path.write_text('{"question": "a?"} trailing\n')
    _fails(lake, path, r"junk.jsonl:1: invalid JSON at column 20: Extra data")
    path.write_text('["question"]\n')
    _fails(lake, path, r"junk.jsonl:1: expected a JSON object, got an array")


def test_wrong_types_name_the_field_and_value(lake, name, tmp_path):
    cases = [
        ({"question": 17}, r"field 'question': expected a string, got int 17"),
        ({"question": "q?", "answer": ["1"]}, r"field 'answer': expected a string, got list"),
        (
            {"question": "q?", "difficulty": "hard"},
            r"field 'difficulty': .*integer.*got str 'hard'",
        ),
        (
            {"question": "q?", "kind": "poem"},
            r"field 'kind': Input should be 'math'.*got str 'poem'",
        ),
        ({"question": "q?", "metadata": {"a": 1, "b": [2]}}, None),  # scalars are stringified
    ]
    for i, (row, match) in enumerate(cases):
        path = _write_jsonl(tmp_path / f"t{i}.jsonl", [{"question": "fine?"}, row])
        if match is None:
            continue
        _fails(lake, path, rf"t{i}.jsonl:2: {match}")


def test_numeric_answers_are_accepted_as_text(lake, name, tmp_path):
    path = _write_jsonl(
        tmp_path / "n.jsonl", [{"question": "q?", "answer": 12, "metadata": {"a": 1}}]
    )
    ingest(lake, str(path), name=name)
    row = lake.query("SELECT answer FROM problems WHERE source = ?", [name]).to_dicts()[0]
    assert row["answer"] == "12"


def test_missing_fields_name_the_field_and_its_mapping(lake, name, tmp_path):
    path = _write_jsonl(tmp_path / "m.jsonl", [{"question": "a?"}, {"answer": "1"}])
    _fails(lake, path, r"m.jsonl:2: field 'question': missing field 'question'")
    mapped = _write_jsonl(
        tmp_path / "mm.jsonl", [{"problem": "a?", "solution": "1"}, {"problem": "b?"}]
    )
    _fails(
        lake, mapped, r"mm.jsonl:2: field 'solution': missing field 'solution \(mapped to answer\)'",
        mapping="question=problem,answer=solution",
    )  # fmt: skip
    nulls = _write_jsonl(tmp_path / "null.jsonl", [{"question": None}])
    _fails(lake, nulls, r"null.jsonl:1: field 'question': field 'question' is null")
    blank = _write_jsonl(tmp_path / "blank.jsonl", [{"question": "   "}])
    _fails(lake, blank, r"blank.jsonl:1: field 'question': field 'question' is empty")


def test_missing_columns_list_the_columns_there_are(lake, name, tmp_path):
    csv_path = tmp_path / "cols.csv"
    csv_path.write_text("problem,solution\nq?,1\n")
    error = _fails(lake, csv_path, r"missing column 'question'; the columns are: problem, solution")
    assert error.hint and "--map question=COLUMN" in error.hint
    parquet = tmp_path / "cols.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), parquet)
    _fails(
        lake, parquet, r"missing column 'answer_text' \(mapped to answer\)",
        mapping="question=problem,answer=answer_text",
    )  # fmt: skip
    from datasets import Dataset

    Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "ds"))
    _fails(lake, tmp_path / "ds", r"missing column 'question'")


def test_conflicting_duplicates_are_bad_rows(lake, name, tmp_path):
    path = _write_jsonl(
        tmp_path / "c.jsonl", [{"question": "q?", "answer": "1"}, {"question": "q?", "answer": "2"}]
    )
    _fails(lake, path, r"c.jsonl:2: field 'answer': same question as .*c.jsonl:1 but a different")


def test_bad_sources_and_options_are_clear(lake, name, tmp_path):
    _fails(lake, tmp_path / "nope.jsonl", r"nope.jsonl: no such file")
    (tmp_path / "x.txt").write_text("hi")
    _fails(lake, tmp_path / "x.txt", r"unsupported file type '.txt'")
    (tmp_path / "folder").mkdir()
    _fails(lake, tmp_path / "folder", r"not a dataset saved with")
    path = _write_jsonl(tmp_path / "ok.jsonl", [{"question": "q?"}])
    _fails(lake, path, r"--split applies to saved datasets", split="train")
    _fails(lake, path, r"--n and --seed apply only to builtin", n=3)
    _fails(lake, path, r"unknown --on-error 'skip'", on_error="skip")
    with pytest.raises(InputError, match="a problem-set name is required"):
        ingest(lake, str(path), name=None)
    with pytest.raises(NotFoundError, match="builtin:arithmetic"):
        ingest(lake, "builtin:geometry")


def test_mapping_syntax_errors_are_named():
    assert parse_mapping(" question = problem , answer=solution") == {
        "question": "problem",
        "answer": "solution",
    }
    for spec, match in [
        ("question", "expected FIELD=COLUMN"),
        ("prompt=problem", "unknown problem field 'prompt'"),
        ("question=a,question=b", "mapped twice"),
    ]:
        with pytest.raises(InputError, match=match):
            parse_mapping(spec)


def test_an_uncached_hub_id_offline_is_a_clear_error_not_a_traceback(lake, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    error = _fails(lake, "thresher-test/no-such-dataset", r"cannot load Hub dataset")
    assert error.source == "thresher-test/no-such-dataset"


# -- quarantine mode -----------------------------------------------------------------------------


def test_quarantine_commits_good_rows_and_keeps_bad_ones_with_reasons(lake, name, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        b'{"question": "good one?", "answer": "1"}\n'
        b'{"question": 5}\n'
        b'{"answer": "2"}\n'
        b'{"question": "caf\xe9"}\n'
        b'{"question": "good two?"}\n'
        b'{"question": "cut'
    )
    report = ingest(lake, str(path), name=name, on_error="quarantine")
    assert (report.rows_read, report.added, report.quarantined) == (6, 2, 4)
    assert [p["question"] for p in _problems(lake, name)] == ["good one?", "good two?"]
    rows = lake.query(
        "SELECT source, location, field, reason, raw FROM quarantine WHERE source = ? "
        "ORDER BY location",
        [name],
    )
    where = str(path)
    assert rows.select("source", "location", "field").rows() == [
        (name, f"{where}:2", "question"),
        (name, f"{where}:3", "question"),
        (name, f"{where}:4", ""),
        (name, f"{where}:6", ""),
    ]
    reasons = rows["reason"].to_list()
    assert reasons[0] == "expected a string, got int 5"
    assert reasons[1] == "missing field 'question'"
    assert reasons[2].startswith("not valid UTF-8: byte 0xe9")
    assert reasons[3].startswith("truncated JSON")
    assert rows["raw"].to_list()[:2] == ['{"question": 5}', '{"answer": "2"}']
    assert report.first_error == f"{where}:2: question: expected a string, got int 5"
    again = ingest(lake, str(path), name=name, on_error="quarantine")
    assert again.added == 0
    assert _count(lake, "quarantine", name) == 4


@pytest.mark.hub
def test_a_hub_dataset_id_is_loaded_through_datasets(lake, name, monkeypatch):
    # Needs the network: the real `datasets.load_dataset` path cannot be exercised offline here,
    # so this test is deselected by default (`-m hub` runs it).
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    report = ingest(
        lake, "openai/gsm8k", name=name, split="test", mapping="solution=answer"
    )  # gsm8k has 'question' and 'answer' (the worked solution) columns
    assert report.added == report.rows_read == 1319
