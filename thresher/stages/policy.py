"""The selection policy: labels in, one reasoned decision per trace and per problem out.

The select stage's decision logic, free of the lake: it reads label columns already computed
(verdicts, flaw labels, divergence, dedup clusters, contamination flags) and never runs a
model, so re-deciding with new thresholds costs seconds. Every decision carries a stable
snake_case reason code; the funnel is counted from those codes, and
`thresher.stages.decision_events` turns the decisions into DES events. Human reviews override
the policy for the traces they name (see `decide`).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from thresher.config import SelectionConfig
from thresher.pipeline.divergence import select_by_divergence
from thresher.pipeline.review import Review
from thresher.schemas import FUNNEL_STAGES, sha256_hex

__all__ = [
    "FUNNEL_STAGES",
    "POLICY_NAME",
    "Decision",
    "FlawEvidence",
    "PassRate",
    "TraceEvidence",
    "decide",
    "funnel",
    "labeler_code",
    "pass_rate",
    "tie_break",
]

POLICY_NAME = "selection_policy_v1"
_SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}
_VERSION_SUFFIX = re.compile(r"_v\d+$")


@dataclass(frozen=True)
class FlawEvidence:
    """One flaw label as the policy sees it."""

    labeler: str
    flaw_type: str
    severity: str
    step: int | None = None
    votes: int | None = None  # a judge's votes for this label, out of `samples`
    samples: int | None = None
    model: str | None = None  # the judge model

    def as_json(self) -> dict[str, Any]:
        """The label as JSON-compatible data (vote fields only for a judge's label)."""
        return {k: v for k, v in self.__dict__.items() if v is not None or k == "step"}


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
            "flaws": [f.as_json() for f in self.flaws],
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
    flaw: FlawEvidence | None = None  # the flaw label a flaw drop rests on
    review: Review | None = None  # the human review this decision honours
    automated: tuple[str, str] | None = None  # (output, reason) the policy alone would give

    @property
    def overridden(self) -> bool:
        """Whether a human review changed what the policy alone would have decided."""
        return self.automated is not None and self.automated[0] != self.output


def labeler_code(labeler: str) -> str:
    """A labeler's name without its version suffix, as reason codes use it."""
    return _VERSION_SUFFIX.sub("", labeler)


def _blocking_flaw(ev: TraceEvidence, policy: SelectionConfig) -> FlawEvidence | None:
    if policy.drop_flaw_severity is None:
        return None
    floor = _SEVERITY_RANK[policy.drop_flaw_severity]
    ignored = set(policy.ignore_labelers) | {labeler_code(x) for x in policy.ignore_labelers}
    blocking = [
        f
        for f in ev.flaws
        if _SEVERITY_RANK.get(f.severity, 0) >= floor
        and f.labeler not in ignored
        and labeler_code(f.labeler) not in ignored
    ]
    if not blocking:
        return None
    return min(blocking, key=lambda f: (f.step if f.step is not None else 1 << 30, f.labeler))


def tie_break(seed: int, trace_id: str) -> str:
    """A seeded, reproducible order key for a trace."""
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
        return f"{kind}:{labeler_code(flaw.labeler)}", "clean"
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
    reviews: Mapping[str, Review] | None = None,
) -> list[Decision]:
    """Decide every trace and every problem; deterministic for the same inputs and policy.

    A review of a trace wins over the policy: a kept trace is selected whatever its labels,
    first in its cluster and its quotas; a dropped one is dropped. Each reviewed trace's
    decision records what the policy alone would have decided (`automated`).
    """
    evidence = list(evidence)
    problem_ids = list(problem_ids)
    known = {ev.trace_id for ev in evidence}
    reviews = {t: r for t, r in (reviews or {}).items() if t in known}
    if not reviews:
        return _decide(evidence, policy, problem_ids, {}, {})
    auto = {
        d.subject_id: d
        for d in _decide(evidence, policy, problem_ids, {}, {})
        if d.level == "trace"
    }
    decisions = _decide(evidence, policy, problem_ids, reviews, auto)
    return [
        replace(d, review=reviews[d.subject_id],
                automated=(auto[d.subject_id].output, auto[d.subject_id].reason_code))
        if d.level == "trace" and d.subject_id in reviews else d
        for d in decisions
    ]  # fmt: skip


def _decide(
    evidence: list[TraceEvidence],
    policy: SelectionConfig,
    problem_ids: list[str],
    reviews: Mapping[str, Review],
    auto: Mapping[str, Decision],
) -> list[Decision]:
    by_problem: dict[str, list[TraceEvidence]] = defaultdict(list)
    for ev in evidence:
        by_problem[ev.problem_id].append(ev)
    for pid in problem_ids:
        by_problem.setdefault(pid, [])
    trace_decisions: dict[str, Decision] = {}
    problem_reason: dict[str, str | None] = {}
    rates: dict[str, PassRate] = {}
    survivors: list[TraceEvidence] = []
    kept_by_human = {t for t, r in reviews.items() if r.output == "select"}
    for pid in sorted(by_problem):
        traces = sorted(by_problem[pid], key=lambda t: t.trace_id)
        reason, rates[pid] = _problem_rule(traces, policy)
        problem_reason[pid] = reason
        for ev in traces:
            if ev.trace_id in kept_by_human:
                survivors.append(ev)
                continue
            if ev.trace_id in reviews:  # dropped by a person; the policy's reason if it agrees
                policy_says = auto[ev.trace_id]
                code, stage = (
                    (policy_says.reason_code, policy_says.stage)
                    if policy_says.output == "drop" else ("dropped_by_review", "selected")
                )  # fmt: skip
                trace_decisions[ev.trace_id] = Decision(
                    ev.trace_id, "trace", "drop", code, stage, ev.as_json(), pid,
                    flaw=policy_says.flaw,
                )  # fmt: skip
                continue
            rule = _trace_rule(ev, policy)
            if rule is None and reason is not None:
                rule = (reason, "after_dedup")
            if rule is None:
                survivors.append(ev)
            else:
                flaw = _blocking_flaw(ev, policy) if rule[0].startswith("flawed") else None
                trace_decisions[ev.trace_id] = Decision(
                    ev.trace_id, "trace", "drop", rule[0], rule[1], ev.as_json(), pid, flaw=flaw
                )

    def rank(ev: TraceEvidence) -> tuple[int, int, str]:
        human = 0 if ev.trace_id in kept_by_human else 1
        return (human, 0 if ev.is_representative else 1, tie_break(policy.seed, ev.trace_id))

    # Near-duplicates: one survivor per cluster, the representative when it survived.
    kept_by_cluster: dict[str, str] = {}
    deduped: list[TraceEvidence] = []
    for ev in sorted(survivors, key=rank):
        if policy.drop_near_duplicates and ev.cluster_id is not None:
            kept = kept_by_cluster.get(ev.cluster_id)
            if kept is not None and ev.trace_id not in kept_by_human:
                trace_decisions[ev.trace_id] = Decision(
                    ev.trace_id, "trace", "drop", f"near_duplicate_of:{kept}", "after_dedup",
                    ev.as_json(), ev.problem_id,
                )  # fmt: skip
                continue
            kept_by_cluster.setdefault(ev.cluster_id, ev.trace_id)
        deduped.append(ev)
    deduped = _by_divergence(deduped, policy, trace_decisions, kept_by_human)

    # Quotas: per problem, then a global budget, in a seeded order (fewer flaws first);
    # traces a person kept come first and are always selected.
    def quality(ev: TraceEvidence) -> tuple[int, int, str]:
        human = 0 if ev.trace_id in kept_by_human else 1
        return (human, len(ev.flaws), tie_break(policy.seed, ev.trace_id))

    per_problem: dict[str, int] = defaultdict(int)
    selected = 0
    for ev in sorted(deduped, key=quality):
        reason = None
        if ev.trace_id in kept_by_human:
            pass
        elif (
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
        keep = n_sel > 0 and problem_reason[pid] is None
        evidence_json = {
            "rollouts": len(by_problem[pid]),
            **rates[pid].as_json(),
            "pass_rate_modes": list(policy.pass_rate_modes),
            "selected_traces": n_sel,
        }
        decisions.append(
            Decision(pid, "problem", "select" if keep else "drop", reason,
                     "selected" if keep else "problem", evidence_json, pid)
        )  # fmt: skip
        for ev in sorted(by_problem[pid], key=lambda t: t.trace_id):
            decisions.append(trace_decisions[ev.trace_id])
    return decisions


def _by_divergence(
    survivors: list[TraceEvidence],
    policy: SelectionConfig,
    decided: dict[str, Decision],
    kept_by_human: set[str],
) -> list[TraceEvidence]:
    """Teacher-divergence selection: of the survivors, keep the budget (or share) with the
    highest divergence — what the teacher writes and the student would not — and drop the rest
    (`divergence_rank_cut`); a trace never scored cannot be ranked (`divergence_unscored`).
    Traces a person kept stay, outside the budget."""
    if policy.divergence_budget is None and policy.divergence_fraction is None:
        return survivors
    ranked = [ev for ev in survivors if ev.trace_id not in kept_by_human]
    if policy.divergence_budget is not None:
        budget = policy.divergence_budget
    else:
        budget = math.ceil((policy.divergence_fraction or 0.0) * len(ranked))
    chosen = set(select_by_divergence(ranked, budget=budget)) | kept_by_human
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
