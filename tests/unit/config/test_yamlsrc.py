"""gtm.config.yamlsrc: YAML with line numbers, duplicate keys as problems, no YAML 1.1 surprises, never a crash."""
from __future__ import annotations

import time

import pytest

from gtm.config.yamlsrc import LMap, LSeq, load_yaml
from gtm.errors import Problem


def data(text: str):  # type: ignore[no-untyped-def]
    value, problems = load_yaml(text, "f.yaml")
    assert problems == []
    return value


def problems(text: str) -> list[str]:
    return sorted(str(p) for p in load_yaml(text, "f.yaml")[1])


def test_lines_of_mappings_keys_values_and_items() -> None:
    doc = data("a: 1\nb:\n  c: x\n  d:\n    - 1\n    -\n      e: 2\nf: [3,\n  4]\n")
    assert isinstance(doc, LMap) and doc.line == 1
    assert (doc.key_line("a"), doc.value_line("a"), doc.key_line("b"), doc.value_line("b")) == (1, 1, 2, 3)
    assert doc["b"].line == 3 and doc["b"].value_line("d") == 5
    seq = doc["b"]["d"]
    assert isinstance(seq, LSeq) and seq.line == 5 and seq.item_lines == [5, 7]
    assert seq[1].line == 7
    assert doc["f"].item_line(1) == 9 and doc["f"].item_line(5) == 8  # out of range: the list's own line
    assert doc.key_line("missing") == 1 and doc.value_line("missing") == 1


@pytest.mark.parametrize("text, value", [
    ("NO", "NO"), ("no", "no"), ("yes", "yes"), ("on", "on"), ("off", "off"), ("y", "y"),
    ("true", True), ("True", True), ("FALSE", False),
    ("2001:10", "2001:10"), ("1:30", "1:30"), ("2001:db8::1", "2001:db8::1"), ("2024-01-01", "2024-01-01"),
    ("010", "010"), ("0x1f", "0x1f"), ("0o17", "0o17"), ("1_000", "1_000"), ("1e3", "1e3"),
    (".inf", ".inf"), (".nan", ".nan"),
    ("0", 0), ("42", 42), ("-7", -7), ("+7", 7), ("1.5", 1.5), (".5", 0.5), ("2.", 2.0), ("1.5e3", 1500.0),
    ("~", None), ("null", None), ("", None), ("'1'", "1"), ("!!str 1", "1"),
])
def test_implicit_types(text: str, value: object) -> None:
    got = data(f"k: {text}\n")["k"]
    assert got == value and type(got) is type(value)


def test_duplicate_keys_with_paths_anywhere() -> None:
    text = "a: 1\nb:\n  - {x: 1, x: 2}\n  - [{y: 1}, {y: 2, y: 3}]\na: 2\nnull: 1\n~: 2\n1: a\n'1': b\n"
    assert problems(text) == [
        "f.yaml:3: b[0].x: duplicate key (first at line 3)",
        "f.yaml:4: b[1][1].y: duplicate key (first at line 4)",
        "f.yaml:5: a: duplicate key (first at line 1)",
        "f.yaml:7: ~: duplicate key (first at line 6)",
    ]
    value, _ = load_yaml(text, "f.yaml")
    assert value["a"] == 2 and value[1] == "a" and value["1"] == "b"  # 1 and '1' are two keys


def test_merge_keys_are_no_duplicates_and_are_overridden() -> None:
    doc = data("base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\nmany: {<<: [*b, {z: 4}], x: 0}\n")
    assert doc["use"] == {"x": 1, "y": 3} and doc["many"] == {"x": 0, "y": 2, "z": 4}


def test_duplicates_inside_merged_mappings_are_reported_once() -> None:
    assert problems("base: &b {x: 1, x: 2}\nuse: {<<: *b}\nuse2: {<<: *b}\n") == [
        "f.yaml:1: base.x: duplicate key (first at line 1)"]


@pytest.mark.parametrize("text, expected", [
    ("a: [1\n", "f.yaml:2: YAML syntax error: while parsing a flow sequence; expected ',' or ']', but got "
                "'<stream end>'"),
    ("a: 1\n b: 2\n", "f.yaml:2: YAML syntax error: mapping values are not allowed here"),
    ("a: *nope\n", "f.yaml:1: YAML syntax error: found undefined alias 'nope'"),
    ("a: !foo 1\n", "f.yaml:1: YAML syntax error: could not determine a constructor for the tag '!foo'"),
    ("a: 1\n---\nb: 2\n", "f.yaml:2: YAML syntax error: expected a single document in the stream; but found "
                          "another document"),
    ("a: 1\nb: \x01\n", "f.yaml:2: YAML syntax error: character U+0001 is not allowed in YAML text"),
    ("a: '\x07'\n", "f.yaml:1: YAML syntax error: character U+0007 is not allowed in YAML text"),
    ("{[1]: 2}\n", "f.yaml:1: YAML syntax error: a key must be a plain value such as a name"),
    ("? {a: 1}\n: 2\n", "f.yaml:1: YAML syntax error: a key must be a plain value such as a name"),
])
def test_syntax_errors_are_one_problem_with_a_line(text: str, expected: str) -> None:
    value, found = load_yaml(text, "f.yaml")
    assert value is None and [str(p) for p in found] == [expected]


def test_empty_documents() -> None:
    assert load_yaml("", "f.yaml") == (None, [])
    assert load_yaml("# nothing\n\n", "f.yaml") == (None, [])
    assert load_yaml("---\n...\n", "f.yaml") == (None, [])


def test_byte_order_mark_and_crlf() -> None:
    doc = data("\ufeffa: 1\r\nb: 2\r\n")
    assert doc == {"a": 1, "b": 2} and doc.key_line("b") == 2


def test_a_null_key_is_allowed_a_python_tag_is_not() -> None:
    assert data("~: 1\n") == {None: 1}
    assert problems("a: !!python/name:os.system\n") == [
        "f.yaml:1: YAML syntax error: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/name:os.system'"]


def test_alias_bomb_is_cheap() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    lines += ["a10: {" + ", ".join(f"k{j}: *a9" for j in range(10)) + ", k0: 1}"]  # with a duplicate key
    start = time.monotonic()
    value, found = load_yaml("\n".join(lines) + "\n", "f.yaml")
    assert time.monotonic() - start < 1.0
    assert [str(p) for p in found] == ["f.yaml:11: a10.k0: duplicate key (first at line 11)"]
    assert value["a9"][0] is value["a8"]  # shared, never expanded


def test_deep_nesting_is_a_problem_not_a_crash() -> None:
    value, found = load_yaml("a: " + "[" * 3000 + "]" * 3000 + "\n", "f.yaml")
    assert value is None and found == [Problem("f.yaml", 0, "", "YAML syntax error: nested too deeply")]


def test_moderate_nesting_loads() -> None:
    value = data("a: " + "[" * 50 + "]" * 50 + "\n")["a"]
    for _ in range(49):
        assert len(value) == 1
        value = value[0]
    assert value == []
