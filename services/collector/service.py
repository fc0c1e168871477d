"""The collector: round telemetry and run outcomes in, the results layout out.

The layout (keys and manifest) is a contract with its readers:
``gossipsim.common.contracts.results_layout``; the tables are built in results.py.

Every event is written to the object store before it is acked, under a key derived from the
event (run, attempt, first round), so a redelivered event rewrites the same object: nothing
is lost when the collector dies and nothing is counted twice. On simulation.completed the
tables and the manifest are rebuilt from what is stored, then results.stored is published.

A run.completed that arrives before all of its run's telemetry is stored is expected (events
processed out of order, a redelivered part still on its way): it raises
:class:`IncompleteTelemetry`, a :class:`~gossipsim.common.errors.Retry`, and is requeued after
a short delay, logged as such rather than as a crash; it is dead-lettered if the telemetry
still has not come by the queue's delivery limit. Anything else that raises is a bug: the bus
logs its traceback and requeues the event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import structlog

from gossipsim.collector import results
from gossipsim.common.contracts import results_layout as layout
from gossipsim.common.errors import Retry
from gossipsim.common.messaging.bus import Bus, Consumer, Delivery
from gossipsim.common.messaging.consuming import (
    message_context,
    message_or_dead_letter,
    retry_later,
)
from gossipsim.common.messaging.messages import (
    Message,
    ResultsStored,
    RunCompleted,
    RunFailed,
    RunRound,
    SimulationAccepted,
    SimulationCompleted,
)
from gossipsim.common.messaging.publishing import publish_message
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.storage.store import ObjectNotFound, ObjectStore

log = structlog.get_logger(__name__)

JSON = "application/json"


class IncompleteTelemetry(Retry):
    """run.completed arrived before all of the run's round telemetry: try it again later."""


class CollectorService:
    """Consumes with prefetch 1 by default: events of a run are then stored in the order they
    were published, which is the order the runner sent them."""

    def __init__(
        self, *, bus: Bus, topology: Topology, store: ObjectStore, prefetch: int = 1
    ) -> None:
        self._bus = bus
        self._topology = topology
        self._store = store
        self._prefetch = prefetch
        self._consumer: Consumer | None = None

    async def start(self) -> None:
        self._consumer = await self._bus.consume(
            self._topology.collector_queue, self.handle, prefetch=self._prefetch
        )

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.cancel()

    async def handle(self, delivery: Delivery) -> None:
        message = await message_or_dead_letter(delivery)
        if message is None:
            return
        with message_context(message):
            try:
                await self._store_event(message)
            except Retry as retry:
                await retry_later(delivery, retry, limit=self._topology.delivery_limit)
                return
            await delivery.ack()

    async def _store_event(self, message: Message) -> None:
        if isinstance(message, RunRound):
            await self._round(message)
        elif isinstance(message, RunCompleted):
            await self._completed(message)
        elif isinstance(message, RunFailed):
            await self._failed(message)
        elif isinstance(message, SimulationAccepted):
            await self._put_json(
                layout.simulation_key(message.simulation_id, layout.SUBMITTED),
                {
                    "simulation_id": message.simulation_id,
                    "name": message.name,
                    "runs_total": message.runs_total,
                    "spec": message.spec,
                    "accepted_at": message.sent_at,
                },
            )
        elif isinstance(message, SimulationCompleted):
            await self._finish(message)

    async def _put_json(self, key: str, value: Any) -> None:
        await self._store.put(
            key, orjson.dumps(value, option=orjson.OPT_INDENT_2), content_type=JSON
        )

    async def _get_json(self, key: str) -> Any:
        return orjson.loads(await self._store.get(key))

    async def _round(self, message: RunRound) -> None:
        key = layout.part_key(
            message.simulation_id, message.run_id, message.attempt, message.first_round
        )
        await self._put_json(key, {"first_round": message.first_round, "rounds": message.rounds})

    async def _completed(self, message: RunCompleted) -> None:
        sim, run = message.simulation_id, message.run_id
        parts = await self._store.list(layout.parts_prefix(sim, run, message.attempt))
        lines = []
        for key in parts:
            part = await self._get_json(key)
            for offset, telemetry in enumerate(part["rounds"]):
                lines.append(orjson.dumps({"round": part["first_round"] + offset, **telemetry}))
        if len(lines) != message.rounds + 1:
            # Telemetry of this run is still on its way (or was processed out of order):
            # run.completed is requeued until every part is stored.
            raise IncompleteTelemetry(
                f"run {message.run_id} attempt {message.attempt}: {len(lines)} of "
                f"{message.rounds + 1} rounds stored so far"
            )
        await self._store.put(
            layout.run_key(sim, run, layout.ROUNDS),
            b"\n".join(lines) + b"\n",
            content_type="application/x-ndjson",
        )
        await self._put_json(
            layout.run_key(sim, run, layout.RESULT),
            {
                "run_id": message.run_id,
                "simulation_id": message.simulation_id,
                "status": "completed",
                "attempt": message.attempt,
                "rounds": message.rounds,
                "converged": message.converged,
                "final": message.final,
                "duration_s": message.duration_s,
                "plan": results.plan_record(message.plan),
                "metrics": message.metrics,
            },
        )

    async def _failed(self, message: RunFailed) -> None:
        key = layout.run_key(message.simulation_id, message.run_id, layout.RESULT)
        try:
            existing = await self._get_json(key)
        except ObjectNotFound:
            existing = None
        if existing is not None and existing.get("status") == "completed":
            return  # a late failure report of an attempt that was superseded
        await self._put_json(
            key,
            {
                "run_id": message.run_id,
                "simulation_id": message.simulation_id,
                "status": "failed",
                "attempt": message.attempt,
                "error": message.error,
                "plan": results.plan_record(message.plan),
            },
        )

    async def _finish(self, message: SimulationCompleted) -> None:
        sim = message.simulation_id
        prefix = layout.simulation_prefix(sim)
        keys = [
            k for k in await self._store.list(layout.runs_prefix(sim)) if layout.is_result_key(k)
        ]
        runs = [await self._get_json(k) for k in keys]
        summary = results.summary_rows(runs)
        averaged = results.averaged_rows(runs)
        await self._store.put(
            layout.simulation_key(sim, layout.SUMMARY),
            results.to_csv(*summary),
            content_type="text/csv",
        )
        await self._store.put(
            layout.simulation_key(sim, layout.AVERAGED),
            results.to_csv(*averaged),
            content_type="text/csv",
        )
        try:
            submitted = await self._get_json(layout.simulation_key(sim, layout.SUBMITTED))
        except ObjectNotFound:
            submitted = {}
        manifest: layout.Manifest = {
            "simulation_id": message.simulation_id,
            "name": submitted.get("name", ""),
            "spec": submitted.get("spec", {}),
            "accepted_at": submitted.get("accepted_at"),
            "completed_at": datetime.now(UTC).isoformat(),
            "cancelled": message.cancelled,
            "runs_total": message.runs_total,
            "runs_succeeded": message.succeeded,
            "runs_failed": message.failed,
            "files": list(layout.MANIFEST_FILES),
        }
        # The manifest last: a simulation with one has all of its files (the layout's rule).
        await self._put_json(layout.simulation_key(sim, layout.MANIFEST), manifest)
        stored = ResultsStored(
            simulation_id=message.simulation_id, location=self._store.location(prefix.rstrip("/"))
        )
        await self._publish(stored)
        log.info("results stored", location=stored.location)

    async def _publish(self, message: Message) -> None:
        await publish_message(self._bus, self._topology, message)
