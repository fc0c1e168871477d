"""Plain JSON data to typed, frozen dataclasses and back, validated all the way down.

The message contracts (:mod:`.messages`) are dataclasses whose fields may be nested
dataclasses (the run plan), lists and mappings of them, enums, unions and the validated id
types. :func:`from_json` checks an untrusted JSON value against such a type and builds it,
refusing unknown fields at every level and naming the path of what is wrong
(``plan.settings.max_rounds``, ``rounds[3].mean``) in a :class:`MessageError`; a value that a
dataclass refuses in ``__post_init__`` is reported at its path too. :func:`to_json` is the
inverse: enums travel as their lower-case names, tuples as lists.

Kept apart from the message catalogue because it is a mechanism, not a contract: nothing in it
knows which messages exist.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from gossipsim.common.errors import InvalidInput
from gossipsim.common.spec.ids import RunId, SimulationId, check_run_id, check_simulation_id


class MessageError(InvalidInput):
    """A message that cannot be decoded or does not match its contract."""


# --- encoding --------------------------------------------------------------------------

_PLAIN = (str, int, float, bool, type(None))


def to_json(value: Any) -> Any:
    """``value`` as plain JSON data: dataclasses as objects, enums by lower-case name."""
    if type(value) in _PLAIN:  # the common case first; an IntEnum is an int, but not plain
        return value
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {key: item if type(item) in _PLAIN else to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [item if type(item) in _PLAIN else to_json(item) for item in value]
    if isinstance(value, _PLAIN):
        return value
    raise TypeError(f"{type(value).__name__} has no JSON form in a message")


# --- decoding --------------------------------------------------------------------------

_ID_CHECKS: dict[Any, Any] = {SimulationId: check_simulation_id, RunId: check_run_id}
_SEQUENCES = (list, tuple, Sequence)
_MAPPINGS = (dict, Mapping)


_FIELDS: dict[type[Any], tuple[tuple[str, Any, bool], ...]] = {}


def _fields(cls: type[Any]) -> tuple[tuple[str, Any, bool], ...]:
    """(name, annotation, required) of every field of the dataclass ``cls``, worked out once."""
    if cls not in _FIELDS:
        hints = typing.get_type_hints(cls)
        _FIELDS[cls] = tuple(
            (
                f.name,
                hints[f.name],
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            )
            for f in dataclasses.fields(cls)
        )
    return _FIELDS[cls]


def _at(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def from_json(value: Any, cls: type[Any], path: str, what: str) -> Any:
    """An instance of the dataclass ``cls`` from a JSON object; ``what`` names it in errors."""
    if not isinstance(value, dict):
        raise MessageError(f"must be an object, got {_json_type(value)}", field=path or None)
    fields = _fields(cls)
    names = [name for name, _, _ in fields]
    for key in value:
        if key not in names:
            raise MessageError(
                f"unknown field of {what}; its fields are: {', '.join(names)}",
                field=_at(path, str(key)),
            )
    arguments = {}
    for name, annotation, required in fields:
        where = _at(path, name)
        if name in value:
            arguments[name] = _value(value[name], annotation, where)
        elif required:
            raise MessageError("is required", field=where)
    try:
        return cls(**arguments)
    except MessageError:
        raise
    except InvalidInput as error:  # refused by the dataclass itself (__post_init__)
        inner = error.field or ""
        message = str(error)[len(inner) + 2 :] if inner else str(error)
        raise MessageError(message, field=_at(path, inner) if inner else path or None) from None


def _value(value: Any, annotation: Any, path: str) -> Any:
    """``value`` checked against ``annotation`` (and converted: objects to dataclasses, names
    to enums, lists to tuples); MessageError at ``path`` when it does not fit."""
    if annotation is Any:
        return value
    check = _ID_CHECKS.get(annotation)
    if check is not None:
        if not isinstance(value, str):
            raise MessageError(f"must be a string, got {_json_type(value)}", field=path)
        try:
            return check(value, path)
        except InvalidInput as error:
            raise MessageError(str(error)[len(path) + 2 :], field=path) from None
    if _is_union(annotation):
        return _union(value, typing.get_args(annotation), path)
    origin = typing.get_origin(annotation)
    if origin in _SEQUENCES:
        return _sequence(value, origin, typing.get_args(annotation), path)
    if origin in _MAPPINGS:
        return _mapping(value, typing.get_args(annotation), path)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _enum(value, annotation, path)
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return from_json(value, annotation, path, path)
    return _scalar(value, annotation, path)


def _union(value: Any, arms: tuple[Any, ...], path: str) -> Any:
    if value is None and type(None) in arms:
        return None
    others = [arm for arm in arms if arm is not type(None)]
    if len(others) == 1:
        return _value(value, others[0], path)
    for arm in others:
        try:
            return _value(value, arm, path)
        except MessageError:
            continue
    allowed = " or ".join(_describe(arm) for arm in arms)
    raise MessageError(f"must be {allowed}, got {_json_type(value)}", field=path)


def _sequence(value: Any, origin: Any, args: tuple[Any, ...], path: str) -> Any:
    if not isinstance(value, list):
        raise MessageError(f"must be an array, got {_json_type(value)}", field=path)
    item = args[0] if args else Any
    plain = _plain_types(item)
    items = [
        element if type(element) in plain else _value(element, item, f"{path}[{index}]")
        for index, element in enumerate(value)
    ]
    return tuple(items) if origin is tuple else items


def _mapping(value: Any, args: tuple[Any, ...], path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MessageError(f"must be an object, got {_json_type(value)}", field=path)
    item = args[1] if len(args) == 2 else Any
    if item is Any:
        return value
    plain = _plain_types(item)
    return {
        key: element if type(element) in plain else _value(element, item, f"{path}.{key}")
        for key, element in value.items()
    }


_PLAIN_TYPES: dict[Any, frozenset[type]] = {}


def _plain_types(annotation: Any) -> frozenset[type]:
    """The JSON value types ``annotation`` takes as they are, with nothing to check or convert:
    the fast path for the many numbers of telemetry (anything else goes through _value)."""
    if annotation not in _PLAIN_TYPES:
        accepted: dict[Any, set[type]] = {
            float: {float, int},
            int: {int},
            str: {str},
            bool: {bool},
            type(None): {type(None)},
        }
        arms = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
        plain: set[type] = set()
        for arm in arms:
            plain |= accepted.get(arm, set())
        _PLAIN_TYPES[annotation] = frozenset(plain)
    return _PLAIN_TYPES[annotation]


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _enum(value: Any, enum_type: type[enum.Enum], path: str) -> enum.Enum:
    members = {member.name.lower(): member for member in enum_type}
    if isinstance(value, str) and value in members:
        return members[value]
    raise MessageError(f"must be one of {', '.join(members)}, got {value!r}"[:300], field=path)


def _scalar(value: Any, annotation: Any, path: str) -> Any:
    if annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        raise MessageError(f"must be a number, got {_json_type(value)}", field=path)
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise MessageError(f"must be an integer, got {_json_type(value)}", field=path)
    if annotation in (str, bool):
        if isinstance(value, annotation):
            return value
        raise MessageError(
            f"must be a {_describe(annotation)}, got {_json_type(value)}", field=path
        )
    raise TypeError(f"messages cannot hold a field of type {annotation!r} ({path})")


def _describe(annotation: Any) -> str:
    """The JSON type an annotation stands for, as error messages name it."""
    names = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
    if annotation in names:
        return names[annotation]
    if annotation in _ID_CHECKS:
        return "string"
    origin = typing.get_origin(annotation)
    if origin in _SEQUENCES:
        return "array"
    if origin in _MAPPINGS or dataclasses.is_dataclass(annotation):
        return "object"
    return getattr(annotation, "__name__", str(annotation))


def _json_type(value: Any) -> str:
    """The JSON type of a decoded value, as error messages name it."""
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    names = {str: "a string", int: "an integer", float: "a number", list: "an array"}
    return names.get(type(value), "an object")
