"""Ed25519 signatures of decision events (DES `temporal_metadata.digital_signature`).

DES: the signature is computed over the canonical (RFC 8785) event without `signature_value`
and `current_hash`; `current_hash` is then computed over the event with the signature in it.
Signing the last event of a run therefore signs the whole chain up to it.
The `cryptography` package is imported only when a key is used.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from thresher.schemas.errors import InputError
from thresher.schemas.ids import sha256_hex

__all__ = ["Signer", "generate_key_pair", "load_public_key", "signer_id", "verify_signature"]

ALGORITHM = "Ed25519"


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:  # pragma: no cover - cryptography ships with the lock file
        raise InputError(
            "signing needs the `cryptography` package", hint="pip install cryptography"
        ) from exc
    return serialization, ed25519


def signer_id(public_key: bytes) -> str:
    """A short, stable name of a public key: 'ed25519:' and 16 hex digits of its SHA-256."""
    return f"ed25519:{sha256_hex(public_key)[:16]}"


class Signer:
    """An Ed25519 private key loaded from a PEM (PKCS#8) file."""

    def __init__(self, path: str | Path):
        serialization, ed25519 = _crypto()
        path = Path(path)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except OSError as exc:
            raise InputError(f"cannot read the signing key {path}: {exc.strerror}") from None
        except (ValueError, TypeError) as exc:
            raise InputError(
                f"{path} is not an unencrypted PEM private key ({exc})",
                hint="make one with `thresher audit keygen -o KEY.pem`",
            ) from None
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise InputError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
        self._key = key
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public_key = raw
        self.signer_id = signer_id(raw)

    @property
    def public_key_b64(self) -> str:
        """The raw public key, base64."""
        return base64.b64encode(self.public_key).decode("ascii")

    def sign(self, message: bytes) -> str:
        """The base64 signature of message."""
        return base64.b64encode(self._key.sign(message)).decode("ascii")


def verify_signature(public_key_b64: str, signature_b64: str, message: bytes) -> bool:
    """Whether the signature is valid for message under the (base64, raw) public key."""
    _, ed25519 = _crypto()
    from cryptography.exceptions import InvalidSignature

    try:
        key = ed25519.Ed25519PublicKey.from_public_bytes(
            base64.b64decode(public_key_b64, validate=True)
        )
        key.verify(base64.b64decode(signature_b64, validate=True), message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def load_public_key(path: str | Path) -> bytes:
    """The raw public key of a PEM file (a public key, or a private key whose public half)."""
    serialization, ed25519 = _crypto()
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the public key {path}: {exc.strerror}") from None
    key: Any
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError) as exc:
            raise InputError(f"{path} is not a PEM Ed25519 key ({exc})") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise InputError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return bytes(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def generate_key_pair(private_path: str | Path, public_path: str | Path) -> str:
    """Write a new Ed25519 key pair as PEM files (the private one mode 0600); returns its id."""
    serialization, ed25519 = _crypto()
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_path, public_path = Path(private_path), Path(public_path)
    for path in (private_path, public_path):
        if path.exists():
            raise InputError(f"{path} exists; refusing to overwrite a key", field="-o")
    private_path.touch(mode=0o600)
    private_path.write_bytes(private)
    public_path.write_bytes(public)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return signer_id(raw)
