"""The test broker: ``GOSSIPSIM_TEST_AMQP_URL``, else the machine's RabbitMQ on 127.0.0.1.

Tests share that broker with other users, so everything they declare carries a unique prefix
(``gstest-…``) and is deleted afterwards. Without a broker the tests are skipped, saying why —
or failed in CI (``GOSSIPSIM_REQUIRE_SERVICES=1``), where integration tests must run.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import aio_pika
import pytest

URL = os.environ.get("GOSSIPSIM_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
QUEUE_SUFFIXES = ("runs", "scheduler", "collector", "dead-letters")
EXCHANGE_SUFFIXES = ("commands", "events", "dead-letter")


def unique_prefix() -> str:
    return f"gstest-{uuid.uuid4().hex[:8]}"


async def require_broker(url: str = URL) -> None:
    """Skip (or, in CI, fail) unless a broker answers at ``url``."""
    try:
        connection = await asyncio.wait_for(aio_pika.connect(url), 5)
        await connection.close()
    except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as error:
        reason = f"no RabbitMQ reachable at {url}: {error!r}"
        if os.environ.get("GOSSIPSIM_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (GOSSIPSIM_REQUIRE_SERVICES=1: integration tests must run)")
        pytest.skip(reason)


async def delete_prefixed(prefix: str, url: str = URL) -> None:
    """Remove a deployment's queues and exchanges (the topology of one prefix)."""
    assert prefix.startswith("gstest-"), prefix
    connection = await aio_pika.connect(url)
    async with connection:
        for suffix in QUEUE_SUFFIXES:
            channel = await connection.channel()
            await channel.queue_delete(f"{prefix}.{suffix}")
        for suffix in EXCHANGE_SUFFIXES:
            channel = await connection.channel()
            await channel.exchange_delete(f"{prefix}.{suffix}")
