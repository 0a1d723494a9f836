"""One table of every benchmark's targets: reads bench-results/<name>.json (what `make bench`
writes) and prints each figure, its value, its target, its peer and whether it is met.

A benchmark's JSON may hold a `targets` list of {figure, value, target, peer, met}; one without it
is listed as having no targets. A file that is not JSON (a benchmark that failed) is reported as
such. Exit status 0 either way: the table is a report, not a gate.

    python benchmarks/summary.py [bench-results]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

COLUMNS = ("benchmark", "figure", "value", "target", "peer", "met")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _load(path: Path) -> Any:
    """The benchmark's JSON: the whole file, else its last top-level JSON object."""
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        start = text.rfind("\n{")
        return json.loads(text[start + 1 :]) if start >= 0 else json.loads(text[text.index("{") :])


def rows(folder: Path) -> list[tuple[str, ...]]:
    """One row per target of every result file in the folder (sorted by benchmark name)."""
    out: list[tuple[str, ...]] = []
    for path in sorted(folder.glob("*.json")):
        name = path.stem
        try:
            figures = _load(path)
        except (ValueError, OSError) as exc:
            out.append((name, f"(no JSON: {type(exc).__name__})", "-", "-", "-", "-"))
            continue
        targets = figures.get("targets") if isinstance(figures, dict) else None
        if not targets:
            out.append((name, "(no targets)", "-", "-", "-", "-"))
            continue
        for t in targets:
            out.append(
                (
                    name,
                    _cell(t.get("figure")),
                    _cell(t.get("value")),
                    _cell(t.get("target")),
                    _cell(t.get("peer")),
                    _cell(t.get("met")),
                )
            )
    return out


def render(table: list[tuple[str, ...]]) -> str:
    """A plain-text table with aligned columns."""
    lines = [COLUMNS, *table]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    text = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "bench-results")
    if not folder.is_dir():
        raise SystemExit(f"no results folder {folder}; run `make bench` first")
    table = rows(folder)
    print(render(table))
    met = sum(1 for r in table if r[5] == "yes")
    judged = sum(1 for r in table if r[5] in ("yes", "NO"))
    print(f"\n{met} of {judged} targets met")


if __name__ == "__main__":
    main()
