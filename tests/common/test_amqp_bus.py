"""AmqpBus on a real RabbitMQ: the Bus contract suite, plus what only AMQP can show.

The broker is shared (GOSSIPSIM_TEST_AMQP_URL, default a local RabbitMQ): every name starts
with the test's prefix, the bus refuses any other, and whatever a test declared is deleted after
it. Without a reachable broker these tests are skipped, with the reason shown.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from uuid import uuid4

import aio_pika
import pytest
import pytest_asyncio

from gossipsim.common.messaging.amqp_bus import AmqpBus
from gossipsim.common.messaging.bus import REASON_HEADER, Delivery, QueueSpec
from tests.common.bus_contract import *  # noqa: F403 (the contract tests run here)
from tests.common.bus_contract import Inbox, dead_letter_setup, message

URL = os.environ.get("GOSSIPSIM_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


@pytest.fixture
def prefix() -> str:
    return f"gstest-{uuid4().hex[:8]}"


async def connect_or_skip(prefix: str) -> AmqpBus:
    """A bus on the test broker; skip (or, with GOSSIPSIM_REQUIRE_SERVICES=1, fail) without one."""
    try:
        return await asyncio.wait_for(AmqpBus.connect(URL, name_prefix_check=prefix), 5)
    except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as error:
        reason = f"no RabbitMQ reachable at {URL}: {error!r}"
        if os.environ.get("GOSSIPSIM_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (GOSSIPSIM_REQUIRE_SERVICES=1: integration tests must run)")
        pytest.skip(reason)


@pytest_asyncio.fixture
async def bus(prefix: str) -> AsyncIterator[AmqpBus]:
    opened = await connect_or_skip(prefix)
    try:
        yield opened
    finally:
        await opened.close()
        await delete_declared(opened, prefix)


async def delete_declared(bus: AmqpBus, prefix: str) -> None:
    """Delete what the test declared, on a fresh connection (the bus is closed by now)."""
    connection = await aio_pika.connect(URL)
    async with connection:
        channel = await connection.channel()
        for name in bus.queues:
            assert name.startswith(prefix)
            await channel.queue_delete(name)
        for name in bus.exchanges:
            assert name.startswith(prefix)
            await channel.exchange_delete(name)


async def hold_forever(delivery: Delivery) -> None:
    """A handler that never settles: it ends only when its consumer is cancelled."""
    await asyncio.Event().wait()


async def test_cancel_counts_as_a_delivery_attempt(bus: AmqpBus, prefix: str) -> None:
    """A message that keeps stopping its consumer reaches the delivery limit too."""
    dead = await dead_letter_setup(bus, prefix, delivery_limit=1)
    held = Inbox(hold_forever)
    consumer = await bus.consume(f"{prefix}.runs", held.handler)
    await bus.publish(f"{prefix}.work", message("run.start"))
    (delivery,) = await held.wait_for(1)
    await consumer.cancel()
    with pytest.raises(RuntimeError, match="consumer was cancelled"):
        await delivery.ack()

    never = Inbox()
    await bus.consume(f"{prefix}.runs", never.handler)

    (dead_letter,) = await dead.wait_for(1)
    assert dead_letter.envelope.headers[REASON_HEADER] == "delivery limit of 1 reached"
    await never.wait_for(0)


async def test_dead_letter_copy_starts_with_a_fresh_delivery_count(
    bus: AmqpBus, prefix: str
) -> None:
    """Replaying from the dead-letter queue must not inherit the work queue's count."""
    dead = await dead_letter_setup(bus, prefix, delivery_limit=2)

    async def always_nack(delivery: Delivery) -> None:
        await delivery.nack()

    await bus.consume(f"{prefix}.runs", Inbox(always_nack).handler)
    await bus.publish(f"{prefix}.work", message("run.start"))

    (dead_letter,) = await dead.wait_for(1)
    assert dead_letter.delivery_count == 1


async def test_names_outside_the_prefix_are_refused(bus: AmqpBus, prefix: str) -> None:
    with pytest.raises(ValueError, match="required prefix"):
        await bus.declare_exchange("gossipsim.events")


async def test_publish_to_undeclared_exchange_names_it(bus: AmqpBus, prefix: str) -> None:
    with pytest.raises(LookupError, match=f"exchange '{prefix}.missing' is not declared"):
        await bus.publish(f"{prefix}.missing", message("run.start"))


async def test_a_bus_that_only_checks_works_with_what_another_declared(
    bus: AmqpBus, prefix: str
) -> None:
    """As on Kubernetes: one party creates the topology, the service only checks it (passive
    declares, no configure permission needed) and then publishes, consumes and dead-letters."""
    dead = await dead_letter_setup(bus, prefix, delivery_limit=1)
    checker = await connect_or_skip(prefix)
    try:
        spec = QueueSpec(
            name=f"{prefix}.runs", delivery_limit=1, dead_letter_exchange=f"{prefix}.dlx"
        )
        await checker.declare_exchange(f"{prefix}.work", passive=True)
        await checker.declare_exchange(f"{prefix}.dlx", passive=True)
        await checker.declare_queue(spec, passive=True)
        refused = Inbox(lambda delivery: delivery.dead_letter("refused by the checker"))
        await checker.consume(spec.name, refused.handler)
        await checker.publish(f"{prefix}.work", message("run.start", b"checked"))

        (dead_letter,) = await dead.wait_for(1)
        await refused.wait_for(1)
        assert dead_letter.envelope.body == b"checked"
        assert dead_letter.envelope.headers[REASON_HEADER] == "refused by the checker"
    finally:
        await checker.close()
