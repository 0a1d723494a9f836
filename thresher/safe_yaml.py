"""YAML read within safe limits: size, values after alias expansion, depth, duplicate keys.

PyYAML's safe loader builds aliases by reference, so an alias bomb costs nothing until
something walks or copies the result (validation, hashing, a dump) and it grows to gigabytes.
Here the composed node graph is measured first, in time linear in the text, and built only
when it is small; every error names the source and the line.
"""

from __future__ import annotations

from typing import Any

import yaml

from thresher.schemas.errors import InputError

__all__ = ["MAX_RECIPE_BYTES", "MAX_YAML_DEPTH", "MAX_YAML_NODES", "load_yaml_with_lines"]

MAX_RECIPE_BYTES = 1 << 20  # a recipe is a page of YAML; anything near this is a mistake
MAX_YAML_NODES = 100_000  # nodes after expanding aliases (an alias bomb has billions)
MAX_YAML_DEPTH = 64
_MERGE = "tag:yaml.org,2002:merge"


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: yaml.Node, source: str) -> None:
    """Bound the recipe as it would be built: node count and depth through aliases, no cycles.

    Sizes are computed once per distinct node (aliases share nodes), so this takes time in
    the size of the text, however large the expansion would be.
    """
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, expanded height)
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        line = node.start_mark.line + 1
        if done:
            on_path.discard(key)
            kids = [sizes[id(c)] for c in _children(node)]
            count = 1 + sum(k[0] for k in kids)
            height = 1 + max((k[1] for k in kids), default=0)
            if count > MAX_YAML_NODES:
                raise InputError(
                    f"the recipe expands to more than {MAX_YAML_NODES:,} YAML values "
                    "(through aliases)",
                    source=source, line=line, hint="write the values out instead of aliasing",
                )  # fmt: skip
            if height > MAX_YAML_DEPTH:
                raise InputError(
                    f"the recipe is nested deeper than {MAX_YAML_DEPTH} levels",
                    source=source, line=line,
                )  # fmt: skip
            sizes[key] = (count, height)
        elif key in on_path:
            raise InputError(
                "an alias refers to a value that contains it (a recursive structure)",
                source=source, line=line,
            )  # fmt: skip
        elif key not in sizes:
            on_path.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))


def load_yaml_with_lines(text: str, source: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse YAML safely, returning the data and the 1-based line of every key/item path.

    The text is composed once, checked (expansion through aliases, depth, duplicate keys)
    and only then built into Python values.
    """
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # checks for unprintable characters already
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _check_expansion(node, source)
        lines = _key_lines(node, source)
        return loader.construct_document(node), lines
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(f"not valid YAML: {exc}", source=source, line=line) from None
    except RecursionError:
        raise InputError("the recipe is nested too deeply to read", source=source) from None
    finally:
        if loader is not None:
            loader.dispose()


def _key_lines(root: yaml.Node, source: str) -> dict[tuple[Any, ...], int]:
    """The line of every key/item path; a key written twice in one mapping is an error."""
    lines: dict[tuple[Any, ...], int] = {}

    def walk(n: Any, path: tuple[Any, ...]) -> None:
        if isinstance(n, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, value_node in n.value:
                key = key_node.value
                line = key_node.start_mark.line + 1
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE:
                    if key in first:
                        dotted = ".".join(str(p) for p in (*path, key))
                        raise InputError(
                            f"duplicate key '{key}' on lines {first[key]} and {line}",
                            source=source, line=line, field=dotted,
                            hint="keep one of them: YAML would silently use the last",
                        )  # fmt: skip
                    first[key] = line
                lines[(*path, key)] = line
                walk(value_node, (*path, key))
        elif isinstance(n, yaml.SequenceNode):
            for index, item in enumerate(n.value):
                lines[(*path, index)] = item.start_mark.line + 1
                walk(item, (*path, index))

    walk(root, ())
    return lines
