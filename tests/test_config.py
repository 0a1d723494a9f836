"""The recipe: YAML loading, unknown keys with location and suggestion, the recipe hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from thresher.config import Recipe, load_recipe, parse_recipe, recipe_hash
from thresher.schemas import InputError, NotFoundError

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@pytest.mark.parametrize("name", ["default.yaml", "gsm8k-qwen.yaml", "code.yaml"])
def test_shipped_recipes_validate(name: str) -> None:
    recipe = load_recipe(RECIPES / name)
    assert recipe.name == name.removesuffix(".yaml")
    assert len(recipe.hash()) == 64


def test_default_recipe_is_the_embedded_demo() -> None:
    recipe = load_recipe(RECIPES / "default.yaml")
    assert recipe.generation.model == "smollm2-135m-instruct"
    assert recipe.problems.source == "builtin:arithmetic"
    assert recipe.dedup.embedder == "all-minilm-l6-v2"


def test_unknown_nested_key_names_key_line_and_suggestion() -> None:
    text = "name: r\ngeneration:\n  model: m\n  temprature: 0.5\n"
    with pytest.raises(InputError) as info:
        parse_recipe(text, source="r.yaml")
    err = info.value
    assert err.source == "r.yaml" and err.line == 4
    assert err.field == "generation.temprature"
    assert "unknown key 'temprature'" in str(err)
    assert err.hint == "did you mean 'sampling.temperature'?"


def test_unknown_key_in_sampling_suggests_close_match() -> None:
    text = "name: r\ngeneration:\n  sampling:\n    max_token: 10\n"
    with pytest.raises(InputError) as info:
        parse_recipe(text, source="r.yaml")
    assert info.value.line == 4
    assert info.value.hint == "did you mean 'max_tokens'?"


def test_unknown_top_level_key_lists_known_keys_when_nothing_is_close() -> None:
    with pytest.raises(InputError) as info:
        parse_recipe("name: r\nzzzzqqq: 1\n")
    assert info.value.line == 2
    assert "selection" in (info.value.hint or "")


def test_wrong_type_names_field_and_line() -> None:
    with pytest.raises(InputError) as info:
        parse_recipe("name: r\ngeneration:\n  n: many\n", source="x.yaml")
    assert info.value.field == "generation.n" and info.value.line == 3
    assert "x.yaml:3" in str(info.value)


def test_bad_list_item_points_at_its_line() -> None:
    text = "name: r\ngeneration:\n  modes:\n    - on_policy\n    - sideways\n"
    with pytest.raises(InputError) as info:
        parse_recipe(text)
    assert info.value.line == 5 and info.value.field == "generation.modes.1"


def test_invalid_yaml_and_non_mapping_fail_clearly() -> None:
    with pytest.raises(InputError, match="not valid YAML"):
        parse_recipe("name: [unclosed\n")
    with pytest.raises(InputError, match="mapping"):
        parse_recipe("- a\n- b\n")


def test_cross_field_rule() -> None:
    with pytest.raises(InputError, match="min_pass_rate"):
        parse_recipe("name: r\nselection:\n  min_pass_rate: 0.9\n  max_pass_rate: 0.1\n")


def test_hash_is_canonical_over_defaults_and_order() -> None:
    a = parse_recipe("name: r\ngeneration:\n  n: 2\n  model: m\n")
    b = parse_recipe("generation:\n  model: m\n  n: 2\nname: r\nselection: {}\n")
    assert recipe_hash(a) == recipe_hash(b)
    c = parse_recipe("name: r\ngeneration:\n  n: 3\n  model: m\n")
    assert recipe_hash(c) != recipe_hash(a)


def test_yaml_round_trip_keeps_hash() -> None:
    recipe = load_recipe(RECIPES / "default.yaml")
    again = parse_recipe(recipe.to_yaml())
    assert again == recipe and again.hash() == recipe.hash()


def test_missing_recipe_file() -> None:
    with pytest.raises(NotFoundError, match="not found"):
        load_recipe("no/such/recipe.yaml")


def test_every_field_is_documented() -> None:
    def walk(model: type) -> None:
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            annotation = field.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                walk(annotation)
            elif name != "name":
                assert field.description, f"{model.__name__}.{name} has no description"

    walk(Recipe)
