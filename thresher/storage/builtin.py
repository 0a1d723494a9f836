"""Embedded default problems: seeded arithmetic word problems with worked solutions.

`builtin:arithmetic` needs no download: every problem is generated here from a seed. A problem
with difficulty k takes k arithmetic steps; its reference solution writes each step as an explicit
equation (``17 + 25 = 42``) and ends with ``The answer is 42.``. Problem i depends only on
(seed, i), so a larger ``n`` extends a smaller set instead of reshuffling it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from thresher.schemas import InputError, NotFoundError, Problem

__all__ = ["BUILTINS", "MAX_STEPS", "arithmetic_v1", "builtin_problems", "default_name"]

MAX_STEPS = 4
GENERATOR = "arithmetic_v1"

_NAMES = (
    "Maya", "Liam", "Aisha", "Kenji", "Sofia", "Omar", "Elena", "Noah", "Priya", "Mateo",
    "Zoe", "Tariq", "Hana", "Lucas", "Amara", "Felix", "Ines", "Ravi", "Chloe", "Diego",
    "Nadia", "Oscar", "Mei", "Samuel", "Leila", "Tomas", "Grace", "Yusuf", "Freya", "Andre",
)  # fmt: skip

# (singular, plural, containers): things a person can collect, pack and share.
_ITEMS = (
    ("marble", "marbles", "bags"),
    ("pencil", "pencils", "boxes"),
    ("sticker", "stickers", "sheets"),
    ("apple", "apples", "crates"),
    ("cookie", "cookies", "trays"),
    ("stamp", "stamps", "album pages"),
    ("seashell", "seashells", "buckets"),
    ("trading card", "trading cards", "packs"),
    ("bead", "beads", "jars"),
    ("egg", "eggs", "cartons"),
    ("book", "books", "shelves"),
    ("flower", "flowers", "bunches"),
    ("battery", "batteries", "packs"),
    ("cupcake", "cupcakes", "boxes"),
    ("tomato", "tomatoes", "baskets"),
    ("coin", "coins", "rolls"),
)

_ADD = (
    "{p} finds {b} more {items}.",
    "A friend gives {p} {b} more {items}.",
    "{p} buys {b} more {items} at the market.",
    "Then {p} collects another {b} {items}.",
)
_SUB = (
    "{p} gives {b} {items} to a neighbour.",
    "{p} loses {b} of the {items} on the way home.",
    "{p} sells {b} {items} at the fair.",
    "Then {p} uses up {b} of the {items}.",
)
_MUL = (
    "{p} trades them in and now has {b} times as many {items}.",
    "Each of {o} {items} is traded for {b} new ones.",
    "{p} multiplies the collection: the number of {items} becomes {b} times as large.",
)
_DIV = (
    "{p} shares the {items} equally among {b} friends, and keeps one friend's share.",
    "{p} splits the {items} into {b} equal groups and keeps just one group.",
    "{p} packs the {items} evenly into {b} {containers} and keeps one of them.",
)
_QUESTIONS = (
    "How many {items} does {p} have now?",
    "How many {items} does {p} end up with?",
    "How many {items} are left with {p} at the end?",
)


@dataclass(frozen=True)
class _Step:
    sentence: str
    equation: str
    result: int


def _possessive(rng: random.Random) -> str:
    return rng.choice(("her", "his", "their"))


def _opening(
    rng: random.Random, name: str, item: tuple[str, str, str]
) -> tuple[str, str, _Step | None, int]:
    """The first sentence, its solution line, and its step when it is a product of two numbers."""
    _, plural, containers = item
    if rng.random() < 0.35:
        packs, each = rng.randint(2, 9), rng.randint(3, 12)
        total = packs * each
        text = f"{name} buys {packs} {containers} of {plural} with {each} {plural} in each."
        step = _Step(
            f"{packs} {containers} with {each} {plural} in each hold",
            f"{packs} * {each} = {total}",
            total,
        )
        return text, "", step, total
    start = rng.randint(8, 60)
    return f"{name} has {start} {plural}.", f"{name} starts with {start} {plural}.", None, start


def _next_step(rng: random.Random, value: int, fmt: dict[str, str]) -> tuple[str, _Step]:
    """One operation on the running value, kept to exact non-negative integers."""
    divisors = [d for d in range(2, 10) if value % d == 0 and value // d >= 2]
    choices = ["add", "mul"] + (["sub"] if value > 3 else []) + (["div"] * 2 if divisors else [])
    if value > 400:  # keep numbers small enough to be word-problem sized
        choices = [c for c in choices if c != "mul"]
    op = rng.choice(choices)
    if op == "add":
        b = rng.randint(2, 40)
        text = rng.choice(_ADD).format(b=b, **fmt)
        return text, _Step(
            f"{b} more {fmt['items']} makes", f"{value} + {b} = {value + b}", value + b
        )
    if op == "sub":
        b = rng.randint(1, value - 1)
        text = rng.choice(_SUB).format(b=b, **fmt)
        return text, _Step(
            f"{b} fewer {fmt['items']} leaves", f"{value} - {b} = {value - b}", value - b
        )
    if op == "mul":
        b = rng.randint(2, 5)
        text = rng.choice(_MUL).format(b=b, **fmt)
        return text, _Step(f"{b} times as many makes", f"{value} * {b} = {value * b}", value * b)
    b = rng.choice(divisors)
    text = rng.choice(_DIV).format(b=b, **fmt)
    return text, _Step(f"one of {b} equal parts is", f"{value} / {b} = {value // b}", value // b)


def _problem(seed: int, index: int, attempt: int, source: str) -> Problem:
    rng = random.Random(f"{GENERATOR}:{seed}:{index}:{attempt}")
    steps_wanted = 1 + index % MAX_STEPS
    name = rng.choice(_NAMES)
    item = rng.choice(_ITEMS)
    fmt = {"p": name, "o": _possessive(rng), "items": item[1], "containers": item[2]}
    opening, start_line, first, value = _opening(rng, name, item)
    sentences, steps = [opening], [first] if first else []
    while len(steps) < steps_wanted:
        text, step = _next_step(rng, value, fmt)
        sentences.append(text)
        steps.append(step)
        value = step.result
    sentences.append(rng.choice(_QUESTIONS).format(**fmt))
    lines = [start_line] if start_line else []
    for k, step in enumerate(steps, 1):
        lines.append(f"Step {k}: {step.sentence} {step.equation}.")
    lines.append(f"The answer is {value}.")
    return Problem(
        source=source,
        question=" ".join(sentences),
        answer=str(value),
        solution="\n".join(lines),
        kind="math",
        difficulty=len(steps),
        metadata={
            "generator": GENERATOR,
            "seed": str(seed),
            "index": str(index),
            "equations": "; ".join(s.equation for s in steps),
        },
    )


def arithmetic_v1(n: int, seed: int, source: str) -> list[Problem]:
    """`n` arithmetic word problems, difficulty 1..4 steps in turn, unique questions."""
    if n < 1:
        raise ValueError("n must be at least 1")
    problems: list[Problem] = []
    seen: set[str] = set()
    for index in range(n):
        attempt = 0
        problem = _problem(seed, index, attempt, source)
        while problem.question in seen:  # rare: redraw with the next attempt number
            attempt += 1
            problem = _problem(seed, index, attempt, source)
        seen.add(problem.question)
        problems.append(problem)
    return problems


BUILTINS: dict[str, Callable[[int, int, str], list[Problem]]] = {
    "arithmetic": arithmetic_v1,
    "arithmetic_v1": arithmetic_v1,
}


def default_name(builtin: str, n: int, seed: int) -> str:
    """The problem-set name used when `--name` is not given: e.g. 'arithmetic-n64-s0'."""
    return f"{builtin}-n{n}-s{seed}"


def builtin_problems(
    name: str, *, n: int = 64, seed: int = 0, source: str | None = None
) -> list[Problem]:
    """Generate the built-in problem set `name` (e.g. 'arithmetic'); unknown names fail."""
    try:
        generate = BUILTINS[name]
    except KeyError:
        known = ", ".join(f"builtin:{k}" for k in BUILTINS)
        raise NotFoundError(f"no built-in problem set '{name}'; known: {known}") from None
    if n < 1:
        raise InputError(f"--n must be at least 1, got {n}", field="n")
    return generate(n, seed, source or default_name(name, n, seed))
