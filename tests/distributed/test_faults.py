"""Fault tests: services killed mid-simulation, poison commands, lost nodes, leases.

Every test runs the real services as processes over the real RabbitMQ (a unique prefix on the
shared broker) with results in S3, injects one kind of fault, and checks the outcome in the
stored results: every run exactly once in summary.csv, every round of telemetry stored once.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import orjson
import pytest
import yaml

from tests.distributed.harness import Cluster, Tap, sigkill_children
from tests.support.forged import run_start_body

ROUNDS = 400  # per run: about 0.3 s on this machine, long enough to be killed mid-run
LONG = 4000  # about 3 s


def write_spec(directory: Path, name: str, repetitions: int, rounds: int = ROUNDS) -> Path:
    """Runs of fixed length on one small graph whose metrics are quick to compute."""
    spec = {
        "name": name,
        "seed": 7,
        "graphs": [
            {
                "name": "rr-6000",
                "generator": "random_regular_graph",
                "params": {"n": 6000, "d": 4},
                "seed": 1,
            }
        ],
        "algorithms": [{"rule": "average", "mode": "synchronous"}],
        "repetitions": repetitions,
        "stop": "max_rounds",
        "max_rounds": rounds,
    }
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def runner_of(tap: Tap, run_id: str) -> str:
    return next(
        m.body["runner"] for m in reversed(tap.of_kind("run.started")) if m.body["run_id"] == run_id
    )


def in_flight(tap: Tap) -> dict[str, str]:
    """Runs started and not yet finished, by runner name (latest start per runner)."""
    finished = {
        (m.body["run_id"], m.body["attempt"])
        for kind in ("run.completed", "run.failed")
        for m in tap.of_kind(kind)
    }
    running: dict[str, str] = {}
    for m in tap.of_kind("run.started"):
        if (m.body["run_id"], m.body["attempt"]) not in finished:
            running[m.body["runner"]] = m.body["run_id"]
        else:
            running.pop(m.body["runner"], None)
    return running


async def assert_every_run_once(cluster: Cluster, simulation_id: str, runs: int) -> None:
    """summary.csv: each run once, completed; rounds.jsonl: every round once, in order."""
    rows = await cluster.summary(simulation_id)
    run_ids = [row["run_id"] for row in rows]
    assert len(run_ids) == runs and len(set(run_ids)) == runs
    failed = {row["run_id"]: row["error"] for row in rows if row["status"] != "completed"}
    assert not failed, failed
    async with cluster.store() as store:
        for run_id in run_ids:
            key = f"simulations/{simulation_id}/runs/{run_id}/rounds.jsonl"
            lines = (await store.get(key)).decode().splitlines()
            assert [orjson.loads(line)["round"] for line in lines] == list(range(ROUNDS + 1))


@pytest.mark.timeout(900)
async def test_runners_killed_20_times_mid_run_lose_and_duplicate_nothing(cluster: Cluster):
    cluster.start("scheduler")
    cluster.start("collector")
    runners = [cluster.start("runner"), cluster.start("runner")]
    async with Tap(cluster.broker_url, cluster.prefix) as tap:
        simulation_id = cluster.submit(write_spec(cluster.workdir, "kill-runners", 200))
        killed_runs: set[str] = set()
        kills = 0
        while kills < 20:
            completed_before = len(tap.of_kind("run.completed"))
            await tap.wait_until(
                lambda: any(
                    name in runners and run not in killed_runs
                    for name, run in in_flight(tap).items()
                ),
                timeout=120,
                what="a runner in the middle of a run it was never killed in",
            )
            await asyncio.sleep(0.1)  # well inside the ~0.3 s run
            picked = next(
                (
                    (name, run)
                    for name, run in in_flight(tap).items()
                    if name in runners and run not in killed_runs
                ),
                None,
            )
            if picked is None:
                continue  # that run finished during the pause: wait for the next one
            victim, run_id = picked
            cluster.kill(victim, signal.SIGKILL)
            runners.remove(victim)
            killed_runs.add(run_id)
            kills += 1
            runners.append(cluster.start("runner"))
            await tap.wait_until(
                lambda n=completed_before: len(tap.of_kind("run.completed")) > n,
                timeout=120,
                what="progress after a kill",
            )
        manifest = await cluster.wait_for_results(simulation_id, timeout=600)
    assert kills == 20
    assert manifest["runs_succeeded"] == 200 and manifest["runs_failed"] == 0
    await assert_every_run_once(cluster, simulation_id, 200)


@pytest.mark.timeout(600)
async def test_collector_killed_mid_simulation_loses_and_duplicates_no_telemetry(
    cluster: Cluster,
):
    cluster.start("scheduler")
    cluster.start("runner")
    collector = cluster.start("collector")
    async with Tap(cluster.broker_url, cluster.prefix) as tap:
        simulation_id = cluster.submit(write_spec(cluster.workdir, "kill-collector", 40))
        for times in (5, 15, 25):
            await tap.wait_until(
                lambda t=times: len(tap.of_kind("run.completed")) >= t,
                timeout=180,
                what=f"{times} runs completed",
            )
            cluster.kill(collector, signal.SIGKILL)
            collector = cluster.start("collector")
        await cluster.wait_for_results(simulation_id)
    await assert_every_run_once(cluster, simulation_id, 40)


@pytest.mark.timeout(600)
async def test_scheduler_killed_mid_simulation_resumes_from_its_stored_state(cluster: Cluster):
    scheduler = cluster.start("scheduler")
    cluster.start("collector")
    cluster.start("runner")
    spec = write_spec(cluster.workdir, "kill-scheduler", 40)
    async with Tap(cluster.broker_url, cluster.prefix) as tap:
        simulation_id = cluster.submit(spec)
        for times in (5, 20):
            await tap.wait_until(
                lambda t=times: len(tap.of_kind("run.completed")) >= t,
                timeout=180,
                what=f"{times} runs completed",
            )
            cluster.kill(scheduler, signal.SIGKILL)
            scheduler = cluster.start("scheduler")
        manifest = await cluster.wait_for_results(simulation_id)
        assert manifest["runs_succeeded"] == 40
        status = await cluster.get_json(f"scheduler/simulations/{simulation_id}.json")
        assert status["phase"] == "completed" and status["counts"]["completed"] == 40
        assert status["results"].endswith(simulation_id)

        starts = len(tap.of_kind("run.start"))
        assert cluster.submit(spec) == simulation_id  # the same spec again: idempotent
        await tap.wait_until(
            lambda: len(tap.of_kind("simulation.submit")) == 2, what="the second submission"
        )
        await asyncio.sleep(2)  # give a wrong scheduler time to publish runs again
        assert len(tap.of_kind("run.start")) == starts
    await assert_every_run_once(cluster, simulation_id, 40)


@pytest.mark.timeout(600)
async def test_poison_run_is_dead_lettered_after_the_delivery_limit(cluster: Cluster):
    """A command whose every delivery kills its runner (here: the test kills it) is given up
    after the delivery limit (5), with the reason; the run fails, the others complete."""
    cluster.start("scheduler")
    cluster.start("collector")
    runner = cluster.start("runner")
    async with Tap(cluster.broker_url, cluster.prefix) as tap:
        simulation_id = cluster.submit(write_spec(cluster.workdir, "poison", 12))
        await tap.wait_until(
            lambda: len(tap.of_kind("run.start", "commands")) == 12, what="the run commands"
        )
        poison = tap.of_kind("run.start", "commands")[3].body["run_id"]
        for delivery in range(1, 6):
            await tap.wait_until(
                lambda d=delivery: (
                    sum(m.body["run_id"] == poison for m in tap.of_kind("run.started")) >= d
                ),
                timeout=120,
                what=f"delivery {delivery} of the poison run",
            )
            cluster.kill(runner, signal.SIGKILL)
            runner = cluster.start("runner")
        manifest = await cluster.wait_for_results(simulation_id)
        dead = [m for m in tap.of_kind("run.start", "dead-letter") if m.body["run_id"] == poison]
    assert manifest["runs_succeeded"] == 11 and manifest["runs_failed"] == 1
    assert [m.headers["x-gossipsim-reason"] for m in dead] == ["delivery limit of 5 reached"]
    rows = {row["run_id"]: row for row in await cluster.summary(simulation_id)}
    assert rows[poison]["status"] == "failed"
    assert rows[poison]["error"] == "dead-lettered: delivery limit of 5 reached"
    assert cluster.alive(runner)


@pytest.mark.timeout(600)
async def test_impossible_run_is_dead_lettered_at_once_and_the_runner_keeps_serving(
    cluster: Cluster,
):
    """Valid JSON, impossible run (a graph no generator can make): dead-lettered on its first
    delivery with the reason; runs of a simulation beside it are unaffected."""
    cluster.start("scheduler")
    cluster.start("collector")
    runner = cluster.start("runner")
    negative = {"generator": "random_regular_graph", "params": {"n": -5, "d": 3}}
    impossible = run_start_body("elsewhere", "impossible.r0", negative)
    async with Tap(cluster.broker_url, cluster.prefix) as tap:
        simulation_id = cluster.submit(write_spec(cluster.workdir, "beside-poison", 6))
        await publish_raw(cluster, "run.start", impossible)
        manifest = await cluster.wait_for_results(simulation_id)
        await tap.wait_until(
            lambda: bool(tap.of_kind("run.start", "dead-letter")), what="the dead letter"
        )
        (dead,) = tap.of_kind("run.start", "dead-letter")
    assert manifest["runs_succeeded"] == 6
    assert dead.body["run_id"] == "impossible.r0"
    assert dead.headers["x-gossipsim-reason"].startswith("impossible run: ")
    assert "n" in dead.headers["x-gossipsim-reason"]
    starts = [m for m in tap.of_kind("run.started") if m.body["run_id"] == "impossible.r0"]
    assert not starts  # refused before it started (the plan is checked first), never retried
    assert cluster.alive(runner)


async def publish_raw(cluster: Cluster, routing_key: str, body: bytes) -> None:
    """Publish to the commands exchange as any AMQP client would."""
    import aio_pika

    connection = await aio_pika.connect(cluster.broker_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(f"{cluster.prefix}.commands")
        await exchange.publish(
            aio_pika.Message(
                body,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=routing_key,
        )


@pytest.mark.timeout(600)
async def test_node_killed_mid_run_is_retried_on_fresh_nodes(cluster: Cluster):
    cluster.start("scheduler")
    cluster.start("collector")
    runner = cluster.start("runner")
    async with Tap(cluster.broker_url, cluster.prefix) as tap:
        simulation_id = cluster.submit(write_spec(cluster.workdir, "kill-node", 4, rounds=LONG))
        await tap.wait_until(
            lambda: len(tap.of_kind("run.completed")) >= 1 and bool(in_flight(tap)),
            timeout=180,
            what="a run in progress after one completed",
        )
        await asyncio.sleep(0.3)
        (victim_run,) = in_flight(tap).values()
        killed = sigkill_children(cluster.processes[runner].pid)
        assert killed, "the runner had no node processes"
        manifest = await cluster.wait_for_results(simulation_id)
        failures = [m.body for m in tap.of_kind("run.failed")]
    assert manifest["runs_succeeded"] == 4
    rows = {row["run_id"]: row for row in await cluster.summary(simulation_id)}
    assert {row["status"] for row in rows.values()} == {"completed"}
    assert [f["run_id"] for f in failures] == [victim_run] and failures[0]["retryable"]
    assert rows[victim_run]["attempts"] == "2"
    assert cluster.alive(runner)


@pytest.mark.timeout(600)
async def test_long_run_is_acked_early_and_restarted_when_its_heartbeats_stop(cluster: Cluster):
    """Past GOSSIPSIM_RUN_ACK_AFTER_SECONDS the runner acks and sends heartbeats; the scheduler
    restarts the run when they stop for GOSSIPSIM_LEASE_TIMEOUT_SECONDS."""
    cluster.start("scheduler", GOSSIPSIM_LEASE_TIMEOUT_SECONDS="3")
    cluster.start("collector")
    fast = {"GOSSIPSIM_RUN_ACK_AFTER_SECONDS": "0.2", "GOSSIPSIM_HEARTBEAT_SECONDS": "0.3"}
    runner = cluster.start("runner", **fast)
    async with Tap(cluster.broker_url, cluster.prefix) as tap:
        simulation_id = cluster.submit(write_spec(cluster.workdir, "lease", 1, rounds=LONG))
        await tap.wait_until(lambda: bool(tap.of_kind("run.heartbeat")), what="a heartbeat")
        cluster.kill(runner, signal.SIGKILL)
        cluster.start("runner", **fast)
        manifest = await cluster.wait_for_results(simulation_id)
        attempts = sorted({m.body["attempt"] for m in tap.of_kind("run.start", "commands")})
    assert manifest["runs_succeeded"] == 1
    assert attempts == [1, 2]
    (row,) = await cluster.summary(simulation_id)
    assert row["status"] == "completed" and row["attempts"] == "2"


@pytest.mark.timeout(600)
async def test_sigterm_lets_the_runner_finish_its_run(cluster: Cluster):
    cluster.start("scheduler")
    cluster.start("collector")
    runner = cluster.start("runner")
    async with Tap(cluster.broker_url, cluster.prefix) as tap:
        simulation_id = cluster.submit(write_spec(cluster.workdir, "drain", 3, rounds=LONG))
        await tap.wait_until(lambda: bool(in_flight(tap)), what="a run in progress")
        (run_id,) = in_flight(tap).values()
        process = cluster.processes.pop(runner)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0
        await tap.wait_until(
            lambda: any(m.body["run_id"] == run_id for m in tap.of_kind("run.completed")),
            timeout=10,
            what="the run's completion (published before the runner exited)",
        )
        cluster.start("runner")
        await cluster.wait_for_results(simulation_id)
        starts = [m for m in tap.of_kind("run.started") if m.body["run_id"] == run_id]
    assert len(starts) == 1  # finished, not redelivered
    completions = [m.body for m in tap.of_kind("run.completed") if m.body["run_id"] == run_id]
    assert len(completions) == 1 and completions[0]["attempt"] == 1
    assert runner_of(tap, run_id) == runner
