"""YAML with line numbers, for the start-up queue files: the document, the line of every
key path in it, and a reader whose every failure names the file, line and field."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from emulator.core.durations import parse_duration
from emulator.core.errors import ConfigError


def load(text: str, source: str) -> tuple[Any, dict[str, int]]:
    """The document, and the line of every key path in it ("queues[0].rate_limits")."""
    import yaml  # noqa: PLC0415  (only a --config file needs it: not on every start)

    try:
        root = yaml.compose(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise ConfigError(source, line, "YAML", str(getattr(error, "problem", error))) from None
    lines: dict[str, int] = {}

    def build(node: Any, path: str) -> Any:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                child = f"{path}.{key}" if path else key
                lines[child] = key_node.start_mark.line + 1
                result[key] = build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [build(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        return (
            yaml.safe_load(yaml.serialize(node))
            if node.tag != "tag:yaml.org,2002:str"
            else node.value
        )

    return (build(root, "") if root is not None else None), lines


class Reader:
    def __init__(self, source: str, lines: dict[str, int]) -> None:
        self.source, self.lines = source, lines

    def fail(self, path: str, problem: str) -> ConfigError:
        line = next(
            (self.lines[p] for p in ancestors(path) if p in self.lines),
            None,
        )
        return ConfigError(self.source, line, path, problem)

    def mapping(self, value: Any, path: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, "expected a mapping")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(
                f"{path}.{unknown[0]}" if path else unknown[0],
                f"unknown field (known: {', '.join(sorted(allowed))})",
            )
        return value

    def duration(self, value: Any, path: str) -> timedelta:
        try:
            if isinstance(value, bool):
                raise ValueError(value)
            return parse_duration(str(value))
        except ValueError:
            raise self.fail(
                path, f"not a duration: {value!r} (examples: 0.5s, 90s, 15m, 2h, 7d)"
            ) from None

    def number(self, value: Any, path: str, kind: type = float) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(path, f"not a number: {value!r}")
        if kind is int and value != int(value):
            raise self.fail(path, f"not a whole number: {value!r}")
        return kind(value)


def ancestors(path: str) -> list[str]:
    parts = re.split(r"\.(?![^\[]*\])", path)
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
