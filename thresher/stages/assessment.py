"""Assessed risk and confidence of a selection decision (`risk_v1`, `confidence_v1`).

Risk follows from what the decision does; confidence from the evidence behind it. The rules are
documented in the README ("Risk and confidence"); each is a small function of the decision's
recorded evidence, so an auditor can recompute them from the event alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from thresher.schemas import RiskLevel
from thresher.stages.policy import Decision, FlawEvidence

__all__ = [
    "CONFIDENCE_RULES",
    "RISK_RULES",
    "Assessment",
    "assess",
    "flaw_certainty",
    "judge_vote",
]

RISK_RULES = "risk_v1"
CONFIDENCE_RULES = "confidence_v1"
# judge_v2's evidence text: "judge MODEL: paragraph K (VOTES/SAMPLES votes; samples: ...)".
_JUDGE_VOTE = re.compile(
    r"^judge (?P<model>\S+): paragraph \d+ \((?P<votes>\d+)/(?P<samples>\d+) votes"
)
_RULE_CERTAINTY = {"error": 0.9, "warning": 0.6, "info": 0.4}
_RISK_ORDER: list[RiskLevel] = ["low", "medium", "high", "critical"]


@dataclass(frozen=True)
class Assessment:
    """A decision's risk level, confidence (None: a person decided), its parts and flags."""

    risk: RiskLevel
    confidence: float | None
    components: list[tuple[str, float, str]] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    ground_truth: bool | None = None
    model: tuple[str, float | None] | None = None  # (judge model, vote share) a drop rests on


def judge_vote(evidence: str) -> tuple[str, int, int] | None:
    """(model, votes, samples) from a judge label's evidence text, if it is one."""
    match = _JUDGE_VOTE.match(evidence or "")
    if match is None:
        return None
    return match["model"], int(match["votes"]), int(match["samples"])


def is_judge(flaw: FlawEvidence | dict[str, Any]) -> bool:
    """Whether a flaw label comes from a judge model rather than a rule."""
    labeler = flaw.labeler if isinstance(flaw, FlawEvidence) else str(flaw.get("labeler", ""))
    return labeler.startswith("judge")


def flaw_certainty(flaw: FlawEvidence | dict[str, Any]) -> float:
    """How sure a flaw label is: a judge's vote share, else by the rule's severity."""
    get = flaw.__dict__.get if isinstance(flaw, FlawEvidence) else flaw.get
    if is_judge(flaw):
        votes, samples = get("votes"), get("samples")
        return round(votes / samples, 6) if votes and samples else 0.5
    return _RULE_CERTAINTY.get(str(get("severity")), 0.4)


def _verifier(ev: dict[str, Any]) -> tuple[float, str, list[str]]:
    status, correct = ev.get("verdict_status"), ev.get("correct")
    if status is None:
        return 0.5, "no verdict", ["no_verdict"]
    if correct is None:
        return 0.5, f"verifier undecided ({status})", ["verifier_undecided"]
    if status == "ok":
        return 1.0, f"verdict {'correct' if correct else 'incorrect'} (ok)", []
    return 0.9, f"verdict from status {status}", [f"verdict_status:{status}"]


def _risk(d: Decision, flaw: FlawEvidence | None) -> RiskLevel:
    if d.output == "select":
        if d.level == "trace" and d.evidence.get("correct") is not True:
            return "critical"  # enters a training set without an established correct verdict
        return "high"
    if d.reason_code == "dropped_by_review":
        return "medium"
    if flaw is not None and (is_judge(flaw) or flaw.severity != "error"):
        return "medium"  # a model's judgment or a heuristic below error level
    return "low"


def _problem(d: Decision) -> tuple[float, list[tuple[str, float, str]], list[str], bool]:
    decided, undecided = int(d.evidence.get("n_decided", 0)), int(d.evidence.get("n_undecided", 0))
    flags = ["pass_rate_partly_undecided"] if undecided else []
    truth = decided + undecided > 0
    if d.reason_code == "pass_rate_unknown":
        return 0.5, [("pass_rate", 0.5, "no decided rollout")], ["pass_rate_unknown"], truth
    if d.reason_code.startswith("pass_rate_"):
        share = round(decided / (decided + undecided), 6) if decided + undecided else 0.5
        return (
            share,
            [("pass_rate", share, f"{decided} decided, {undecided} undecided")],
            flags,
            truth,
        )
    return 1.0, [("policy_rule", 1.0, d.reason_code)], flags, truth


def assess(d: Decision) -> Assessment:
    """Risk and confidence of one decision (rules `risk_v1` and `confidence_v1`)."""
    flaw = d.flaw
    risk = _risk(d, flaw)
    if d.level == "problem":
        score, parts, flags, truth = _problem(d)
        return Assessment(risk, score, parts, flags, truth)
    ev = d.evidence
    v_score, v_basis, flags = _verifier(ev)
    truth = ev.get("verdict_status") is not None
    parts = [("verifier", v_score, v_basis)]
    model = None
    reason = d.reason_code
    if d.overridden and d.review is not None:
        flags = [*flags, "human_override"]
        parts.append(("human_review", 1.0, f"{d.review.actor}: {d.review.rationale}"[:200]))
        return Assessment(max(risk, "medium", key=_RISK_ORDER.index), None, parts, flags, truth)
    if d.review is not None:
        flags = [*flags, "human_review_agrees"]
    if d.output == "select":
        unblocked = [f for f in ev.get("flaws", []) if f.get("severity") in ("warning", "error")]
        score = v_score
        for f in unblocked:
            certainty = flaw_certainty(f)
            parts.append((f"flaw:{f.get('labeler')}", certainty, str(f.get("flaw_type"))))
            score = min(score, v_score * (1 - certainty / 2))
        if unblocked:
            flags.append("unblocked_flaws")
        if ev.get("conditioned"):
            flags.append("conditioned_on_reference")
    elif reason.startswith("incorrect"):
        score = v_score
    elif reason.startswith(("unverified", "unverifiable")):
        score = 0.5
    elif flaw is not None:
        score = flaw_certainty(flaw)
        parts = [(f"flaw:{flaw.labeler}", score, flaw.flaw_type)]
        if is_judge(flaw):
            share = score if flaw.votes and flaw.samples else None
            model = (flaw.model or flaw.labeler, share)
            if share is None:
                flags.append("judge_vote_unknown")
            elif (flaw.votes or 0) < (flaw.samples or 0):
                flags.append("judge_split_vote")
        elif flaw.severity != "error":
            flags.append("heuristic_flaw")
    elif reason == "pass_rate_unknown":
        score = 0.5
        parts = [("pass_rate", 0.5, "its problem has no decided rollout")]
    else:  # a rule applied to recorded facts: a cluster, a quota, the mode, a problem flag
        score = 1.0
        parts = [("policy_rule", 1.0, reason)]
    return Assessment(risk, round(score, 6), parts, flags, truth, model)
