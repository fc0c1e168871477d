"""Cancelling a simulation completes it as cancelled, with what finished so far."""

from __future__ import annotations

import asyncio

import orjson

from gossipsim.collector.service import CollectorService
from gossipsim.common.messaging.bus import Envelope, QueueSpec
from gossipsim.common.messaging.memory_bus import InMemoryBus
from gossipsim.common.messaging.messages import SimulationCancel, SimulationSubmit, encode
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.storage.local_store import LocalDirectoryStore
from gossipsim.runner.service import RunnerService
from gossipsim.scheduler.service import SchedulerService
from tests.common.bus_contract import Inbox

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
    collector = CollectorService(bus=bus, topology=topology, store=store, plans=scheduler)
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


async def test_runners_skip_the_queued_runs_of_a_cancelled_simulation(tmp_path, launcher):
    """Each runner follows simulation.completed on its own feed: a cancelled simulation's
    queued commands are acked without running (no run.started), and the queue drains."""
    topology = Topology(prefix="cancel-skip")
    bus = InMemoryBus()
    await topology.declare(bus)
    started = Inbox()
    await bus.declare_queue(QueueSpec(name="cancel-skip.watch"))
    await bus.bind("cancel-skip.watch", topology.events, "run.started")
    await bus.consume("cancel-skip.watch", started.handler)
    scheduler = SchedulerService(bus=bus, topology=topology)
    runner = RunnerService(bus=bus, topology=topology, launcher=launcher)
    await scheduler.start()
    await runner.start()  # its feed exists before the cancellation is published
    await runner._consumer.cancel()  # type: ignore[union-attr]  # not taking runs yet
    for message in (
        SimulationSubmit(spec=SPEC, simulation_id="sim-2"),
        SimulationCancel(simulation_id="sim-2"),
    ):
        await bus.publish(
            topology.commands, Envelope(body=encode(message), routing_key=message.kind)
        )
    for _ in range(250):
        state = scheduler.simulations.get("sim-2")
        if state is not None and state.completed:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)  # the feed delivers simulation.completed to the runner
    runner._consumer = await bus.consume(topology.runs_queue, runner.handle)
    for _ in range(250):
        if bus.queue_depth(topology.runs_queue) == 0:
            break
        await asyncio.sleep(0.02)
    assert bus.queue_depth(topology.runs_queue) == 0
    assert started.deliveries == []
    await runner.close()
    await scheduler.close()
    await bus.close()
