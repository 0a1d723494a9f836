"""Real datasets' answer columns: GSM8K's `… #### N`, a final `A: N`, MATH-style `\\boxed{}`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thresher.storage import Lake
from thresher.storage.answers import split_answer, strip_annotations
from thresher.storage.ingest import ingest

GSM8K = [
    {
        "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as "
        "many clips in May. How many clips did Natalia sell altogether in April and May?",
        "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
        "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
    },
    {
        "question": "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes "
        "of babysitting. How much did she earn?",
        "answer": "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\n"
        "Working 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10.\n#### 10",
    },
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory):
    with Lake.open(tmp_path_factory.mktemp("answers") / "lake") as opened:
        yield opened


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    return request.node.name.replace("[", "-").rstrip("]")


def _jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _stored(lake: Lake, name: str) -> list[dict]:
    return lake.query(
        "SELECT question, answer, solution FROM problems WHERE source = ? ORDER BY question",
        [name],
    ).to_dicts()


def test_split_answer_forms() -> None:
    gsm = split_answer(GSM8K[0]["answer"], None)
    assert gsm is not None and gsm.answer == "72" and gsm.method == "####"
    assert gsm.solution == (
        "Natalia sold 48/2 = 24 clips in May.\n"
        "Natalia sold 48+24 = 72 clips altogether in April and May."
    )
    openai = split_answer("She makes 9 * 2 = $<<9*2=18>>18 a day.\nA: 18\n", None)
    assert openai is not None and (openai.answer, openai.solution) == (
        "18",
        "She makes 9 * 2 = $18 a day.",
    )
    assert split_answer("#### 1,000", None) == split_answer("####1,000", None)
    assert split_answer("#### 1,000", None).answer == "1,000"  # type: ignore[union-attr]
    math = split_answer(None, r"So $x = \frac{1}{2}$, and the sum is $\boxed{\frac{3}{4}}$.")
    assert math is not None and (math.answer, math.method) == (r"\frac{3}{4}", "boxed")
    assert math.solution.endswith(r"$\boxed{\frac{3}{4}}$.")  # type: ignore[union-attr]
    # A plain answer stays as it is; so does one whose marker is not the last line.
    assert split_answer("72", None) is None
    assert split_answer("#### 72\nthen more text", None) is None
    assert split_answer(None, "no final answer anywhere") is None
    assert split_answer(None, r"\boxed{unclosed") is None
    # A row with its own solution keeps it; the answer still becomes N.
    own = split_answer("work\n#### 5", "my own solution")
    assert own is not None and (own.answer, own.solution) == ("5", "my own solution")
    assert strip_annotations("3 * 4 = <<3*4=12>>12") == "3 * 4 = 12"


def test_gsm8k_file_stores_answer_and_solution_apart(lake, name, tmp_path) -> None:
    report = ingest(lake, _jsonl(tmp_path / "gsm8k.jsonl", GSM8K), name=name)
    assert report.added == 2 and report.answers_parsed == {"####": 2}
    rows = _stored(lake, name)
    assert [r["answer"] for r in rows] == ["72", "10"]
    assert rows[1]["solution"].startswith("Weng earns 12/60 = $0.2 per minute.")
    assert "####" not in rows[0]["solution"] and "<<" not in rows[1]["solution"]


def test_a_colon_solutions_and_mapped_columns(lake, name, tmp_path) -> None:
    rows = [{"q": "Janet has 16 eggs and eats 7. How many are left?", "gt": "16 - 7 = 9\nA: 9"}]
    report = ingest(
        lake, _jsonl(tmp_path / "a.jsonl", rows), name=name, mapping="question=q,answer=gt"
    )
    assert report.answers_parsed == {"A:": 1}
    assert _stored(lake, name)[0] | {"question": ""} == {
        "question": "",
        "answer": "9",
        "solution": "16 - 7 = 9",
    }


def test_boxed_solution_without_an_answer_column_gives_the_answer(lake, name, tmp_path) -> None:
    rows = [
        {
            "problem": "Compute 1/2 + 1/4.",
            "solution": r"Add: $\frac12+\frac14=\boxed{\frac{3}{4}}$",
        },
        {"problem": "What is 2+2?", "solution": "2+2 = 4.\n#### 4"},
    ]
    report = ingest(
        lake, _jsonl(tmp_path / "math.jsonl", rows), name=name, mapping="question=problem"
    )
    assert report.answers_parsed == {"boxed": 1, "####": 1}
    stored = {r["question"]: r for r in _stored(lake, name)}
    assert stored["Compute 1/2 + 1/4."]["answer"] == r"\frac{3}{4}"
    assert stored["Compute 1/2 + 1/4."]["solution"] == rows[0]["solution"]  # kept whole
    assert (stored["What is 2+2?"]["answer"], stored["What is 2+2?"]["solution"]) == (
        "4",
        "2+2 = 4.",
    )


def test_map_still_overrides(lake, name, tmp_path) -> None:
    # GSM8K with its worked solution mapped to `solution`: the answer comes from its last line.
    path = _jsonl(tmp_path / "g.jsonl", GSM8K)
    ingest(lake, path, name=name, mapping="solution=answer")
    assert [r["answer"] for r in _stored(lake, name)] == ["72", "10"]
    # An explicit answer column wins; the worked solution mapped elsewhere is kept as given.
    rows = [dict(GSM8K[0], final="seventy-two")]
    other = f"{name}-explicit"
    report = ingest(
        lake, _jsonl(tmp_path / "e.jsonl", rows), name=other, mapping="answer=final,solution=answer"
    )
    assert report.answers_parsed == {}
    stored = _stored(lake, other)[0]
    assert stored["answer"] == "seventy-two" and stored["solution"] == GSM8K[0]["answer"]


def test_only_math_rows_are_parsed(lake, name, tmp_path) -> None:
    rows = [{"question": "Pick one: A: 3, B: 4", "answer": "A: 3", "kind": "exact"}]
    report = ingest(lake, _jsonl(tmp_path / "c.jsonl", rows), name=name)
    assert report.answers_parsed == {} and _stored(lake, name)[0]["answer"] == "A: 3"


def test_saved_gsm8k_dataset_and_the_cli_report(tmp_path) -> None:
    from datasets import Dataset

    from thresher.cli import app

    saved = tmp_path / "gsm8k-saved"
    Dataset.from_list(GSM8K).save_to_disk(str(saved))
    lake_path = tmp_path / "lake"
    result = CliRunner().invoke(
        app, ["ingest", str(saved), "--name", "gsm8k", "--lake", str(lake_path)]
    )
    assert result.exit_code == 0, result.output
    assert "answers taken from worked solutions: 2 by ####" in result.output
    with Lake.open(lake_path, read_only=True) as opened:
        assert [r["answer"] for r in _stored(opened, "gsm8k")] == ["72", "10"]
