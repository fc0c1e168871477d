"""The services as separate processes over the real RabbitMQ, results in a store (issue #4)."""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import subprocess
import sys
import time
import uuid

import aio_pika
import pytest

from tests.conftest import REPO

URL = os.environ.get("GOSSIPSIM_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


async def delete_prefixed(prefix: str) -> None:
    """Remove this test's queues and exchanges from the shared broker."""
    connection = await aio_pika.connect(URL)
    async with connection:
        for suffix in ("runs", "scheduler", "collector", "dead-letters"):
            channel = await connection.channel()
            await channel.queue_delete(f"{prefix}.{suffix}")
        for suffix in ("commands", "events", "dead-letter"):
            channel = await connection.channel()
            await channel.exchange_delete(f"{prefix}.{suffix}")


@pytest.mark.timeout(600)
async def test_quickstart_runs_on_separate_scheduler_runner_and_collector(tmp_path):
    try:
        connection = await asyncio.wait_for(aio_pika.connect(URL), 5)
        await connection.close()
    except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as error:
        if os.environ.get("GOSSIPSIM_REQUIRE_SERVICES") == "1":
            pytest.fail(f"no RabbitMQ at {URL}: {error!r}")
        pytest.skip(f"no RabbitMQ at {URL}: {error!r}")
    prefix = f"gstest-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "GOSSIPSIM_BROKER_URL": URL,
        "GOSSIPSIM_PREFIX": prefix,
        "GOSSIPSIM_STORE": str(tmp_path / "store"),
        "GOSSIPSIM_LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "gossipsim.cli"]
    logs = {
        name: (tmp_path / f"{name}.log").open("w") for name in ("scheduler", "collector", "runner")
    }
    services = [
        subprocess.Popen([*command, "serve", name], env=env, stderr=log)
        for name, log in logs.items()
    ]
    try:
        submitted = subprocess.run(
            [*command, "submit", str(REPO / "examples" / "quickstart.yaml")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert submitted.returncode == 0, submitted.stderr
        simulation_id = submitted.stdout.strip()
        manifest = tmp_path / "store" / "simulations" / simulation_id / "manifest.json"
        deadline = time.monotonic() + 300
        while not manifest.exists() and time.monotonic() < deadline:
            assert all(p.poll() is None for p in services), "a service exited"
            await asyncio.sleep(0.5)
        assert manifest.exists(), "the simulation did not complete in time"
        with (manifest.parent / "summary.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 30 and {row["status"] for row in rows} == {"completed"}
    finally:
        for process in services:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=30) for process in services]
        for log in logs.values():
            log.close()
        await delete_prefixed(prefix)
    assert codes == [0, 0, 0], [(tmp_path / f"{n}.log").read_text()[-2000:] for n in logs]
