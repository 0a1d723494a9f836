"""Where a lake lives: a directory with a DuckDB catalog, or a SQLite / PostgreSQL catalog."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from thresher.schemas.errors import InputError

__all__ = ["DEFAULT_LAKE", "LAKE_ENV", "LakeLocation", "parse_location", "resolve_lake"]


@dataclass(frozen=True)
class LakeLocation:
    """How to attach a lake: the DuckLake attach string, its data path and extensions it needs."""

    display: str
    attach: str
    data_path: str
    catalog_file: Path | None
    extensions: tuple[str, ...] = ()

    @property
    def shared(self) -> bool:
        """Whether several processes may write this catalog at once (SQLite, PostgreSQL)."""
        return bool(self.extensions)

    def exists(self) -> bool:
        """Whether the catalog is there (always assumed for a PostgreSQL catalog)."""
        return self.catalog_file is None or self.catalog_file.exists()

    def prepare(self) -> None:
        """Create the local folders a new lake needs."""
        if self.catalog_file is not None:
            self.catalog_file.parent.mkdir(parents=True, exist_ok=True)
        if "://" not in self.data_path:
            Path(self.data_path).mkdir(parents=True, exist_ok=True)


def parse_location(raw: str) -> LakeLocation:
    """Parse a lake location: 'DIR', 'sqlite:DIR' or 'postgres:DSN|DATA_PATH'."""
    if raw.startswith("postgres:"):
        dsn, sep, data_path = raw.removeprefix("postgres:").partition("|")
        if not sep or not data_path:
            raise InputError(
                "a PostgreSQL lake needs a data path",
                field="lake",
                hint="use 'postgres:dbname=lake host=db|s3://bucket/lake/' (DSN, '|', data path)",
            )
        return LakeLocation(
            display=raw,
            attach=f"ducklake:postgres:{dsn}",
            data_path=data_path.rstrip("/") + "/",
            catalog_file=None,
            extensions=("postgres_scanner",),
        )
    if raw.startswith("sqlite:"):
        root = Path(raw.removeprefix("sqlite:")).expanduser().resolve()
        catalog = root / "catalog.sqlite"
        return LakeLocation(
            display=raw,
            attach=f"ducklake:sqlite:{catalog}",
            data_path=str(root / "data") + "/",
            catalog_file=catalog,
            extensions=("sqlite_scanner",),
        )
    if ":" in raw.split("/", 1)[0] and not Path(raw).exists():
        raise InputError(
            f"unknown lake location scheme in {raw!r}",
            field="lake",
            hint="use a directory, 'sqlite:DIR' or 'postgres:DSN|DATA_PATH'",
        )
    root = Path(raw).expanduser().resolve()
    catalog = root / "catalog.ducklake"
    return LakeLocation(
        display=str(root),
        attach=f"ducklake:{catalog}",
        data_path=str(root / "data") + "/",
        catalog_file=catalog,
    )


DEFAULT_LAKE = "./thresher-lake"
LAKE_ENV = "THRESHER_LAKE"


def resolve_lake(option: str | None = None, recipe_lake: str | None = None) -> str:
    """The one rule for which lake a command uses: an explicit ``--lake`` (or ``lake=``), else
    ``$THRESHER_LAKE`` (a deployment's setting), else the recipe's ``lake``, else
    ``./thresher-lake``."""
    return option or os.environ.get(LAKE_ENV) or recipe_lake or DEFAULT_LAKE
