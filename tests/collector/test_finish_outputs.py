"""What the collector writes when a simulation completes, beside summary.csv and averaged.csv:
the long table of rounds in parts (named in the manifest), and the ``latest`` pointer of the
simulation's name, which only ever moves to a simulation completed later."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
from collections.abc import Sequence

import orjson

from gossipsim.collector.service import CollectorService
from gossipsim.common.contracts import results_layout as layout
from gossipsim.common.contracts.status_document import AcceptedPlan
from gossipsim.common.messaging.bus import Delivery, Envelope
from gossipsim.common.messaging.memory_bus import InMemoryBus
from gossipsim.common.messaging.messages import (
    Message,
    RunCompleted,
    RunFailed,
    RunRound,
    SimulationCompleted,
    encode,
)
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.spec.run_plan import RunPlan
from gossipsim.common.spec.simulation_spec import expand_runs, parse_spec
from gossipsim.common.storage.local_store import LocalDirectoryStore

SPEC = {
    "name": "tables",
    "graphs": [{"name": "k4", "generator": "complete_graph", "params": {"n": 4}}],
    "algorithms": ["default"],
    "repetitions": 2,
}


class NamedPlans:
    """Accepted simulations by id: their name, run ids and the scheduler's phase."""

    def __init__(self) -> None:
        self.simulations: dict[str, tuple[str, list[str], str]] = {}

    def accept(self, simulation_id: str, name: str, runs: list[str], phase: str) -> None:
        self.simulations[simulation_id] = (name, runs, phase)

    async def accepted_plan(self, simulation_id: str) -> AcceptedPlan | None:
        if simulation_id not in self.simulations:
            return None
        name, runs, _ = self.simulations[simulation_id]
        return AcceptedPlan(
            simulation_id=simulation_id,
            name=name,
            spec={"name": name},
            runs_total=len(runs),
            run_ids=runs,
            accepted_at="2026-01-01T00:00:00+00:00",
        )

    async def phase_of(self, simulation_id: str) -> str | None:
        entry = self.simulations.get(simulation_id)
        return entry[2] if entry else None


def plans() -> list[RunPlan]:
    return [
        dataclasses.replace(plan, sweep={"p": 0.5})
        for plan in expand_runs(parse_spec(SPEC)).values()
    ]


def one_run(simulation_id: str, run_id: str, plan: RunPlan) -> list[Message]:
    """A min run of two rounds that converges in the second."""
    rounds = [
        {"count": 4, "mean": 2.5, "variance": 1.25, "min": 1.0, "max": 4.0, "history": [1.0]},
        {"count": 4, "mean": 1.5, "variance": 0.25, "min": 1.0, "max": 2.0},
        {"count": 4, "mean": 1.0, "variance": 0.0, "min": 1.0, "max": 1.0},
    ]
    return [
        RunRound(simulation_id=simulation_id, run_id=run_id, first_round=0, rounds=rounds),
        RunCompleted(
            simulation_id=simulation_id, run_id=run_id, rounds=2, converged=True, plan=plan
        ),
    ]


def finished(simulation_id: str) -> SimulationCompleted:
    return SimulationCompleted(simulation_id=simulation_id, runs_total=1, succeeded=1, failed=0)


async def collect(
    store: LocalDirectoryStore, accepted: NamedPlans, events: Sequence[Message]
) -> None:
    """Publish the events to a collector and wait until it announces results.stored (after
    everything it writes for a completed simulation)."""
    topology = Topology(prefix="finish-outputs")
    bus = InMemoryBus()
    await topology.declare(bus)
    collector = CollectorService(bus=bus, topology=topology, store=store, plans=accepted)
    stored = asyncio.Event()

    async def scheduler(delivery: Delivery) -> None:
        if delivery.envelope.routing_key == "results.stored":
            stored.set()
        await delivery.ack()

    await bus.consume(topology.scheduler_queue, scheduler, prefetch=16)
    await collector.start()
    for message in events:
        await bus.publish(topology.events, Envelope(body=encode(message), routing_key=message.kind))
    try:
        await asyncio.wait_for(stored.wait(), 10)
    finally:
        await collector.close()
        await bus.close()


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


async def test_the_long_table_is_written_in_parts_that_the_manifest_names(tmp_path):
    store = LocalDirectoryStore(tmp_path)
    accepted = NamedPlans()
    done, failed = plans()
    accepted.accept("s", "tables", ["done", "failed"], "completed")
    events = [
        *one_run("s", "done", done),
        RunFailed(simulation_id="s", run_id="failed", error="boom", retryable=False, plan=failed),
        finished("s"),
    ]
    await collect(store, accepted, events)
    manifest = orjson.loads(await store.get(layout.simulation_key("s", layout.MANIFEST)))
    assert manifest["files"] == [
        "summary.csv",
        "averaged.csv",
        "rounds/part-00000.csv",
        "summary.parquet",
        "rounds.parquet",
        "plots/convergence.png",
        "plots/rounds.png",
        "report.html",
        "runs/<run>/result.json",
        "runs/<run>/rounds.jsonl",
        "runs/<run>/history.parquet",  # the run sampled one vertex at round 0
    ]
    rows = read_csv(await store.get(layout.rounds_part_key("s", 0)))
    assert [(row["run_id"], row["round"]) for row in rows] == [
        ("done", "0"),
        ("done", "1"),
        ("done", "2"),
    ]
    assert {row["param_p"] for row in rows} == {"0.5"}
    assert [row["converged"] for row in rows] == ["False", "False", "True"]
    assert [float(row["spread"]) for row in rows] == [0.75, 0.5, 0.0]
    assert "history" not in rows[0]
    summary = read_csv(await store.get(layout.simulation_key("s", layout.SUMMARY)))
    assert {row["run_id"]: row["param_p"] for row in summary} == {"done": "0.5", "failed": "0.5"}
    assert {row["graph_seed"] for row in summary} == {"0"}  # the generator's seed (default)
    (averaged,) = read_csv(await store.get(layout.simulation_key("s", layout.AVERAGED)))
    assert (averaged["param_p"], averaged["runs"], averaged["converged"]) == ("0.5", "2", "1")


async def test_the_latest_pointer_names_the_simulation_of_a_name_completed_last(tmp_path):
    store = LocalDirectoryStore(tmp_path)
    accepted = NamedPlans()
    (plan, _) = plans()
    pointer_key = layout.latest_key("My Sweep")
    assert pointer_key == "latest/my-sweep.json"
    for simulation_id in ("first", "second"):
        accepted.accept(simulation_id, "My Sweep", ["r"], "completed")
        events = [*one_run(simulation_id, "r", plan), finished(simulation_id)]
        await collect(store, accepted, events)
        pointer = orjson.loads(await store.get(pointer_key))
        manifest = orjson.loads(
            await store.get(layout.simulation_key(simulation_id, "manifest.json"))
        )
        assert pointer == {
            "simulation_id": simulation_id,
            "name": "My Sweep",
            "completed_at": manifest["completed_at"],
            "location": str(tmp_path / "simulations" / simulation_id),
        }
    # a pointer to a simulation completed later (by the clock) is not moved back
    later = {**pointer, "simulation_id": "future", "completed_at": "2999-01-01T00:00:00+00:00"}
    await store.put(pointer_key, orjson.dumps(later))
    accepted.accept("third", "My Sweep", ["r"], "completed")
    await collect(store, accepted, [*one_run("third", "r", plan), finished("third")])
    assert orjson.loads(await store.get(pointer_key))["simulation_id"] == "future"


async def test_a_cancelled_simulation_is_never_the_latest(tmp_path):
    store = LocalDirectoryStore(tmp_path)
    accepted = NamedPlans()
    (plan, _) = plans()
    accepted.accept("cancelled", "sweep", ["r", "never-ran"], "cancelled")
    await collect(store, accepted, [*one_run("cancelled", "r", plan), finished("cancelled")])
    assert await store.exists("simulations/cancelled/manifest.json")
    assert not await store.exists(layout.latest_key("sweep"))


async def test_a_pointer_lost_after_the_manifest_is_written_on_the_next_announcement(tmp_path):
    """A collector that died between the manifest and the pointer: the redelivered
    simulation.completed writes no file of the simulation again, but the pointer."""
    store = LocalDirectoryStore(tmp_path)
    accepted = NamedPlans()
    (plan, _) = plans()
    accepted.accept("s", "sweep", ["r"], "completed")
    await collect(store, accepted, [*one_run("s", "r", plan), finished("s")])
    summary = await store.get("simulations/s/summary.csv")
    await store.delete("latest/sweep.json")
    await collect(store, accepted, [finished("s")])
    assert orjson.loads(await store.get("latest/sweep.json"))["simulation_id"] == "s"
    assert await store.get("simulations/s/summary.csv") == summary
