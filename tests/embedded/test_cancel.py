"""Cancelling a simulation completes it as cancelled, with what finished so far."""

from __future__ import annotations

import asyncio

import orjson

from gossipsim.collector.service import CollectorService
from gossipsim.common.bus import Envelope
from gossipsim.common.local_store import LocalDirectoryStore
from gossipsim.common.memory_bus import InMemoryBus
from gossipsim.common.messages import SimulationCancel, SimulationSubmit, encode
from gossipsim.common.topology import Topology
from gossipsim.scheduler.service import SchedulerService

SPEC = {
    "name": "to-cancel",
    "graphs": [{"name": "k4", "generator": "complete_graph", "params": {"n": 4}}],
    "algorithms": ["default"],
    "repetitions": 50,
}


async def test_cancel_completes_the_simulation_as_cancelled(tmp_path):
    topology = Topology(prefix="cancel-test")
    bus = InMemoryBus()
    await topology.declare(bus)
    store = LocalDirectoryStore(tmp_path)
    scheduler = SchedulerService(bus=bus, topology=topology)
    collector = CollectorService(bus=bus, topology=topology, store=store)
    await scheduler.start()
    await collector.start()
    for message in (
        SimulationSubmit(spec=SPEC, simulation_id="sim-1"),
        SimulationCancel(simulation_id="sim-1", reason="changed my mind"),
    ):
        await bus.publish(
            topology.commands, Envelope(body=encode(message), routing_key=message.kind)
        )
    state = None
    for _ in range(250):
        state = scheduler.simulations.get("sim-1")
        if state is not None and state.finished.is_set():
            break
        await asyncio.sleep(0.02)
    assert state is not None and state.cancelled and state.finished.is_set()
    manifest = orjson.loads(await store.get("simulations/sim-1/manifest.json"))
    assert manifest["cancelled"] is True and manifest["runs_total"] == 50
    assert manifest["runs_succeeded"] == 0
    assert bus.queue_depth(topology.runs_queue) == 50  # published before the cancel; no runner
    await collector.close()
    await scheduler.close()
    await bus.close()
