"""Content-addressed ids and canonical JSON (RFC 8785)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

__all__ = ["canonical_json", "sha256_hex", "content_id"]

ID_HEX_CHARS = 32
_SAFE_INT = 2**53  # RFC 8785 numbers are IEEE doubles: larger integers are refused
_DUMPS = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
).encode


class _NotPlain(Exception):
    """A value whose RFC 8785 form json.dumps does not write (the slow path handles it)."""


def _plain(value: Any) -> Any:
    """The value with integral floats as ints; raises _NotPlain where json.dumps would differ."""
    if isinstance(value, str) or value is None or value is True or value is False:
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            # Python sorts keys by code point, RFC 8785 by UTF-16 unit: equal for ASCII keys.
            if not isinstance(key, str) or not key.isascii():
                raise _NotPlain
            out[key] = _plain(item)
        return out
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, int):
        if -_SAFE_INT < value < _SAFE_INT:
            return value
        raise _NotPlain
    if isinstance(value, float):
        if value.is_integer():
            if abs(value) < _SAFE_INT:
                return int(value)  # ECMAScript writes 1.0 as 1 and -0.0 as 0 (exact below 2**53)
        elif 1e-4 <= abs(value) < 1e16:
            # Both write the shortest round-trip digits; only the exponent forms differ.
            return value
    raise _NotPlain


def canonical_json(value: Any) -> bytes:
    """Serialise JSON-compatible data as RFC 8785 canonical JSON (sorted keys, no spaces).

    The common case goes through the C JSON encoder; values it would write differently
    (non-ASCII keys, very small or large floats, unsafe integers) take the reference encoder,
    which also raises for NaN, infinities and integers outside the IEEE double range.
    """
    try:
        return _DUMPS(_plain(value)).encode("utf-8")
    except (_NotPlain, UnicodeEncodeError, ValueError):
        return rfc8785.dumps(value)


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def content_id(kind: str, *parts: Any) -> str:
    """A stable id for content: the hash of a kind tag and JSON-compatible parts."""
    return sha256_hex(canonical_json([kind, *parts]))[:ID_HEX_CHARS]
