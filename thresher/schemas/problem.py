"""Problem: a question with its gold answer, reference solution and checking kind."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from thresher.schemas.base import Record
from thresher.schemas.ids import content_id

__all__ = ["Problem", "ProblemKind", "problem_id_for"]

ProblemKind = Literal["math", "choice", "exact", "code"]


def problem_id_for(source: str, question: str) -> str:
    """Content id of a problem: hash of (source, question)."""
    return content_id("problem", source, question)


class Problem(Record):
    """One problem of a named problem set."""

    problem_id: str = Field("", description="hash of (source, question); filled when empty")
    source: str = Field(..., min_length=1, description="problem set name, e.g. 'arith-64'")
    question: str = Field(..., min_length=1, description="the problem statement")
    answer: str | None = Field(None, description="gold final answer (None for code problems)")
    solution: str | None = Field(None, description="reference worked solution, if any")
    kind: ProblemKind = Field("math", description="which verifier family checks it")
    tests_json: str | None = Field(None, description="code tests as JSON (stdin_stdout/asserts)")
    difficulty: int | None = Field(None, description="source difficulty level, if known")
    metadata: dict[str, str] = Field(default_factory=dict, description="free-form string tags")

    @model_validator(mode="after")
    def _fill_id(self) -> Problem:
        if not self.problem_id:
            self.problem_id = problem_id_for(self.source, self.question)
        return self
