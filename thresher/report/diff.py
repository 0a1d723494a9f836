"""What changed between two dataset versions: each subject's reason code at one and the other.

Each version is read at its own snapshot (version tag -> snapshot id -> `AT (VERSION => n)`), so
a later run never rewrites what an earlier version decided. A trace or problem enters the
selection when its reason becomes `selected`, leaves it when it stops being `selected`; every
other change of reason code (e.g. `incorrect` -> `flawed_positive:arith_step_check`) is listed
with its count. `(not decided)` stands for a subject one version did not decide at all.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from thresher.report.versions import VersionRef, family, resolve_version
from thresher.storage import Lake

__all__ = ["DiffRow", "VersionDiff", "diff_versions"]

NOT_DECIDED = "(not decided)"


@dataclass(frozen=True)
class DiffRow:
    """One subject whose reason code differs between the two versions."""

    level: str  # 'trace' or 'problem'
    subject_id: str
    old_reason: str | None
    new_reason: str | None

    @property
    def change(self) -> str:
        """'added' to / 'removed' from the selection; else 'new' (only the new version decided
        it), 'gone' (only the old one did) or 'changed' (another reason code)."""
        if self.new_reason == "selected":
            return "added"
        if self.old_reason == "selected":
            return "removed"
        if self.old_reason is None:
            return "new"
        return "gone" if self.new_reason is None else "changed"


@dataclass
class VersionDiff:
    """The rows that differ between two versions, and their counts."""

    old: VersionRef
    new: VersionRef
    rows: list[DiffRow] = field(default_factory=list)
    unchanged: dict[str, int] = field(default_factory=dict)  # level -> subjects with same reason

    def summary(self) -> dict[str, int]:
        """Counts per level and kind of change, and of subjects whose reason stayed the same."""
        counts = Counter(f"{r.level}s_{r.change}" for r in self.rows)
        out: dict[str, int] = {}
        for level in ("trace", "problem"):
            for kind in ("added", "removed", "changed", "new", "gone"):
                out[f"{level}s_{kind}"] = counts.get(f"{level}s_{kind}", 0)
            out[f"{level}s_unchanged"] = self.unchanged.get(level, 0)
        return out

    def changes(self) -> list[dict[str, Any]]:
        """Counts per (level, old reason, new reason); `near_duplicate_of:<id>` counted as one."""
        counts = Counter((r.level, family(r.old_reason), family(r.new_reason)) for r in self.rows)
        ordered = sorted(counts.items(), key=lambda kv: (kv[0][0] != "trace", -kv[1], kv[0]))
        return [
            {"level": level, "from": old, "to": new, "count": n} for (level, old, new), n in ordered
        ]

    def as_json(self) -> dict[str, Any]:
        """Everything, JSON-ready: versions, summary, change counts and every changed subject."""
        return {
            "old": {"version": self.old.name, "snapshot_id": self.old.snapshot_id},
            "new": {"version": self.new.name, "snapshot_id": self.new.snapshot_id},
            "summary": self.summary(),
            "changes": self.changes(),
            "subjects": [self._row(r) for r in self.rows],
        }

    def frame(self) -> pl.DataFrame:
        """One row per changed subject (the CSV form)."""
        return pl.DataFrame(
            [self._row(r) for r in self.rows],
            schema={
                "level": pl.String, "subject_id": pl.String, "change": pl.String,
                "old_reason": pl.String, "new_reason": pl.String,
            },
        )  # fmt: skip

    @staticmethod
    def _row(r: DiffRow) -> dict[str, Any]:
        return {
            "level": r.level,
            "subject_id": r.subject_id,
            "change": r.change,
            "old_reason": r.old_reason,
            "new_reason": r.new_reason,
        }


def _decided(lake: Lake, version: VersionRef) -> pl.DataFrame:
    return lake.query(
        f"WITH {version.decided} SELECT level, subject, reason FROM decided",
        [version.run_id],
        version.snapshot_id,
    )


def diff_versions(lake: Lake, old: str | VersionRef, new: str | VersionRef) -> VersionDiff:
    """Compare what two named versions decided, subject by subject."""
    a = old if isinstance(old, VersionRef) else resolve_version(lake, old, decided=True)
    b = new if isinstance(new, VersionRef) else resolve_version(lake, new, decided=True)
    joined = _decided(lake, a).join(
        _decided(lake, b), on=["level", "subject"], how="full", coalesce=True, suffix="_new"
    )
    same = joined.filter(pl.col("reason") == pl.col("reason_new"))
    changed = joined.filter(pl.col("reason").ne_missing(pl.col("reason_new"))).sort(
        ["level", "subject"], descending=[True, False]
    )
    rows = [
        DiffRow(level, subject, old_reason, new_reason)
        for level, subject, old_reason, new_reason in changed.select(
            "level", "subject", "reason", "reason_new"
        ).iter_rows()
    ]
    unchanged = dict(same.group_by("level").len().iter_rows())
    return VersionDiff(a, b, rows, {k: int(v) for k, v in unchanged.items()})
