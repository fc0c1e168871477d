"""InMemoryBus: the Bus contract suite, plus what only the in-memory bus can show."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
import pytest_asyncio

from gossipsim.common.messaging.bus import REASON_HEADER, Delivery, Envelope, QueueSpec
from gossipsim.common.messaging.memory_bus import InMemoryBus, topic_matches
from tests.common.bus_contract import *  # noqa: F403 (the contract tests run here)
from tests.common.bus_contract import Inbox, dead_letter_setup, message, queue_on


@pytest_asyncio.fixture
async def bus() -> AsyncIterator[InMemoryBus]:
    async with InMemoryBus() as opened:
        yield opened


@pytest.fixture
def prefix() -> str:
    return f"gstest-{uuid4().hex[:8]}"


async def hold_forever(delivery: Delivery) -> None:
    """A handler that never settles: it ends only when its consumer is cancelled."""
    await asyncio.Event().wait()


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("#", "", True),
        ("*", "", False),
        ("a.#.z", "a.z", True),
        ("a.#.z", "a.b.c.z", True),
        ("a.*.z", "a.z", False),
        ("#.z", "a.b", False),
        ("*.*", "a.b", True),
        ("a.b", "a.b.c", False),
    ],
)
def test_topic_wildcards_follow_amqp(pattern: str, key: str, matches: bool) -> None:
    assert topic_matches(pattern, key) is matches


async def test_queue_depth_counts_waiting_messages_only(bus: InMemoryBus, prefix: str) -> None:
    name = await queue_on(bus, f"{prefix}.work", f"{prefix}.runs", "#")
    for index in range(3):
        await bus.publish(f"{prefix}.work", message(f"run.{index}"))
    assert bus.queue_depth(name) == 3

    held = Inbox(hold_forever)
    await bus.consume(name, held.handler, prefetch=1)
    assert bus.queue_depth(name) == 2


async def test_publish_to_unknown_exchange_names_it(bus: InMemoryBus, prefix: str) -> None:
    with pytest.raises(LookupError, match=f"exchange '{prefix}.missing' is not declared"):
        await bus.publish(f"{prefix}.missing", message("run.start"))


async def test_requeued_message_goes_back_to_the_head(bus: InMemoryBus, prefix: str) -> None:
    name = await queue_on(bus, f"{prefix}.work", f"{prefix}.runs", "#")
    for key in ("run.a", "run.b"):
        await bus.publish(f"{prefix}.work", message(key))

    async def nack_a_once(delivery: Delivery) -> None:
        first_a = delivery.envelope.routing_key == "run.a" and delivery.delivery_count == 1
        await (delivery.nack() if first_a else delivery.ack())

    inbox = Inbox(nack_a_once)
    await bus.consume(name, inbox.handler)

    await inbox.wait_for(3)
    assert inbox.keys == ["run.a", "run.a", "run.b"]


async def test_cancel_counts_as_a_delivery_attempt(bus: InMemoryBus, prefix: str) -> None:
    """A message that keeps stopping its consumer reaches the delivery limit too."""
    dead = await dead_letter_setup(bus, prefix, delivery_limit=1)
    held = Inbox(hold_forever)
    consumer = await bus.consume(f"{prefix}.runs", held.handler)
    await bus.publish(f"{prefix}.work", message("run.start"))
    (delivery,) = await held.wait_for(1)

    await consumer.cancel()

    (dead_letter,) = await dead.wait_for(1)
    assert dead_letter.envelope.headers[REASON_HEADER] == "delivery limit of 1 reached"
    with pytest.raises(RuntimeError, match="consumer was cancelled"):
        await delivery.ack()


async def test_dead_letter_without_exchange_drops_the_message(
    bus: InMemoryBus, prefix: str
) -> None:
    name = await queue_on(bus, f"{prefix}.work", f"{prefix}.runs", "#")

    async def reject(delivery: Delivery) -> None:
        await delivery.nack(requeue=False)

    inbox = Inbox(reject)
    await bus.consume(name, inbox.handler)
    await bus.publish(f"{prefix}.work", message("run.start"))

    await inbox.wait_for(1)
    assert bus.queue_depth(name) == 0


async def test_close_cancels_handlers_and_refuses_further_use(prefix: str) -> None:
    bus = InMemoryBus()
    name = await queue_on(bus, f"{prefix}.work", f"{prefix}.runs", "#")
    held = Inbox(hold_forever)
    await bus.consume(name, held.handler)
    await bus.publish(f"{prefix}.work", message("run.start"))
    await held.wait_for(1)

    await asyncio.wait_for(bus.close(), 5)

    assert bus.queue_depth(name) == 1
    with pytest.raises(RuntimeError, match="closed"):
        await bus.publish(f"{prefix}.work", message("run.start"))


async def test_redeclaring_differently_is_an_error(bus: InMemoryBus, prefix: str) -> None:
    await bus.declare_exchange(f"{prefix}.x", kind="topic")
    await bus.declare_exchange(f"{prefix}.x", kind="topic")
    with pytest.raises(ValueError, match="already declared as 'topic'"):
        await bus.declare_exchange(f"{prefix}.x", kind="fanout")
    await bus.declare_queue(QueueSpec(name=f"{prefix}.q", delivery_limit=3))
    with pytest.raises(ValueError, match="already declared"):
        await bus.declare_queue(QueueSpec(name=f"{prefix}.q", delivery_limit=4))


async def test_published_headers_are_a_snapshot(bus: InMemoryBus, prefix: str) -> None:
    name = await queue_on(bus, f"{prefix}.work", f"{prefix}.runs", "#")
    headers: dict[str, str | int] = {"x-run": "r1"}
    await bus.publish(f"{prefix}.work", Envelope(body=b"", routing_key="k", headers=headers))
    headers["x-run"] = "changed"

    inbox = Inbox()
    await bus.consume(name, inbox.handler)

    (delivery,) = await inbox.wait_for(1)
    assert delivery.envelope.headers["x-run"] == "r1"
