"""Content-addressed ids and canonical JSON (RFC 8785 style)."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

__all__ = ["canonical_json", "sha256_hex", "content_id"]

ID_HEX_CHARS = 32


def canonical_json(value: Any) -> bytes:
    """Serialise JSON-compatible data canonically (sorted keys, no spaces, RFC 8785 numbers)."""
    return rfc8785.dumps(value)


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def content_id(kind: str, *parts: Any) -> str:
    """A stable id for content: the hash of a kind tag and JSON-compatible parts."""
    return sha256_hex(canonical_json([kind, *parts]))[:ID_HEX_CHARS]
