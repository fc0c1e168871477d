"""Small checks shared by the spec modules, each raising :class:`InvalidInput` at a path.

A message says what is wrong and what is accepted, and never repeats the path: ``InvalidInput``
prefixes it. :func:`refield` moves an error found by lower-level code (``load_graph``,
``resolve_algorithm``), which knows only its own paths, to where the spec holds the culprit.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from gossipsim.common.errors import AlgorithmError, GraphError, InvalidInput, SpecProblems
from gossipsim.common.graphs.limits import is_int

__all__ = [
    "Problems",
    "check_bool",
    "check_choice",
    "check_int",
    "check_keys",
    "check_list",
    "check_number",
    "get",
    "refield",
    "safe_id",
]

T = TypeVar("T")
D = TypeVar("D")

_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def safe_id(text: str) -> str:
    """``text`` with every run of characters outside ``A-Za-z0-9._=-`` replaced by ``-``."""
    return _UNSAFE.sub("-", text)


def get(doc: Mapping[str, Any], key: str, default: Any) -> Any:
    """``doc[key]``, where a missing key and an empty YAML value (null) both mean the default."""
    value = doc.get(key)
    return default if value is None else value


def check_keys(doc: Mapping[Any, Any], allowed: Iterable[str], prefix: str) -> None:
    """Refuse keys outside ``allowed``, suggesting the closest allowed one."""
    allowed = list(allowed)
    for key in doc:
        if key in allowed:
            continue
        path = f"{prefix}.{key}" if prefix else str(key)
        close = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InvalidInput(f"unknown key {key!r}{hint}; allowed: {', '.join(allowed)}", field=path)


def check_int(value: object, field: str, low: int, high: int) -> int:
    if not is_int(value) or not low <= value <= high:
        raise InvalidInput(f"must be an integer in {low}..{high:,}; got {value!r}", field=field)
    return int(value)


def check_bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"must be true or false, got {value!r}", field=field)
    return value


def check_choice(value: object, field: str, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    if value not in allowed:
        close = difflib.get_close_matches(str(value), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InvalidInput(
            f"unknown value {value!r}{hint}; expected one of: {', '.join(allowed)}", field=field
        )
    return str(value)


def check_number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"must be a finite number, got {value!r}", field=field)
    return float(value)


def check_list(value: object, field: str, what: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple) or not value:
        raise InvalidInput(f"must be a non-empty list of {what}, got {value!r}", field=field)
    return value


def refield(exc: InvalidInput, field: str | None) -> InvalidInput:
    """The same error (same class, same message) reported at another path."""
    if isinstance(exc, SpecProblems):
        raise TypeError("move each of a SpecProblems's problems on its own")
    message = str(exc)
    if exc.field and message.startswith(f"{exc.field}: "):
        message = message[len(exc.field) + 2 :]
    cls = type(exc) if type(exc) in (InvalidInput, GraphError, AlgorithmError) else InvalidInput
    return cls(message, field=field)


class Problems:
    """The problems found in one input, collected so that all of them are reported at once
    (:class:`SpecProblems`) instead of the first alone."""

    def __init__(self) -> None:
        self.found: list[InvalidInput] = []

    def attempt(self, check: Callable[[], T], default: D) -> T | D:
        """``check()``, or ``default`` once its problems are recorded."""
        try:
            return check()
        except InvalidInput as error:
            self.add(error)
            return default

    def add(self, error: InvalidInput) -> None:
        self.found.extend(error.problems if isinstance(error, SpecProblems) else [error])

    def raise_any(self) -> None:
        """The one problem as it is, several as one :class:`SpecProblems`; nothing if none."""
        if len(self.found) == 1:
            raise self.found[0]
        if self.found:
            raise SpecProblems(self.found)
