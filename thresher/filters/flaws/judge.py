"""``judge_v2``: a judge model names the earliest wrong paragraph (FAPO GenRM / ProcessBench format).

The solution is split into ``<paragraph_i>`` blocks indexed from 0; the judge critiques them
and answers with the index of the earliest wrong paragraph in ``\\boxed{}``, or -1 when none is
wrong. k samples are drawn per trace and the majority index wins. Only the judge's own
completion is parsed, never the prompt (which holds the trace, boxes and all). Prompt building,
paragraph numbering, parsing and the vote are plain functions; the model runs through the
generation engines (offline vLLM, or an OpenAI-compatible server), started in ``setup()``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from thresher.filters.flaws.types import Trace, make_label
from thresher.schemas import FlawLabel, InputError, SamplingSpec, ThresherError
from thresher.schemas.generation import ENGINE_ERROR, GenerationRequest, TextEngine

__all__ = [
    "JudgeLabeler",
    "Judgment",
    "Parsed",
    "Paragraph",
    "split_paragraphs",
    "judge_prompt",
    "reference_answer",
    "parse_judgment",
    "parse_index",
    "majority_index",
    "judgment_labels",
    "FAPO_TEMPLATE",
    "PROCESSBENCH_TEMPLATE",
    "DEFAULT_MAX_TOKENS",
]

# The FAPO-Critic training prompt of FAPO-GenRM-4B (a problem with its ground truth answer).
FAPO_TEMPLATE = (
    "The following is a math problem with its ground truth answer, along with an AI solution "
    "(split into paragraphs, enclosed with tags and indexed from 0):\n\n"
    "[Math Problem]\n\n{question}\n\n[Ground Truth]\n\n{reference}\n\n[AI Solution]\n\n"
    "{paragraphs}\n\n"
    "Your task is to review and critique the solution paragraph by paragraph. Once you identify "
    "an error in a paragraph, return the index of the paragraph where the earliest error occurs. "
    "Otherwise, return the index of -1 (which typically denotes 'not found').\n\n"
    "Please reason step by step, put your final answer (i.e., the index) in \\boxed{{}}."
)
# ProcessBench's critique template, used when the problem has no known answer.
PROCESSBENCH_TEMPLATE = (
    "The following is a math problem and a solution (split into paragraphs, enclosed with tags "
    "and indexed from 0):\n\n[Math Problem]\n\n{question}\n\n[Solution]\n\n{paragraphs}\n\n"
    "Your task is to review and critique the solution paragraph by paragraph. Once you identify "
    "an error in a paragraph, return the index of the paragraph where the earliest error occurs. "
    'Otherwise, return the index of -1 (which typically denotes "not found").\n\n'
    "Please put your final answer (i.e., the index) in \\boxed{{}}."
)

_MAX_PARAGRAPHS = 64
DEFAULT_MAX_TOKENS = 4096  # a thinking judge (FAPO-GenRM-4B) wants up to 16,384
JUDGE_TIMEOUT_S = 3600.0  # per request to a judge server
_CRITIQUE_CHARS = 4000
_BOX = re.compile(r"\\(?:boxed|fbox)\s*")
_TAG = re.compile(r"<(/?)paragraph_", re.IGNORECASE)


@dataclass(frozen=True)
class Paragraph:
    """One numbered paragraph and its span in the response."""

    index: int
    text: str
    start: int
    end: int


def split_paragraphs(response: str) -> list[Paragraph]:
    """Paragraphs at blank lines (lines when there is only one), with character spans."""
    # Think markers are blanked (same length) so spans still index the original response.
    text = response.replace("<think>", " " * 7).replace("</think>", " " * 8)

    def spans(separator: str) -> list[tuple[int, int]]:
        out, pos = [], 0
        for m in re.finditer(separator, text):
            out.append((pos, m.start()))
            pos = m.end()
        out.append((pos, len(text)))
        return [(a, b) for a, b in out if text[a:b].strip()]

    found = spans(r"\n\s*\n")
    if len(found) < 2:
        found = spans(r"\n")
    if len(found) > _MAX_PARAGRAPHS:  # keep the prompt bounded: merge the tail
        found = found[: _MAX_PARAGRAPHS - 1] + [(found[_MAX_PARAGRAPHS - 1][0], found[-1][1])]
    paragraphs = []
    for i, (a, b) in enumerate(found):
        lead = len(text[a:b]) - len(text[a:b].lstrip())
        trail = len(text[a:b].rstrip())
        paragraphs.append(Paragraph(i, text[a + lead : a + trail], a + lead, a + trail))
    return paragraphs


def reference_answer(gold: str | None) -> str | None:
    """The short answer of a gold: after the last ``####``, else its last box, else as written."""
    if gold is None or not gold.strip():
        return None
    text = gold.strip()
    if "####" in text:
        return text.rsplit("####", 1)[1].strip() or None
    boxed = _last_box(text)
    return boxed if boxed else text


def judge_prompt(question: str, paragraphs: Sequence[Paragraph], reference: str | None) -> str:
    """The judge's user message: FAPO's format with the reference, ProcessBench's without."""
    # A trace cannot forge paragraph boundaries: its own <paragraph_i> tags are defused.
    tagged = "\n\n".join(
        f"<paragraph_{p.index}>\n{_defuse(p.text)}\n</paragraph_{p.index}>" for p in paragraphs
    )
    if reference is None:
        return PROCESSBENCH_TEMPLATE.format(question=question.strip(), paragraphs=tagged)
    return FAPO_TEMPLATE.format(question=question.strip(), reference=reference, paragraphs=tagged)


def _defuse(text: str) -> str:
    return _TAG.sub(lambda m: f"<{m.group(1)}paragraph-", text)


@dataclass(frozen=True)
class Parsed:
    """One judge sample read: the index (None when unparsable) and why."""

    index: int | None
    reason: str  # ok | empty | truncated | unclosed_think | no_box | not_an_integer | out_of_range


def _last_box(text: str) -> str | None:
    """Content of the last ``\\boxed{…}`` / ``\\fbox{…}`` (or ``\\boxed N``); None if none closes."""
    for m in reversed(list(_BOX.finditer(text))):
        pos = m.end()
        if pos < len(text) and text[pos] == "{":
            depth = 0
            for j in range(pos, len(text)):
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                if depth == 0:
                    return text[pos + 1 : j].strip()
            continue  # unclosed: an earlier box may still be complete
        bare = re.match(r"-?\d+", text[pos:]) if m.group(0)[-1].isspace() else None
        if bare:  # verl's last_boxed_only_string also reads `\boxed N`
            return bare.group(0)
    return None


def parse_judgment(completion: str, n_paragraphs: int, finish_reason: str = "") -> Parsed:
    """Read the index from the judge's completion only (see the README for the rules)."""
    if not completion.strip():
        return Parsed(None, "empty")
    if finish_reason == "length":
        return Parsed(None, "truncated")  # cut before its final answer: a box may be a quote
    region = completion
    if "</think>" in completion:
        region = completion.rsplit("</think>", 1)[1]
    elif "<think>" in completion:
        return Parsed(None, "unclosed_think")
    boxed = _last_box(region)
    if boxed is None:
        return Parsed(None, "no_box")
    value = boxed
    wrapper = re.fullmatch(r"\\(?:text|textbf|mathrm)\{(.*)\}", value.strip())
    if wrapper:
        value = wrapper.group(1)
    value = re.sub(r"[\s$.]+$", "", re.sub(r"^[\s$]+", "", value))  # "$2$." reads as 2
    if not re.fullmatch(r"[+-]?\d+", value):
        return Parsed(None, "not_an_integer")
    index = int(value)
    if not -1 <= index < n_paragraphs:
        return Parsed(None, "out_of_range")
    return Parsed(index, "ok")


def parse_index(completion: str, n_paragraphs: int, finish_reason: str = "") -> int | None:
    """The index the judge's completion gives, or None when it gives no valid one."""
    return parse_judgment(completion, n_paragraphs, finish_reason).index


def majority_index(indices: Sequence[int | None]) -> tuple[int | None, int]:
    """The most voted valid index and its votes; ties prefer -1, then the earliest paragraph."""
    counts = Counter(i for i in indices if i is not None)
    if not counts:
        return None, 0
    best = max(counts.values())
    tied = sorted(i for i, c in counts.items() if c == best)
    winner = -1 if -1 in tied else tied[0]
    return winner, best


@dataclass
class Judgment:
    """What the judge said about one trace: its samples, how each parsed, and the vote."""

    trace_id: str
    judge: str  # the judge model's name
    paragraphs: list[Paragraph]
    prompt: str = ""  # as the engine reports it (after the chat template, where known)
    completions: list[str] = field(default_factory=list)
    finish_reasons: list[str] = field(default_factory=list)
    parsed: list[Parsed] = field(default_factory=list)
    winner: int | None = None
    votes: int = 0
    error: str | None = None  # the engine's reason code when it produced no samples
    labels: list[FlawLabel] = field(default_factory=list)


def judgment_labels(labeler: str, trace: Trace, judgment: Judgment) -> list[FlawLabel]:
    """The vote of parsed samples as labels: an error flaw, an info note, or nothing (-1)."""
    parsed = [
        parse_judgment(text, len(judgment.paragraphs), finish)
        for text, finish in zip(judgment.completions, judgment.finish_reasons, strict=True)
    ]
    judgment.parsed = parsed
    judgment.winner, judgment.votes = majority_index([p.index for p in parsed])
    shown = ", ".join(str(p.index) if p.index is not None else p.reason for p in parsed)
    if judgment.winner is None:
        share = _CRITIQUE_CHARS // max(1, len(parsed))
        critique = "\n\n".join(
            f"--- sample {i} ({p.reason}) ---\n{text[-share:]}"
            for i, (p, text) in enumerate(zip(parsed, judgment.completions, strict=True))
        )
        return [
            make_label(
                labeler, trace, "judge_unparsable", "info",
                f"judge {judgment.judge}: no valid index in {len(parsed)} samples ({shown})",
                critique=critique[-_CRITIQUE_CHARS:],
            )
        ]  # fmt: skip
    if judgment.winner < 0:
        return []
    winner = judgment.winner
    para = judgment.paragraphs[winner]
    critique = next(
        t for t, p in zip(judgment.completions, parsed, strict=True) if p.index == winner
    )
    return [
        make_label(
            labeler, trace, "judge_first_error", "error",
            f"judge {judgment.judge}: paragraph {winner} ({judgment.votes}/{len(parsed)} votes; "
            f"samples: {shown}): {para.text[:300]}",
            para.start, para.end, critique=critique[-_CRITIQUE_CHARS:], step=winner,
        )
    ]  # fmt: skip


class JudgeLabeler:
    """A judge model reads the problem, its reference answer and the solution in numbered
    paragraphs (FAPO GenRM / ProcessBench format) and names the earliest wrong paragraph;
    majority of k samples. An index >= 0 becomes ``judge_first_error`` (error; ``step`` is the
    paragraph, the critique is stored); no valid index in any sample is ``judge_unparsable``
    (info, never an error); -1 leaves no label."""

    name = "judge_v2"

    def __init__(
        self,
        model: str | None = None,
        *,
        engine: TextEngine | None = None,
        engine_factory: Callable[[], TextEngine] | None = None,
        samples: int = 3,
        max_tokens: int | None = None,
        temperature: float = 0.6,
        top_p: float = 0.95,
        reference: bool = True,
    ) -> None:
        if samples < 1:
            raise InputError("the judge needs at least one sample", field="judge_samples")
        self.model = model
        self.samples = samples
        self.sampling = SamplingSpec(
            temperature=temperature, top_p=top_p, max_tokens=max_tokens or DEFAULT_MAX_TOKENS
        )
        self.reference = reference
        self._engine = engine
        self._factory = engine_factory
        self._owns_engine = False
        self.stats: Counter[str] = Counter()

    # -- lifecycle -------------------------------------------------------------------------
    def setup(self) -> None:
        """Start the judge's engine: the one handed in, or one built by the engine factory."""
        if self._engine is None:
            if self._factory is None:
                raise InputError(
                    f"the {self.name} labeler needs a judge model",
                    field="labels.judge_model",
                    hint="pass --judge MODEL (with --judge-base-url URL for a served model)",
                )
            self._engine, self._owns_engine = self._factory(), True
        self._engine.setup()

    def teardown(self) -> None:
        """Stop the engine if this labeler started it."""
        if self._owns_engine and self._engine is not None:
            self._engine.teardown()
            self._engine = None
            self._owns_engine = False

    @property
    def judge_name(self) -> str:
        """The judge model's name, as recorded in evidence."""
        if self._engine is not None:
            return str(self._engine.model_name)
        return self.model or "?"

    # -- work ------------------------------------------------------------------------------
    def label(self, trace: Trace) -> list[FlawLabel]:
        """Labels for one trace (use label_many to batch)."""
        return self.label_many([trace])

    def label_many(self, traces: Sequence[Trace]) -> list[FlawLabel]:
        """One engine call for all traces, k samples each; labels as ``judgment_labels``."""
        return [x for j in self.judge(traces) for x in j.labels]

    def judge(self, traces: Sequence[Trace]) -> list[Judgment]:
        """Judge every trace with text (one engine call); a Judgment per judged trace."""
        todo = [(t, split_paragraphs(t.response)) for t in traces]
        empty = sum(1 for _, p in todo if not p)
        if empty:
            self.stats["empty_trace"] += empty
        todo = [(t, p) for t, p in todo if p]
        if not todo:
            return []
        if self._engine is None:
            self.setup()
        requests = [
            GenerationRequest(
                key=t.trace_id,
                messages=(("user", self.prompt_for(t, p)),),
                n=self.samples,
            )
            for t, p in todo
        ]
        assert self._engine is not None  # set by setup()
        results = self._engine.generate(requests, self.sampling)
        failed = [r for r in results if r.error == ENGINE_ERROR]
        if failed and len(failed) == len(results):
            raise ThresherError(
                f"the judge {self.judge_name} failed on all {len(results)} traces: "
                f"{failed[0].detail[:300]}",
                hint="check that the judge model loads or the server answers (--judge-base-url)",
            )
        judgments = []
        for (trace, paragraphs), result in zip(todo, results, strict=True):
            j = Judgment(trace.trace_id, self.judge_name, paragraphs, prompt=result.prompt)
            if not result.ok:
                j.error = result.error
                self.stats[f"skipped_{result.error}"] += 1
                judgments.append(j)
                continue
            j.completions = [s.text for s in result.samples]
            j.finish_reasons = [s.finish_reason for s in result.samples]
            j.labels = judgment_labels(self.name, trace, j)
            self.stats["judged"] += 1
            self.stats["samples"] += len(j.completions)
            outcome = "unparsable" if j.winner is None else "clean" if j.winner < 0 else "flagged"
            self.stats[outcome] += 1
            judgments.append(j)
        return judgments

    def prompt_for(self, trace: Trace, paragraphs: Sequence[Paragraph]) -> str:
        """The user message for one trace (the reference answer shown when known and enabled)."""
        reference = reference_answer(trace.gold) if self.reference else None
        return judge_prompt(trace.question, paragraphs, reference)
