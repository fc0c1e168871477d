"""What each branch of the error tree does to a message, seen end to end in embedded mode.

A bug is requeued and dead-lettered at the delivery limit with its traceback logged, never
reported as bad input; bad input is dead-lettered at once; a requeue the collector expects is
logged without a traceback; every line logged while a message is handled names its ids.
"""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import orjson

from gossipsim.collector import service as collector_service
from gossipsim.collector.service import CollectorService
from gossipsim.common.errors import InvalidInput
from gossipsim.common.messaging import consuming, memory_bus
from gossipsim.common.messaging.bus import Delivery, Envelope
from gossipsim.common.messaging.memory_bus import InMemoryBus
from gossipsim.common.messaging.messages import RunCompleted, RunRound, encode
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.storage.local_store import LocalDirectoryStore
from gossipsim.embedded import run_embedded
from gossipsim.runner import service as runner_service
from gossipsim.runner.driver import ShardSession
from gossipsim.scheduler import service as scheduler_service
from tests.support.accepted_plans import FixedPlans
from tests.support.captured_logs import captured_logs

SPEC = {
    "name": "errors",
    "graphs": [{"name": "k5", "generator": "complete_graph", "params": {"n": 5}}],
    "algorithms": ["default"],
    "repetitions": 3,
}
LOGGING_MODULES = (runner_service, scheduler_service, collector_service, consuming, memory_bus)


def _rows(location: str) -> dict[str, dict[str, str]]:
    with (Path(location) / "summary.csv").open() as handle:
        return {row["run_id"]: row for row in csv.DictReader(handle)}


async def _run_with_failing_step(tmp_path, monkeypatch, error: Exception):
    """Run SPEC with ShardSession.run raising ``error`` for the run ending in .r1 on every
    delivery; return the deliveries per run, the summary rows and the captured log."""
    attempts: dict[str, int] = {}
    real_run = ShardSession.run

    async def failing_run(self, *, run_id, seed, settings):
        attempts[run_id] = attempts.get(run_id, 0) + 1
        if run_id.endswith(".r1"):
            raise error
        return await real_run(self, run_id=run_id, seed=seed, settings=settings)

    monkeypatch.setattr(ShardSession, "run", failing_run)
    with captured_logs(monkeypatch, *LOGGING_MODULES) as logs:
        outcome = await run_embedded(SPEC, out_dir=tmp_path)
    assert outcome.state is not None and outcome.location
    return attempts, _rows(outcome.location), logs, outcome.simulation_id


async def test_a_bug_is_requeued_then_dead_lettered_at_the_limit_with_its_traceback(
    tmp_path, monkeypatch
):
    """A KeyError in a runner step is a bug: redelivered up to the limit (5), its traceback
    logged each time, then dead-lettered with the error; never called impossible."""
    attempts, rows, logs, simulation_id = await _run_with_failing_step(
        tmp_path, monkeypatch, KeyError("boom")
    )
    buggy = next(run for run in attempts if run.endswith(".r1"))
    assert attempts[buggy] == 5
    assert rows[buggy]["status"] == "failed"
    assert rows[buggy]["error"] == (
        "dead-lettered: failed on 5 deliveries; last error: KeyError('boom')"
    )
    assert sum(row["status"] == "completed" for row in rows.values()) == 2
    raised = [entry for entry in logs if entry["event"] == "run raised"]
    assert len(raised) == 5
    for entry in raised:
        assert entry["exc_info"] is True and entry["log_level"] == "error"
        assert (entry["simulation_id"], entry["run_id"]) == (simulation_id, buggy)
    assert not [entry for entry in logs if entry["event"] == "run is impossible"]
    assert "impossible" not in rows[buggy]["error"]


async def test_invalid_input_is_dead_lettered_at_once(tmp_path, monkeypatch):
    attempts, rows, logs, simulation_id = await _run_with_failing_step(
        tmp_path, monkeypatch, InvalidInput("must lie in 0..4", field="history.vertices")
    )
    impossible = next(run for run in attempts if run.endswith(".r1"))
    assert attempts[impossible] == 1
    assert rows[impossible]["error"] == (
        "dead-lettered: impossible run: history.vertices: must lie in 0..4"
    )
    (warning,) = [entry for entry in logs if entry["event"] == "run is impossible"]
    assert (warning["simulation_id"], warning["run_id"]) == (simulation_id, impossible)
    assert not any("exc_info" in entry for entry in logs)


async def test_log_lines_written_while_handling_a_message_carry_its_ids(tmp_path, monkeypatch):
    """The scheduler retries a run whose nodes failed: its log line names the run, and so
    does every runner line about the failed attempts."""
    from gossipsim.common.errors import ShardFailed

    attempts, _, logs, simulation_id = await _run_with_failing_step(
        tmp_path, monkeypatch, ShardFailed("node shard 0 stopped answering")
    )
    failing = next(run for run in attempts if run.endswith(".r1"))
    about_the_run = [e for e in logs if e["event"] in ("run failed", "retrying run")]
    assert {e["event"] for e in about_the_run} == {"run failed", "retrying run"}
    for entry in about_the_run:
        assert (entry["simulation_id"], entry["run_id"]) == (simulation_id, failing)
    stored = [e for e in logs if e["event"] == "results stored"]
    assert [e["simulation_id"] for e in stored] == [simulation_id]


async def test_the_collectors_expected_requeue_is_not_logged_as_a_crash(tmp_path, monkeypatch):
    """run.completed before its telemetry is requeued after a delay (prefetch 2 lets the
    telemetry behind it through meanwhile), with an info line and no traceback."""
    topology = Topology(prefix="requeue-test")
    store = LocalDirectoryStore(tmp_path)
    completed = RunCompleted(simulation_id="s", run_id="s.r0", rounds=1, converged=True)
    telemetry = RunRound(
        simulation_id="s", run_id="s.r0", first_round=0, rounds=[{"mean": 1.0}, {"mean": 0.5}]
    )
    with captured_logs(monkeypatch, *LOGGING_MODULES) as logs:
        async with InMemoryBus() as bus:
            await topology.declare(bus)
            collector = CollectorService(
                bus=bus,
                topology=topology,
                store=store,
                prefetch=2,
                plans=FixedPlans({"s": ["s.r0"]}),
            )
            await collector.start()
            for message in (completed, telemetry):
                envelope = Envelope(body=encode(message), routing_key=message.kind)
                await bus.publish(topology.events, envelope)
            for _ in range(200):
                if await store.exists("simulations/s/runs/s.r0/result.json"):
                    break
                await asyncio.sleep(0.05)
            await collector.close()
    assert await store.exists("simulations/s/runs/s.r0/rounds.jsonl")
    (requeue,) = [entry for entry in logs if entry["event"] == "requeueing a message"]
    assert requeue["log_level"] == "info"
    assert (requeue["simulation_id"], requeue["run_id"]) == ("s", "s.r0")
    assert "0 of 2 rounds stored so far" in requeue["reason"]
    assert not any("exc_info" in entry for entry in logs)


async def test_telemetry_that_never_comes_fails_the_run_with_the_reason(tmp_path, monkeypatch):
    """run.completed waits through its deliveries for the run's telemetry; at the last one the
    run is recorded failed with the reason, not dead-lettered unseen (nothing lost is done)."""
    monkeypatch.setattr(consuming, "MAX_DEFER", 0.01)
    topology = Topology(prefix="give-up-test", delivery_limit=3)
    store = LocalDirectoryStore(tmp_path)
    completed = RunCompleted(simulation_id="s", run_id="s.r0", rounds=4, converged=True)
    dead: list[Delivery] = []

    async def collect(delivery: Delivery) -> None:
        dead.append(delivery)
        await delivery.ack()

    result_key = "simulations/s/runs/s.r0/result.json"
    with captured_logs(monkeypatch, *LOGGING_MODULES) as logs:
        async with InMemoryBus() as bus:
            await topology.declare(bus)
            collector = CollectorService(
                bus=bus, topology=topology, store=store, plans=FixedPlans({"s": ["s.r0"]})
            )
            await collector.start()
            await bus.consume(topology.dead_letters_queue, collect)
            envelope = Envelope(body=encode(completed), routing_key=completed.kind)
            await bus.publish(topology.events, envelope)
            for _ in range(1000):
                if await store.exists(result_key):
                    break
                await asyncio.sleep(0.01)
            await collector.close()
    result = orjson.loads(await store.get(result_key))
    assert result["status"] == "failed"
    assert result["error"].startswith("results lost: 0 of 5 rounds of telemetry reached")
    assert not dead
    assert [entry["log_level"] for entry in logs] == ["info", "info", "warning"]
    assert not any("exc_info" in entry for entry in logs)
