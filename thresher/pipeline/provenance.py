"""Sentence provenance: which model role finds each sentence of a trace likely.

After "Where Did This Sentence Come From?": every sentence of a trace is scored by the mean
token log-prob under each model role (teacher, student, optionally a distilled student) given
the same context: the problem and the text before the sentence. Each role tokenises the text
itself, so models with different tokenizers compare at sentence level. A sentence is then
``teacher_originated`` (teacher likely, student not), ``student_originated``, ``shared`` (both
likely), ``boosted`` (shared and raised by distillation) or ``novel`` (neither likely).

The embedded default is one model in two roles: the teacher sees the problem's reference
solution in its context (privileged), the student does not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from thresher.pipeline.divergence import trace_divergence
from thresher.pipeline.prompts import on_policy_messages, privileged_messages
from thresher.schemas import Problem, ProvenanceCategory, Rollout, SentenceScore, TraceScore
from thresher.schemas import trace_text as schemas_trace_text
from thresher.schemas.errors import InputError
from thresher.text.segment import Segment, segment

__all__ = [
    "PROVENANCE_VERSION",
    "CATEGORIES",
    "ProvenanceThresholds",
    "Role",
    "ProvenanceTracer",
    "categorize",
    "trace_text",
    "plain_context",
    "privileged_context",
    "summarize_trace",
]

PROVENANCE_VERSION = "provenance_v2"  # v2: a prefix continuation is scored whole
CATEGORIES: tuple[ProvenanceCategory, ...] = (
    "teacher_originated",
    "student_originated",
    "shared",
    "boosted",
    "novel",
)


@dataclass(frozen=True)
class ProvenanceThresholds:
    """Cut-offs on mean token log-probs (nats/token); see the README for the measurements."""

    likely: float = -1.0  # a role "finds a sentence likely" at or above this mean log-prob
    gap: float = 0.5  # a sentence is one role's own only when that role leads by this much
    boost: float = 0.5  # a shared sentence is "boosted" when distilled beats student by this

    def __post_init__(self) -> None:
        if self.gap < 0 or self.boost < 0:
            raise InputError("provenance gap and boost must be >= 0", field="thresholds")


def categorize(
    teacher: float,
    student: float,
    distilled: float | None = None,
    thresholds: ProvenanceThresholds | None = None,
) -> ProvenanceCategory:
    """The provenance category of one sentence from its mean log-probs under each role."""
    th = thresholds or ProvenanceThresholds()
    t_likely = teacher >= th.likely
    s_likely = student >= th.likely
    if t_likely and not s_likely and teacher - student >= th.gap:
        return "teacher_originated"
    if s_likely and not t_likely and student - teacher >= th.gap:
        return "student_originated"
    if t_likely or s_likely:
        # Both likely, or one just across the line with the other close behind.
        if distilled is not None and distilled - student >= th.boost:
            return "boosted"
        return "shared"
    return "novel"


class _ScorerLike(Protocol):
    def score(self, requests: Sequence[Any]) -> list[Any]: ...


ContextFn = Callable[[Problem, Rollout], str]


def trace_text(rollout: Rollout) -> str:
    """The text provenance scores: the whole trace (a prefix continuation's prefix included,
    `schemas.trace_text`), so its sentences share offsets with labels and exports."""
    return schemas_trace_text(
        rollout.completion, rollout.prompt, rollout.prefix_chars, rollout.reasoning,
        rollout.answer_text,
    )  # fmt: skip


def _own_prompt(rollout: Rollout) -> str:
    """The prompt before the trace's own text (a prefix continuation's prefix taken off)."""
    cut = rollout.prefix_chars or 0
    return rollout.prompt[: len(rollout.prompt) - cut] if cut else rollout.prompt


def _user_texts(problem: Problem) -> tuple[str, str | None]:
    plain = on_policy_messages(problem)[-1][1]
    privileged = privileged_messages(problem)
    return plain, privileged[-1][1] if privileged else None


def plain_context(problem: Problem, rollout: Rollout) -> str:
    """The context a student sees: the trace's own prompt, any reference solution taken out."""
    plain, privileged = _user_texts(problem)
    prompt = _own_prompt(rollout)
    if not prompt:
        return plain + "\n\n"
    if privileged and privileged in prompt:
        return prompt.replace(privileged, plain)
    return prompt


def privileged_context(problem: Problem, rollout: Rollout) -> str:
    """The trace's prompt with the problem's reference solution in it (the privileged teacher),
    worded as the privileged rollout prompt and under the same chat template."""
    plain, privileged = _user_texts(problem)
    if privileged is None:
        raise InputError(
            f"problem {problem.problem_id} has no reference solution or answer for the "
            "privileged teacher",
            field="solution",
            hint="import solutions with the problems, or give a separate --teacher model",
        )
    base = plain_context(problem, rollout)
    if plain in base:
        return base.replace(plain, privileged)
    # A prompt made elsewhere: put the reference right after the question.
    reference = privileged[len(problem.question) :]
    at = base.rfind(problem.question)
    if at < 0:
        return privileged + "\n\n" + base
    cut = at + len(problem.question)
    return base[:cut] + reference + base[cut:]


@dataclass(frozen=True)
class Role:
    """A model role: the scorer that computes log-probs and the context it is given."""

    name: str  # "teacher", "student" or "distilled"
    model: str  # recorded in the scorer name
    scorer: _ScorerLike = field(compare=False)
    context: ContextFn = plain_context


def summarize_trace(
    trace_id: str, problem_id: str, scorer: str, sentences: Sequence[SentenceScore]
) -> TraceScore:
    """Per-trace category shares, mean log-probs and divergence from its sentence scores."""
    n = len(sentences)
    shares = {c: sum(s.category == c for s in sentences) / n if n else 0.0 for c in CATEGORIES}
    div = trace_divergence(sentences)

    def weighted(values: list[float | None], weights: list[int]) -> float | None:
        pairs = [(v, w) for v, w in zip(values, weights, strict=True) if v is not None and w > 0]
        total = sum(w for _, w in pairs)
        return sum(v * w for v, w in pairs) / total if total else None

    t_w = [s.teacher_tokens for s in sentences]
    s_w = [s.student_tokens for s in sentences]
    return TraceScore(
        trace_id=trace_id,
        problem_id=problem_id,
        scorer=scorer,
        n_sentences=n,
        share_teacher_originated=shares["teacher_originated"],
        share_student_originated=shares["student_originated"],
        share_shared=shares["shared"],
        share_boosted=shares["boosted"],
        share_novel=shares["novel"],
        teacher_logprob=weighted([s.teacher_logprob for s in sentences], t_w),
        student_logprob=weighted([s.student_logprob for s in sentences], s_w),
        distilled_logprob=weighted([s.distilled_logprob for s in sentences], s_w),
        divergence=div.token_mean,
        divergence_sentence_mean=div.sentence_mean,
    )


class ProvenanceTracer:
    """Scores the sentences of traces under each role and labels their provenance."""

    def __init__(
        self,
        teacher: Role,
        student: Role,
        distilled: Role | None = None,
        thresholds: ProvenanceThresholds | None = None,
    ) -> None:
        self.teacher = teacher
        self.student = student
        self.distilled = distilled
        self.thresholds = thresholds or ProvenanceThresholds()

    @property
    def name(self) -> str:
        """The scorer name stored with every row: version plus each role's model and context."""

        def tag(role: Role) -> str:
            ctx = "privileged" if role.context is privileged_context else "plain"
            return f"{role.name}={role.model}[{ctx}]"

        roles = [self.teacher, self.student, *([self.distilled] if self.distilled else [])]
        return PROVENANCE_VERSION + ":" + ",".join(tag(r) for r in roles)

    def _score_role(
        self, role: Role, items: Sequence[tuple[Problem, Rollout, str, list[Segment]]]
    ) -> list[Any]:
        from thresher.pipeline.scoring import ScoreRequest

        requests = [
            ScoreRequest(
                context=role.context(problem, rollout),
                text=text,
                spans=[(s.start, s.end) for s in segs],
            )
            for problem, rollout, text, segs in items
        ]
        results = role.scorer.score(requests)
        if len(results) != len(requests):
            raise RuntimeError(
                f"{role.name} scorer returned {len(results)} results for {len(requests)} requests"
            )
        return results

    def trace(
        self, pairs: Sequence[tuple[Problem, Rollout]]
    ) -> tuple[list[SentenceScore], list[TraceScore]]:
        """Sentence scores and per-trace summaries for (problem, rollout) pairs."""
        items = []
        for problem, rollout in pairs:
            if problem.problem_id != rollout.problem_id:
                raise InputError(
                    f"trace {rollout.trace_id} belongs to problem {rollout.problem_id}, "
                    f"not {problem.problem_id}",
                    field="problem_id",
                )
            text = trace_text(rollout)
            items.append((problem, rollout, text, segment(text)))
        teacher = self._score_role(self.teacher, items)
        student = self._score_role(self.student, items)
        distilled = self._score_role(self.distilled, items) if self.distilled else None
        sentence_rows: list[SentenceScore] = []
        trace_rows: list[TraceScore] = []
        for i, (problem, rollout, _, segs) in enumerate(items):
            rows = self.label_sentences(
                rollout.trace_id,
                segs,
                teacher[i],
                student[i],
                distilled[i] if distilled is not None else None,
            )
            sentence_rows.extend(rows)
            trace_rows.append(
                summarize_trace(rollout.trace_id, problem.problem_id, self.name, rows)
            )
        return sentence_rows, trace_rows

    def label_sentences(
        self,
        trace_id: str,
        segs: Sequence[Segment],
        teacher: Any,
        student: Any,
        distilled: Any | None = None,
    ) -> list[SentenceScore]:
        """SentenceScores of one trace from each role's ScoreResult (span means and counts)."""
        rows: list[SentenceScore] = []
        for j, seg in enumerate(segs):
            t = teacher.span_mean_logprobs[j]
            s = student.span_mean_logprobs[j]
            d = distilled.span_mean_logprobs[j] if distilled is not None else None
            if t is None or s is None or (distilled is not None and d is None):
                continue  # a span with no token of its own under some tokenizer: no evidence
            rows.append(
                SentenceScore(
                    trace_id=trace_id,
                    sentence_index=seg.index,
                    char_start=seg.start,
                    char_end=seg.end,
                    scorer=self.name,
                    teacher_logprob=t,
                    student_logprob=s,
                    distilled_logprob=d,
                    teacher_tokens=teacher.span_token_counts[j],
                    student_tokens=student.span_token_counts[j],
                    category=categorize(t, s, d, self.thresholds),
                )
            )
        return rows
