"""YAML with line numbers, duplicate-key detection and without YAML 1.1's surprises.

Mappings load as :class:`LMap` and sequences as :class:`LSeq`, which remember the 1-based line of the node,
of each key and of each item, so that validation can say ``file:line: path: what``. Implicit typing is cut
down to what a config needs: ``true``/``false`` (not ``yes``/``no``/``on``/``off``: ``country: NO`` is Norway),
decimal integers and floats, ``null``; no sexagesimal numbers (``2001:10`` stays a string) and no timestamps.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

from gtm.errors import Problem


class LMap(dict):  # type: ignore[type-arg]
    """A mapping that knows where it, its keys and its values start."""

    line: int = 0
    key_lines: dict[Any, int]
    value_lines: dict[Any, int]

    def key_line(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)

    def value_line(self, key: Any) -> int:
        return self.value_lines.get(key, self.key_line(key))


class LSeq(list):  # type: ignore[type-arg]
    """A sequence that knows where it and each item start."""

    line: int = 0
    item_lines: list[int]

    def item_line(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


def line_of(value: Any, default: int = 0) -> int:
    return int(getattr(value, "line", default) or default)


class _Loader(yaml.SafeLoader):
    pass


_KEEP = {"tag:yaml.org,2002:null", "tag:yaml.org,2002:merge"}
_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag in _KEEP]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"),
                              list("-+0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"),
                              list("-+0123456789."))


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> LMap:
    loader.flatten_mapping(node)
    out = LMap()
    out.line = node.start_mark.line + 1
    out.key_lines, out.value_lines = {}, {}
    for knode, vnode in node.value:
        key = loader.construct_object(knode, deep=True)
        if isinstance(key, (list, dict)):
            raise yaml.constructor.ConstructorError(None, None, "a key must be a plain value", knode.start_mark)
        if key in out:
            loader.duplicates.append((knode.start_mark.line + 1, key, out.key_lines[key]))
        out[key] = loader.construct_object(vnode, deep=True)
        out.key_lines[key] = knode.start_mark.line + 1
        out.value_lines[key] = vnode.start_mark.line + 1
    return out


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> LSeq:
    out = LSeq(loader.construct_object(n, deep=True) for n in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [n.start_mark.line + 1 for n in node.value]
    return out


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def load_yaml(text: str, filename: str) -> tuple[Any, list[Problem]]:
    """Parse one YAML document; returns (data, problems). Syntax errors and duplicate keys are problems."""
    loader = _Loader(text)
    loader.duplicates = []  # type: ignore[attr-defined]
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        what = " ".join(x for x in (e.context, e.problem) if x)
        return None, [Problem(filename, line, "", f"YAML syntax error: {what}")]
    except yaml.YAMLError as e:
        return None, [Problem(filename, 0, "", f"YAML error: {e}")]
    finally:
        loader.dispose()
    problems = [Problem(filename, line, str(key), f"duplicate key (first at line {first})")
                for line, key, first in loader.duplicates]  # type: ignore[attr-defined]
    return data, problems
