"""YAML and JSON documents from outside, read into plain data without trusting them.

Specs and seed resources come from anyone who may submit a simulation, so reading one must not
be the attack. A plain ``yaml.safe_load`` accepts what a hostile document uses against its
reader, and :func:`load_yaml_documents` / :func:`load_json_document` refuse each with the path
of the field and the line where the parser has one:

* **aliases** (``*name``): a few hundred bytes of nested aliases expand to gigabytes as soon
  as anything walks the result (the "billion laughs"); no gossipsim document needs one;
* **nesting deeper than** :data:`MAX_DEPTH` levels: a RecursionError with a traceback,
  otherwise;
* **a key given twice with different values**: YAML and JSON parsers keep the last one
  silently, so what the user sees in the file is not what runs (the error gives the line, not
  the key: a key read from a file is that file's content). The same value twice is accepted;
* **non-finite numbers** (``.nan``, ``.inf``, ``NaN``): they become ``null`` on the wire, and
  ``null`` means "the default";
* **integers outside 64 bits**: they would crash numpy and the message encoder later.

Errors never repeat the document's text: a parser's own message quotes the offending line, which
for a file named by a hostile spec could be anybody's secrets, so only its problem and line
number are kept.
"""

from __future__ import annotations

import json
import math
from typing import Any

import yaml

from gossipsim.common.errors import InvalidInput

__all__ = ["MAX_DEPTH", "load_json_document", "load_yaml_documents"]

MAX_DEPTH = 64
"""Deepest nesting of mappings and lists a document may have (a spec needs fewer than 10)."""

_INT64 = (-(2**63), 2**64 - 1)  # signed or unsigned 64 bits

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_BaseLoader):  # type: ignore[misc]  # the base is picked at import time
    """The safe loader, refusing aliases, deep nesting, duplicate keys and odd numbers."""

    def construct_document(self, node: yaml.Node) -> Any:
        _check_tree(node)
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise _problem("a key must be a scalar", key_node)
            if key in seen and not self._same(seen[key], value_node):
                raise _problem(
                    "a key appears twice in this mapping, with different values", key_node
                )
            seen[key] = value_node
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping

    def _same(self, first: yaml.Node, second: yaml.Node) -> bool:
        """Whether two values are equal: a key repeated with its own value is harmless (one of
        the earlier simulator's Graph resources repeats its ``valueList`` so)."""
        equal: bool = self.construct_object(first, deep=True) == self.construct_object(
            second, deep=True
        )
        return equal


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    value = float(yaml.SafeLoader.construct_yaml_float(loader, node))
    if not math.isfinite(value):
        raise _problem("numbers must be finite (no .nan or .inf)", node)
    return value


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    value = int(yaml.SafeLoader.construct_yaml_int(loader, node))
    if not _INT64[0] <= value <= _INT64[1]:
        raise _problem("integers must fit in 64 bits", node)
    return value


_StrictLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _check_tree(root: yaml.Node) -> None:
    """Refuse aliases (a node reached twice) and nesting deeper than MAX_DEPTH, iteratively."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            # an alias yields its anchor's node again, so the line is the anchor's
            raise _problem(
                "an anchor (&name) here is used by an alias; aliases are not accepted", node
            )
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode | yaml.MappingNode):
            if depth > MAX_DEPTH:
                raise _problem(f"nested deeper than {MAX_DEPTH} levels", node)
            children = (
                node.value
                if isinstance(node, yaml.SequenceNode)
                else [part for pair in node.value for part in pair]
            )
            stack.extend((child, depth + 1) for child in children)


class _DocumentProblem(Exception):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def _problem(message: str, node: yaml.Node) -> _DocumentProblem:
    mark = getattr(node, "start_mark", None)
    return _DocumentProblem(message, None if mark is None else mark.line + 1)


def _where(source: str, line: int | None) -> str:
    return f"{source}, line {line}" if line is not None else source


def load_yaml_documents(text: str, *, source: str, field: str | None = None) -> list[Any]:
    """Every document of a YAML stream; InvalidInput names the source and line, never the text."""
    try:
        return list(yaml.load_all(text, Loader=_StrictLoader))
    except _DocumentProblem as problem:
        raise InvalidInput(f"{_where(source, problem.line)}: {problem}", field=field) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = None if mark is None else mark.line + 1
        what = error.problem or error.context or "malformed"
        raise InvalidInput(
            f"{_where(source, line)}: not valid YAML ({what})", field=field
        ) from None
    except yaml.YAMLError:
        raise InvalidInput(f"{source}: not valid YAML", field=field) from None
    except RecursionError:
        raise InvalidInput(f"{source}: nested too deeply", field=field) from None


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for key, value in pairs:
        if key in mapping and mapping[key] != value:
            raise _DocumentProblem("a key appears twice in one object, with different values", None)
        mapping[key] = value
    return mapping


def _refuse_constant(name: str) -> float:
    raise _DocumentProblem(f"numbers must be finite, got {name}", None)


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _DocumentProblem(f"numbers must be finite, got {text[:20]}", None)
    return value


def _json_int(text: str) -> int:
    value = int(text)
    if not _INT64[0] <= value <= _INT64[1]:
        raise _DocumentProblem("integers must fit in 64 bits", None)
    return value


def _json_depth(value: Any) -> int:
    depth, level = 0, [value]
    while level:
        depth += 1
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
    return depth


def load_json_document(text: str, *, source: str, field: str | None = None) -> Any:
    """A JSON document, held to the same rules as YAML ones."""
    try:
        document = json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_constant=_refuse_constant,
            parse_float=_json_float,
            parse_int=_json_int,
        )
    except _DocumentProblem as problem:
        raise InvalidInput(f"{source}: {problem}", field=field) from None
    except json.JSONDecodeError as error:
        where = _where(source, error.lineno)
        raise InvalidInput(f"{where}: not valid JSON ({error.msg})", field=field) from None
    except RecursionError:
        raise InvalidInput(
            f"{source}: nested deeper than {MAX_DEPTH} levels", field=field
        ) from None
    if _json_depth(document) > MAX_DEPTH:
        raise InvalidInput(f"{source}: nested deeper than {MAX_DEPTH} levels", field=field)
    return document
