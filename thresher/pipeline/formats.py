"""Export row layouts: SFT, RL, DPO and OPSD rows in the shapes their trainers read.

Each format has layouts (the first is the default) with their columns and the trainer that reads
them (`LAYOUTS`, also the README's table). Builders take an `ExportSource` and return plain row
dicts in a deterministic order; PRM rows are in `thresher.pipeline.prm`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from thresher.schemas import InputError, sha256_hex

if TYPE_CHECKING:
    from thresher.pipeline.export import ExportSource

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "LAYOUTS",
    "Layout",
    "ThinkStyle",
    "assistant_message",
    "assistant_text",
    "dpo_rows",
    "instruction_for",
    "layout_for",
    "opsd_rows",
    "reasoning_and_answer",
    "rl_rows",
    "sft_rows",
    "usable",
]

ThinkStyle = Literal["think_tags", "reasoning_field", "plain"]
_REJECTABLE = ("incorrect", "flawed_positive:")

# The prompt's answer-format instruction per problem kind: thresher's verifiers read any common
# form, but other scorers (verl's GSM8K/MATH, TRL's accuracy_reward) need a box or a code block.
_BOXED = "Please reason step by step, and put your final answer within \\boxed{}."
DEFAULT_INSTRUCTIONS = {
    "math": _BOXED,
    "exact": _BOXED,
    "choice": "Please reason step by step, and put the letter of your final choice within "
    "\\boxed{}.",
    "code": "Write your solution as a complete Python program in one ```python code block.",
}


@dataclass(frozen=True)
class Layout:
    """One row layout of a format: its columns and the trainer that reads it."""

    format: str
    name: str
    columns: str
    trainer: str


LAYOUTS: tuple[Layout, ...] = (
    Layout("sft", "messages", "`messages` (user, assistant)", "TRL `SFTTrainer` (conversational)"),
    Layout(
        "sft",
        "prompt_completion",
        "`prompt` (user), `completion` (assistant)",
        "TRL `SFTTrainer` (prompt-completion; loss on the completion only)",
    ),
    Layout(
        "rl",
        "verl",
        "`data_source`, `prompt`, `ability`, `reward_model{style, ground_truth}`, `extra_info`, "
        "`question`, `answer`, `solution`",
        "verl `RLHFDataset` + `thresher.rewards.verl.compute_score`; TRL `GRPOTrainer` + "
        "`thresher.rewards.trl.verifier_reward` (or TRL's `accuracy_reward`, which reads "
        "`solution`); OpenRLHF (`answer` as the label key)",
    ),
    Layout(
        "dpo",
        "messages",
        "`prompt` (user), `chosen`, `rejected` (assistant)",
        "TRL `DPOTrainer` (conversational)",
    ),
    Layout(
        "dpo", "strings", "`prompt`, `chosen`, `rejected` as text", "TRL `DPOTrainer` (standard)"
    ),
    Layout(
        "prm",
        "stepwise",
        "`prompt`, `completions` (steps), `labels` (one bool per step)",
        "TRL `PRMTrainer` (TRL <= 1.13)",
    ),
    Layout(
        "prm",
        "critic",
        "`id`, `generator`, `problem`, `steps`, `final_answer_correct`, `label` (first error "
        "step, -1 if none)",
        "ProcessBench / FAPO-Critic style critic training and evaluation",
    ),
    Layout(
        "opsd",
        "sdft",
        "`prompt` (user), `privileged_context` (the reference solution)",
        "TRL `SDFTTrainer` (on-policy self-distillation)",
    ),
)


def layout_for(fmt: str, name: str | None) -> Layout:
    """The named layout of a format (None: its default); unknown names list the known ones."""
    known = [lay for lay in LAYOUTS if lay.format == fmt]
    if name is None:
        return known[0]
    for lay in known:
        if lay.name == name:
            return lay
    raise InputError(
        f"format {fmt!r} has no layout {name!r}; layouts: {', '.join(k.name for k in known)}",
        field="--layout",
    )


def instruction_for(kind: str, instruction: str | None) -> str:
    """The answer-format instruction added to RL/OPSD prompts (None: the kind's default)."""
    if instruction is not None:
        return instruction.strip()
    return DEFAULT_INSTRUCTIONS.get(kind, _BOXED)


def _prompt(question: str, instruction: str) -> str:
    return f"{question.rstrip()}\n\n{instruction}" if instruction else question


def reasoning_and_answer(rollout: dict[str, Any]) -> tuple[str, str, str]:
    """(reasoning, answer, whole text) of a trace, the answer never repeated in the reasoning.

    Without think markers, generation stores the whole completion as the reasoning and its final
    answer (a part of it) as the answer: the reasoning ends where the answer's last occurrence
    starts, and the answer runs from there to the end (a note after it stays, once).
    """
    reasoning = (rollout.get("reasoning") or "").strip()
    answer = (rollout.get("answer_text") or "").strip()
    if not reasoning and not answer:
        whole = (rollout.get("completion") or "").strip()
        return "", whole, whole
    at = reasoning.rfind(answer) if answer else -1
    if at >= 0:
        return reasoning[:at].rstrip(), reasoning[at:].strip(), reasoning
    return reasoning, answer, "\n\n".join(p for p in (reasoning, answer) if p)


def assistant_text(rollout: dict[str, Any], style: ThinkStyle) -> str:
    """The assistant message's text for a trace in the chosen think style."""
    reasoning, answer, whole = reasoning_and_answer(rollout)
    if style == "think_tags" and reasoning:
        return f"<think>\n{reasoning}\n</think>\n\n{answer}".rstrip()
    if style == "reasoning_field":
        return answer or reasoning
    return whole


def assistant_message(rollout: dict[str, Any], style: ThinkStyle) -> dict[str, Any]:
    """The assistant message; with `reasoning_field` the reasoning is its `reasoning_content`
    (the key current chat templates render as the thinking block)."""
    message: dict[str, Any] = {"role": "assistant", "content": assistant_text(rollout, style)}
    if style == "reasoning_field":
        reasoning, answer, _ = reasoning_and_answer(rollout)
        message["reasoning_content"] = reasoning if (reasoning and answer) else None
    return message


def _user(text: str, style: ThinkStyle) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "user", "content": text}
    if style == "reasoning_field":
        message["reasoning_content"] = None
    return message


def message_type(style: ThinkStyle) -> pa.DataType:
    """Arrow type of one chat message (with `reasoning_content` in the reasoning_field style)."""
    fields = [("role", pa.string()), ("content", pa.string())]
    if style == "reasoning_field":
        fields.append(("reasoning_content", pa.string()))
    return pa.struct(fields)


def _selected(source: ExportSource) -> list[str]:
    return sorted(t for t, r in source.trace_reasons.items() if r == "selected")


def usable(source: ExportSource, trace_id: str) -> bool:
    """Whether a trace may appear in training data at all: a trace generated with the reference
    solution in its prompt only when the recipe opted in (selected ones already passed that)."""
    rollout = source.rollouts[trace_id]
    return source.allow_conditioned or not rollout.get("conditioned_on_ground_truth")


def sft_rows(source: ExportSource, style: ThinkStyle, layout: str) -> list[dict[str, Any]]:
    """Selected traces as chat messages (or prompt/completion)."""
    rows = []
    for trace_id in _selected(source):
        rollout = source.rollouts[trace_id]
        problem = source.problems[rollout["problem_id"]]
        user, reply = _user(problem["question"], style), assistant_message(rollout, style)
        shape = (
            {"prompt": [user], "completion": [reply]}
            if layout == "prompt_completion"
            else {"messages": [user, reply]}
        )
        rows.append(
            shape
            | {
                "trace_id": trace_id,
                "problem_id": rollout["problem_id"],
                "source": problem["source"],
                "model": rollout["model"],
                "mode": rollout["mode"],
            }
        )
    return rows


def _kept_problems(source: ExportSource) -> list[str]:
    return sorted(
        pid for pid, r in source.problem_reasons.items() if r in ("selected", "no_trace_selected")
    )


def _gold_solution(problem: dict[str, Any]) -> str | None:
    """The `solution` column: the worked solution with its final answer boxed (what TRL's
    `accuracy_reward` parses as the gold), or the boxed answer alone."""
    answer = problem.get("answer")
    worked = (problem.get("solution") or "").strip()
    if problem["kind"] == "code":
        return worked or None
    if answer is None:
        return worked or None
    boxed = f"\\boxed{{{answer}}}"
    if not worked:
        return f"${boxed}$"
    if "\\boxed" in worked:
        return worked
    return f"{worked}\n\nThe final answer is ${boxed}$."


def rl_rows(source: ExportSource, instruction: str | None) -> list[dict[str, Any]]:
    """Kept problems in verl's layout, plus top-level `question`, `answer` and `solution`."""
    selected_per_problem: dict[str, int] = defaultdict(int)
    for trace_id in _selected(source):
        selected_per_problem[source.rollouts[trace_id]["problem_id"]] += 1
    rows = []
    for index, pid in enumerate(_kept_problems(source)):
        problem = source.problems[pid]
        kind = problem["kind"]
        truth = problem.get("answer") if kind != "code" else problem.get("tests_json")
        if truth is None:
            continue
        question = problem["question"]
        rows.append(
            {
                "data_source": problem["source"],
                "prompt": [
                    {
                        "role": "user",
                        "content": _prompt(question, instruction_for(kind, instruction)),
                    }
                ],
                "ability": kind,
                "reward_model": {"style": "rule", "ground_truth": str(truth)},
                "extra_info": {
                    "split": "train",
                    "index": index,
                    "problem_id": pid,
                    "kind": kind,
                    "verifier": source.verifiers.get(pid) or "",
                    "pass_rate": source.pass_rates.get(pid),
                    "selected_traces": selected_per_problem.get(pid, 0),
                    "answer": problem.get("answer"),
                    "question": question,
                },
                "question": question,
                "answer": problem.get("answer"),
                "solution": _gold_solution(problem),
            }
        )
    return rows


def _pair_key(trace_id: str) -> str:
    return sha256_hex(trace_id.encode())


def dpo_rows(source: ExportSource, style: ThinkStyle, layout: str) -> list[dict[str, Any]]:
    """Pairs of one problem: a selected trace against an incorrect or flawed-positive one."""
    if layout == "strings" and style == "reasoning_field":
        raise InputError(
            "the DPO 'strings' layout has no message to carry reasoning_content",
            field="--think-style",
            hint="use --think-style think_tags or plain with --layout strings",
        )
    chosen: dict[str, list[str]] = defaultdict(list)
    rejected: dict[str, list[str]] = defaultdict(list)
    for trace_id, reason in source.trace_reasons.items():
        if not usable(source, trace_id):
            continue
        pid = source.rollouts[trace_id]["problem_id"]
        if reason == "selected":
            chosen[pid].append(trace_id)
        elif reason.startswith(_REJECTABLE):
            rejected[pid].append(trace_id)
    rows = []
    for pid in sorted(set(chosen) & set(rejected)):
        good = sorted(chosen[pid], key=_pair_key)
        bad = sorted(rejected[pid], key=_pair_key)
        question = source.problems[pid]["question"]
        # Every rejected trace is paired once; chosen traces are reused round-robin.
        for i, bad_id in enumerate(bad):
            good_id = good[i % len(good)]
            pair: dict[str, Any]
            if layout == "strings":
                pair = {
                    "prompt": question,
                    "chosen": assistant_text(source.rollouts[good_id], style),
                    "rejected": assistant_text(source.rollouts[bad_id], style),
                }
            else:
                pair = {
                    "prompt": [_user(question, style)],
                    "chosen": [assistant_message(source.rollouts[good_id], style)],
                    "rejected": [assistant_message(source.rollouts[bad_id], style)],
                }
            rows.append(
                pair
                | {
                    "problem_id": pid,
                    "chosen_trace_id": good_id,
                    "rejected_trace_id": bad_id,
                    "rejected_reason": source.trace_reasons[bad_id],
                }
            )
    return rows


def _privileged(problem: dict[str, Any]) -> tuple[str, str] | None:
    """The reference a teacher sees: the worked solution (with its final answer), else the
    answer; for code, the reference program. Returns (text, what it is)."""
    worked = (problem.get("solution") or "").strip()
    answer = problem.get("answer")
    if problem["kind"] == "code":
        return (f"Reference solution:\n{worked}", "reference_solution") if worked else None
    if worked and answer is not None:
        return f"Reference solution:\n{worked}\n\nFinal answer: {answer}", "reference_solution"
    if worked:
        return f"Reference solution:\n{worked}", "reference_solution"
    if answer is not None:
        return f"The correct final answer is {answer}.", "reference_answer"
    return None


def opsd_rows(source: ExportSource, instruction: str | None) -> list[dict[str, Any]]:
    """Kept problems with the prompt a student answers and the reference a teacher sees."""
    rows = []
    for pid in _kept_problems(source):
        problem = source.problems[pid]
        privileged = _privileged(problem)
        if privileged is None:
            continue
        text = _prompt(problem["question"], instruction_for(problem["kind"], instruction))
        rows.append(
            {
                "prompt": [{"role": "user", "content": text}],
                "privileged_context": privileged[0],
                "privileged_kind": privileged[1],
                "answer": problem.get("answer"),
                "problem_id": pid,
                "source": problem["source"],
            }
        )
    return rows
