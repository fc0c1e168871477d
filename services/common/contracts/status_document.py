"""The scheduler's status of each simulation in the object store: a small summary document
per simulation, beside its run table in chunks and its spec.

The scheduler writes them (and a restarted scheduler rebuilds its state from them); ``gossipsim
status``, the Kubernetes resource watcher and the collector read them. Keys and shapes are
defined here once:

    scheduler/simulations/<simulation-id>.json         the summary, rewritten per group commit

    {"simulation_id", "name", "phase": running|completed|cancelled|rejected, "runs_total",
     "counts": {"queued", "running", "completed", "failed"},
     "submitted_at", "finished_at" (or null), "results": location ("" until stored),
     "graphs_dir", "published", "spec_digest",
     "run_table": {"chunk_size", "chunks"},
     "failed_runs": {"<run>": {"attempt", "error"}} (the first FAILED_RUNS_KEPT to fail),
     "rejected": {"field", "reason"} (a rejected submission only, which has no runs)}

    scheduler/specs/<simulation-id>.json               the spec as accepted, written once
    scheduler/runs/<simulation-id>/<chunk>.json        {"simulation_id", "chunk",
                                                        "runs": {"<run>": {"status", "attempt",
                                                                           "error", "leased"}}}

Why in pieces: a sweep of 10^6 runs has a run table of ~100 MiB, and rewriting it whole for
every batch of events made the scheduler's cost per event grow with the sweep. Chunk ``k``
holds the runs at positions ``k × chunk_size …`` of the plan's order (the spec's expansion,
which is deterministic); a group commit rewrites only the chunks whose runs changed, then the
summary. Runs are published in plan order and finish roughly in it, so a commit touches one or
two chunks. Every chunk is written once when the simulation is accepted, before any of its
runs is published: the run table is also the list of run ids the scheduler planned, which the
collector trusts (:func:`read_accepted_plan`) instead of what a message claims.

Documents written before the run table was split have ``spec`` and ``runs`` inline and no
``run_table``; every reader here takes both forms (:func:`read_runs`, :func:`read_spec`).

Phase "completed" means every run has finished; the results are stored once ``results`` is
set. The scheduler stores a finished phase before it publishes ``simulation.completed``, so the
collector can check a completion against it. Readers take documents leniently
(:func:`read_status`): a missing field shows as a default and an unreadable document as phase
"unreadable" with an error, because the status command is what an operator reaches for when
something is wrong.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

import orjson

from gossipsim.common.spec.simulation_spec import canonical_json
from gossipsim.common.storage.store import ObjectNotFound, ObjectStore, check_key

STATUS_PREFIX = "scheduler/simulations/"
SPECS_PREFIX = "scheduler/specs/"
RUNS_PREFIX = "scheduler/runs/"
RUN_CHUNK_SIZE = 1000  # runs per chunk of the run table: ~100 KiB of JSON
FAILED_RUNS_KEPT = 20  # failed runs the summary names (the run table has every one)
ERROR_KEPT = 1000  # characters of a run's error the state keeps
CHUNKS_READ_AT_ONCE = 16  # chunks of a run table read concurrently

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


class FailedRun(TypedDict):
    attempt: int
    error: str


class Rejection(TypedDict):
    field: str
    reason: str


class RunTable(TypedDict):
    chunk_size: int
    chunks: int


class RunChunk(TypedDict):
    simulation_id: str
    chunk: int
    runs: dict[str, RunEntry]


class StatusDocument(TypedDict, total=False):
    """The stored summary; a rejected submission's lacks graphs_dir, published and the rest.
    ``spec`` and ``runs`` are in documents of the earlier layout only (read, never written)."""

    simulation_id: str
    name: str
    phase: Phase
    runs_total: int
    counts: dict[str, int]
    submitted_at: str
    finished_at: str | None
    results: str
    graphs_dir: str
    published: bool  # every run.start of the first attempts is with the broker
    spec_digest: str  # of spec and graphs_dir: a resubmission with another is refused
    # runs counted completed above whose results never reached the collector (their telemetry
    # or completion was dead-lettered): failed in the manifest, and in every reading of this
    results_lost: int
    run_table: RunTable
    failed_runs: dict[str, FailedRun]
    rejected: Rejection
    spec: dict[str, Any]  # the earlier layout
    runs: dict[str, RunEntry]  # the earlier layout


def check_simulation_id(simulation_id: str) -> None:
    """ValueError unless the id can be one key segment (no '/', not '.' or '..')."""
    if "/" in simulation_id or simulation_id in ("", ".", ".."):
        raise ValueError(f"invalid simulation id {simulation_id!r}: not a single name")


def status_key(simulation_id: str) -> str:
    """The store key of a simulation's summary; ValueError for an id that is no key."""
    check_simulation_id(simulation_id)
    key = f"{STATUS_PREFIX}{simulation_id}.json"
    check_key(key)
    return key


def spec_key(simulation_id: str) -> str:
    """The store key of the spec a simulation was accepted with."""
    check_simulation_id(simulation_id)
    return f"{SPECS_PREFIX}{simulation_id}.json"


def run_chunk_key(simulation_id: str, chunk: int) -> str:
    """The store key of chunk ``chunk`` of a simulation's run table."""
    check_simulation_id(simulation_id)
    return f"{RUNS_PREFIX}{simulation_id}/{chunk:06d}.json"


def chunk_count(runs_total: int) -> int:
    return -(-runs_total // RUN_CHUNK_SIZE)


def simulation_id_of(key: str) -> str:
    """The simulation id a status key names."""
    return key.removeprefix(STATUS_PREFIX).removesuffix(".json")


def is_status_key(key: str) -> bool:
    """Whether a key listed under STATUS_PREFIX is a summary (nothing else is kept there)."""
    return key.endswith(".json") and "/" not in key.removeprefix(STATUS_PREFIX)


def spec_digest(spec: Mapping[str, Any], graphs_dir: str) -> str:
    """What identifies a submission: the spec (keys sorted) and the graphs directory. The same
    id submitted again with the same digest is a redelivery; with another, a different
    simulation under an id in use."""
    canonical = canonical_json({"spec": spec, "graphs_dir": graphs_dir})
    return hashlib.blake2b(canonical, digest_size=16).hexdigest()


def stored_digest(document: Mapping[str, Any]) -> str:
    """The spec digest of an accepted simulation's summary; a document of the earlier layout
    has none, but has its spec and graphs directory inline."""
    digest = document.get("spec_digest")
    if isinstance(digest, str) and digest:
        return digest
    spec = document.get("spec")
    graphs_dir = document.get("graphs_dir")
    return spec_digest(
        spec if isinstance(spec, Mapping) else {},
        graphs_dir if isinstance(graphs_dir, str) else "",
    )


def encode(document: Mapping[str, Any]) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)


async def _get_json(store: ObjectStore, key: str) -> Any:
    """The JSON stored at ``key``; None if there is none or it is not JSON."""
    try:
        return orjson.loads(await store.get(key))
    except (ObjectNotFound, orjson.JSONDecodeError):
        return None


async def read_summary(store: ObjectStore, simulation_id: str) -> dict[str, Any] | None:
    """A simulation's summary document as stored; None if there is none (or no JSON object)."""
    document = await _get_json(store, status_key(simulation_id))
    return document if isinstance(document, dict) else None


async def read_spec(store: ObjectStore, document: Mapping[str, Any]) -> dict[str, Any] | None:
    """The spec a simulation was accepted with (inline in a document of the earlier layout)."""
    inline = document.get("spec")
    if isinstance(inline, dict):
        return inline
    spec = await _get_json(store, spec_key(str(document.get("simulation_id", ""))))
    return spec if isinstance(spec, dict) else None


async def read_runs(store: ObjectStore, document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every run's entry: from the run table's chunks, or inline in a document of the earlier
    layout. A chunk that is missing or unreadable contributes nothing (its runs read as
    queued, first attempt, to whoever rebuilds from this)."""
    inline = document.get("runs")
    if "run_table" not in document:
        return (
            {str(k): v for k, v in inline.items() if isinstance(v, dict)}
            if isinstance(inline, dict)
            else {}
        )
    table = document["run_table"]
    chunks = table.get("chunks") if isinstance(table, Mapping) else None
    simulation_id = str(document.get("simulation_id", ""))
    keys = [
        run_chunk_key(simulation_id, k) for k in range(chunks if isinstance(chunks, int) else 0)
    ]
    runs: dict[str, dict[str, Any]] = {}
    for first in range(0, len(keys), CHUNKS_READ_AT_ONCE):  # an S3 round trip each: overlap them
        batch = keys[first : first + CHUNKS_READ_AT_ONCE]
        for stored in await asyncio.gather(*(_get_json(store, key) for key in batch)):
            entries = stored.get("runs") if isinstance(stored, dict) else None
            if isinstance(entries, dict):
                runs.update((str(k), v) for k, v in entries.items() if isinstance(v, dict))
    return runs


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptedPlan:
    """What the scheduler accepted of a simulation, as the collector needs it: the run ids it
    planned (events of other runs are forged or stray) and what the manifest records."""

    simulation_id: str
    name: str
    spec: dict[str, Any]
    runs_total: int
    run_ids: Collection[str]
    accepted_at: str | None


async def read_accepted_plan(store: ObjectStore, simulation_id: str) -> AcceptedPlan | None:
    """The accepted simulation's plan as the scheduler stored it; None for a simulation it
    never accepted (no summary, a rejected one, or one whose run table is not complete)."""
    document = await read_summary(store, simulation_id)
    if document is None or document.get("phase") not in (RUNNING, *FINISHED_PHASES):
        return None
    runs_total = _int(document.get("runs_total"))
    run_ids = frozenset(await read_runs(store, document))
    if runs_total is None or len(run_ids) != runs_total:
        return None  # stored half-way (a crash while accepting): not accepted yet
    return AcceptedPlan(
        simulation_id=simulation_id,
        name=_text(document.get("name")),
        spec=await read_spec(store, document) or {},
        runs_total=runs_total,
        run_ids=run_ids,
        accepted_at=_text(document.get("submitted_at")) or None,
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _failed_runs(document: Mapping[str, Any], runs: Mapping[str, Any]) -> dict[str, FailedRun]:
    """The failed runs a summary names, or (earlier layout) those of its inline run table."""
    named = document.get("failed_runs")
    if isinstance(named, dict):
        entries = {str(k): v for k, v in named.items() if isinstance(v, dict)}
    else:
        entries = {k: v for k, v in runs.items() if v.get("status") == "failed"}
    return {
        run_id: FailedRun(attempt=_int(entry.get("attempt")) or 0, error=_text(entry.get("error")))
        for run_id, entry in entries.items()
    }


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
    runs: dict[str, dict[str, Any]]  # inline run entries (earlier layout) as stored
    failed_runs: dict[str, FailedRun]  # those the document names (not all: see counts)
    rejected: Rejection | None
    error: str = ""  # why the document could not be read
    document: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, document: dict[str, Any]) -> SimulationStatus:
        counts = document.get("counts")
        counts = counts if isinstance(counts, dict) else {}
        runs = document.get("runs")
        runs = (
            {str(k): v for k, v in runs.items() if isinstance(v, dict)}
            if isinstance(runs, dict)
            else {}
        )
        rejected = document.get("rejected")
        rejected = rejected if isinstance(rejected, dict) else {}
        return cls(
            simulation_id=str(document.get("simulation_id", "?")),
            name=_text(document.get("name")),
            phase=_text(document.get("phase")),
            runs_total=_int(document.get("runs_total")),
            counts=_counts(counts, _int(document.get("results_lost")) or 0),
            submitted_at=_text(document.get("submitted_at")),
            finished_at=_text(document.get("finished_at")),
            results=_text(document.get("results")),
            runs=runs,
            failed_runs=_failed_runs(document, runs),
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


def _counts(stored: dict[str, Any], results_lost: int) -> dict[str, int]:
    """Runs per status, a run whose results were lost counted failed, not completed."""
    counts = {name: _int(stored.get(name)) or 0 for name in RUN_STATUSES}
    lost = min(max(results_lost, 0), counts["completed"])
    counts["completed"] -= lost
    counts["failed"] += lost
    return counts


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
