"""The scheduler's durable state, leases and dead letters, on the in-memory bus and a local store.

The scheduler here talks to nobody but the bus: the tests play the runners by publishing their
events, and read what the scheduler publishes from a queue of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest_asyncio

from gossipsim.common.contracts.status_document import read_runs, read_spec, status_key
from gossipsim.common.messaging.bus import REASON_HEADER, Envelope, QueueSpec
from gossipsim.common.messaging.memory_bus import InMemoryBus
from gossipsim.common.messaging.messages import (
    Message,
    RunCompleted,
    RunHeartbeat,
    RunStart,
    SimulationSubmit,
    decode,
    encode,
)
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.storage.local_store import LocalDirectoryStore
from gossipsim.scheduler.service import SchedulerService, SchedulerSettings
from tests.common.bus_contract import Inbox

SPEC = {
    "name": "durable",
    "graphs": [{"name": "k4", "generator": "complete_graph", "params": {"n": 4}}],
    "algorithms": ["default"],
    "repetitions": 6,
}


class CountingStore(LocalDirectoryStore):
    """Counts the writes of status documents."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.state_writes = 0

    async def put(self, key: str, data: bytes, *, content_type: str = "") -> None:
        if key.startswith("scheduler/simulations/"):
            self.state_writes += 1
        await super().put(key, data, content_type=content_type)


class Deployment:
    """A bus with the topology, a store, and a tap on everything the scheduler publishes."""

    def __init__(self, root: Path) -> None:
        self.topology = Topology(prefix="state-test")
        self.bus = InMemoryBus()
        self.store = CountingStore(root)
        self.published = Inbox()

    async def start(self) -> None:
        await self.topology.declare(self.bus)
        await self.bus.declare_queue(QueueSpec(name="state-test.tap"))
        for exchange in (self.topology.commands, self.topology.events):
            await self.bus.bind("state-test.tap", exchange, "#")
        await self.bus.consume("state-test.tap", self.published.handler, prefetch=1000)

    def scheduler(self, **settings: float) -> SchedulerService:
        return SchedulerService(
            bus=self.bus,
            topology=self.topology,
            store=self.store,
            settings=SchedulerSettings(**settings),  # type: ignore[arg-type]
        )

    async def send(self, message: Message, exchange: str | None = None) -> None:
        envelope = Envelope(body=encode(message), routing_key=message.kind)
        await self.bus.publish(exchange or self.topology.exchange_for(message.kind), envelope)

    def messages(self, kind: str) -> list[Message]:
        return [
            decode(d.envelope.body)
            for d in self.published.deliveries
            if d.envelope.routing_key == kind
        ]

    async def document(self, simulation_id: str) -> dict[str, object]:
        return orjson.loads(await self.store.get(status_key(simulation_id)))

    async def until(self, predicate, what: str) -> None:  # type: ignore[no-untyped-def]
        for _ in range(500):
            if predicate():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}")


@pytest_asyncio.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    setup = Deployment(tmp_path)
    await setup.start()
    yield setup
    await setup.bus.close()


def completed(start: RunStart) -> RunCompleted:
    return RunCompleted(
        simulation_id=start.simulation_id,
        run_id=start.run_id,
        attempt=start.attempt,
        rounds=3,
        converged=True,
    )


async def test_a_restarted_scheduler_resumes_and_completes_the_simulation(deployment):
    first = deployment.scheduler()
    await first.start()
    await deployment.send(SimulationSubmit(spec=SPEC, simulation_id="sim-a"))
    await deployment.until(lambda: len(deployment.messages("run.start")) == 6, "6 run commands")
    starts = deployment.messages("run.start")
    await deployment.send(completed(starts[0]))
    await deployment.until(
        lambda: first.simulations["sim-a"].done_count == 1, "the first completion"
    )
    await first.close()  # a restart: the state lives on in the store only

    second = deployment.scheduler()
    await second.start()
    assert second.simulations["sim-a"].done_count == 1
    for start in starts[1:]:
        await deployment.send(completed(start))
    await deployment.until(
        lambda: bool(deployment.messages("simulation.completed")), "simulation.completed"
    )
    await second.close()
    document = await deployment.document("sim-a")
    assert document["phase"] == "completed" and document["counts"]["completed"] == 6
    assert len(deployment.messages("run.start")) == 6  # nothing published twice


async def test_runs_not_yet_published_before_a_crash_are_published_on_resume(deployment):
    """From a status document of the earlier layout (spec and runs inline), which the resumed
    scheduler stores again in the current one."""
    document = {
        "simulation_id": "sim-b",
        "name": "durable",
        "phase": "running",
        "runs_total": 6,
        "counts": {"queued": 6, "running": 0, "completed": 0, "failed": 0},
        "submitted_at": "2026-03-01T12:00:00+00:00",
        "finished_at": None,
        "results": "",
        "spec": SPEC,
        "graphs_dir": "",
        "published": False,
        "runs": {},
    }
    await deployment.store.put(status_key("sim-b"), orjson.dumps(document))
    await deployment.store.put("scheduler/active/sim-b", b"")
    scheduler = deployment.scheduler()
    await scheduler.start()
    await deployment.until(lambda: len(deployment.messages("run.start")) == 6, "6 run commands")
    await scheduler.close()
    stored = await deployment.document("sim-b")
    assert stored["published"] is True and "runs" not in stored and "spec" not in stored
    assert await read_spec(deployment.store, stored) == SPEC
    assert len(await read_runs(deployment.store, stored)) == 6


async def test_submitting_an_accepted_simulation_again_changes_nothing(deployment):
    scheduler = deployment.scheduler()
    await scheduler.start()
    await deployment.send(SimulationSubmit(spec=SPEC, simulation_id="sim-c"))
    await deployment.until(lambda: len(deployment.messages("run.start")) == 6, "6 run commands")
    await scheduler.close()
    again = deployment.scheduler()  # even one that does not hold it in memory
    again.simulations.clear()
    await again.start()
    again.simulations.clear()
    await deployment.send(SimulationSubmit(spec=SPEC, simulation_id="sim-c"))
    await deployment.until(
        lambda: deployment.bus.queue_depth(deployment.topology.scheduler_queue) == 0,
        "the second submission handled",
    )
    await asyncio.sleep(0.1)
    await again.close()
    assert len(deployment.messages("run.start")) == 6


async def test_a_rejection_is_stored_and_the_spec_may_be_submitted_again(deployment):
    scheduler = deployment.scheduler()
    await scheduler.start()
    bad = {**SPEC, "repetitions": -1}
    for _ in range(2):
        await deployment.send(SimulationSubmit(spec=bad, simulation_id="sim-d"))
    await deployment.until(
        lambda: len(deployment.messages("simulation.rejected")) == 2, "two rejections"
    )
    await scheduler.close()
    document = await deployment.document("sim-d")
    assert document["phase"] == "rejected"
    assert document["rejected"]["field"] == "repetitions"


async def test_one_state_write_covers_many_events(deployment):
    scheduler = deployment.scheduler()
    await scheduler.start()
    await deployment.send(SimulationSubmit(spec={**SPEC, "repetitions": 200}, simulation_id="e"))
    await deployment.until(lambda: len(deployment.messages("run.start")) == 200, "200 commands")
    writes_before = deployment.store.state_writes
    for start in deployment.messages("run.start"):
        await deployment.send(completed(start))
    await deployment.until(
        lambda: bool(deployment.messages("simulation.completed")), "simulation.completed"
    )
    await scheduler.close()
    writes = deployment.store.state_writes - writes_before
    assert (await deployment.document("e"))["counts"]["completed"] == 200
    assert writes < 100, f"{writes} writes of the status document for 200 events"


async def test_a_dead_lettered_run_command_fails_its_run(deployment):
    scheduler = deployment.scheduler()
    await scheduler.start()
    await deployment.send(SimulationSubmit(spec=SPEC, simulation_id="sim-f"))
    await deployment.until(lambda: len(deployment.messages("run.start")) == 6, "6 run commands")
    starts = deployment.messages("run.start")
    dead = Envelope(
        body=encode(starts[0]),
        routing_key="run.start",
        headers={REASON_HEADER: "impossible run: n must be positive"},
    )
    await deployment.bus.publish(deployment.topology.dead_letter, dead)
    for start in starts[1:]:
        await deployment.send(completed(start))
    await deployment.until(
        lambda: bool(deployment.messages("simulation.completed")), "simulation.completed"
    )
    await scheduler.close()
    (failure,) = deployment.messages("run.failed")
    assert failure.run_id == starts[0].run_id  # type: ignore[attr-defined]
    assert failure.error == "dead-lettered: impossible run: n must be positive"  # type: ignore[attr-defined]
    (outcome,) = deployment.messages("simulation.completed")
    assert (outcome.succeeded, outcome.failed) == (5, 1)  # type: ignore[attr-defined]


async def test_a_leased_run_without_heartbeats_is_started_again(deployment):
    scheduler = deployment.scheduler(lease_timeout=0.3)
    await scheduler.start()
    await deployment.send(SimulationSubmit(spec={**SPEC, "repetitions": 1}, simulation_id="g"))
    await deployment.until(lambda: len(deployment.messages("run.start")) == 1, "the command")
    (start,) = deployment.messages("run.start")
    heartbeat = RunHeartbeat(simulation_id="g", run_id=start.run_id, attempt=1)  # type: ignore[attr-defined]
    await deployment.send(heartbeat)
    await deployment.until(lambda: len(deployment.messages("run.start")) == 2, "a new attempt")
    retry = deployment.messages("run.start")[1]
    assert retry.attempt == 2  # type: ignore[attr-defined]
    await deployment.send(completed(retry))  # type: ignore[arg-type]
    await deployment.until(
        lambda: bool(deployment.messages("simulation.completed")), "simulation.completed"
    )
    await scheduler.close()
    document = await deployment.document("g")
    (run,) = (await read_runs(deployment.store, document)).values()
    assert run == {"status": "completed", "attempt": 2, "error": "", "leased": False}


async def test_a_submission_whose_publishing_failed_half_way_is_finished_on_redelivery(
    deployment, monkeypatch
):
    """The broker fails the 3rd run.start once: the submit is requeued, and its redelivery
    publishes every run (some twice: at least once), not 'duplicate, ignored'."""
    real_publish = deployment.bus.publish
    failures = []
    starts = []

    async def flaky_publish(exchange, envelope):  # type: ignore[no-untyped-def]
        if envelope.routing_key == "run.start":
            starts.append(envelope)
            if len(starts) == 3 and not failures:
                failures.append(envelope)
                raise ConnectionError("broker went away")
        await real_publish(exchange, envelope)

    monkeypatch.setattr(deployment.bus, "publish", flaky_publish)
    scheduler = deployment.scheduler()
    await scheduler.start()
    await deployment.send(SimulationSubmit(spec=SPEC, simulation_id="sim-h"))
    await deployment.until(
        lambda: len({m.run_id for m in deployment.messages("run.start")}) == 6,  # type: ignore[attr-defined]
        "every run published",
    )
    await deployment.until(
        lambda: deployment.bus.queue_depth(deployment.topology.scheduler_queue) == 0,
        "the submission settled",
    )
    await scheduler.close()
    assert failures
    assert (await deployment.document("sim-h"))["published"] is True
