"""Rendering for the decision-trace commands (audit verify/export/why/keygen, review).

The CLI functions in `thresher.cli` call these; each is a few lines over a stage call.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from thresher.schemas import ChainVerification, InputError
from thresher.storage import Lake

__all__ = [
    "audit_export_command",
    "audit_keygen_command",
    "audit_verify_command",
    "audit_why_command",
    "review_command",
]

MAX_FINDINGS = 50  # printed; the count of the rest follows


def _trusted(public_keys: list[str] | None) -> list[bytes] | None:
    from thresher.schemas.signing import load_public_key

    return [load_public_key(p) for p in public_keys] if public_keys else None


def _render(result: ChainVerification, console: Console) -> bool:
    if not result.checked and result.ok:
        console.print("no decisions recorded yet")
        return True
    for seg in result.segments:
        tiers = ", ".join(f"{k} {v}" for k, v in sorted(seg.tiers.items()))
        follows = f"follows {seg.anchor[:16]}…" if seg.anchor else "starts its chain"
        signed = f", signed by {seg.head_signer}" if seg.head_signer else ""
        console.print(
            f"run {seg.run_id} ({seg.chain_format}): {seg.events} events ({tiers}), "
            f"sequence {seg.first_sequence}..{seg.head_sequence}, {follows}, "
            f"head {seg.head_hash[:16]}…{signed}",
            highlight=False,
            markup=False,
        )
    for finding in result.findings[:MAX_FINDINGS]:
        console.print(f"[red]BROKEN[/] {escape(str(finding))}", highlight=False)
    if len(result.findings) > MAX_FINDINGS:
        console.print(f"[red]… and {len(result.findings) - MAX_FINDINGS} more findings[/]")
    if result.ok:
        console.print(
            f"[green]ok[/]: {result.checked} events in {len(result.segments)} runs verify"
        )
    else:
        console.print(f"[red]{len(result.findings)} finding(s)[/] in {result.checked} events")
    return result.ok


def audit_verify_command(
    lake: str,
    version: str | None,
    file: str | None,
    expect_head: str | None,
    public_keys: list[str] | None,
    *,
    console: Console,
) -> bool:
    """`thresher audit verify`: a line per run, then every finding; False when any."""
    from thresher.stages.audit import audit_verify, verify_file

    trusted = _trusted(public_keys)
    if file is not None:
        if version is not None:
            raise InputError("--version reads the lake; an exported file has its own chain",
                             field="--version")  # fmt: skip
        result = verify_file(file, expect_head=expect_head, trusted_keys=trusted)
    else:
        with Lake.open(lake, read_only=True) as opened:
            result = audit_verify(opened, version=version, trusted_keys=trusted)
        if expect_head is not None and expect_head not in {s.head_hash for s in result.segments}:
            console.print(f"[red]BROKEN[/] no run ends at the expected head {expect_head[:16]}…")
            _render(result, console)
            return False
    return _render(result, console)


def audit_export_command(lake: str, version: str | None, out: str, *, console: Console) -> None:
    """`thresher audit export`: the events exactly as hashed, one JSON object per line."""
    from thresher.stages.audit import export_events

    with Lake.open(lake, read_only=True) as opened:
        result = export_events(opened, version, out)
    say = Console(stderr=True) if out == "-" else console
    say.print(
        f"wrote {result.events} events of {result.runs} run(s) to {result.path}, "
        f"head {result.head_hash}",
        highlight=False,
    )
    if out != "-":
        say.print(
            f"verify it anywhere: thresher audit verify --file {out} --expect-head {result.head_hash}",
            highlight=False,
            soft_wrap=True,
        )


def audit_keygen_command(out: str, *, console: Console) -> None:
    """`thresher audit keygen`: a new Ed25519 key pair (OUT and OUT with .pub)."""
    from thresher.schemas.signing import generate_key_pair

    private = Path(out)
    public = private.with_name(private.stem + ".pub" + (private.suffix or ".pem"))
    signer = generate_key_pair(private, public)
    console.print(f"private key {private} (keep it secret), public key {public}: {signer}")


def audit_why_command(lake: str, subject: str, fmt: str, *, console: Console) -> None:
    """`thresher audit why`: every decision about a subject, with evidence and reviews."""
    from thresher.stages.audit import audit_why

    if fmt not in ("table", "json"):
        raise InputError(f"unknown format {fmt!r}; use table or json", field="--format")
    with Lake.open(lake, read_only=True) as opened:
        rows = audit_why(opened, subject)
    if fmt == "json":
        for row in rows:
            console.print_json(json.dumps(row))
        return
    for row in rows:
        confidence = "n/a" if row["confidence"] is None else f"{row['confidence']:.2f}"
        console.print(
            f"[bold]{escape(str(row['output']))}[/] "
            + escape(
                f"{row['reason_code']}  ({row['type']}, {row['logic_type']}, risk {row['risk']}, "
                f"confidence {confidence}, tier {row['tier']}, version {row['version']}, "
                f"run {row['run_id']}, {row['time']})"
            )
        )
        review = row.get("review")
        if review:
            what = (
                f"overrode {review['original_output']} -> {review['overridden_output']}"
                if review["override_occurred"]
                else "reviewed"
            )
            console.print(
                f"  human review: {review['actor']}"
                + (f" ({review['role']})" if review["role"] else "")
                + f" {what}: {review['rationale']}",
                highlight=False,
                markup=False,
            )
        lines = [f"  subject {row['subject']}  hash {str(row['hash'])[:16]}…",
                 f"  evidence {json.dumps(row['evidence'], sort_keys=True)}"]  # fmt: skip
        if row["uncertainty_flags"]:
            lines.insert(0, f"  uncertain: {', '.join(row['uncertainty_flags'])}")
        for line in lines:
            console.print(line, highlight=False, markup=False)


def review_command(
    lake: str,
    trace_id: str | None,
    decision: str | None,
    actor: str | None,
    rationale: str | None,
    role: str | None,
    file: str | None,
    sign_key: str | None,
    *,
    console: Console,
) -> None:
    """`thresher review`: record one review (or a file of them) as human_decision events."""
    from pydantic import ValidationError

    from thresher.pipeline.review import ReviewRequest
    from thresher.schemas.signing import Signer
    from thresher.stages.review import load_reviews, record_reviews

    if file is not None:
        if trace_id or decision:
            raise InputError("give either TRACE_ID with --keep/--drop or --file, not both",
                             field="--file")  # fmt: skip
        requests = load_reviews(file)
    else:
        if not trace_id or decision is None:
            raise InputError("give a TRACE_ID and --keep or --drop (or --file)", field="TRACE_ID")
        try:
            requests = [
                ReviewRequest(
                    trace_id=trace_id,
                    decision=decision,
                    actor=actor or "",
                    rationale=rationale or "",
                    role=role,
                )
            ]  # type: ignore[arg-type]
        except ValidationError as exc:
            error = exc.errors()[0]
            raise InputError(error["msg"], field="--" + str(error["loc"][0])) from None
    signer = Signer(sign_key) if sign_key else None
    with Lake.open(lake) as opened:
        result = record_reviews(opened, requests, signer)
    console.print(
        f"recorded {len(result.events)} review(s) ({result.overrides} overriding the policy's "
        f"latest decision) as run {result.run_id}, head {result.head_hash[:16]}…; "
        "the next `thresher select` honours them",
        highlight=False,
    )
