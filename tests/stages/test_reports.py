"""A stage report's JSON (`thresher generate --json` and the other stage commands) carries the
figures it derives, not only its fields."""

from __future__ import annotations

import json

from thresher.stages.generate import GenerateReport
from thresher.stages.verify import VerifyReport


def test_generate_report_json_says_what_was_generated_and_what_existed() -> None:
    report = GenerateReport(stage="generate", problem_set="p", planned=12, pending=8, rows=8)
    report.completion_tokens, report.elapsed_s = 400, 2.0
    out = json.loads(json.dumps(report.as_dict()))
    assert out["generated"] == 8 and out["existing"] == 4 and out["planned"] == 12
    assert out["output_tokens_per_s"] == 200.0 and out["elapsed_s"] == 2.0


def test_verify_report_json_counts_the_verified() -> None:
    report = VerifyReport(stage="verify", problem_set="p", rows=5)
    assert report.as_dict()["verified"] == report.verified
