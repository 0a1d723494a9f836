"""Chat prompts for each rollout mode, and sentence-aligned prefixes of stored traces."""

from __future__ import annotations

import re

from thresher.schemas import Problem
from thresher.text.split import reasoning_before_answer

__all__ = [
    "PROMPT_VERSION",
    "INSTRUCTIONS",
    "on_policy_messages",
    "privileged_messages",
    "reference_text",
    "prefix_cut",
    "sentence_ends",
]

# Bump when the wording below changes, so traces from different prompts are told apart.
PROMPT_VERSION = "thresher_prompts_v1"

INSTRUCTIONS: dict[str, str] = {
    "math": "Solve the problem step by step. End with a last line of the form "
    "'Final answer: <answer>'.",
    "exact": "Think step by step. End with a last line of the form 'Final answer: <answer>'.",
    "choice": "Think step by step, then end with a last line of the form 'Final answer: <letter>'.",
    "code": "Explain your approach briefly, then give a complete Python program in one "
    "```python code block that reads from standard input and writes to standard output.",
}

Messages = tuple[tuple[str, str], ...]


def on_policy_messages(problem: Problem) -> Messages:
    """The plain prompt: the question and how to present the answer."""
    return (("user", f"{problem.question}\n\n{INSTRUCTIONS[problem.kind]}"),)


def reference_text(solution: str | None, answer: str | None) -> str | None:
    """The reference a privileged prompt shows: the worked solution, else the answer stated as
    "The final answer is X." (None when the problem has neither)."""
    if solution:
        return solution
    return f"The final answer is {answer}." if answer else None


def privileged_messages(problem: Problem) -> Messages | None:
    """The question plus its reference solution (None when the problem has neither solution
    nor answer): the teacher's view in on-policy self-distillation."""
    reference = reference_text(problem.solution, problem.answer)
    if reference is None:
        return None
    return (
        (
            "user",
            f"{problem.question}\n\nHere is a reference solution. Use it to write your own "
            f"complete step-by-step solution.\n\nReference solution:\n{reference}\n\n"
            f"{INSTRUCTIONS[problem.kind]}",
        ),
    )


_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+|\n+")


def sentence_ends(text: str) -> list[int]:
    """Char offsets where sentences (or lines) of `text` end, the last one being len(text)."""
    ends = [m.start() for m in _SENTENCE_END.finditer(text) if m.start() > 0]
    ends = sorted({e for e in ends if e < len(text)})
    ends.append(len(text))
    return ends


def prefix_cut(text: str, fraction: float) -> str:
    """The shortest run of whole leading sentences covering at least `fraction` of the trace's
    reasoning, always short of its last sentence: a prefix never holds the final answer, nor the
    step that states it (a continuation of a privileged trace must not inherit its answer)."""
    reasoning = reasoning_before_answer(text).rstrip()
    ends = sentence_ends(reasoning)[:-1]  # the reasoning's own end is never a cut
    if fraction <= 0 or not ends:
        return ""
    goal = fraction * len(reasoning)
    return reasoning[: next((end for end in ends if end >= goal), ends[-1])]
