"""Stored decision events back to their JSON form: the form they were hashed in.

A lake row differs from an event's JSON in three ways: timestamps are datetimes, MAP columns come
back as key/value lists, and absent fields are nulls. `row_to_event` undoes each without
validating anything, so an invalid stored event still reaches the verifier (and is reported).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa

from thresher.schemas.arrow import arrow_schema
from thresher.schemas.base import utc_iso
from thresher.schemas.decision import DecisionEvent
from thresher.schemas.decision_v1 import DecisionEventV1

__all__ = ["row_to_event"]


def _map_paths(schema: pa.Schema) -> frozenset[tuple[str, ...]]:
    """Paths of the MAP columns and struct fields."""
    found: set[tuple[str, ...]] = set()

    def walk(kind: pa.DataType, path: tuple[str, ...]) -> None:
        if pa.types.is_map(kind):
            found.add(path)
        elif pa.types.is_struct(kind):
            for child in kind:
                walk(child.type, (*path, child.name))
        elif pa.types.is_list(kind):
            walk(kind.value_type, path)

    for column in schema:
        walk(column.type, (column.name,))
    return frozenset(found)


_MAPS = {
    "current": _map_paths(arrow_schema(DecisionEvent)),
    "legacy": _map_paths(arrow_schema(DecisionEventV1)),
}


def _json(value: Any, path: tuple[str, ...], maps: frozenset[tuple[str, ...]]) -> Any:
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, dict):
        return {k: _json(v, (*path, k), maps) for k, v in value.items()}
    if isinstance(value, list):
        if path in maps:
            return {
                str(item.get("key")): _json(item.get("value"), path, maps)
                for item in value
                if isinstance(item, dict)
            }
        return [_json(v, path, maps) for v in value]
    return value


def _pruned(value: Any, path: tuple[str, ...], maps: frozenset[tuple[str, ...]]) -> Any:
    """`_json` and `prune` in one pass: nulls and emptied structs dropped on the way."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if item is None:
                continue
            item = _pruned(item, (*path, key), maps)
            if isinstance(item, dict | list) and not item:
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        if path in maps:
            return {
                str(item.get("key")): _pruned(item.get("value"), path, maps)
                for item in value
                if isinstance(item, dict)
            }
        return [_pruned(v, path, maps) for v in value]
    if isinstance(value, datetime):
        return utc_iso(value)
    return value


def row_to_event(row: dict[str, Any], *, legacy: bool = False) -> dict[str, Any]:
    """One stored event as JSON: thresher-chain/2 without nulls, /1 as it was (never raises)."""
    if legacy:
        return dict(_json(row, (), _MAPS["legacy"]))
    event = _pruned(row, (), _MAPS["current"])
    chain = event.get("temporal_metadata", {}).get("hash_chain")
    if isinstance(chain, dict):
        chain.setdefault("previous_hash", None)
    return dict(event)
