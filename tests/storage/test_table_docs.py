"""The README documents every queryable table and column, generated from the schemas."""

from __future__ import annotations

from pathlib import Path

from thresher.schemas import arrow_schema
from thresher.storage import TABLES
from thresher.storage.table_docs import BEGIN, END, render_tables_markdown, update_readme

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_table_and_column_is_in_the_reference():
    text = render_tables_markdown()
    for spec in TABLES:
        assert f"### `{spec.name}`" in text
        for column in arrow_schema(spec.model).names:
            assert f"| `{column}` |" in text, (spec.name, column)
    assert "| `decision_context.decision_id` | VARCHAR |" in text  # nested fields, SQL types
    assert "| `status` | VARCHAR | one of 'ok'," in text  # Literal choices are listed


def test_readme_reference_is_up_to_date():
    text = README.read_text(encoding="utf-8")
    assert BEGIN in text and END in text
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert block.strip() == render_tables_markdown().strip(), (
        "README 'Tables you can query' is stale: run "
        "`.venv/bin/python -m thresher.storage.table_docs --write README.md`"
    )


def test_update_readme_rewrites_only_the_generated_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{BEGIN}\nSTALE-BLOCK\n{END}\nafter\n", encoding="utf-8")
    assert update_readme(readme) is True
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# x\n\nbefore\n") and text.endswith(f"{END}\nafter\n")
    assert "STALE-BLOCK" not in text and "### `problems`" in text
    assert update_readme(readme) is False
