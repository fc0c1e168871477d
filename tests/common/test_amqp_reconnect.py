"""AmqpBus across a broker restart, on a private RabbitMQ node the test stops and starts.

What a service needs from its bus when RabbitMQ restarts (a rolling upgrade, a crash): a
publish waits for the connection to come back (or, if it does not, raises an error that says
so) instead of failing at once or hanging; consumers resume by themselves; a message that was
being handled when the connection went is delivered again, and the late settle of the old
delivery is logged, not raised; durable queues keep their messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import aio_pika
import pytest
import pytest_asyncio
import structlog

from gossipsim.common.messaging.amqp_bus import AmqpBus
from gossipsim.common.messaging.bus import Delivery, Envelope, QueueSpec
from tests.support.private_broker import PrivateBroker, private_broker  # noqa: F401 (fixture)
from tests.support.rabbitmq import unique_prefix

# aio-pika retries a lost connection every 5 s, and a restart takes about 7 s.
RECOVERY = 45.0  # seconds within which anything that must come back after a restart does


class Seen:
    """Deliveries as they arrive, with a wait that fails after ``RECOVERY`` seconds."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._arrived = asyncio.Event()

    def add(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        self._arrived.set()

    @property
    def bodies(self) -> list[bytes]:
        return [d.envelope.body for d in self.deliveries]

    async def wait_for(self, count: int) -> list[Delivery]:
        deadline = time.monotonic() + RECOVERY
        while len(self.deliveries) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"expected {count} deliveries, got {self.bodies}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
        return self.deliveries


@pytest.fixture
def prefix() -> str:
    return unique_prefix()


@pytest_asyncio.fixture
async def bus(private_broker: PrivateBroker, prefix: str) -> AsyncIterator[AmqpBus]:  # noqa: F811
    opened = await AmqpBus.connect(private_broker.url, name_prefix_check=prefix)
    try:
        yield opened
    finally:
        await asyncio.wait_for(opened.close(), RECOVERY)


async def work_queue(bus: AmqpBus, prefix: str) -> str:
    """An exchange ``<prefix>.work`` routing everything to the quorum queue ``<prefix>.runs``."""
    await bus.declare_exchange(f"{prefix}.work")
    await bus.declare_queue(QueueSpec(name=f"{prefix}.runs"))
    await bus.bind(f"{prefix}.runs", f"{prefix}.work", "#")
    return f"{prefix}.runs"


def message(body: bytes) -> Envelope:
    return Envelope(body=body, routing_key="run.start")


async def queued(broker: PrivateBroker, queue: str) -> list[bytes]:
    """Take every message in ``queue`` (acked), over a connection of its own."""
    connection = await aio_pika.connect(broker.url)
    async with connection:
        channel = await connection.channel()
        source = await channel.get_queue(queue, ensure=False)
        bodies = []
        while (got := await source.get(fail=False, timeout=5)) is not None:
            bodies.append(got.body)
            await got.ack()
        return bodies


async def publish_elsewhere(broker: PrivateBroker, exchange: str, body: bytes) -> None:
    """Publish (persistent, confirmed) over a fresh connection, not through the bus."""
    connection = await aio_pika.connect(broker.url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        target = await channel.get_exchange(exchange, ensure=False)
        persistent = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        await target.publish(persistent, routing_key="run.start")


async def test_a_publish_right_after_a_restart_waits_for_the_reconnect(
    bus: AmqpBus,
    private_broker: PrivateBroker,  # noqa: F811
    prefix: str,
) -> None:
    queue = await work_queue(bus, prefix)
    await bus.publish(f"{prefix}.work", message(b"before"))
    await private_broker.restart()
    await asyncio.wait_for(bus.publish(f"{prefix}.work", message(b"after")), RECOVERY)
    assert await queued(private_broker, queue) == [b"before", b"after"]


async def test_a_publish_during_the_outage_completes_once_the_broker_is_back(
    bus: AmqpBus,
    private_broker: PrivateBroker,  # noqa: F811
    prefix: str,
) -> None:
    queue = await work_queue(bus, prefix)
    await private_broker.stop()
    publishing = asyncio.create_task(bus.publish(f"{prefix}.work", message(b"in the outage")))
    await private_broker.start()
    await asyncio.wait_for(publishing, RECOVERY)
    assert await queued(private_broker, queue) == [b"in the outage"]


async def test_a_publish_raises_a_clear_error_when_the_broker_stays_away(
    private_broker: PrivateBroker,  # noqa: F811
    prefix: str,
) -> None:
    """A service must not hang on a broker that does not come back: publish gives up."""
    bus = await AmqpBus.connect(private_broker.url, name_prefix_check=prefix, outage_timeout=3)
    try:
        await work_queue(bus, prefix)
        await private_broker.stop()
        with pytest.raises(ConnectionError, match="no connection to the broker"):
            await asyncio.wait_for(bus.publish(f"{prefix}.work", message(b"lost")), RECOVERY)
    finally:
        await asyncio.wait_for(bus.close(), RECOVERY)


async def test_a_consumer_started_before_a_restart_receives_messages_published_after_it(
    bus: AmqpBus,
    private_broker: PrivateBroker,  # noqa: F811
    prefix: str,
) -> None:
    await work_queue(bus, prefix)
    seen = Seen()

    async def handler(delivery: Delivery) -> None:
        seen.add(delivery)
        await delivery.ack()

    await bus.consume(f"{prefix}.runs", handler)
    await bus.publish(f"{prefix}.work", message(b"before"))
    await seen.wait_for(1)
    await private_broker.restart()
    await publish_elsewhere(private_broker, f"{prefix}.work", b"after")
    await seen.wait_for(2)
    assert seen.bodies == [b"before", b"after"]


async def test_a_transient_queue_comes_back_with_its_bindings_and_its_consumer(
    bus: AmqpBus,
    private_broker: PrivateBroker,  # noqa: F811
    prefix: str,
) -> None:
    """A runner's private feed dies with the connection; the reconnect must declare, bind and
    consume it again, or the runner never hears of another finished simulation."""
    await bus.declare_exchange(f"{prefix}.events")
    feed = QueueSpec(name=f"{prefix}.runner-feed", transient=True)
    await bus.declare_queue(feed)
    await bus.bind(feed.name, f"{prefix}.events", "simulation.completed")
    seen = Seen()

    async def handler(delivery: Delivery) -> None:
        seen.add(delivery)
        await delivery.ack()

    await bus.consume(feed.name, handler)
    await private_broker.restart()
    completed = Envelope(body=b"after", routing_key="simulation.completed")
    await asyncio.wait_for(bus.publish(f"{prefix}.events", completed), RECOVERY)
    await seen.wait_for(1)
    assert seen.bodies == [b"after"]


async def test_a_delivery_in_hand_at_the_restart_is_redelivered_and_its_late_ack_is_logged(
    bus: AmqpBus,
    private_broker: PrivateBroker,  # noqa: F811
    prefix: str,
) -> None:
    """Nothing is lost: the broker gives the unacked message again; acking the old delivery
    afterwards cannot reach the broker, which is logged, not raised into the handler."""
    queue = await work_queue(bus, prefix)
    seen = Seen()
    release = asyncio.Event()
    acked_late = asyncio.Event()
    late_ack_errors: list[BaseException] = []

    async def handler(delivery: Delivery) -> None:
        seen.add(delivery)
        if len(seen.deliveries) > 1:
            await delivery.ack()
            return
        await release.wait()  # the first delivery is still in hand when the broker restarts
        try:
            await delivery.ack()
        except Exception as error:  # the assertion below reports it
            late_ack_errors.append(error)
        finally:
            acked_late.set()

    await bus.consume(queue, handler)
    await bus.publish(f"{prefix}.work", message(b"in hand"))
    await seen.wait_for(1)
    await private_broker.restart()
    _, again = await seen.wait_for(2)
    with structlog.testing.capture_logs() as logs:
        release.set()
        await asyncio.wait_for(acked_late.wait(), RECOVERY)
    assert late_ack_errors == []
    assert again.envelope.body == b"in hand"
    assert any(e["log_level"] == "warning" and "could not settle" in e["event"] for e in logs), logs
    assert await queued(private_broker, queue) == []  # the redelivery was acked: nothing left


async def test_durable_queues_and_their_messages_survive_a_restart(
    bus: AmqpBus,
    private_broker: PrivateBroker,  # noqa: F811
    prefix: str,
) -> None:
    queue = await work_queue(bus, prefix)
    bodies = [f"run {i}".encode() for i in range(5)]
    for body in bodies:
        await bus.publish(f"{prefix}.work", message(body))
    await private_broker.restart()
    # The same declarations on a new connection: no PRECONDITION_FAILED, so the queue came
    # back as declared (durable, quorum, same arguments); and every message is still there.
    again = await AmqpBus.connect(private_broker.url, name_prefix_check=prefix)
    async with again:
        await work_queue(again, prefix)
    assert await queued(private_broker, queue) == bodies
