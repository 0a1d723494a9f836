"""Arrow schemas derived from the pydantic records, so column types are written once."""

from __future__ import annotations

import functools
import types
import typing
from datetime import datetime
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel

__all__ = ["arrow_schema", "arrow_type", "to_arrow_table"]

_SCALARS: dict[Any, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    datetime: pa.timestamp("us", tz="UTC"),
}


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
        raise TypeError(f"union {annotation!r} has no single Arrow type")
    return annotation, False


def arrow_type(annotation: Any) -> pa.DataType:
    """The Arrow type of one field annotation."""
    annotation, _ = _strip_optional(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return arrow_type(typing.get_args(annotation)[0])
    if origin is Literal:
        return pa.string()
    if origin is list:
        (item,) = typing.get_args(annotation)
        return pa.list_(arrow_type(item))
    if origin is dict:
        key, value = typing.get_args(annotation)
        return pa.map_(arrow_type(key), arrow_type(value))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return pa.struct(
            [
                pa.field(name, arrow_type(f.annotation), nullable=_nullable(f.annotation))
                for name, f in annotation.model_fields.items()
            ]
        )
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    raise TypeError(f"no Arrow type for {annotation!r}")


def _nullable(annotation: Any) -> bool:
    return _strip_optional(annotation)[1]


@functools.cache
def arrow_schema(model: type[BaseModel]) -> pa.Schema:
    """The Arrow schema of a record type: one column per field, in declaration order.

    Cached: record types are defined once, and every append and export asks for their schema.
    """
    return pa.schema(
        [
            pa.field(name, arrow_type(f.annotation), nullable=_nullable(f.annotation))
            for name, f in model.model_fields.items()
        ]
    )


def to_arrow_table(model: type[BaseModel], records: typing.Sequence[BaseModel]) -> pa.Table:
    """Records of one type as an Arrow table with the derived schema."""
    # pydantic's own dump (compiled) and pyarrow's row conversion: dicts become maps or
    # structs as the schema says; several times faster than walking the models in Python.
    return pa.Table.from_pylist([r.model_dump() for r in records], schema=arrow_schema(model))
