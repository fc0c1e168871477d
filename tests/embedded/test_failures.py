"""Failures in embedded mode: retries, final failures, and redelivery without duplicates."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from gossipsim.collector.service import CollectorService
from gossipsim.common.messaging.bus import Envelope
from gossipsim.common.messaging.memory_bus import InMemoryBus
from gossipsim.common.messaging.messages import RunCompleted, RunRound, SimulationCompleted, encode
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.spec.simulation_spec import expand_runs, parse_spec
from gossipsim.common.storage.local_store import LocalDirectoryStore
from gossipsim.embedded import run_embedded
from gossipsim.runner.driver import ShardSession
from tests.support.accepted_plans import FixedPlans

SPEC = {
    "name": "flaky",
    "graphs": [{"name": "k6", "generator": "complete_graph", "params": {"n": 6}}],
    "algorithms": ["default"],
    "repetitions": 4,
}


async def test_a_run_whose_runner_raises_is_redelivered_then_dead_lettered(tmp_path, monkeypatch):
    """An unforeseen error requeues the command; at the delivery limit (5) it is dead-lettered
    with the last error and the run is reported failed; the other runs are unaffected."""
    attempts: dict[str, int] = {}
    real_run = ShardSession.run

    async def flaky_run(self, *, run_id, seed, settings):
        attempts[run_id] = attempts.get(run_id, 0) + 1
        if run_id.endswith(".r1"):
            raise RuntimeError("simulated runner crash")
        if run_id.endswith(".r2") and attempts[run_id] == 1:
            raise RuntimeError("transient failure")
        return await real_run(self, run_id=run_id, seed=seed, settings=settings)

    monkeypatch.setattr(ShardSession, "run", flaky_run)
    outcome = await run_embedded(SPEC, out_dir=tmp_path)
    assert outcome.state is not None
    failed_run = next(r for r in attempts if r.endswith(".r1"))
    retried_run = next(r for r in attempts if r.endswith(".r2"))
    assert attempts[failed_run] == 5 and attempts[retried_run] == 2
    with (Path(outcome.location) / "summary.csv").open() as handle:
        rows = {row["run_id"]: row for row in csv.DictReader(handle)}
    assert len(rows) == 4
    assert rows[failed_run]["status"] == "failed"
    assert rows[failed_run]["error"] == (
        "dead-lettered: failed on 5 deliveries; last error: RuntimeError('simulated runner crash')"
    )
    assert rows[retried_run]["status"] == "completed"
    assert sum(row["status"] == "completed" for row in rows.values()) == 3


async def test_redelivered_results_never_duplicate_rows(tmp_path):
    """A collector that crashed after storing a result but before acking sees it again."""
    topology = Topology(prefix="dup-test")
    bus = InMemoryBus()
    await topology.declare(bus)
    store = LocalDirectoryStore(tmp_path)
    accepted = FixedPlans({"s": ["r0"]}, phase="completed")  # the scheduler's view
    collector = CollectorService(bus=bus, topology=topology, store=store, plans=accepted)
    await collector.start()
    (plan,) = expand_runs(parse_spec({**SPEC, "repetitions": 1})).values()
    telemetry = RunRound(
        simulation_id="s", run_id="r0", first_round=0, rounds=[{"mean": 1.0}, {"mean": 0.5}]
    )
    completed = RunCompleted(simulation_id="s", run_id="r0", rounds=1, converged=True, plan=plan)
    for message in (telemetry, completed, telemetry, completed):  # the redelivered copies
        await bus.publish(topology.events, Envelope(body=encode(message), routing_key=message.kind))
    finished = SimulationCompleted(simulation_id="s", runs_total=1, succeeded=1, failed=0)
    await bus.publish(topology.events, Envelope(body=encode(finished), routing_key=finished.kind))
    for _ in range(200):
        if await store.exists("simulations/s/summary.csv"):
            break
        await asyncio.sleep(0.02)
    await collector.close()
    await bus.close()
    summary = (await store.get("simulations/s/summary.csv")).decode().splitlines()
    assert len(summary) == 2  # header + one row
    rounds = (await store.get("simulations/s/runs/r0/rounds.jsonl")).decode().splitlines()
    assert len(rounds) == 2
