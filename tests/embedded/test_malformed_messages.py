"""Malformed messages on every queue are dead-lettered with a reason; consumers keep running.

Runs on the in-memory bus and on the real RabbitMQ (names prefixed per test, removed after).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import orjson
import pytest_asyncio

from gossipsim.collector.service import CollectorService
from gossipsim.common.messaging.bus import REASON_HEADER, Bus, Delivery, Envelope
from gossipsim.common.messaging.memory_bus import InMemoryBus
from gossipsim.common.messaging.messages import (
    MAX_MESSAGE_BYTES,
    SimulationSubmit,
    encode,
)
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.storage.local_store import LocalDirectoryStore
from gossipsim.runner.local_launcher import LocalProcessLauncher
from gossipsim.runner.service import RunnerService
from gossipsim.scheduler.service import SchedulerService
from tests.common.test_amqp_bus import connect_or_skip, delete_declared

MALFORMED = {
    "garbage bytes": Envelope(body=b"\x00\xffnot json", routing_key=""),
    "wrong content type": Envelope(
        body=orjson.dumps({"kind": "simulation.cancel", "version": 1, "simulation_id": "x"}),
        routing_key="",
        content_type="text/plain",
    ),
    "unknown kind": Envelope(body=b'{"kind": "run.explode", "version": 1}', routing_key=""),
    "oversized": Envelope(body=b"[" + b"0," * (MAX_MESSAGE_BYTES // 2) + b"0]", routing_key=""),
    # valid, but not what its routing key (which broker permissions restrict) says it is
    "kind not its key": Envelope(
        body=orjson.dumps({"kind": "simulation.cancel", "version": 1, "simulation_id": "x"}),
        routing_key="",
    ),
}
REASONS = {
    "garbage bytes": "not JSON",
    "wrong content type": "content type",
    "unknown kind": "unknown message kind",
    "oversized": "exceeds",
    "kind not its key": "a simulation.cancel message published with routing key",
}


@pytest_asyncio.fixture(params=["memory", "rabbitmq"])
async def wired(request) -> AsyncIterator[tuple[Bus, Topology]]:
    """The services' topology on the in-memory bus or on the shared RabbitMQ."""
    prefix = f"gstest-{uuid4().hex[:8]}"
    topology = Topology(prefix=prefix)
    if request.param == "memory":
        memory = InMemoryBus()
        await topology.declare(memory)
        yield memory, topology
        await memory.close()
        return
    amqp = await connect_or_skip(prefix)
    try:
        await topology.declare(amqp)
        yield amqp, topology
    finally:
        await amqp.close()
        await delete_declared(amqp, prefix)


async def test_malformed_messages_on_every_queue_are_dead_lettered(wired, tmp_path):
    bus, topology = wired
    store = LocalDirectoryStore(tmp_path / "store")
    async with LocalProcessLauncher() as launcher:
        scheduler = SchedulerService(bus=bus, topology=topology)
        services = [
            scheduler,
            CollectorService(bus=bus, topology=topology, store=store, plans=scheduler),
            RunnerService(bus=bus, topology=topology, launcher=launcher),
        ]
        for service in services:
            await service.start()
        dead: list[Delivery] = []
        got_all = asyncio.Event()

        async def collect(delivery: Delivery) -> None:
            dead.append(delivery)
            await delivery.ack()
            if len(dead) == 3 * len(MALFORMED):
                got_all.set()

        dead_consumer = await bus.consume(topology.dead_letters_queue, collect, prefetch=50)
        targets = [
            (topology.commands, "run.start"),
            (topology.commands, "simulation.submit"),
            (topology.events, "run.round"),
        ]
        for exchange, key in targets:
            for envelope in MALFORMED.values():
                await bus.publish(
                    exchange,
                    Envelope(
                        body=envelope.body, routing_key=key, content_type=envelope.content_type
                    ),
                )
        await asyncio.wait_for(got_all.wait(), 60)
        reasons = [str(d.envelope.headers.get(REASON_HEADER, "")) for d in dead]
        for name, words in REASONS.items():
            assert sum(words in reason for reason in reasons) == 3, (name, reasons)
        # the consumers are still there: valid messages are processed afterwards
        spec = {
            "graphs": [{"name": "k3", "generator": "complete_graph", "params": {"n": 3}}],
            "algorithms": ["default"],
            "max_rounds": 5,
        }
        submit = SimulationSubmit(spec=spec, simulation_id="still-alive")
        await bus.publish(topology.commands, Envelope(body=encode(submit), routing_key=submit.kind))
        for _ in range(300):
            done = scheduler.simulations.get("still-alive")
            if done is not None and done.finished.is_set():
                break
            await asyncio.sleep(0.05)
        assert scheduler.simulations["still-alive"].finished.is_set()
        assert await store.exists("simulations/still-alive/manifest.json")
        await dead_consumer.cancel()
        for service in reversed(services):
            await service.close()
