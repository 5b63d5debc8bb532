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
    loader.flatten_mapping(node)  # merge keys (<<) first, so that a key of the mapping overrides a merged one
    out = LMap()
    out.line = node.start_mark.line + 1
    out.key_lines, out.value_lines = {}, {}
    for knode, vnode in node.value:
        key = loader.construct_object(knode, deep=True)
        try:
            hash(key)
        except TypeError:
            key = None
        if key is None and not (isinstance(knode, yaml.ScalarNode) and knode.tag.endswith(":null")):
            raise yaml.constructor.ConstructorError(None, None, "a key must be a plain value such as a name",
                                                    knode.start_mark)
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


def _duplicates(root: yaml.Node, filename: str) -> list[Problem]:
    """Keys given twice in one mapping, with the dotted path of the second one (merged keys do not count).

    Walks the node graph once, in document order (iteratively, each node once: aliases share nodes, and a
    shared node is named by the path of its anchor) so that neither deep nesting nor alias bombs cost more
    than the size of the text.
    """
    problems = []
    seen: set[int] = set()
    todo: list[tuple[yaml.Node, str]] = [(root, "")]
    while todo:
        node, path = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        children: list[tuple[yaml.Node, str]] = []
        if isinstance(node, yaml.SequenceNode):
            children = [(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for knode, vnode in node.value:
                if not isinstance(knode, yaml.ScalarNode):
                    continue  # an error of its own when constructed
                if knode.tag == "tag:yaml.org,2002:merge":
                    children.append((vnode, path))
                    continue
                kpath = f"{path}.{knode.value}" if path else knode.value
                ident = _key_identity(knode)
                if ident in first:
                    problems.append(Problem(filename, knode.start_mark.line + 1, kpath,
                                            f"duplicate key (first at line {first[ident]})"))
                else:
                    first[ident] = knode.start_mark.line + 1
                children.append((vnode, kpath))
        todo += reversed(children)
    return problems


def _key_identity(knode: yaml.ScalarNode) -> Any:
    """What a scalar key constructs to, without constructing it: ``null`` and ``~`` are one key, ``1`` and
    ``"1"`` two (only the resolvers of :class:`_Loader` produce these tags)."""
    tag, text = knode.tag, knode.value
    if tag.endswith(":null"):
        return None
    if tag.endswith(":bool"):
        return text.lower() == "true"
    if tag.endswith(":int"):
        return int(text)
    if tag.endswith(":float"):
        return float(text)
    return (tag, text)


def _reader_line(text: str, e: yaml.reader.ReaderError) -> int:
    return text.count("\n", 0, max(0, e.position)) + 1


def _reader_message(e: yaml.reader.ReaderError) -> str:
    char = e.character if isinstance(e.character, int) else ord(e.character or "\0")
    return f"YAML syntax error: character U+{char:04X} is not allowed in YAML text"


def load_yaml(text: str, filename: str) -> tuple[Any, list[Problem]]:
    """Parse one YAML document; returns (data, problems). Syntax errors and duplicate keys are problems.

    Never raises on bad input: whatever the text, the result is data (None for an empty document or when
    the text cannot be parsed) and the problems found.
    """
    try:
        loader = _Loader(text)  # the reader checks every character here: a control character fails already
    except yaml.reader.ReaderError as e:
        return None, [Problem(filename, _reader_line(text, e), "", _reader_message(e))]
    try:
        node = loader.get_single_node()
        problems = _duplicates(node, filename) if node is not None else []
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        what = "; ".join(x for x in (e.context, e.problem) if x)
        return None, [Problem(filename, line, "", f"YAML syntax error: {what}")]
    except yaml.reader.ReaderError as e:
        return None, [Problem(filename, _reader_line(text, e), "", _reader_message(e))]
    except yaml.YAMLError as e:
        return None, [Problem(filename, 0, "", f"YAML syntax error: {e}")]
    except RecursionError:
        return None, [Problem(filename, 0, "", "YAML syntax error: nested too deeply")]
    finally:
        loader.dispose()
    return data, problems
