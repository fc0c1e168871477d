"""The scheduler's status document: one JSON object per simulation in the object store.

The scheduler writes it (and a restarted scheduler rebuilds its state from it); ``gossipsim
status`` and the Kubernetes resource watcher read it. Its key and shape are defined here once:

    scheduler/simulations/<simulation-id>.json

    {"simulation_id", "name", "phase": running|completed|cancelled|rejected, "runs_total",
     "counts": {"queued", "running", "completed", "failed"},
     "submitted_at", "finished_at" (or null), "results": location ("" until stored),
     "spec", "graphs_dir", "published",
     "runs": {"<run>": {"status", "attempt", "error", "leased"}},
     "rejected": {"field", "reason"} (a rejected submission only, which has no runs)}

Phase "completed" means every run has finished; the results are stored once ``results`` is
set. Readers take documents leniently (:func:`read_status`): a missing field shows as a default
and an unreadable document as phase "unreadable" with an error, because the status command is
what an operator reaches for when something is wrong.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

import orjson

from gossipsim.common.storage.store import check_key

STATUS_PREFIX = "scheduler/simulations/"

Phase = Literal["running", "completed", "cancelled", "rejected"]
RUNNING: Phase = "running"
COMPLETED: Phase = "completed"
CANCELLED: Phase = "cancelled"
REJECTED: Phase = "rejected"
UNREADABLE = "unreadable"  # a reader's phase for a document it cannot parse
FINISHED_PHASES = (COMPLETED, CANCELLED)


class RunStatus(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


RUN_STATUSES = tuple(status.value for status in RunStatus)  # the keys of "counts"


class RunEntry(TypedDict):
    status: str  # a RunStatus value
    attempt: int
    error: str
    leased: bool  # acked early and kept by heartbeats


class Rejection(TypedDict):
    field: str
    reason: str


class StatusDocument(TypedDict, total=False):
    """The stored document; a rejected submission's lacks spec, graphs_dir and published."""

    simulation_id: str
    name: str
    phase: Phase
    runs_total: int
    counts: dict[str, int]
    submitted_at: str
    finished_at: str | None
    results: str
    spec: dict[str, Any]
    graphs_dir: str
    published: bool  # every run.start of the first attempts is with the broker
    runs: dict[str, RunEntry]
    rejected: Rejection


def check_simulation_id(simulation_id: str) -> None:
    """ValueError unless the id can be one key segment (no '/', not '.' or '..')."""
    if "/" in simulation_id or simulation_id in ("", ".", ".."):
        raise ValueError(f"invalid simulation id {simulation_id!r}: not a single name")


def status_key(simulation_id: str) -> str:
    """The store key of a simulation's document; ValueError for an id that is no key."""
    check_simulation_id(simulation_id)
    key = f"{STATUS_PREFIX}{simulation_id}.json"
    check_key(key)
    return key


def simulation_id_of(key: str) -> str:
    """The simulation id a status key names."""
    return key.removeprefix(STATUS_PREFIX).removesuffix(".json")


def encode(document: StatusDocument) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationStatus:
    """A status document as read, every field typed; ``document`` is the object as stored."""

    simulation_id: str
    name: str
    phase: str  # a Phase, or UNREADABLE; "" if the document has none
    runs_total: int | None
    counts: dict[str, int]  # one entry per RUN_STATUSES
    submitted_at: str
    finished_at: str
    results: str
    runs: dict[str, dict[str, Any]]  # run id -> its entry as stored (entries that are objects)
    rejected: Rejection | None
    error: str = ""  # why the document could not be read
    document: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, document: dict[str, Any]) -> SimulationStatus:
        counts = document.get("counts")
        counts = counts if isinstance(counts, dict) else {}
        runs = document.get("runs")
        runs = runs if isinstance(runs, dict) else {}
        rejected = document.get("rejected")
        rejected = rejected if isinstance(rejected, dict) else {}
        return cls(
            simulation_id=str(document.get("simulation_id", "?")),
            name=_text(document.get("name")),
            phase=_text(document.get("phase")),
            runs_total=_int(document.get("runs_total")),
            counts={name: _int(counts.get(name)) or 0 for name in RUN_STATUSES},
            submitted_at=_text(document.get("submitted_at")),
            finished_at=_text(document.get("finished_at")),
            results=_text(document.get("results")),
            runs={str(k): v for k, v in runs.items() if isinstance(v, dict)},
            rejected=Rejection(
                field=str(rejected.get("field") or ""), reason=str(rejected.get("reason") or "")
            )
            if document.get("phase") == REJECTED
            else None,
            error=_text(document.get("error")),
            document=document,
        )

    @property
    def done(self) -> int:
        return self.counts["completed"] + self.counts["failed"]


def read_status(key: str, data: bytes) -> SimulationStatus:
    """The document stored at ``key``; one that is no JSON object reads as phase unreadable."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        document = None
        problem = f"not JSON: {error}"
    else:
        problem = "not a JSON object"
    if not isinstance(document, dict):
        document = {"simulation_id": simulation_id_of(key), "phase": UNREADABLE, "error": problem}
    return SimulationStatus.of(document)
