"""Message contracts: every command and event gossipsim sends, as versioned frozen dataclasses.

Each message is a JSON object (orjson) with ``kind`` and ``version`` beside its fields, so any
AMQP client can produce one; ``docs/asyncapi.yaml`` describes them all and a test keeps the
document and this module in agreement. Design decisions:

- :func:`decode` validates what arrives from outside, all the way down (:mod:`.codec`):
  nested dataclasses (the :class:`~gossipsim.common.spec.run_plan.RunPlan` of run.start), the
  elements of lists and mappings, enum names, and unknown fields at every level. It raises
  :class:`MessageError` naming the field's path (``plan.settings.max_rounds``,
  ``rounds[3].mean``), which consumers dead-letter with that reason. A value that a
  dataclass refuses in ``__post_init__`` is reported at its path too.
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

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson

from gossipsim.common.documents import load_json_document
from gossipsim.common.errors import InvalidInput
from gossipsim.common.graphs.drawing import GraphDrawing
from gossipsim.common.messaging.codec import MessageError, from_json, to_json
from gossipsim.common.spec.ids import RunId, SimulationId
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
    "RunGraph",
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
    warnings: list[str] = field(default_factory=list)  # e.g. a graph that is not connected


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
class RunGraph(Message):
    """The drawing of a run's graph, for a run with ``visualize`` on a graph small enough to
    draw: sent by a runner before the telemetry of the first such run of that graph in the
    simulation (again after a restart; the collector keeps one per ``graph_key``)."""

    kind: ClassVar[str] = "run.graph"
    simulation_id: SimulationId
    run_id: RunId
    attempt: int = 1
    graph_key: str  # the plan's GraphPlan.key
    drawing: GraphDrawing

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9a-f]{32}", self.graph_key):
            raise InvalidInput("must be 32 lower-case hex digits", field="graph_key")


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
        RunGraph,
        RunCompleted,
        RunFailed,
        SimulationCompleted,
        ResultsStored,
    )
}


# --- encoding and decoding ----------------------------------------------------------


def encode(message: Message) -> bytes:
    body = {"kind": message.kind, "version": VERSION, **to_json(message)}
    return orjson.dumps(body)


def _strict_json(data: bytes) -> Any:
    """The message's JSON, held to the rules of spec files (:mod:`gossipsim.common.documents`):
    orjson alone would keep the last of two equal keys and turn an integer over 64 bits into
    a float, so a forged message could read differently to different consumers."""
    try:
        orjson.loads(data)  # fast, and its errors say where without quoting the body
    except orjson.JSONDecodeError as error:
        raise MessageError(f"not JSON: {error}") from None
    try:
        return load_json_document(data.decode("utf-8"), source="message")
    except InvalidInput as error:
        raise MessageError(str(error)) from None


def decode(data: bytes) -> Message:
    """Parse and validate one message; MessageError names the field that is wrong."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise MessageError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    body = _strict_json(data)
    if not isinstance(body, dict):
        raise MessageError("a message must be a JSON object")
    kind = body.pop("kind", None)
    message_type = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if message_type is None:
        raise MessageError(f"unknown message kind {kind!r}", field="kind")
    version = body.pop("version", None)
    if version != VERSION:
        raise MessageError(f"unsupported version {version!r}; expected {VERSION}", field="version")
    message: Message = from_json(body, message_type, "", kind)
    return message
