"""The scheduler's cost per event, and the bytes it stores per flush, against the sweep's size.

    python bench/scheduler_bench.py [--runs 10000 100000 1000000] [--events 10000]

For each size N: a real SchedulerService on the in-memory bus, with its state in a local store
in a temporary directory (fsync'd, as the local store always is), accepts a simulation of N
runs; then the first ``--events`` runs (in plan order, as runners take them) each send
run.started and run.completed, all queued at once, and the time until the scheduler has
handled and stored them all is divided by the number of events. The bytes stored and the
flushes (group commits) during that phase give the bytes per flush.

The per-event cost and the bytes per flush must not grow with N (docs/results.md, "The
scheduler's state"): both were proportional to N when every flush rewrote one status document
holding every run (about 70 ms per event and 115 MiB per flush at 10^6 runs).

Accepting is set up here without the spec check (its cost is another matter): the plans are
made directly, every run sharing one plan, and handed to the scheduler as an accepted
submission would be. The runs queue is not declared, so the run commands go nowhere.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from gossipsim.common.messaging.bus import Envelope, QueueSpec
from gossipsim.common.messaging.memory_bus import InMemoryBus
from gossipsim.common.messaging.messages import Message, RunCompleted, RunStarted, encode
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.spec.ids import RunId, SimulationId
from gossipsim.common.spec.simulation_spec import expand_runs, parse_spec
from gossipsim.common.storage.local_store import LocalDirectoryStore
from gossipsim.scheduler.service import SchedulerService
from gossipsim.scheduler.state import SimulationState

SPEC = {
    "name": "bench",
    "graphs": [{"name": "k4", "generator": "complete_graph", "params": {"n": 4}}],
    "algorithms": ["default"],
}


async def declare(bus: InMemoryBus, topology: Topology) -> None:
    """The exchanges, and the scheduler's queue with its event bindings; no runs queue."""
    for exchange in (topology.commands, topology.events, topology.dead_letter):
        await bus.declare_exchange(exchange, kind="topic")
    await bus.declare_queue(QueueSpec(name=topology.scheduler_queue))
    for key in ("run.started", "run.completed"):
        await bus.bind(topology.scheduler_queue, topology.events, key)


async def measure(runs: int, events: int, root: Path) -> dict[str, float]:
    topology = Topology(prefix="bench")
    bus = InMemoryBus()
    await declare(bus, topology)
    scheduler = SchedulerService(bus=bus, topology=topology, store=LocalDirectoryStore(root))
    await scheduler.start()

    (plan,) = expand_runs(parse_spec({**SPEC, "repetitions": 1})).values()
    plans = {RunId(f"k4.default.r{k}"): plan for k in range(runs)}
    started = time.perf_counter()
    state = SimulationState(simulation_id=SimulationId("bench"), plans=plans, spec=SPEC)
    scheduler.simulations[state.simulation_id] = state
    await scheduler._announce(state)  # as an accepted submission: stored, then published
    accepted = time.perf_counter() - started

    states = scheduler._states
    assert states is not None
    flushes, written = states.flushes, states.bytes_written
    messages: list[Message] = []
    sim = state.simulation_id
    for run_id in list(plans)[:events]:
        messages.append(RunStarted(simulation_id=sim, run_id=run_id, runner="bench"))
        messages.append(
            RunCompleted(simulation_id=sim, run_id=run_id, rounds=10, converged=True, plan=plan)
        )
    bodies = [Envelope(body=encode(m), routing_key=m.kind) for m in messages]
    started = time.perf_counter()
    for envelope in bodies:
        await bus.publish(topology.events, envelope)
    while state.done_count < events or bus.queue_depth(topology.scheduler_queue):
        await asyncio.sleep(0.001)
    await states.save(state)  # the last of them stored
    elapsed = time.perf_counter() - started
    flushes, written = states.flushes - flushes, states.bytes_written - written
    await scheduler.close()
    await bus.close()
    return {
        "accept_s": accepted,
        "ms_per_event": 1000 * elapsed / len(messages),
        "flushes": flushes,
        "bytes_per_flush": written / max(flushes, 1),
        "events_per_flush": len(messages) / max(flushes, 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--events", type=int, default=10_000, help="runs reporting, per size")
    args = parser.parse_args()
    print(
        f"{'runs':>9}  {'accept s':>8}  {'ms/event':>8}  {'flushes':>7}  "
        f"{'events/flush':>12}  {'bytes/flush':>11}"
    )
    for runs in args.runs:
        with tempfile.TemporaryDirectory() as root:
            result = await measure(runs, min(args.events, runs), Path(root))
        print(
            f"{runs:>9}  {result['accept_s']:>8.1f}  {result['ms_per_event']:>8.3f}  "
            f"{result['flushes']:>7.0f}  {result['events_per_flush']:>12.1f}  "
            f"{result['bytes_per_flush']:>11,.0f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
