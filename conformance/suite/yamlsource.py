"""YAML documents that remember where each value stood, so errors can name file and line."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from conformance.errors import SuiteError

YamlPath = tuple[str | int, ...]


@dataclass(frozen=True)
class SourcedDocument:
    path: Path
    data: Any
    lines: dict[YamlPath, int]  # 1-based line of each mapping key / sequence item

    def line_of(self, where: YamlPath) -> int | None:
        # An error deep inside a value is reported at the nearest enclosing node we know.
        for cut in range(len(where), -1, -1):
            line = self.lines.get(tuple(where[:cut]))
            if line is not None:
                return line
        return None

    def error(self, where: YamlPath, expected: str) -> SuiteError:
        return SuiteError(str(self.path), format_path(where), self.line_of(where), expected)


def format_path(where: YamlPath) -> str:
    out = ""
    for part in where:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def load_document(path: Path) -> SourcedDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteError(str(path), "(document)", None, f"a readable file ({exc.strerror})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        raise SuiteError(str(path), "(document)", line, f"valid YAML ({exc.problem})") from None
    if node is None:
        raise SuiteError(str(path), "(document)", 1, "a mapping, found an empty file")
    lines: dict[YamlPath, int] = {(): node.start_mark.line + 1}
    _index(node, (), lines, path)
    data = yaml.safe_load(text)
    return SourcedDocument(path, data, lines)


def _index(node: yaml.Node, where: YamlPath, lines: dict[YamlPath, int], path: Path) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise SuiteError(str(path), format_path(where + (key,)), key_node.start_mark.line + 1,
                                 "each key once in a mapping (duplicate key)")
            seen.add(key)
            lines[where + (key,)] = key_node.start_mark.line + 1
            _index(value_node, where + (key,), lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[where + (i,)] = item.start_mark.line + 1
            _index(item, where + (i,), lines, path)
