"""``judge_v1``: a model finds the earliest wrong paragraph (FAPO-style generative reward model).

The solution is split into numbered paragraphs; the judge model critiques them and answers
with the index of the earliest wrong paragraph in ``\\boxed{}``, or -1 when none is wrong.
k samples are drawn per trace and the majority index wins (ties go to -1, then the earliest).
Prompt building, paragraph numbering, index parsing and the vote are plain functions, so they
are testable without a model; the model runs through the generation engines.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from thresher.filters.flaws.types import Trace, make_label
from thresher.filters.verify.extract import last_boxed
from thresher.schemas import FlawLabel, SamplingSpec

__all__ = [
    "JudgeLabeler",
    "split_paragraphs",
    "judge_prompt",
    "parse_index",
    "majority_index",
    "JUDGE_TEMPLATE",
]

JUDGE_TEMPLATE = """The following is a math problem and a solution (split into paragraphs, \
enclosed with tags and indexed from 0):

[Math Problem]

{question}

[Solution]

{paragraphs}

Your task is to review and critique the solution paragraph by paragraph. Once you identify an \
error in a paragraph, return the index of the paragraph where the earliest error occurs. \
Otherwise, return the index of -1 (which typically denotes "not found").

Please put your final answer (i.e., the index) in \\boxed{{}}."""

_INDEX_PHRASE = re.compile(r"(?:index|paragraph)\D{0,20}?(-?\d+)", re.IGNORECASE)
_MAX_PARAGRAPHS = 64


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


def judge_prompt(question: str, paragraphs: Sequence[Paragraph]) -> str:
    """The judge's user message: the problem and the tagged, numbered paragraphs."""
    tagged = "\n\n".join(
        f"<paragraph_{p.index}>\n{p.text}\n</paragraph_{p.index}>" for p in paragraphs
    )
    return JUDGE_TEMPLATE.format(question=question.strip(), paragraphs=tagged)


def parse_index(output: str, n_paragraphs: int) -> int | None:
    """The judge's answer: the last boxed integer (or 'index N'), if in -1..n-1; else None."""
    boxed = last_boxed(output)
    candidates = []
    if boxed is not None:
        candidates.append(boxed.replace("\\text{", "").replace("}", "").strip())
    else:
        hits = _INDEX_PHRASE.findall(output[-500:])
        if hits:
            candidates.append(hits[-1])
    for candidate in candidates:
        if re.fullmatch(r"-?\d+", candidate):
            value = int(candidate)
            if -1 <= value < n_paragraphs:
                return value
    return None


def majority_index(indices: Sequence[int | None]) -> tuple[int | None, int]:
    """The most voted valid index and its votes; ties prefer -1, then the earliest paragraph."""
    counts = Counter(i for i in indices if i is not None)
    if not counts:
        return None, 0
    best = max(counts.values())
    tied = sorted(i for i, c in counts.items() if c == best)
    winner = -1 if -1 in tied else tied[0]
    return winner, best


class JudgeLabeler:
    """A judge model reads the numbered paragraphs and names the earliest wrong one (majority
    of k samples); a paragraph index >= 0 becomes ``judge_first_error`` (error) with the
    judge's critique; ``step`` is that paragraph index."""

    name = "judge_v1"

    def __init__(
        self,
        model: str | None = None,
        *,
        engine: object | None = None,
        samples: int = 3,
        backend: str = "vllm",
        sampling: SamplingSpec | None = None,
    ) -> None:
        self.model = model
        self.backend = backend
        self.samples = samples
        self.sampling = sampling or SamplingSpec(temperature=0.7, top_p=0.95, max_tokens=1024)
        self._engine = engine

    def _get_engine(self):  # noqa: ANN202 - the pipeline's Engine, imported lazily
        if self._engine is None:
            from thresher.pipeline.engines import make_engine

            if self.model is None:
                raise ValueError("the judge needs a model or an engine")
            self._engine = make_engine(self.backend, self.model)
            self._engine.setup()  # type: ignore[attr-defined]
        return self._engine

    def label(self, trace: Trace) -> list[FlawLabel]:
        """Labels for one trace (use label_many to batch)."""
        return self.label_many([trace])

    def label_many(self, traces: Sequence[Trace]) -> list[FlawLabel]:
        """One engine call for all traces, k samples each; a label per judged-wrong trace."""
        from thresher.pipeline.engines import GenerationRequest

        split = {t.trace_id: split_paragraphs(t.response) for t in traces}
        requests = [
            GenerationRequest(
                key=t.trace_id,
                messages=(("user", judge_prompt(t.question, split[t.trace_id])),),
                n=self.samples,
            )
            for t in traces
            if split[t.trace_id]
        ]
        if not requests:
            return []
        results = self._get_engine().generate(requests, self.sampling)
        by_id = {t.trace_id: t for t in traces}
        labels = []
        for result in results:
            trace, paragraphs = by_id[result.key], split[result.key]
            if not result.ok:
                continue
            texts = [s.text for s in result.samples]
            indices = [parse_index(text, len(paragraphs)) for text in texts]
            winner, votes = majority_index(indices)
            if winner is None or winner < 0:
                continue
            critique = next(t for t, i in zip(texts, indices, strict=True) if i == winner)
            para = paragraphs[winner]
            labels.append(
                make_label(
                    self.name, trace, "judge_first_error", "error",
                    f"paragraph {winner} ({votes}/{len(texts)} votes): {para.text[:300]}",
                    para.start, para.end, critique=critique[-4000:], step=winner,
                )
            )  # fmt: skip
        return labels
