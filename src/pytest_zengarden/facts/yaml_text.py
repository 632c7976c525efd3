"""YAML files as their programs read them: values, top-level keys in order, and repeated keys with lines.

A YAML mapping that repeats a key is not an error to PyYAML, to Go's ``yaml.v2`` (which k3s reads its
config with) or to Kubernetes' non-strict decoder: each keeps one of the values and drops the other
silently.  The checks must see what was dropped, so this reads the document once through PyYAML's
composer (nodes carry their line) and constructs the values from the same nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml


class YamlTextError(ValueError):
    """The text is not one valid YAML document; ``line`` (1-based) when the parser names one."""

    def __init__(self, problem: str, line: int | None):
        self.problem = problem
        self.line = line
        super().__init__(f"not valid YAML{f' (line {line})' if line else ''}: {problem}")


@dataclass(frozen=True)
class Entry:
    """One top-level ``key: value`` of a mapping document, in file order (repeats kept)."""

    key: str
    value: Any
    line: int
    item_lines: tuple[int, ...] = ()  # the line of each item when the value is a sequence


@dataclass(frozen=True)
class RepeatedKey:
    """A key written more than once in one mapping: ``where`` is the mapping's path (``""`` at the top)."""

    where: str
    key: str
    lines: tuple[int, ...]

    @property
    def path(self) -> str:
        """``where.key`` (or ``key`` at the top level)."""
        return f"{self.where}.{self.key}" if self.where else self.key


@dataclass(frozen=True)
class YamlDoc:
    """A parsed document: ``data`` as ``yaml.safe_load`` gives it (the last of repeated keys wins),
    ``entries`` the top-level mapping's keys in order (``None`` unless the document is a mapping),
    ``repeated`` every key written twice in any mapping of the document."""

    data: Any
    entries: list[Entry] | None
    repeated: list[RepeatedKey]


def parse(text: str) -> YamlDoc:
    """Parse one YAML document (an empty text is ``None``); raise :class:`YamlTextError` if it is not YAML."""
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # the reader checks every character here
        node = loader.get_single_node()
        repeated = _repeated(node, "", set()) if node is not None else []
        entries = None
        if isinstance(node, yaml.MappingNode):
            entries = [
                Entry(
                    str(loader.construct_object(k, deep=True)),
                    loader.construct_object(v, deep=True),
                    _line(k),
                    tuple(_line(i) for i in v.value) if isinstance(v, yaml.SequenceNode) else (),
                )
                for k, v in node.value
                if k.tag != "tag:yaml.org,2002:merge"
            ]
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlTextError(str(exc.problem or exc.context or "unreadable"), _mark_line(mark)) from None
    except yaml.reader.ReaderError as exc:
        # A character YAML refuses (a NUL byte, a control character) has a position, not a mark.
        line = text.count("\n", 0, exc.position) + 1
        raise YamlTextError(f"unacceptable character ({exc.reason})", line) from None
    except yaml.YAMLError as exc:
        raise YamlTextError(type(exc).__name__, None) from None
    finally:
        if loader is not None:
            loader.dispose()
    return YamlDoc(data, entries, sorted(repeated, key=lambda r: r.lines))


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _mark_line(mark: Any) -> int | None:
    return int(mark.line) + 1 if mark is not None else None


def _repeated(node: yaml.Node, where: str, seen_nodes: set[int]) -> list[RepeatedKey]:
    if id(node) in seen_nodes:  # an alias to a node already walked (recursive documents are legal YAML)
        return []
    seen_nodes.add(id(node))
    out: list[RepeatedKey] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[tuple[str, str], list[int]] = {}
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                seen.setdefault((k.tag, k.value), []).append(_line(k))
                out += _repeated(v, f"{where}.{k.value}" if where else str(k.value), seen_nodes)
            else:
                out += _repeated(v, where, seen_nodes)
        out += [RepeatedKey(where, key, tuple(lines)) for (_, key), lines in seen.items() if len(lines) > 1]
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out += _repeated(item, f"{where}[{i}]", seen_nodes)
    return out
