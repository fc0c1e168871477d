"""Durable scheduler state in the object store, written by group commit.

Every event that changes a simulation is acked only after its state is stored. Saves are
coalesced: a save waits for the next flush, and one flush writes the latest state of every
simulation changed since the previous one. With the scheduler's prefetch of many events, one
write then covers a batch of them.

What a flush writes of a simulation (layout: ``gossipsim.common.contracts.status_document``):
its spec once, the chunks of its run table whose runs changed, and then its summary. So the
bytes of a flush do not grow with the number of runs, and a summary that is stored always
has its spec and run table stored before it: a restarted scheduler reading the summary finds
them. Accepting a simulation is the one flush that writes every chunk (which is also the list
of run ids the collector trusts).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import structlog

from gossipsim.common.contracts.status_document import (
    REJECTED,
    RunStatus,
    StatusDocument,
    encode,
    read_runs,
    read_spec,
    read_summary,
    run_chunk_key,
    spec_key,
    status_key,
    stored_digest,
)
from gossipsim.common.storage.store import ObjectStore
from gossipsim.scheduler.state import SimulationState, now_iso

ACTIVE_PREFIX = "scheduler/active/"  # one marker per unfinished simulation
JSON = "application/json"

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class StoredSimulation:
    """An unfinished simulation as stored: its summary, spec and run entries (either layout)."""

    document: dict[str, Any]
    spec: dict[str, Any]
    runs: dict[str, dict[str, Any]]


class StateStore:
    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self._dirty: dict[str, SimulationState] = {}
        self._next_flush: asyncio.Future[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        # for measurements (bench/scheduler_bench.py): flushes done, and bytes they wrote
        self.flushes = 0
        self.bytes_written = 0

    async def save(self, state: SimulationState) -> None:
        """Return once a flush that includes this state's current content has been stored."""
        self._dirty[state.simulation_id] = state
        if self._next_flush is None:
            self._next_flush = asyncio.get_running_loop().create_future()
        waiter = self._next_flush
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_until_clean())
        await asyncio.shield(waiter)

    async def accept(self, state: SimulationState) -> None:
        """Store a simulation being accepted: its marker, then its spec, whole run table and
        summary. Idempotent, so a redelivered submission may do it again."""
        await self.mark_active(state.simulation_id)
        await self.save(state)

    async def _flush_until_clean(self) -> None:
        while self._next_flush is not None:
            waiter, self._next_flush = self._next_flush, None
            dirty, self._dirty = self._dirty, {}
            try:
                for state in dirty.values():
                    await self._write(state)
            except Exception as error:  # every waiter raises; their events are redelivered
                log.warning("could not store scheduler state", error=repr(error))
                waiter.set_exception(error)
                waiter.exception()  # retrieved here too: no "never retrieved" warning
            else:
                self.flushes += 1
                waiter.set_result(None)

    async def _write(self, state: SimulationState) -> None:
        """The spec if not yet stored, the changed chunks, then the summary."""
        sim = state.simulation_id
        if not state.spec_stored:
            await self._put(spec_key(sim), encode(state.spec))
            state.spec_stored = True
        chunks = state.take_dirty_chunks()
        try:
            for chunk in sorted(chunks):
                await self._put(run_chunk_key(sim, chunk), encode(state.chunk_document(chunk)))
        except BaseException:
            state.dirty_chunks |= chunks  # written by the flush that retries this
            raise
        await self._put(status_key(sim), encode(state.to_document()))

    async def _put(self, key: str, data: bytes) -> None:
        await self._store.put(key, data, content_type=JSON)
        self.bytes_written += len(data)

    async def accepted_digest(self, simulation_id: str) -> str | None:
        """The spec digest of the simulation of this id that was accepted, or None if none
        was (submission is idempotent; a rejected one may be submitted again, e.g. once its
        graph files exist)."""
        document = await read_summary(self._store, simulation_id)
        if document is None or document.get("phase") == REJECTED:
            return None
        return stored_digest(document)

    async def save_rejection(self, simulation_id: str, field: str, reason: str) -> None:
        """A status document for a rejected submission, so `gossipsim status` can say why."""
        document: StatusDocument = {
            "simulation_id": simulation_id,
            "name": "",
            "phase": REJECTED,
            "runs_total": 0,
            "counts": {status.value: 0 for status in RunStatus},
            "submitted_at": now_iso(),
            "finished_at": now_iso(),
            "results": "",
            "rejected": {"field": field, "reason": reason},
        }
        await self._put(status_key(simulation_id), encode(document))

    async def mark_active(self, simulation_id: str) -> None:
        await self._store.put(f"{ACTIVE_PREFIX}{simulation_id}", b"", content_type="text/plain")

    async def mark_finished(self, simulation_id: str) -> None:
        await self._store.delete(f"{ACTIVE_PREFIX}{simulation_id}")

    async def load_active(self) -> list[StoredSimulation]:
        """The unfinished simulations, for a restarted scheduler."""
        simulations = []
        for marker in await self._store.list(ACTIVE_PREFIX):
            simulation_id = marker.removeprefix(ACTIVE_PREFIX)
            document = await read_summary(self._store, simulation_id)
            if document is None:  # accepted, but gone before its first save: resubmit it
                log.warning("active simulation without state", simulation_id=simulation_id)
                continue
            spec = await read_spec(self._store, document)
            if spec is None:
                log.error("active simulation without its spec", simulation_id=simulation_id)
                continue
            runs = await read_runs(self._store, document)
            simulations.append(StoredSimulation(document=document, spec=spec, runs=runs))
        return simulations
