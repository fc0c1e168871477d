"""What the scheduler knows about a simulation, and its durable form (the status documents).

The documents' keys and shapes are a contract with their readers (``gossipsim status``, the
Kubernetes resource watcher, the collector): ``gossipsim.common.contracts.status_document``. A
restarted scheduler rebuilds its state from them. The run plans are not stored: they are
expanded again, deterministically, from the stored spec.

Cost per event: a run's status changes only through the methods below, which keep the counts
per status up to date and note which chunk of the run table has to be written again. Nothing
that handles one event walks the runs of its simulation, so an event costs the same in a
sweep of ten runs and in one of a million.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gossipsim.common.contracts.status_document import (
    CANCELLED,
    COMPLETED,
    ERROR_KEPT,
    FAILED_RUNS_KEPT,
    FINISHED_PHASES,
    RUN_CHUNK_SIZE,
    RUNNING,
    AcceptedPlan,
    FailedRun,
    Phase,
    RunChunk,
    RunEntry,
    RunStatus,
    StatusDocument,
    chunk_count,
    spec_digest,
    stored_digest,
)
from gossipsim.common.spec.ids import RunId, SimulationId, check_simulation_id
from gossipsim.common.spec.run_plan import RunPlan

__all__ = ["TERMINAL", "RunStatus", "SimulationState", "now_iso"]


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


TERMINAL = (RunStatus.COMPLETED, RunStatus.FAILED)


def _kept(error: str) -> str:
    """A run's error as the state keeps it: long enough to read, short enough that a chunk
    of the run table stays small whatever a runner reports."""
    return error if len(error) <= ERROR_KEPT else f"{error[: ERROR_KEPT - 1]}…"


@dataclass(slots=True)
class SimulationState:
    """One simulation. ``status``, ``attempts``, ``errors`` and ``leases`` are read freely
    but changed only through the methods (``queue``, ``mark_running``, ``lease``,
    ``complete``, ``fail``, ``finish``), which keep ``counts`` and the dirty chunks right."""

    simulation_id: SimulationId
    plans: dict[RunId, RunPlan]
    name: str = ""
    spec: dict[str, Any] = field(default_factory=dict)
    graphs_dir: str = ""
    spec_digest: str = ""  # of spec and graphs_dir; computed when not given
    warnings: tuple[str, ...] = ()  # what the spec check found worth telling (not stored)
    submitted_at: str = field(default_factory=now_iso)
    finished_at: str | None = None
    published: bool = False  # every run.start of the first attempts is with the broker
    status: dict[str, RunStatus] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    # Runs whose runner acked run.start early and keeps a lease by heartbeats: run id ->
    # monotonic time of the last heartbeat (or of the scheduler's start, after a restart).
    leases: dict[RunId, float] = field(default_factory=dict)
    cancelled: bool = False
    completed: bool = False
    results_location: str = ""
    results_lost: int = 0  # completed here, failed in the manifest: results never stored
    rounds_done: int = 0
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    # kept by the methods: runs per status, the failed runs the summary names, the plan's
    # order (run ids by position, positions by run id), the chunks of the run table changed
    # since stored, and whether the spec is stored (the state store writes what is not)
    counts: Counter[RunStatus] = field(default_factory=Counter, init=False)
    failed_runs: list[RunId] = field(default_factory=list, init=False)
    order: list[RunId] = field(default_factory=list, init=False, repr=False)
    positions: dict[RunId, int] = field(default_factory=dict, init=False, repr=False)
    dirty_chunks: set[int] = field(default_factory=set, init=False, repr=False)
    spec_stored: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        """Every planned run starts queued, first attempt, unless told otherwise; the whole
        run table is unsaved. The only walk over the runs, once per simulation."""
        if not self.spec_digest:
            self.spec_digest = spec_digest(self.spec, self.graphs_dir)
        self.order = list(self.plans)
        self.positions = {run_id: k for k, run_id in enumerate(self.order)}
        for run_id in self.plans:
            self.status.setdefault(run_id, RunStatus.QUEUED)
            self.attempts.setdefault(run_id, 1)
        self.counts = Counter(self.status[run_id] for run_id in self.plans)
        self.failed_runs = [r for r in self.plans if self.status[r] is RunStatus.FAILED]
        del self.failed_runs[FAILED_RUNS_KEPT:]
        self.dirty_chunks = set(range(chunk_count(len(self.plans))))

    # -- counts ------------------------------------------------------------------------------

    @property
    def done_count(self) -> int:
        return self.counts[RunStatus.COMPLETED] + self.counts[RunStatus.FAILED]

    def count(self, status: RunStatus) -> int:
        return self.counts[status]

    def count_failed(self) -> int:
        return self.count(RunStatus.FAILED)

    @property
    def all_done(self) -> bool:
        return self.done_count == len(self.plans)

    @property
    def phase(self) -> Phase:
        if not self.completed:
            return RUNNING
        return CANCELLED if self.cancelled else COMPLETED

    # -- transitions -------------------------------------------------------------------------

    def _touch(self, run_id: RunId) -> None:
        self.dirty_chunks.add(self.positions[run_id] // RUN_CHUNK_SIZE)

    def _set(self, run_id: RunId, status: RunStatus, *, changed: bool = False) -> None:
        """The run's status; its chunk is to be written if that or anything else
        (``changed``) of its entry changed."""
        before = self.status[run_id]
        if before is not status:
            self.counts[before] -= 1
            self.counts[status] += 1
            self.status[run_id] = status
            changed = True
        if changed:
            self._touch(run_id)

    def queue(self, run_id: RunId, attempt: int) -> None:
        """The run's command (this attempt) is being published."""
        changed = self.leases.pop(run_id, None) is not None or self.attempts[run_id] != attempt
        self.attempts[run_id] = attempt
        self._set(run_id, RunStatus.QUEUED, changed=changed)

    def mark_running(self, run_id: RunId) -> None:
        self._set(run_id, RunStatus.RUNNING)

    def lease(self, run_id: RunId, now: float) -> bool:
        """A heartbeat at ``now``; True for the first of the attempt (the lease is new)."""
        first = run_id not in self.leases
        self.leases[run_id] = now
        self._set(run_id, RunStatus.RUNNING, changed=first)
        return first

    def complete(self, run_id: RunId, rounds: int) -> None:
        self.rounds_done += rounds
        leased = self.leases.pop(run_id, None) is not None
        self._set(run_id, RunStatus.COMPLETED, changed=leased)

    def fail(self, run_id: RunId, error: str) -> None:
        """The run failed for good."""
        self.leases.pop(run_id, None)
        self.errors[run_id] = _kept(error)
        if self.status[run_id] is not RunStatus.FAILED and len(self.failed_runs) < FAILED_RUNS_KEPT:
            self.failed_runs.append(run_id)
        self._set(run_id, RunStatus.FAILED, changed=True)

    def finish(self, *, cancelled: bool = False) -> None:
        """Every run is done, or the simulation was cancelled: no more leases."""
        self.completed = True
        self.cancelled = self.cancelled or cancelled
        self.finished_at = self.finished_at or now_iso()  # resumed: as it was
        for run_id in self.leases:
            self._touch(run_id)
        self.leases.clear()

    # -- durable form ------------------------------------------------------------------------

    def take_dirty_chunks(self) -> set[int]:
        """The chunks to write now; the caller gives them back if writing them failed."""
        chunks, self.dirty_chunks = self.dirty_chunks, set()
        return chunks

    def to_document(self) -> StatusDocument:
        """The summary: O(1) in the number of runs."""
        return {
            "simulation_id": self.simulation_id,
            "name": self.name,
            "phase": self.phase,
            "runs_total": len(self.plans),
            "counts": {s.value: self.counts[s] for s in RunStatus},
            "submitted_at": self.submitted_at,
            "finished_at": self.finished_at,
            "results": self.results_location,
            "graphs_dir": self.graphs_dir,
            "published": self.published,
            "spec_digest": self.spec_digest,
            "results_lost": self.results_lost,
            "run_table": {"chunk_size": RUN_CHUNK_SIZE, "chunks": chunk_count(len(self.plans))},
            "failed_runs": {
                run_id: FailedRun(attempt=self.attempts[run_id], error=self.errors.get(run_id, ""))
                for run_id in self.failed_runs
            },
        }

    def _entry(self, run_id: RunId) -> RunEntry:
        return {
            "status": self.status[run_id].value,
            "attempt": self.attempts[run_id],
            "error": self.errors.get(run_id, ""),
            "leased": run_id in self.leases,
        }

    def chunk_document(self, chunk: int) -> RunChunk:
        """Chunk ``chunk`` of the run table: the runs at its positions in the plan's order."""
        start = chunk * RUN_CHUNK_SIZE
        return {
            "simulation_id": self.simulation_id,
            "chunk": chunk,
            "runs": {
                run_id: self._entry(run_id) for run_id in self.order[start : start + RUN_CHUNK_SIZE]
            },
        }

    def accepted_plan(self) -> AcceptedPlan:
        """What the collector may trust of this simulation (embedded mode: no store between)."""
        return AcceptedPlan(
            simulation_id=self.simulation_id,
            name=self.name,
            spec=self.spec,
            runs_total=len(self.plans),
            run_ids=self.plans.keys(),
            accepted_at=self.submitted_at,
        )

    @classmethod
    def from_document(
        cls,
        document: Mapping[str, Any],
        plans: dict[RunId, RunPlan],
        *,
        spec: dict[str, Any],
        runs: Mapping[str, Mapping[str, Any]],
        lease_start: float,
    ) -> SimulationState:
        """Rebuild from a stored summary, its spec and run table (read with
        ``status_document.read_spec`` and ``read_runs``: either layout), and the plans
        expanded again from the spec. A run the table lacks is queued, first attempt."""
        status: dict[str, RunStatus] = {}
        attempts: dict[str, int] = {}
        errors: dict[str, str] = {}
        leased: list[RunId] = []
        for run_id in plans:
            run = runs.get(run_id) or {}
            status[run_id] = RunStatus(run.get("status", "queued"))
            attempts[run_id] = int(run.get("attempt", 1))
            if run.get("error"):
                errors[run_id] = str(run["error"])
            if run.get("leased") and status[run_id] not in TERMINAL:
                leased.append(run_id)
        state = cls(
            simulation_id=check_simulation_id(document["simulation_id"]),
            plans=plans,
            name=document.get("name", ""),
            spec=spec,
            graphs_dir=document.get("graphs_dir", ""),
            spec_digest=stored_digest({**document, "spec": spec}),
            submitted_at=document.get("submitted_at") or now_iso(),
            finished_at=document.get("finished_at"),
            published=bool(document.get("published", False)),
            status=status,
            attempts=attempts,
            errors=errors,
            leases=dict.fromkeys(leased, lease_start),
            cancelled=document.get("phase") == CANCELLED,
            completed=document.get("phase") in FINISHED_PHASES,
            results_location=document.get("results", ""),
            results_lost=int(document.get("results_lost", 0)),
        )
        if "run_table" in document:  # stored in this layout: nothing to write until changed
            state.dirty_chunks.clear()
            state.spec_stored = True
        if state.results_location:
            state.finished.set()
        return state
