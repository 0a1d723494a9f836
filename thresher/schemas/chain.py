"""The hash chain of decision events: sealing runs into it and verifying it, in each format.

`thresher-chain/2` (DES 0.3.0 events, written now): one chain for the whole lake. A run's events
form one segment; its first event's `previous_hash` is the head of the chain when the run was
recorded (null for the very first event), its `sequence_number` continues from that head, and
every event of the segment states how many events the segment has (`run_events`). So deleting,
editing or reordering an event breaks a hash or a link, removing a whole run breaks the link of
the run recorded after it (and its version's recorded head), and cutting a segment's tail breaks
its count. `current_hash` is SHA-256 over the event's RFC 8785 canonical JSON without
`current_hash`; an optional Ed25519 signature of the last event signs everything before it.

`thresher-chain/1` (before DES 0.3.0, read only): each run a chain of its own from 64 zeros,
sequence from 0, hashed the same way over the old event form (nulls included).

Verification is `thresher.schemas.chain_verify`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from thresher.schemas.decision import (
    CHAIN_FORMAT,
    DecisionEvent,
    DigitalSignature,
    HashChain,
    TemporalMetadata,
)
from thresher.schemas.decision_v1 import HASH_ALGORITHM_V1
from thresher.schemas.des_rules import des_violations
from thresher.schemas.errors import ThresherError
from thresher.schemas.ids import canonical_json
from thresher.schemas.signing import Signer

__all__ = [
    "CHAIN_V1",
    "CHAIN_V2",
    "ChainHead",
    "chain_format_of",
    "event_hash",
    "seal_run",
    "signing_payload",
]

CHAIN_V1 = "thresher-chain/1"
CHAIN_V2 = CHAIN_FORMAT


@dataclass(frozen=True)
class ChainHead:
    """The last event of the chain: the anchor the next run's segment follows."""

    hash: str
    sequence: int


def _without(event: dict[str, Any], *, signature: bool = False) -> dict[str, Any]:
    """A shallow copy without hash_chain.current_hash (and the signature value, if asked)."""
    out = dict(event)
    temporal = dict(out.get("temporal_metadata") or {})
    chain = dict(temporal.get("hash_chain") or {})
    chain.pop("current_hash", None)
    temporal["hash_chain"] = chain
    if signature and isinstance(temporal.get("digital_signature"), dict):
        signed = dict(temporal["digital_signature"])
        signed.pop("signature_value", None)
        temporal["digital_signature"] = signed
    out["temporal_metadata"] = temporal
    return out


def event_hash(event: dict[str, Any]) -> str:
    """SHA-256 of the event's canonical JSON without its current_hash (both formats)."""
    return hashlib.sha256(canonical_json(_without(event))).hexdigest()


def signing_payload(event: dict[str, Any]) -> bytes:
    """What DES signs: the canonical event without current_hash and signature_value."""
    return canonical_json(_without(event, signature=True))


def chain_format_of(event: Any) -> str | None:
    """'thresher-chain/2', 'thresher-chain/1', or None when the event names no known format."""
    if not isinstance(event, dict):
        return None
    temporal = event.get("temporal_metadata")
    chain = temporal.get("hash_chain") if isinstance(temporal, dict) else None
    if not isinstance(chain, dict):
        return None
    if chain.get("chain_format") == CHAIN_V2:
        return CHAIN_V2
    if chain.get("algorithm") == HASH_ALGORITHM_V1 and "schema_version" not in event:
        return CHAIN_V1
    return None


def seal_run(
    events: Sequence[DecisionEvent],
    anchor: ChainHead | None = None,
    signer: Signer | None = None,
) -> list[DecisionEvent]:
    """Link a run's events after `anchor` (None: the chain's first), hash each, sign the last.

    Each event is checked against DES 0.3.0 first; one that breaks it is refused, so nothing
    non-conforming is ever sealed (this also catches events edited after construction).
    The sealed copies get new temporal metadata and share their other groups with the input
    (a deep copy per event would dominate the cost): edit neither afterwards.
    """
    previous = anchor.hash if anchor is not None else None
    start = anchor.sequence + 1 if anchor is not None else 0
    sealed = []
    for index, original in enumerate(events):
        given = original.temporal_metadata
        temporal = TemporalMetadata(
            event_timestamp=given.event_timestamp,
            sequence_number=start + index,
            evidence_tier=given.evidence_tier,
            hash_chain=HashChain(previous_hash=previous, run_events=len(events)),
        )
        event = original.model_copy(update={"temporal_metadata": temporal})
        if signer is not None and index == len(events) - 1:
            temporal.digital_signature = DigitalSignature(
                signer_id=signer.signer_id, signature_value="", public_key=signer.public_key_b64
            )
            temporal.digital_signature.signature_value = signer.sign(
                signing_payload(event.to_des())
            )
        payload = event.to_des()
        violations = des_violations(payload)
        if violations:
            raise ThresherError(
                f"refusing to record decision {event.decision_context.decision_id}: it breaks "
                "DES 0.3.0: " + "; ".join(str(v) for v in violations[:5])
            )
        temporal.hash_chain.current_hash = event_hash(payload)
        previous = temporal.hash_chain.current_hash
        sealed.append(event)
    return sealed
