"""Message contracts: every command and event gossipsim sends, as versioned frozen dataclasses.

Each message is a JSON object (orjson) with ``kind`` and ``version`` beside its fields, so any
AMQP client can produce one; ``docs/asyncapi.yaml`` describes them all and a test keeps the
document and this module in agreement. :func:`decode` validates what arrives from outside and
raises :class:`MessageError` naming the field, which consumers dead-letter with that reason.
"""

from __future__ import annotations

import dataclasses
import types
import typing
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, NewType

import orjson

from gossipsim.common.errors import InvalidInput

SimulationId = NewType("SimulationId", str)
RunId = NewType("RunId", str)

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
    simulation_id: str = ""  # empty: derived from the spec, so resubmitting is idempotent
    graphs_dir: str = ""  # where a seed Simulation's Graph resources are


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationCancel(Message):
    kind: ClassVar[str] = "simulation.cancel"
    simulation_id: str
    reason: str = ""


# --- work ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStart(Message):
    """One run: a graph, an algorithm with its parameters, a repetition, execution settings."""

    kind: ClassVar[str] = "run.start"
    simulation_id: str
    run_id: str
    attempt: int = 1
    graph_name: str
    graph: dict[str, Any]  # a graph source (see gossipsim.common.graphs.sources.load_graph)
    algorithm: dict[str, Any]  # name and/or rule, selection, memory, mode, order
    parameters: dict[str, float] = field(default_factory=dict)
    repetition: int = 0
    seed: int = 0
    settings: dict[str, Any] = field(default_factory=dict)


# --- events ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationAccepted(Message):
    kind: ClassVar[str] = "simulation.accepted"
    simulation_id: str
    runs_total: int
    name: str = ""
    spec: dict[str, Any] = field(default_factory=dict)  # as submitted


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationRejected(Message):
    kind: ClassVar[str] = "simulation.rejected"
    simulation_id: str
    field: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(Message):
    kind: ClassVar[str] = "run.started"
    simulation_id: str
    run_id: str
    attempt: int = 1
    runner: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunHeartbeat(Message):
    """A long run is alive. Sent only once the runner has acked the run's command early (so
    the broker's consumer timeout cannot cut it off); the scheduler then holds a lease on the
    runner's heartbeats and starts the run again if they stop."""

    kind: ClassVar[str] = "run.heartbeat"
    simulation_id: str
    run_id: str
    attempt: int = 1
    runner: str = ""
    rounds_done: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRound(Message):
    """Telemetry of consecutive rounds, batched: ``rounds[k]`` describes round first_round + k."""

    kind: ClassVar[str] = "run.round"
    simulation_id: str
    run_id: str
    attempt: int = 1
    first_round: int
    rounds: list[dict[str, float]]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCompleted(Message):
    kind: ClassVar[str] = "run.completed"
    simulation_id: str
    run_id: str
    attempt: int = 1
    rounds: int
    converged: bool
    final: dict[str, float] = field(default_factory=dict)
    duration_s: float = 0.0
    plan: dict[str, Any] = field(default_factory=dict)  # graph, algorithm, parameters, repetition
    metrics: dict[str, Any] = field(default_factory=dict)  # the graph's metrics


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFailed(Message):
    kind: ClassVar[str] = "run.failed"
    simulation_id: str
    run_id: str
    attempt: int = 1
    error: str
    retryable: bool = True
    plan: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationCompleted(Message):
    kind: ClassVar[str] = "simulation.completed"
    simulation_id: str
    runs_total: int
    succeeded: int
    failed: int
    cancelled: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ResultsStored(Message):
    kind: ClassVar[str] = "results.stored"
    simulation_id: str
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


def encode(message: Message) -> bytes:
    body = {"kind": message.kind, "version": VERSION, **dataclasses.asdict(message)}
    return orjson.dumps(body)


def _check_type(value: Any, annotation: Any, path: str) -> None:
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return
    if origin in (dict, list):
        expected = origin
    elif origin in (typing.Union, types.UnionType):
        expected = tuple(typing.get_origin(a) or a for a in typing.get_args(annotation))
    else:
        expected = annotation
    if expected is float:
        expected = (int, float)
    if isinstance(value, bool) and expected in (int, (int, float)):
        raise MessageError("must be a number, got a boolean", field=path)
    if not isinstance(value, expected):
        raise MessageError(
            f"must be of type {getattr(annotation, '__name__', annotation)}, "
            f"got {type(value).__name__}",
            field=path,
        )


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
    hints = typing.get_type_hints(message_type)
    fields = {f.name: f for f in dataclasses.fields(message_type)}
    unknown = set(body) - set(fields)
    if unknown:
        raise MessageError(f"unknown field(s): {', '.join(sorted(unknown))}", field=kind)
    for name, spec in fields.items():
        if name not in body:
            required = (
                spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
            )
            if required:
                raise MessageError("is required", field=name)
            continue
        _check_type(body[name], hints[name], name)
    return message_type(**body)
