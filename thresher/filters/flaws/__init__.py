"""Flaw labelers: they find flaws in traces (wrong arithmetic, answer/trace mismatch, guesses,
loops, truncation, format, a judge model's first error) and never decide keep or drop."""

from thresher.filters.flaws.judge import JudgeLabeler, judge_prompt, majority_index, parse_index
from thresher.filters.flaws.registry import (
    LABELERS,
    RULE_LABELERS,
    describe,
    get_labeler,
    rule_labelers,
)
from thresher.filters.flaws.runner import classify, is_flawed_positive, label_traces
from thresher.filters.flaws.types import Labeler, Trace

__all__ = [
    "LABELERS",
    "RULE_LABELERS",
    "JudgeLabeler",
    "Labeler",
    "Trace",
    "classify",
    "describe",
    "get_labeler",
    "is_flawed_positive",
    "judge_prompt",
    "label_traces",
    "majority_index",
    "parse_index",
    "rule_labelers",
]
