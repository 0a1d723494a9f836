"""The `thresher` command: a thin layer over the Python API."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from thresher.schemas.errors import ThresherError

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
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        sys.exit(2)


def _lake_path(lake: str) -> str:
    return lake or DEFAULT_LAKE


# Commands are added below, grouped by stage. Keep each command a few lines over a library call.


if __name__ == "__main__":
    main()
