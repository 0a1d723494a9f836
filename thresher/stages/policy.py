"""The selection policy: labels in, one reasoned decision per trace and per problem out.

The select stage's decision logic, free of the lake: it reads label columns already computed
(verdicts, flaw labels, divergence, dedup clusters, contamination flags) and never runs a
model, so re-deciding with new thresholds costs seconds. Every decision carries a stable snake_case reason code; the funnel is counted from
those codes, and `decision_events` turns the decisions into a hash-chained DES trace.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from thresher.config import SelectionConfig
from thresher.pipeline.divergence import select_by_divergence
from thresher.schemas import (
    FUNNEL_STAGES,
    GENESIS_HASH,
    DecisionBoundary,
    DecisionContext,
    DecisionEvent,
    DecisionLogic,
    QualityIndicators,
    TemporalMetadata,
    content_id,
    seal,
    sha256_hex,
)

__all__ = [
    "FUNNEL_STAGES",
    "POLICY_NAME",
    "Decision",
    "FlawEvidence",
    "PassRate",
    "TraceEvidence",
    "decide",
    "decision_events",
    "funnel",
    "pass_rate",
]

POLICY_NAME = "selection_policy_v1"
_SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}
_VERSION_SUFFIX = re.compile(r"_v\d+$")
Tier = Literal["lightweight", "sampled", "full"]


@dataclass(frozen=True)
class FlawEvidence:
    """One flaw label as the policy sees it."""

    labeler: str
    flaw_type: str
    severity: str
    step: int | None = None


@dataclass
class TraceEvidence:
    """Everything the policy knows about one trace (label columns, joined)."""

    trace_id: str
    problem_id: str
    mode: str = "on_policy"
    conditioned: bool = False  # generated with the reference solution in its prompt
    verdict_status: str | None = None  # None: no verdict stored
    correct: bool | None = None  # None: not decided (no verdict, or the verifier could not)
    verifier: str | None = None
    flaws: list[FlawEvidence] = field(default_factory=list)
    divergence: float | None = None
    teacher_logprob: float | None = None  # the teacher's mean log-prob of the trace, if scored
    cluster_id: str | None = None
    is_representative: bool = True
    contaminated: list[str] = field(default_factory=list)  # benchmarks of its problem

    def as_json(self) -> dict[str, Any]:
        """The evidence as JSON-compatible data."""
        return {
            "mode": self.mode,
            "conditioned": self.conditioned,
            "verdict_status": self.verdict_status,
            "correct": self.correct,
            "verifier": self.verifier,
            "flaws": [f.__dict__ for f in self.flaws],
            "divergence": self.divergence,
            "cluster_id": self.cluster_id,
            "is_representative": self.is_representative,
            "contaminated": list(self.contaminated),
        }


@dataclass
class Decision:
    """One decision about a trace or a problem, with its reason code and evidence."""

    subject_id: str
    level: Literal["trace", "problem"]
    output: Literal["drop", "select"]
    reason_code: str
    stage: str  # the funnel stage the subject did not reach ("selected" when selected)
    evidence: dict[str, Any]
    problem_id: str = ""


def _labeler_code(labeler: str) -> str:
    return _VERSION_SUFFIX.sub("", labeler)


def _blocking_flaw(ev: TraceEvidence, policy: SelectionConfig) -> FlawEvidence | None:
    if policy.drop_flaw_severity is None:
        return None
    floor = _SEVERITY_RANK[policy.drop_flaw_severity]
    ignored = set(policy.ignore_labelers) | {_labeler_code(x) for x in policy.ignore_labelers}
    blocking = [
        f
        for f in ev.flaws
        if _SEVERITY_RANK.get(f.severity, 0) >= floor
        and f.labeler not in ignored
        and _labeler_code(f.labeler) not in ignored
    ]
    if not blocking:
        return None
    return min(blocking, key=lambda f: (f.step if f.step is not None else 1 << 30, f.labeler))


def _tie_break(seed: int, trace_id: str) -> str:
    return sha256_hex(f"{seed}:{trace_id}".encode())


def _trace_rule(ev: TraceEvidence, policy: SelectionConfig) -> tuple[str, str] | None:
    """The first per-trace rule that drops it: (reason code, funnel stage it missed)."""
    if policy.require_correct:
        if ev.verdict_status is None:
            return "unverified", "correct"
        if ev.correct is None:
            return f"unverifiable:{ev.verdict_status}", "correct"
        if not ev.correct:
            # A failure of the response itself: no answer, or the program's error or limit.
            status = "" if ev.verdict_status == "ok" else f":{ev.verdict_status}"
            return f"incorrect{status}", "correct"
    flaw = _blocking_flaw(ev, policy)
    if flaw is not None:
        kind = "flawed_positive" if ev.correct else "flawed"
        return f"{kind}:{_labeler_code(flaw.labeler)}", "clean"
    if ev.conditioned and not policy.allow_conditioned:
        return "conditioned_on_reference", "unconditioned"
    if ev.divergence is not None:
        if policy.min_divergence is not None and ev.divergence < policy.min_divergence:
            return "divergence_below_min", "clean"
        if policy.max_divergence is not None and ev.divergence > policy.max_divergence:
            return "divergence_above_max", "clean"
    return None


@dataclass(frozen=True)
class PassRate:
    """A problem's pass rate over the decided rollouts of the policy's pass-rate modes."""

    rate: float | None  # None: no decided rollout in those modes
    decided: int
    undecided: int

    def as_json(self) -> dict[str, Any]:
        """The figures a problem decision records as evidence."""
        rate = None if self.rate is None else round(self.rate, 6)
        return {"pass_rate": rate, "n_decided": self.decided, "n_undecided": self.undecided}


def pass_rate(traces: Sequence[TraceEvidence], modes: Sequence[str]) -> PassRate:
    """Correct / decided over the traces generated in `modes`; undecided ones are counted apart."""
    sample = [t for t in traces if t.mode in modes and t.verdict_status is not None]
    decided = [t for t in sample if t.correct is not None]
    correct = sum(1 for t in decided if t.correct)
    rate = correct / len(decided) if decided else None
    return PassRate(rate, len(decided), len(sample) - len(decided))


def _problem_rule(
    traces: Sequence[TraceEvidence], policy: SelectionConfig
) -> tuple[str | None, PassRate]:
    """A problem-level drop reason (or None) and the problem's pass rate."""
    rate = pass_rate(traces, policy.pass_rate_modes)
    benchmarks = sorted({b for t in traces for b in t.contaminated})
    if policy.drop_contaminated and benchmarks:
        return f"contaminated:{benchmarks[0]}", rate
    windowed = policy.min_pass_rate > 0.0 or policy.max_pass_rate < 1.0
    if rate.rate is None:
        return ("pass_rate_unknown" if windowed else None), rate
    if rate.rate < policy.min_pass_rate:
        return "pass_rate_below_min", rate
    if rate.rate > policy.max_pass_rate:
        return "pass_rate_above_max", rate
    return None, rate


def decide(
    evidence: Iterable[TraceEvidence],
    policy: SelectionConfig,
    problem_ids: Iterable[str] = (),
) -> list[Decision]:
    """Decide every trace and every problem; deterministic for the same inputs and policy."""
    by_problem: dict[str, list[TraceEvidence]] = defaultdict(list)
    for ev in evidence:
        by_problem[ev.problem_id].append(ev)
    for pid in problem_ids:
        by_problem.setdefault(pid, [])
    trace_decisions: dict[str, Decision] = {}
    problem_reason: dict[str, str | None] = {}
    rates: dict[str, PassRate] = {}
    survivors: list[TraceEvidence] = []
    for pid in sorted(by_problem):
        traces = sorted(by_problem[pid], key=lambda t: t.trace_id)
        reason, rates[pid] = _problem_rule(traces, policy)
        problem_reason[pid] = reason
        for ev in traces:
            rule = _trace_rule(ev, policy)
            if rule is None and reason is not None:
                rule = (reason, "after_dedup")
            if rule is None:
                survivors.append(ev)
            else:
                trace_decisions[ev.trace_id] = Decision(
                    ev.trace_id, "trace", "drop", rule[0], rule[1], ev.as_json(), pid
                )

    def rank(ev: TraceEvidence) -> tuple[int, str]:
        return (0 if ev.is_representative else 1, _tie_break(policy.seed, ev.trace_id))

    # Near-duplicates: one survivor per cluster, the representative when it survived.
    kept_by_cluster: dict[str, str] = {}
    deduped: list[TraceEvidence] = []
    for ev in sorted(survivors, key=rank):
        if policy.drop_near_duplicates and ev.cluster_id is not None:
            kept = kept_by_cluster.get(ev.cluster_id)
            if kept is not None:
                trace_decisions[ev.trace_id] = Decision(
                    ev.trace_id, "trace", "drop", f"near_duplicate_of:{kept}", "after_dedup",
                    ev.as_json(), ev.problem_id,
                )  # fmt: skip
                continue
            kept_by_cluster[ev.cluster_id] = ev.trace_id
        deduped.append(ev)
    deduped = _by_divergence(deduped, policy, trace_decisions)

    # Quotas: per problem, then a global budget, in a seeded order (fewer flaws first).
    def quality(ev: TraceEvidence) -> tuple[int, str]:
        return (len(ev.flaws), _tie_break(policy.seed, ev.trace_id))

    per_problem: dict[str, int] = defaultdict(int)
    selected = 0
    for ev in sorted(deduped, key=quality):
        reason = None
        if (
            policy.max_per_problem is not None
            and per_problem[ev.problem_id] >= policy.max_per_problem
        ):
            reason = "over_problem_quota"
        elif policy.budget is not None and selected >= policy.budget:
            reason = "over_budget"
        if reason is None:
            per_problem[ev.problem_id] += 1
            selected += 1
            trace_decisions[ev.trace_id] = Decision(
                ev.trace_id, "trace", "select", "selected", "selected", ev.as_json(), ev.problem_id
            )
        else:
            trace_decisions[ev.trace_id] = Decision(
                ev.trace_id, "trace", "drop", reason, "selected", ev.as_json(), ev.problem_id
            )

    decisions: list[Decision] = []
    for pid in sorted(by_problem):
        n_sel = per_problem.get(pid, 0)
        reason = problem_reason[pid] or ("selected" if n_sel else "no_trace_selected")
        evidence_json = {
            "rollouts": len(by_problem[pid]),
            **rates[pid].as_json(),
            "pass_rate_modes": list(policy.pass_rate_modes),
            "selected_traces": n_sel,
        }
        decisions.append(
            Decision(pid, "problem", "select" if n_sel else "drop", reason,
                     "selected" if n_sel else "problem", evidence_json, pid)
        )  # fmt: skip
        for ev in sorted(by_problem[pid], key=lambda t: t.trace_id):
            decisions.append(trace_decisions[ev.trace_id])
    return decisions


def _by_divergence(
    survivors: list[TraceEvidence], policy: SelectionConfig, decided: dict[str, Decision]
) -> list[TraceEvidence]:
    """Teacher-divergence selection: of the survivors, keep the budget (or share) with the
    highest divergence — what the teacher writes and the student would not — and drop the rest
    (`divergence_rank_cut`); a trace never scored cannot be ranked (`divergence_unscored`)."""
    if policy.divergence_budget is None and policy.divergence_fraction is None:
        return survivors
    if policy.divergence_budget is not None:
        budget = policy.divergence_budget
    else:
        budget = math.ceil((policy.divergence_fraction or 0.0) * len(survivors))
    chosen = set(select_by_divergence(survivors, budget=budget))
    kept = []
    for ev in survivors:
        if ev.trace_id in chosen:
            kept.append(ev)
            continue
        reason = "divergence_unscored" if ev.divergence is None else "divergence_rank_cut"
        decided[ev.trace_id] = Decision(
            ev.trace_id, "trace", "drop", reason, "selected", ev.as_json(), ev.problem_id
        )
    return kept


def funnel(decisions: Sequence[Decision]) -> dict[str, int]:
    """Counts of the funnel stages, from the trace decisions' reason codes."""
    traces = [d for d in decisions if d.level == "trace"]
    problems = {d.subject_id for d in decisions if d.level == "problem"}
    order = FUNNEL_STAGES[2:]  # a trace's `stage` is the first of these it did not reach
    counts = {"problems": len(problems), "rollouts": len(traces)}
    for index, stage in enumerate(order):
        counts[stage] = sum(
            1 for d in traces if d.output == "select" or order.index(d.stage) > index
        )
    return counts


def _tier(decision: Decision, policy: SelectionConfig, run_id: str) -> Tier:
    if decision.output == "select":
        return "full"
    draw = int(_tie_break(policy.seed, f"{run_id}:{decision.subject_id}")[:8], 16) / 0xFFFFFFFF
    return "sampled" if draw < policy.sampled_fraction else "lightweight"


def decision_events(
    decisions: Sequence[Decision],
    policy: SelectionConfig,
    run_id: str,
    recipe_hash: str,
    dataset_version: str | None = None,
    start_hash: str = GENESIS_HASH,
) -> list[DecisionEvent]:
    """DES events for the decisions, sealed into one hash chain for this run."""
    thresholds = {
        k: float(v)
        for k, v in policy.model_dump().items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k != "seed"
    }
    parameters = {
        "policy": POLICY_NAME,
        "recipe_hash": recipe_hash,
        "require_correct": str(policy.require_correct).lower(),
        "drop_flaw_severity": str(policy.drop_flaw_severity),
        "drop_near_duplicates": str(policy.drop_near_duplicates).lower(),
        "allow_conditioned": str(policy.allow_conditioned).lower(),
        "pass_rate_modes": ",".join(policy.pass_rate_modes),
        "ignore_labelers": ",".join(policy.ignore_labelers),
    }
    problem_decision_id: dict[str, str] = {}
    events: list[DecisionEvent] = []
    previous = start_hash
    for sequence, decision in enumerate(decisions):
        decision_id = content_id("decision", run_id, decision.level, decision.subject_id)
        if decision.level == "problem":
            problem_decision_id[decision.subject_id] = decision_id
        tier = _tier(decision, policy, run_id)
        upstream = [problem_decision_id[decision.problem_id]] if decision.level == "trace" else []
        evidence = {"level": decision.level, "stage": decision.stage}
        if tier != "lightweight" or decision.level == "problem":
            evidence.update(decision.evidence)
        else:
            evidence.update(_light(decision))
        event = DecisionEvent(
            decision_context=DecisionContext(
                decision_id=decision_id,
                decision_type=f"curation:{decision.level}_selection",
                subject_ids=[decision.subject_id],
                run_id=run_id,
                dataset_version=dataset_version,
            ),
            decision_logic=DecisionLogic(
                logic_type="curation:selection_policy",
                output=decision.output,
                reason_code=decision.reason_code,
                thresholds=thresholds,
                parameters=parameters,
            ),
            decision_boundary=DecisionBoundary(
                upstream_decisions=upstream,
                downstream_consumers=["export"] if decision.output == "select" else [],
            ),
            decision_quality_indicators=QualityIndicators(
                decision_risk_level=None if tier == "lightweight" else "low",
            ),
            temporal_metadata=TemporalMetadata(evidence_tier=tier),
            evidence_json=_dumps(evidence),
        )
        sealed = seal(event, previous, sequence)
        previous = sealed.current_hash
        events.append(sealed)
    return events


def _light(decision: Decision) -> dict[str, Any]:
    """The few fields a bulk drop keeps: what its reason rests on."""
    ev = decision.evidence
    keep = {"verdict_status": ev.get("verdict_status"), "correct": ev.get("correct")}
    if decision.reason_code.startswith(("flawed", "divergence")):
        keep["flaws"] = ev.get("flaws")
        keep["divergence"] = ev.get("divergence")
    if decision.reason_code.startswith("near_duplicate_of"):
        keep["cluster_id"] = ev.get("cluster_id")
    if decision.reason_code == "conditioned_on_reference":
        keep["mode"] = ev.get("mode")
        keep["conditioned"] = ev.get("conditioned")
    return keep


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
