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


def _bomb(levels: int = 9) -> str:
    """A billion-laughs recipe: 9 aliases of 9 aliases ... (9**levels strings when built)."""
    lines = ["name: r", "description: x", 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_without_building_it() -> None:
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(InputError, match="more than 100,000 YAML values") as info:
        parse_recipe(_bomb(), source="bomb.yaml")
    assert info.value.source == "bomb.yaml" and info.value.line is not None
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 200_000  # built, it would take gigabytes


def test_aliases_within_the_limit_and_merge_keys_still_work() -> None:
    text = (
        "name: r\n"
        "generation:\n"
        "  sampling: &s {temperature: 0.5, stop: [a, b]}\n"
        "  <<: {n: 4, model: m}\n"
        "  n: 3\n"  # an explicit key overrides a merged one: not a duplicate
        "verify: {timeout_s: 2}\n"
    )
    recipe = parse_recipe(text)
    assert recipe.generation.n == 3 and recipe.generation.model == "m"
    assert recipe.generation.sampling.stop == ["a", "b"]


def test_recursive_alias_and_deep_nesting_fail_clearly() -> None:
    with pytest.raises(InputError, match="recursive") as info:
        parse_recipe("name: r\ngeneration:\n  stop: &a [*a]\n")
    assert info.value.line == 3
    with pytest.raises(InputError, match="deeper than 64"):
        parse_recipe("name: r\ndescription: " + "[" * 100 + "]" * 100 + "\n")
    with pytest.raises(InputError, match="nested too deeply"):
        parse_recipe("name: r\ndescription: " + "[" * 5000 + "]" * 5000 + "\n")


def test_duplicate_keys_name_both_lines() -> None:
    with pytest.raises(InputError) as info:
        parse_recipe("name: r\ngeneration:\n  n: 2\n  model: m\n  n: 3\n", source="d.yaml")
    err = info.value
    assert err.line == 5 and err.field == "generation.n"
    assert "duplicate key 'n' on lines 3 and 5" in str(err) and str(err).startswith("d.yaml:5:")
    with pytest.raises(InputError, match="duplicate key 'name' on lines 1 and 3"):
        parse_recipe("name: a\ndescription: x\nname: b\n")


def test_binary_and_oversized_recipe_files_fail_clearly(tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"name: r\n\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    with pytest.raises(InputError, match="not UTF-8 text") as info:
        load_recipe(binary)
    assert info.value.line == 2 and info.value.source == str(binary)
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(b"name: r\x00\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_recipe(nul)
    huge = tmp_path / "huge.yaml"
    huge.write_text("name: r\ndescription: " + "x" * (2 << 20) + "\n")
    with pytest.raises(InputError, match="larger than 1 MiB"):
        load_recipe(huge)
