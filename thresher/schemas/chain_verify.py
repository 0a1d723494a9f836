"""Verifying the decision chain: every event, every link, every run's count, the versions'
heads and signatures, in each chain format (see `thresher.schemas.chain` for the design).

Verification reads plain JSON (`dict`s), so it needs neither a lake nor a valid event: every
problem is a `Finding` (where, which rule, what), never an exception.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from thresher.schemas.chain import CHAIN_V2, chain_format_of, event_hash, signing_payload
from thresher.schemas.decision_v1 import GENESIS_HASH_V1, DecisionEventV1
from thresher.schemas.des_rules import des_violations
from thresher.schemas.signing import signer_id, verify_signature

__all__ = ["ChainVerification", "Finding", "Segment", "strict_json", "verify_events"]


@dataclass(frozen=True)
class Finding:
    """One problem found: where (line or row), which rule, and what is wrong."""

    where: str
    rule: str
    message: str
    decision_id: str | None = None
    run_id: str | None = None

    def __str__(self) -> str:
        who = f" (decision {self.decision_id})" if self.decision_id else ""
        return f"{self.where}{who}: {self.message} [{self.rule}]"


@dataclass
class Segment:
    """One run's events as found: format, count, sequence range, head, anchor, signer."""

    run_id: str
    chain_format: str
    events: int = 0
    first_sequence: int = 0
    head_hash: str = ""
    head_sequence: int = -1
    anchor: str | None = None  # previous_hash of the first event (format 2); None: genesis
    declared: int | None = None  # run_events the events state (format 2)
    tiers: dict[str, int] = field(default_factory=dict)
    head_signer: str | None = None  # signer id when the head event carries a valid signature
    dataset_version: str | None = None


@dataclass
class ChainVerification:
    """Every segment found and every finding; ok when there are none."""

    segments: list[Segment]
    findings: list[Finding]
    checked: int

    @property
    def ok(self) -> bool:
        """True when no finding was made."""
        return not self.findings

    def segment(self, run_id: str) -> Segment | None:
        """The segment of one run, if present."""
        return next((s for s in self.segments if s.run_id == run_id), None)


def _get(event: dict[str, Any], *path: str) -> Any:
    value: Any = event
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def strict_json(text: str) -> Any:
    """JSON with no repeated keys and no NaN or infinities (ValueError otherwise)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(items)
        if len(out) != len(items):
            raise ValueError("a key is repeated in one object")
        return out

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)


def _fast_hash(event: dict[str, Any], raw: str | None) -> str | None:
    """The hash of a line that is already canonical JSON, by cutting out its current_hash.

    Sound because a match means the cut bytes are exactly what was hashed; anything else
    (a non-canonical line, a repeated member) falls back to canonicalising the event.
    """
    claimed = _get(event, "temporal_metadata", "hash_chain", "current_hash")
    if raw is None or not isinstance(claimed, str) or not claimed.isalnum():
        return None
    needle = f'"current_hash":"{claimed}"'
    at = raw.find(needle)
    if at < 0 or raw.find(needle, at + 1) >= 0:
        return None
    end = at + len(needle)
    if raw[at - 1] == ",":
        cut = raw[: at - 1] + raw[end:]
    elif raw[end : end + 1] == ",":
        cut = raw[:at] + raw[end + 1 :]
    else:
        cut = raw[:at] + raw[end:]
    digest = hashlib.sha256(cut.encode("utf-8")).hexdigest()
    return digest if digest == claimed else None


class _Verifier:
    def __init__(self, trusted_keys: Collection[bytes] | None):
        self.trusted = set(trusted_keys) if trusted_keys is not None else None
        self.findings: list[Finding] = []
        self.segments: dict[str, Segment] = {}
        self.by_hash: dict[str, tuple[str, int]] = {}
        self.ids: set[str] = set()
        self.checked = 0

    def find(self, where: str, rule: str, message: str, event: Any = None) -> None:
        did = _get(event, "decision_context", "decision_id") if isinstance(event, dict) else None
        rid = _get(event, "decision_context", "run_id") if isinstance(event, dict) else None
        self.findings.append(
            Finding(where, rule, message, did if isinstance(did, str) else None,
                    rid if isinstance(rid, str) else None)
        )  # fmt: skip

    def add(self, where: str, event: Any, raw: str | None) -> None:
        self.checked += 1
        if isinstance(event, BaseException):
            self.find(where, "read", f"unreadable event: {event}")
            return
        verified = _fast_hash(event, raw) if isinstance(event, dict) else None
        if raw is not None and verified is None:
            # Not a canonical line: read it again strictly (a repeated key could make two
            # readers see two different events), then hash what was read.
            try:
                event = strict_json(raw)
            except ValueError as exc:
                self.find(where, "read", f"unreadable event: {exc}")
                return
        fmt = chain_format_of(event)
        if fmt is None:
            self.find(where, "chain:format", "not a thresher-chain/1 or /2 event", event)
            return
        self._conformance(where, event, fmt)
        run_id = _get(event, "decision_context", "run_id")
        claimed = _get(event, "temporal_metadata", "hash_chain", "current_hash")
        sequence = _get(event, "temporal_metadata", "sequence_number")
        previous = _get(event, "temporal_metadata", "hash_chain", "previous_hash")
        if not isinstance(run_id, str) or not isinstance(claimed, str) or type(sequence) is not int:
            self.find(where, "chain:fields", "no run_id, current_hash or integer sequence_number",
                      event)  # fmt: skip
            return
        decision_id = _get(event, "decision_context", "decision_id")
        if isinstance(decision_id, str):
            if decision_id in self.ids:
                self.find(where, "chain:duplicate", "a second event with this decision_id", event)
            self.ids.add(decision_id)
        try:
            recomputed = verified or event_hash(event)
        except (TypeError, ValueError) as exc:  # values RFC 8785 cannot write (NaN, huge ints)
            recomputed = ""
            self.find(where, "chain:unhashable", f"the event cannot be canonicalised: {exc}", event)
        if recomputed and recomputed != claimed:
            self.find(where, "chain:edited",
                      "current_hash does not match the event's content (the event was edited)",
                      event)  # fmt: skip
        signer = self._signature(where, event) if fmt == CHAIN_V2 else None
        self._link(where, event, fmt, run_id, previous, sequence)
        segment = self.segments[run_id]
        segment.events += 1
        segment.head_hash, segment.head_sequence, segment.head_signer = claimed, sequence, signer
        tier = _get(event, "temporal_metadata", "evidence_tier")
        segment.tiers[str(tier)] = segment.tiers.get(str(tier), 0) + 1
        version = _get(event, "decision_context", "dataset_version")
        segment.dataset_version = version if isinstance(version, str) else segment.dataset_version
        self.by_hash[claimed] = (run_id, sequence)

    def _conformance(self, where: str, event: dict[str, Any], fmt: str) -> None:
        if fmt == CHAIN_V2:
            for violation in des_violations(event):
                self.find(where, f"des:{violation.rule}", f"{violation.path}: {violation.message}",
                          event)  # fmt: skip
            return
        try:
            DecisionEventV1.model_validate(event)
        except ValidationError as exc:
            for error in exc.errors()[:5]:
                path = ".".join(str(p) for p in error["loc"]) or "$"
                self.find(where, "v1:invalid", f"{path}: {error['msg']}", event)

    def _signature(self, where: str, event: dict[str, Any]) -> str | None:
        signature = _get(event, "temporal_metadata", "digital_signature")
        if signature is None:
            return None
        key, value = _get(signature, "public_key"), _get(signature, "signature_value")
        if not isinstance(key, str) or not isinstance(value, str):
            self.find(where, "signature:invalid", "digital_signature lacks public_key or value",
                      event)  # fmt: skip
            return None
        try:
            valid = verify_signature(key, value, signing_payload(event))
        except (TypeError, ValueError):
            valid = False
        if not valid:
            self.find(where, "signature:invalid", "the signature does not verify", event)
            return None
        raw_key = base64.b64decode(key)
        if _get(signature, "signer_id") != signer_id(raw_key):
            self.find(where, "signature:invalid", "signer_id does not name the public key", event)
            return None
        if self.trusted is not None and raw_key not in self.trusted:
            self.find(where, "signature:untrusted",
                      f"signed by {signer_id(raw_key)}, not by a trusted key", event)  # fmt: skip
            return None
        return signer_id(raw_key)

    def _link(self, where: str, event: dict[str, Any], fmt: str, run_id: str,
              previous: Any, sequence: int) -> None:  # fmt: skip
        segment = self.segments.get(run_id)
        declared = _get(event, "temporal_metadata", "hash_chain", "run_events")
        if segment is None:
            segment = Segment(run_id, fmt, first_sequence=sequence, anchor=None)
            self.segments[run_id] = segment
            if fmt == CHAIN_V2:
                segment.declared = declared if type(declared) is int and declared > 0 else None
                if segment.declared is None:
                    self.find(where, "chain:count", "run_events must be a positive integer",
                              event)  # fmt: skip
                self._first_link_v2(where, event, segment, previous, sequence)
            elif previous != GENESIS_HASH_V1 or sequence != 0:
                self.find(where, "chain:link",
                          "the first event of a thresher-chain/1 run must follow 64 zeros at "
                          "sequence 0 (events before it were removed)", event)  # fmt: skip
            return
        if segment.chain_format != fmt:
            self.find(where, "chain:format", f"a {fmt} event in a {segment.chain_format} run",
                      event)  # fmt: skip
        if previous != segment.head_hash:
            self.find(where, "chain:link",
                      f"previous_hash does not match the prior event of run {run_id} "
                      "(an event was removed or reordered)", event)  # fmt: skip
        if sequence != segment.head_sequence + 1:
            self.find(where, "chain:sequence",
                      f"sequence_number {sequence} where {segment.head_sequence + 1} was expected "
                      "(an event was removed or reordered)", event)  # fmt: skip
        if fmt == CHAIN_V2 and declared != segment.declared:
            self.find(where, "chain:count", f"run_events {declared} where the run's first event "
                      f"says {segment.declared}", event)  # fmt: skip

    def _first_link_v2(self, where: str, event: dict[str, Any], segment: Segment,
                       previous: Any, sequence: int) -> None:  # fmt: skip
        if previous is None:
            if sequence != 0:
                self.find(where, "chain:sequence",
                          f"the chain's first event has sequence_number {sequence}, not 0 "
                          "(events before it were removed)", event)  # fmt: skip
            return
        segment.anchor = previous
        anchor = self.by_hash.get(previous)
        if anchor is None:
            self.find(where, "chain:anchor",
                      f"run {segment.run_id} follows {str(previous)[:16]}…, which no earlier event "
                      "has (the run recorded before it was removed, or the events reordered)",
                      event)  # fmt: skip
        elif sequence != anchor[1] + 1:
            self.find(where, "chain:sequence",
                      f"sequence_number {sequence} where {anchor[1] + 1} follows its anchor",
                      event)  # fmt: skip

    def finish(self, expected_heads: Mapping[str, tuple[str, str]], expect_head: str | None
               ) -> ChainVerification:  # fmt: skip
        for segment in self.segments.values():
            where = f"run {segment.run_id}"
            if segment.declared is not None and segment.events != segment.declared:
                self.find(where, "chain:truncated",
                          f"the run's events say it has {segment.declared}, {segment.events} are "
                          "present (events were removed, at its end or elsewhere)")  # fmt: skip
            if segment.anchor is not None and segment.anchor in self.by_hash:
                owner = self.segments[self.by_hash[segment.anchor][0]]
                if owner.head_hash != segment.anchor:
                    self.find(where, "chain:anchor",
                              f"the run follows an event of run {owner.run_id} that is not that "
                              "run's last event")  # fmt: skip
            if (self.trusted is not None and segment.chain_format == CHAIN_V2
                    and segment.head_signer is None):  # fmt: skip
                self.find(where, "signature:missing",
                          "the run's last event is not signed by a trusted key (events after it "
                          "may have been removed)")  # fmt: skip
        for run_id, (version, head) in expected_heads.items():
            found = self.segments.get(run_id)
            if found is None:
                self.find(f"version {version}", "version:run_missing",
                          f"the version recorded run {run_id} with head {head[:16]}…, but no event "
                          "of that run is present (a whole run was removed)")  # fmt: skip
            elif found.head_hash != head:
                self.find(f"version {version}", "version:head",
                          f"run {run_id} ends at {found.head_hash[:16]}… but the version recorded "
                          f"head {head[:16]}… (events were removed at its end)")  # fmt: skip
        if expect_head is not None and expect_head not in {
            s.head_hash for s in self.segments.values()
        }:
            self.find("chain", "chain:expected_head",
                      f"no run ends at the expected head {expect_head[:16]}… (events were removed "
                      "at the end, or the file holds another chain)")  # fmt: skip
        return ChainVerification(list(self.segments.values()), self.findings, self.checked)


def verify_events(
    items: Iterable[tuple[str, Any, str | None]],
    *,
    expected_heads: Mapping[str, tuple[str, str]] | None = None,
    trusted_keys: Collection[bytes] | None = None,
    expect_head: str | None = None,
) -> ChainVerification:
    """Verify events given in recorded order as (where, event dict or error, raw line or None).

    `expected_heads` maps a run id to (version name, head hash) its version recorded;
    `trusted_keys` (raw Ed25519 public keys) makes a signed last event mandatory in every run;
    `expect_head` is a head hash the chain must reach (one published with a dataset).
    """
    verifier = _Verifier(trusted_keys)
    for where, event, raw in items:
        verifier.add(where, event, raw)
    return verifier.finish(expected_heads or {}, expect_head)
