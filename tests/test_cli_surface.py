"""One parameter surface: every option of a stage command sets a recipe field, with the field's
own default, and every field of the sections a command builds has an option."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from pydantic import BaseModel

from thresher.cli import OPTION_FIELDS, app
from thresher.config import Recipe

# Options that are not recipe fields: where the data is, what to print, file-mode limits.
NOT_RECIPE = {
    "problems", "lake", "as_json", "input_path", "output", "max_line_mb", "line_timeout",
    "version", "verbose",
}  # fmt: skip
# Recipe fields a command deliberately has no option for, and why.
RECIPE_ONLY = {
    "generate": {"generation.modes": "one mode per call (--mode)"},
    "provenance": {"provenance.enabled": "the command is the switch"},
    "dedup": {"dedup.enabled": "the command is the switch"},
    "decontaminate": {},
    "verify": {},
    "label": {},
    "export": {},
}
# The sections each command builds from its options.
SECTIONS = {
    "generate": ["generation", "generation.sampling"],
    "verify": ["verify"],
    "label": ["labels"],
    "provenance": ["provenance"],
    "dedup": ["dedup"],
    "decontaminate": ["decontam"],
    "export": ["export"],
}


def _field(dotted: str) -> Any:
    model: type[BaseModel] = Recipe
    *parents, leaf = dotted.split(".")
    for part in parents:
        model = model.model_fields[part].annotation  # type: ignore[assignment]
    return model.model_fields[leaf]


def _section(dotted: str) -> type[BaseModel]:
    model: type[BaseModel] = Recipe
    for part in dotted.split("."):
        model = model.model_fields[part].annotation  # type: ignore[assignment]
    return model


def _params(command: str) -> dict[str, Any]:
    group = typer.main.get_group(app)
    cmd = group.commands["export" if command == "export" else command]
    return {p.name: p for p in cmd.params}


@pytest.mark.parametrize("command", sorted(OPTION_FIELDS))
def test_every_option_is_a_recipe_field_with_its_default(command: str) -> None:
    params = _params(command)
    mapped = OPTION_FIELDS[command]
    for name in params:
        assert name in mapped or name in NOT_RECIPE, f"{command} --{name} sets no recipe field"
    for name, dotted in mapped.items():
        assert name in params, f"{command}: {name} is mapped but is not an option"
        field = _field(dotted)
        default = params[name].default
        if params[name].required or dotted == "generation.modes":
            continue  # a required option (the folder to write, the benchmarks), or one mode a call
        want = field.get_default(call_default_factory=True)
        if dotted == "dedup.method":
            assert default is (want == "exact"), (command, name)
        elif isinstance(want, list):
            text = ",".join(str(v) for v in want)
            assert default in (want, text, None if not want else text), (command, name, default)
        elif isinstance(want, dict):
            assert default in (None, [], want), (command, name, default)
        else:
            assert default == want, (command, name, default, want)


@pytest.mark.parametrize("command", sorted(SECTIONS))
def test_every_field_a_command_builds_has_an_option(command: str) -> None:
    mapped = set(OPTION_FIELDS[command].values())
    for dotted in SECTIONS[command]:
        for name, field in _section(dotted).model_fields.items():
            full = f"{dotted}.{name}"
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                continue  # a nested section, checked on its own
            if full in RECIPE_ONLY[command] or full in mapped:
                continue
            pytest.fail(f"{command}: recipe field {full} has no option")
