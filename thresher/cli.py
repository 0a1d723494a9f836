"""The `thresher` command: a thin layer over the Python API."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from thresher.schemas.errors import InputError, ThresherError

__all__ = ["app", "main"]

app = typer.Typer(
    name="thresher",
    help="Curate reasoning traces for LLM post-training.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

LakeOption = Annotated[
    str,
    typer.Option(
        "--lake",
        envvar="THRESHER_LAKE",
        help="Lake location: a directory (DuckDB catalog), 'sqlite:DIR' or 'postgres:DSN'.",
    ),
]
DEFAULT_LAKE = "./thresher-lake"


def main() -> None:
    """Entry point: run the app, printing ThresherErrors without a traceback."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        app()
    except ThresherError as exc:
        err_console.print(f"error: {exc}", style="bold red", highlight=False, markup=False)
        sys.exit(2)


def print_frame(frame: pl.DataFrame, fmt: str = "table") -> None:
    """Print a polars DataFrame as a rich table, CSV or JSON lines."""
    if fmt == "csv":
        sys.stdout.write(frame.write_csv())
    elif fmt == "json":
        sys.stdout.write(frame.write_ndjson())
    elif fmt == "table":
        table = Table(show_header=True, header_style="bold")
        for column in frame.columns:
            table.add_column(column)
        for row in frame.iter_rows():
            table.add_row(*("" if v is None else str(v) for v in row))
        console.print(table)
        console.print(f"{frame.height} row{'s' if frame.height != 1 else ''}", style="dim")
    else:
        raise InputError(f"unknown format {fmt!r}; use table, csv or json", field="--format")


# -- lake: SQL, versions, tags ------------------------------------------------------------------


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="A SELECT query over the lake's tables.")],
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="Version name or snapshot number.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
    lake: LakeOption = DEFAULT_LAKE,
) -> None:
    """Run a read-only SQL query over the lake (any version)."""
    from thresher.storage import Lake

    with Lake.open(lake, read_only=True) as opened:
        print_frame(opened.sql(query, version=version), fmt)


@app.command()
def versions(lake: LakeOption = DEFAULT_LAKE) -> None:
    """List named versions and the lake's snapshots."""
    from thresher.storage import Lake

    with Lake.open(lake, read_only=True) as opened:
        named = opened.versions()
        table = Table("version", "snapshot", "created", "note", "counts", header_style="bold")
        for v in named:
            counts = ", ".join(f"{k}={n}" for k, n in sorted(v.counts.items()) if n)
            table.add_row(
                v.name, str(v.snapshot_id), f"{v.created_at:%Y-%m-%d %H:%M:%S}", v.note, counts
            )
        console.print(table)
        print_frame(opened.snapshots(), "table")


@app.command()
def tag(
    name: Annotated[str, typer.Argument(help="Version name, e.g. 'v1' or 'gsm8k-2026-11-22'.")],
    note: Annotated[str, typer.Option("--note", help="Why this version exists.")] = "",
    lake: LakeOption = DEFAULT_LAKE,
) -> None:
    """Tag the current snapshot as a named version."""
    from thresher.storage import Lake

    with Lake.open(lake) as opened:
        version = opened.tag(name, note=note)
    console.print(f"tagged snapshot {version.snapshot_id} as {version.name!r}")


# Commands are added below, grouped by stage. Keep each command a few lines over a library call.


if __name__ == "__main__":
    main()
