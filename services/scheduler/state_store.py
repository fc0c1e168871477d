"""Durable scheduler state in the object store, written by group commit.

Every event that changes a simulation is acked only after the simulation's status document
is stored. Writing the whole document per event would cost a sweep of n runs O(n²) bytes, so
saves are coalesced: a save waits for the next flush, and one flush writes the latest state
of every simulation changed since the previous one. With the scheduler's prefetch of many
events, one write then covers a batch of them.
"""

from __future__ import annotations

import asyncio

import orjson
import structlog

from gossipsim.common.contracts.status_document import (
    REJECTED,
    RunStatus,
    StatusDocument,
    encode,
    status_key,
)
from gossipsim.common.storage.store import ObjectNotFound, ObjectStore
from gossipsim.scheduler.state import SimulationState, now_iso

ACTIVE_PREFIX = "scheduler/active/"  # one marker per unfinished simulation

log = structlog.get_logger(__name__)


class StateStore:
    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self._dirty: dict[str, SimulationState] = {}
        self._next_flush: asyncio.Future[None] | None = None
        self._flusher: asyncio.Task[None] | None = None

    async def save(self, state: SimulationState) -> None:
        """Return once a flush that includes this state's current content has been stored."""
        self._dirty[state.simulation_id] = state
        if self._next_flush is None:
            self._next_flush = asyncio.get_running_loop().create_future()
        waiter = self._next_flush
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_until_clean())
        await asyncio.shield(waiter)

    async def _flush_until_clean(self) -> None:
        while self._next_flush is not None:
            waiter, self._next_flush = self._next_flush, None
            dirty, self._dirty = self._dirty, {}
            try:
                for state in dirty.values():
                    await self._store.put(
                        status_key(state.simulation_id),
                        encode(state.to_document()),
                        content_type="application/json",
                    )
            except Exception as error:  # every waiter raises; their events are redelivered
                log.warning("could not store scheduler state", error=repr(error))
                waiter.set_exception(error)
                waiter.exception()  # retrieved here too: no "never retrieved" warning
            else:
                waiter.set_result(None)

    async def known(self, simulation_id: str) -> bool:
        """Whether a simulation of this id was ever accepted (submission is idempotent; a
        rejected one may be submitted again, e.g. once its graph files exist)."""
        try:
            document = orjson.loads(await self._store.get(status_key(simulation_id)))
        except ObjectNotFound:
            return False
        return bool(document.get("phase") != REJECTED)

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
            "runs": {},
        }
        await self._store.put(
            status_key(simulation_id), encode(document), content_type="application/json"
        )

    async def mark_active(self, simulation_id: str) -> None:
        await self._store.put(f"{ACTIVE_PREFIX}{simulation_id}", b"", content_type="text/plain")

    async def mark_finished(self, simulation_id: str) -> None:
        await self._store.delete(f"{ACTIVE_PREFIX}{simulation_id}")

    async def load_active(self) -> list[StatusDocument]:
        """The status documents of unfinished simulations, for a restarted scheduler."""
        documents = []
        for marker in await self._store.list(ACTIVE_PREFIX):
            simulation_id = marker.removeprefix(ACTIVE_PREFIX)
            try:
                documents.append(orjson.loads(await self._store.get(status_key(simulation_id))))
            except ObjectNotFound:  # accepted, but gone before its first save: resubmit it
                log.warning("active simulation without state", simulation_id=simulation_id)
        return documents
