"""What the lake's read-only SQL accepts: SELECT statements that call no table function but a few.

DuckLake's maintenance functions (`ducklake_cleanup_old_files`, `ducklake_merge_adjacent_files`,
...) are table functions: called inside a SELECT they delete or write data files even on a
read-only attachment. File readers (`read_text`, `glob`, `read_csv`, ...) and `query()` (which runs
a string as SQL) are table functions too. So every statement's parse tree is walked and any table
function outside a short list of pure generators and introspection functions is refused. This is
one layer: the connection is also attached read-only with external access off (connect.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import duckdb

from thresher.storage.errors import LakeError, ReadOnlyQueryError, one_line

__all__ = ["ALLOWED_TABLE_FUNCTIONS", "check_read_only"]

# Table functions that only compute or describe: no file, network or lake side effects.
ALLOWED_TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "json_each",
        "json_tree",
        "duckdb_columns",
        "duckdb_tables",
        "duckdb_views",
        "duckdb_types",
        "duckdb_functions",
        "duckdb_keywords",
    }
)
_REFUSED_HINT = "the lake is written only by thresher commands (ingest, generate, run, ...)"


def check_read_only(conn: duckdb.DuckDBPyConnection, query: str) -> None:
    """Raise ReadOnlyQueryError unless `query` is SELECTs calling only allowed table functions."""
    try:
        statements = conn.extract_statements(query)
    except duckdb.Error as exc:
        raise LakeError(f"cannot parse the query: {one_line(exc)}") from exc
    if not statements:
        raise LakeError("the query is empty")
    if len(statements) > 1 and all(st.type == duckdb.StatementType.SELECT for st in statements):
        raise ReadOnlyQueryError(
            f"send one SELECT at a time, got {len(statements)} statements; nothing was run"
        )
    for statement in statements:
        if statement.type != duckdb.StatementType.SELECT:
            kind = str(statement.type).rsplit(".", 1)[-1]
            raise ReadOnlyQueryError(
                f"only SELECT queries are allowed here, got a {kind} statement; "
                "the lake was not changed",
                hint=_REFUSED_HINT,
            )
        for name in _table_functions(conn, statement.query):
            if name.lower() not in ALLOWED_TABLE_FUNCTIONS:
                raise ReadOnlyQueryError(
                    f"the table function {name}() is not allowed in the lake's read-only SQL; "
                    "the lake was not changed",
                    hint="query the lake's tables by name; allowed table functions: "
                    + ", ".join(sorted(ALLOWED_TABLE_FUNCTIONS)),
                )


def sql_string(text: str) -> str:
    """`text` as a DuckDB string literal (a quote is doubled; a backslash is an ordinary
    character in a standard literal)."""
    return "'" + text.replace("'", "''") + "'"


def _table_functions(conn: duckdb.DuckDBPyConnection, statement: str) -> Iterator[str]:
    """Names of the table functions a SELECT calls, anywhere in its parse tree."""
    # A quoted literal, not a bound parameter: binding a Python value makes DuckDB's client
    # import numpy, pandas and pyarrow (~2 s of CPU here), which `thresher sql` never needs.
    raw = conn.execute(f"SELECT json_serialize_sql({sql_string(statement)})").fetchone()
    tree = json.loads(raw[0]) if raw else {}
    if tree.get("error"):
        # PIVOT and a few other forms cannot be serialised, so they cannot be checked: refuse.
        raise ReadOnlyQueryError(
            f"this form of SELECT cannot be checked as read-only ({tree.get('error_message')}); "
            "the lake was not changed",
            hint="write it as a plain SELECT (e.g. PIVOT as GROUP BY with CASE)",
        )
    yield from _walk(tree)


def _walk(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("type") == "TABLE_FUNCTION" and isinstance(node.get("function"), dict):
            function = node["function"]
            qualified = [function.get("catalog"), function.get("schema")]
            prefix = ".".join(p for p in qualified if p)
            name = str(function.get("function_name", "?"))
            yield f"{prefix}.{name}" if prefix else name
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)
