"""``code_v2``: run the response's last Python code block against tests in the sandbox."""

from __future__ import annotations

import json
from typing import Any

from thresher.filters.sandbox import SandboxLimits, run_program
from thresher.filters.verify.extract import extract_code
from thresher.filters.verify.types import Outcome, VerifyItem

__all__ = ["CodeVerifier", "parse_tests", "outputs_match"]


def parse_tests(tests: Any) -> tuple[str, list[Any]]:
    """Validate a tests object: ``{"stdin_stdout": [{"input", "output"}]}`` or ``{"asserts": [...]}``."""
    if isinstance(tests, str):
        try:
            tests = json.loads(tests)
        except json.JSONDecodeError as exc:
            raise ValueError(f"tests is not valid JSON: {exc.msg}") from exc
    if not isinstance(tests, dict):
        raise ValueError("tests must be an object with 'stdin_stdout' or 'asserts'")
    if "stdin_stdout" in tests:
        cases = tests["stdin_stdout"]
        if not isinstance(cases, list) or not cases:
            raise ValueError("tests.stdin_stdout must be a non-empty list")
        for i, case in enumerate(cases):
            if (
                not isinstance(case, dict)
                or not isinstance(case.get("input", ""), str)
                or not isinstance(case.get("output"), str)
            ):
                raise ValueError(f"tests.stdin_stdout[{i}] needs string 'input' and 'output'")
        return "stdin_stdout", cases
    if "asserts" in tests:
        asserts = tests["asserts"]
        if (
            not isinstance(asserts, list)
            or not asserts
            or not all(isinstance(a, str) for a in asserts)
        ):
            raise ValueError("tests.asserts must be a non-empty list of strings")
        return "asserts", asserts
    raise ValueError("tests must have 'stdin_stdout' or 'asserts'")


def outputs_match(expected: str, got: str) -> bool:
    """Outputs are equal up to trailing whitespace on each line and trailing blank lines."""

    def lines(text: str) -> list[str]:
        out = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
        while out and not out[-1]:
            out.pop()
        return out

    return lines(expected) == lines(got)


def _own_fault(status: str) -> bool | None:
    """The program's crash or limit makes it wrong; a sandbox failure decides nothing."""
    return None if status == "sandbox_error" else False


class CodeVerifier:
    """The last fenced Python block passes every test (stdin/stdout cases or asserts) in the
    sandbox; the program's crash or time/memory/output limit keeps its status and is wrong
    (correct false); a sandbox failure is undecided (correct null)."""

    name = "code_v2"
    kind = "code"

    def __init__(self, limits: SandboxLimits | None = None) -> None:
        self.limits = limits or SandboxLimits()

    def quick(self, item: VerifyItem) -> Outcome | None:
        """Input checks and extraction in the caller's process; execution needs a worker."""
        try:
            parse_tests(item.tests)
        except ValueError as exc:
            return Outcome("invalid_input", reason=str(exc))
        if extract_code(item.response).text is None:
            return Outcome("no_answer", False, reason="no python code block")
        return None

    def check(self, item: VerifyItem) -> Outcome:
        """Run every test case; the first failure decides."""
        early = self.quick(item)
        if early is not None:
            return early
        style, cases = parse_tests(item.tests)
        program = extract_code(item.response).text or ""
        extracted = program if len(program) <= 4000 else program[:4000]
        if style == "asserts":
            run = run_program(program + "\n\n" + "\n".join(cases) + "\n", b"", self.limits)
            if run.status == "ok":
                return Outcome("ok", True, extracted, f"{len(cases)} asserts passed")
            if run.status == "runtime_error" and b"AssertionError" in run.stderr[-4000:]:
                return Outcome("ok", False, extracted, "an assert failed")
            return Outcome(run.status, _own_fault(run.status), extracted, run.reason)
        for i, case in enumerate(cases):
            run = run_program(program, case.get("input", "").encode(), self.limits)
            if run.status != "ok":
                return Outcome(
                    run.status, _own_fault(run.status), extracted, f"case {i}: {run.reason}"
                )
            if not outputs_match(case["output"], run.stdout.decode("utf-8", "replace")):
                return Outcome("ok", False, extracted, f"case {i}: wrong output")
        return Outcome("ok", True, extracted, f"{len(cases)} cases passed")

    def time_limit(self, item: VerifyItem, default_s: float) -> float:
        """Each case's wall limit plus start-up slack, at least the caller's limit."""
        try:
            style, cases = parse_tests(item.tests)
        except ValueError:
            return default_s
        runs = 1 if style == "asserts" else len(cases)
        return max(default_s, runs * (self.limits.wall_s + 4.0) + 5.0)

    def cache_key(self, item: VerifyItem) -> tuple[str, ...] | None:
        """Programs are run every time (they may be nondeterministic)."""
        return None
