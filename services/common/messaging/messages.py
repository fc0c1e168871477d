"""Message contracts: every command and event gossipsim sends, as versioned frozen dataclasses.

Each message is a JSON object (orjson) with ``kind`` and ``version`` beside its fields, so any
AMQP client can produce one; ``docs/asyncapi.yaml`` describes them all and a test keeps the
document and this module in agreement. Design decisions:

- :func:`decode` validates what arrives from outside, all the way down: nested dataclasses
  (the :class:`~gossipsim.common.spec.run_plan.RunPlan` of run.start), the elements of lists
  and mappings, enum names, and unknown fields at every level. It raises :class:`MessageError`
  naming the field's path (``plan.settings.max_rounds``, ``rounds[3].mean``), which consumers
  dead-letter with that reason. A value that a dataclass refuses in ``__post_init__`` is
  reported at its path too.
- Ids are checked at every decode of every message that carries one: a field typed
  :data:`SimulationId` is lower-case letters, digits, ``.`` and ``-``, starting with a letter or
  a digit, at most 128 characters; a :data:`RunId` is letters, digits, ``.``, ``_``, ``=`` and
  ``-``, starting with a letter or a digit, at most 255 characters (the reasons are in
  :mod:`gossipsim.common.spec.ids`). So ``simulation_id: "../../x"`` never reaches a store key.
- On the wire an enum is its lower-case name (``"push_sum"``), a tuple is a list; a float field
  accepts an integer and keeps it, so graph metrics such as ``nodes: 20`` stay integers.
- The run plan is built once, by the spec's expansion, and run.completed and run.failed echo
  the plan of their run.start unchanged, so the collector groups results by exactly what ran.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson

from gossipsim.common.errors import InvalidInput
from gossipsim.common.spec.ids import RunId, SimulationId, check_run_id, check_simulation_id
from gossipsim.common.spec.run_plan import RunPlan

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MESSAGE_TYPES",
    "VERSION",
    "Message",
    "MessageError",
    "ResultsStored",
    "RunCompleted",
    "RunFailed",
    "RunHeartbeat",
    "RunId",
    "RunPlan",
    "RunRound",
    "RunStart",
    "RunStarted",
    "SimulationAccepted",
    "SimulationCancel",
    "SimulationCompleted",
    "SimulationId",
    "SimulationRejected",
    "SimulationSubmit",
    "decode",
    "encode",
    "to_json",
]

VERSION = 1
MAX_MESSAGE_BYTES = 8 * 1024 * 1024


class MessageError(InvalidInput):
    """A message that cannot be decoded or does not match its contract."""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _message_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Fields every message carries. ``message_id`` makes redelivered copies recognisable."""

    kind: ClassVar[str] = ""
    message_id: str = field(default_factory=_message_id)
    sent_at: str = field(default_factory=_now)


# --- commands --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationSubmit(Message):
    """Run a simulation. ``spec`` is a simulation spec or a seed ``Simulation`` resource."""

    kind: ClassVar[str] = "simulation.submit"
    spec: dict[str, Any]
    simulation_id: SimulationId | None = None  # None: derived from the spec (idempotent)
    graphs_dir: str = ""  # where a seed Simulation's Graph resources are


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationCancel(Message):
    """Stop a simulation: it completes as cancelled, and runners stop its runs."""

    kind: ClassVar[str] = "simulation.cancel"
    simulation_id: SimulationId
    reason: str = ""


# --- work ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStart(Message):
    """One run: its plan (graph, algorithm, parameters, repetition, seed, execution settings)."""

    kind: ClassVar[str] = "run.start"
    simulation_id: SimulationId
    run_id: RunId
    attempt: int = 1
    plan: RunPlan


# --- events ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationAccepted(Message):
    """A submitted simulation is valid; its runs are being published."""

    kind: ClassVar[str] = "simulation.accepted"
    simulation_id: SimulationId
    runs_total: int
    name: str = ""
    spec: dict[str, Any] = field(default_factory=dict)  # as submitted


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationRejected(Message):
    """A submitted simulation is invalid: ``field`` is the path of the culprit in the spec."""

    kind: ClassVar[str] = "simulation.rejected"
    simulation_id: SimulationId
    field: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(Message):
    """A runner has taken a run's command and started it."""

    kind: ClassVar[str] = "run.started"
    simulation_id: SimulationId
    run_id: RunId
    attempt: int = 1
    runner: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunHeartbeat(Message):
    """A long run is alive. Sent only once the runner has acked the run's command early (so
    the broker's consumer timeout cannot cut it off); the scheduler then holds a lease on the
    runner's heartbeats and starts the run again if they stop."""

    kind: ClassVar[str] = "run.heartbeat"
    simulation_id: SimulationId
    run_id: RunId
    attempt: int = 1
    runner: str = ""
    rounds_done: int = 0


# One round's telemetry: aggregates by name (null where undefined) and, on sampled rounds,
# ``history``: the values of the sampled vertices.
RoundTelemetry = Mapping[str, float | list[float] | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRound(Message):
    """Telemetry of consecutive rounds, batched: ``rounds[k]`` describes round first_round + k."""

    kind: ClassVar[str] = "run.round"
    simulation_id: SimulationId
    run_id: RunId
    attempt: int = 1
    first_round: int
    rounds: Sequence[RoundTelemetry]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCompleted(Message):
    """A run finished; ``plan`` is its run.start's (None only from a producer that has none)."""

    kind: ClassVar[str] = "run.completed"
    simulation_id: SimulationId
    run_id: RunId
    attempt: int = 1
    rounds: int
    converged: bool
    final: Mapping[str, float | None] = field(default_factory=dict)  # the last round's
    duration_s: float = 0.0
    plan: RunPlan | None = None
    metrics: Mapping[str, float | None] = field(default_factory=dict)  # the graph's


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFailed(Message):
    """A run failed; ``plan`` is its run.start's (None only from a producer that has none)."""

    kind: ClassVar[str] = "run.failed"
    simulation_id: SimulationId
    run_id: RunId
    attempt: int = 1
    error: str
    retryable: bool = True
    plan: RunPlan | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationCompleted(Message):
    """Every run of a simulation has completed or failed for good (or it was cancelled)."""

    kind: ClassVar[str] = "simulation.completed"
    simulation_id: SimulationId
    runs_total: int
    succeeded: int
    failed: int
    cancelled: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ResultsStored(Message):
    """A simulation's tables and manifest are stored at ``location``."""

    kind: ClassVar[str] = "results.stored"
    simulation_id: SimulationId
    location: str


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.kind: cls
    for cls in (
        SimulationSubmit,
        SimulationCancel,
        RunStart,
        SimulationAccepted,
        SimulationRejected,
        RunStarted,
        RunHeartbeat,
        RunRound,
        RunCompleted,
        RunFailed,
        SimulationCompleted,
        ResultsStored,
    )
}


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


def encode(message: Message) -> bytes:
    body = {"kind": message.kind, "version": VERSION, **to_json(message)}
    return orjson.dumps(body)


# --- decoding --------------------------------------------------------------------------

_ID_CHECKS: dict[Any, Any] = {SimulationId: check_simulation_id, RunId: check_run_id}
_SEQUENCES = (list, tuple, Sequence)
_MAPPINGS = (dict, Mapping)


def decode(data: bytes) -> Message:
    """Parse and validate one message; MessageError names the field that is wrong."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise MessageError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise MessageError(f"not JSON: {error}") from None
    if not isinstance(body, dict):
        raise MessageError("a message must be a JSON object")
    kind = body.pop("kind", None)
    message_type = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if message_type is None:
        raise MessageError(f"unknown message kind {kind!r}", field="kind")
    version = body.pop("version", None)
    if version != VERSION:
        raise MessageError(f"unsupported version {version!r}; expected {VERSION}", field="version")
    message: Message = _dataclass(body, message_type, "", kind)
    return message


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


def _dataclass(value: Any, cls: type[Any], path: str, what: str) -> Any:
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
        return _dataclass(value, annotation, path, path)
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
