"""Label traces with a set of labelers; classify verified traces as clean / flawed positive."""

from __future__ import annotations

from collections.abc import Sequence

from thresher.filters.flaws.types import Labeler, Trace
from thresher.schemas import FlawLabel

__all__ = ["label_traces", "classify", "is_flawed_positive"]


def label_traces(traces: Sequence[Trace], labelers: Sequence[Labeler]) -> list[list[FlawLabel]]:
    """Every labeler's labels for each trace, in trace order (batched labelers batch)."""
    out: list[list[FlawLabel]] = [[] for _ in traces]
    index = {t.trace_id: i for i, t in enumerate(traces)}
    for labeler in labelers:
        many = getattr(labeler, "label_many", None)
        if many is not None:
            for label in many(traces):
                out[index[label.trace_id]].append(label)
            continue
        for i, trace in enumerate(traces):
            out[i].extend(labeler.label(trace))
    return out


def is_flawed_positive(correct: bool | None, labels: Sequence[FlawLabel]) -> bool:
    """Correct verdict and at least one error-severity flaw."""
    return correct is True and any(label.severity == "error" for label in labels)


def classify(correct: bool | None, labels: Sequence[FlawLabel]) -> str:
    """'flawed_positive', 'clean', 'incorrect', or 'unverified'."""
    if correct is None:
        return "unverified"
    if not correct:
        return "incorrect"
    return "flawed_positive" if is_flawed_positive(correct, labels) else "clean"
