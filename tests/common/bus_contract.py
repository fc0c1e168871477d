"""The Bus contract: behaviour every Bus implementation must show, in-memory or AMQP.

A test module runs the suite by providing two fixtures and importing the tests:

* ``bus`` — an async fixture yielding a :class:`~gossipsim.common.messaging.bus.Bus`, closed
  afterwards;
* ``prefix`` — a string unique to the test; every exchange and queue name starts with it, so
  the suite can run against a shared RabbitMQ beside other sessions.

Every wait has a timeout, so a broken implementation fails instead of hanging. Assertions about
headers allow extra ones (a broker may add its own, such as ``x-delivery-count``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from gossipsim.common.messaging.bus import REASON_HEADER, Bus, Delivery, Envelope, QueueSpec

TIMEOUT = 5.0  # seconds for anything that should happen
QUIET = 0.3  # seconds to watch for something that must not happen


class Inbox:
    """Records deliveries; acks them unless given another way to settle."""

    def __init__(self, settle: Callable[[Delivery], Awaitable[None]] | None = None) -> None:
        self.deliveries: list[Delivery] = []
        self._settle = settle
        self._arrived = asyncio.Event()

    async def handler(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        self._arrived.set()
        if self._settle is None:
            await delivery.ack()
        else:
            await self._settle(delivery)

    @property
    def keys(self) -> list[str]:
        return [d.envelope.routing_key for d in self.deliveries]

    @property
    def bodies(self) -> list[bytes]:
        return [d.envelope.body for d in self.deliveries]

    async def wait_for(self, count: int) -> list[Delivery]:
        """Wait until ``count`` deliveries have arrived, then check no more follow."""

        async def arrived() -> None:
            while len(self.deliveries) < count:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(arrived(), TIMEOUT)
        await asyncio.sleep(QUIET)
        assert len(self.deliveries) == count, f"expected {count} deliveries: {self.keys}"
        return self.deliveries


def message(routing_key: str, body: bytes = b"{}", **headers: str | int) -> Envelope:
    return Envelope(body=body, routing_key=routing_key, headers=headers)


async def queue_on(
    bus: Bus,
    exchange: str,
    name: str,
    *keys: str,
    kind: str = "topic",
    delivery_limit: int | None = None,
    dead_letter_exchange: str | None = None,
) -> str:
    """Declare the exchange and a queue bound to it with each of ``keys``."""
    await bus.declare_exchange(exchange, kind=kind)
    spec = QueueSpec(
        name=name, delivery_limit=delivery_limit, dead_letter_exchange=dead_letter_exchange
    )
    await bus.declare_queue(spec)
    for key in keys:
        await bus.bind(name, exchange, key)
    return name


async def dead_letter_setup(bus: Bus, prefix: str, *, delivery_limit: int | None = None) -> Inbox:
    """A work queue on ``{prefix}.work`` (key ``run.start``) whose DLX feeds an inbox."""
    dlx = f"{prefix}.dlx"
    await queue_on(bus, dlx, f"{prefix}.dead", "run.start", kind="direct")
    await queue_on(
        bus,
        f"{prefix}.work",
        f"{prefix}.runs",
        "run.start",
        delivery_limit=delivery_limit,
        dead_letter_exchange=dlx,
    )
    dead = Inbox()
    await bus.consume(f"{prefix}.dead", dead.handler)
    return dead


# -- routing ------------------------------------------------------------------------------


async def test_star_matches_one_word_and_hash_matches_any_number(bus: Bus, prefix: str) -> None:
    exchange = f"{prefix}.events"
    star = await queue_on(bus, exchange, f"{prefix}.star", "run.*")
    hash_ = await queue_on(bus, exchange, f"{prefix}.hash", "run.#")
    star_inbox, hash_inbox = Inbox(), Inbox()
    await bus.consume(star, star_inbox.handler)
    await bus.consume(hash_, hash_inbox.handler)

    for key in ("run", "run.start", "run.round.3", "simulation.run"):
        await bus.publish(exchange, message(key))

    await star_inbox.wait_for(1)
    await hash_inbox.wait_for(3)
    assert star_inbox.keys == ["run.start"]
    assert hash_inbox.keys == ["run", "run.start", "run.round.3"]


async def test_every_bound_queue_gets_its_own_copy(bus: Bus, prefix: str) -> None:
    exchange = f"{prefix}.events"
    inboxes = [Inbox() for _ in range(3)]
    for index, inbox in enumerate(inboxes):
        name = await queue_on(bus, exchange, f"{prefix}.q{index}", "run.*", "#")
        await bus.consume(name, inbox.handler)

    await bus.publish(exchange, message("run.completed", b'{"run": 1}'))

    for inbox in inboxes:
        (delivery,) = await inbox.wait_for(1)
        assert delivery.envelope.body == b'{"run": 1}'


async def test_unrouted_message_is_dropped(bus: Bus, prefix: str) -> None:
    exchange = f"{prefix}.events"
    await bus.declare_exchange(exchange)
    await bus.publish(exchange, message("nobody.listens"))
    name = await queue_on(bus, exchange, f"{prefix}.late", "#")
    inbox = Inbox()
    await bus.consume(name, inbox.handler)

    await bus.publish(exchange, message("after.binding"))

    await inbox.wait_for(1)
    assert inbox.keys == ["after.binding"]


async def test_direct_exchange_routes_on_exact_key(bus: Bus, prefix: str) -> None:
    exchange = f"{prefix}.commands"
    name = await queue_on(bus, exchange, f"{prefix}.submit", "simulation.submit", kind="direct")
    inbox = Inbox()
    await bus.consume(name, inbox.handler)

    for key in ("simulation.cancel", "simulation.*", "simulation.submit"):
        await bus.publish(exchange, message(key))

    await inbox.wait_for(1)
    assert inbox.keys == ["simulation.submit"]


async def test_fanout_exchange_ignores_the_key(bus: Bus, prefix: str) -> None:
    exchange = f"{prefix}.broadcast"
    name = await queue_on(bus, exchange, f"{prefix}.all", "", kind="fanout")
    inbox = Inbox()
    await bus.consume(name, inbox.handler)

    await bus.publish(exchange, message("anything.at.all"))

    await inbox.wait_for(1)


async def test_headers_and_content_type_survive_the_trip(bus: Bus, prefix: str) -> None:
    name = await queue_on(bus, f"{prefix}.events", f"{prefix}.q", "#")
    inbox = Inbox()
    await bus.consume(name, inbox.handler)
    sent = Envelope(
        body=b"\x00binary\xff",
        routing_key="run.round",
        content_type="application/octet-stream",
        headers={"x-simulation": "sim-1", "x-round": 7},
    )

    await bus.publish(f"{prefix}.events", sent)

    (delivery,) = await inbox.wait_for(1)
    received = delivery.envelope
    assert (received.body, received.routing_key) == (sent.body, sent.routing_key)
    assert received.content_type == sent.content_type
    assert {k: received.headers.get(k) for k in sent.headers} == sent.headers


# -- delivery and settling -----------------------------------------------------------------


async def test_messages_published_before_consume_starts_are_delivered_in_order(
    bus: Bus, prefix: str
) -> None:
    name = await queue_on(bus, f"{prefix}.work", f"{prefix}.runs", "#")
    for index in range(5):
        await bus.publish(f"{prefix}.work", message(f"run.{index}"))

    inbox = Inbox()
    await bus.consume(name, inbox.handler)

    await inbox.wait_for(5)
    assert inbox.keys == [f"run.{index}" for index in range(5)]
    assert [d.delivery_count for d in inbox.deliveries] == [1] * 5


async def test_acked_message_is_not_delivered_again(bus: Bus, prefix: str) -> None:
    name = await queue_on(bus, f"{prefix}.work", f"{prefix}.runs", "#")
    await bus.publish(f"{prefix}.work", message("run.start"))
    first = Inbox()
    consumer = await bus.consume(name, first.handler)
    await first.wait_for(1)
    await consumer.cancel()

    second = Inbox()
    await bus.consume(name, second.handler)

    await second.wait_for(0)


async def test_nacked_message_is_redelivered_with_delivery_count_2(bus: Bus, prefix: str) -> None:
    name = await queue_on(bus, f"{prefix}.work", f"{prefix}.runs", "#")

    async def nack_first(delivery: Delivery) -> None:
        if delivery.delivery_count == 1:
            await delivery.nack(requeue=True)
        else:
            await delivery.ack()

    inbox = Inbox(nack_first)
    await bus.consume(name, inbox.handler)
    await bus.publish(f"{prefix}.work", message("run.start", b"payload"))

    await inbox.wait_for(2)
    assert [d.delivery_count for d in inbox.deliveries] == [1, 2]
    assert inbox.bodies == [b"payload", b"payload"]


async def test_raising_handler_gets_its_message_redelivered(bus: Bus, prefix: str) -> None:
    name = await queue_on(bus, f"{prefix}.work", f"{prefix}.runs", "#")

    async def fail_first(delivery: Delivery) -> None:
        if delivery.delivery_count == 1:
            raise RuntimeError("handler bug (raised on purpose by the test)")
        await delivery.ack()

    inbox = Inbox(fail_first)
    await bus.consume(name, inbox.handler)
    await bus.publish(f"{prefix}.work", message("run.start"))

    await inbox.wait_for(2)
    assert [d.delivery_count for d in inbox.deliveries] == [1, 2]


async def test_prefetch_bounds_unsettled_deliveries(bus: Bus, prefix: str) -> None:
    name = await queue_on(bus, f"{prefix}.work", f"{prefix}.runs", "#")
    release = asyncio.Event()
    in_hand: list[Delivery] = []
    most_in_hand = 0

    async def hold(delivery: Delivery) -> None:
        nonlocal most_in_hand
        in_hand.append(delivery)
        most_in_hand = max(most_in_hand, len(in_hand))
        await release.wait()
        in_hand.remove(delivery)
        await delivery.ack()

    inbox = Inbox(hold)
    await bus.consume(name, inbox.handler, prefetch=2)
    for index in range(6):
        await bus.publish(f"{prefix}.work", message(f"run.{index}"))

    await inbox.wait_for(2)
    release.set()
    await inbox.wait_for(6)
    assert most_in_hand == 2
    assert inbox.keys == [f"run.{index}" for index in range(6)]


async def test_cancelled_consumer_gives_unsettled_messages_back(bus: Bus, prefix: str) -> None:
    name = await queue_on(bus, f"{prefix}.work", f"{prefix}.runs", "#")
    never = asyncio.Event()

    async def hold(delivery: Delivery) -> None:
        await never.wait()

    held = Inbox(hold)
    consumer = await bus.consume(name, held.handler, prefetch=2)
    await bus.publish(f"{prefix}.work", message("run.a"))
    await bus.publish(f"{prefix}.work", message("run.b"))
    await held.wait_for(2)

    await asyncio.wait_for(consumer.cancel(), TIMEOUT)
    inbox = Inbox()
    await bus.consume(name, inbox.handler)

    await inbox.wait_for(2)
    assert inbox.keys == ["run.a", "run.b"]


async def test_draining_consumer_lets_its_running_handler_finish(bus: Bus, prefix: str) -> None:
    """cancel(drain=…): the handler in progress settles; nothing new is started meanwhile."""
    name = await queue_on(bus, f"{prefix}.work", f"{prefix}.runs", "#")
    release = asyncio.Event()

    async def finish_when_released(delivery: Delivery) -> None:
        await release.wait()
        await delivery.ack()

    working = Inbox(finish_when_released)
    consumer = await bus.consume(name, working.handler, prefetch=1)
    await bus.publish(f"{prefix}.work", message("run.a"))
    await working.wait_for(1)

    draining = asyncio.create_task(consumer.cancel(drain=TIMEOUT))
    await asyncio.sleep(QUIET)
    await bus.publish(f"{prefix}.work", message("run.b"))
    release.set()
    await asyncio.wait_for(draining, TIMEOUT)

    assert working.keys == ["run.a"]
    later = Inbox()
    await bus.consume(name, later.handler)
    assert [d.envelope.routing_key for d in await later.wait_for(1)] == ["run.b"]


async def test_transient_queue_goes_with_its_consumer(bus: Bus, prefix: str) -> None:
    exchange = f"{prefix}.events"
    await bus.declare_exchange(exchange)
    feed = QueueSpec(name=f"{prefix}.feed", transient=True)
    await bus.declare_queue(feed)
    await bus.bind(feed.name, exchange, "simulation.#")
    inbox = Inbox()
    consumer = await bus.consume(feed.name, inbox.handler)
    await bus.publish(exchange, message("simulation.completed"))
    await inbox.wait_for(1)
    await consumer.cancel()
    await bus.publish(exchange, message("simulation.completed", b'{"late": true}'))

    await bus.declare_queue(feed)  # a new queue of the same name: nothing kept, nothing bound
    fresh = Inbox()
    await bus.consume(feed.name, fresh.handler)
    await fresh.wait_for(0)


# -- dead-lettering ------------------------------------------------------------------------


async def test_message_over_delivery_limit_is_dead_lettered_with_reason(
    bus: Bus, prefix: str
) -> None:
    dead = await dead_letter_setup(bus, prefix, delivery_limit=3)

    async def always_nack(delivery: Delivery) -> None:
        await delivery.nack(requeue=True)

    work = Inbox(always_nack)
    await bus.consume(f"{prefix}.runs", work.handler)
    await bus.publish(f"{prefix}.work", message("run.start", b"poison", attempt=1))

    (delivery,) = await dead.wait_for(1)
    assert [d.delivery_count for d in work.deliveries] == [1, 2, 3]
    assert delivery.envelope.body == b"poison"
    assert delivery.envelope.routing_key == "run.start"
    assert delivery.envelope.headers[REASON_HEADER] == "delivery limit of 3 reached"
    assert delivery.envelope.headers["attempt"] == 1


async def test_handler_can_dead_letter_with_its_reason(bus: Bus, prefix: str) -> None:
    dead = await dead_letter_setup(bus, prefix, delivery_limit=5)

    async def refuse(delivery: Delivery) -> None:
        await delivery.dead_letter("malformed message: field 'run' is missing")

    work = Inbox(refuse)
    await bus.consume(f"{prefix}.runs", work.handler)
    sent = Envelope(
        body=b"not json",
        routing_key="run.start",
        content_type="text/plain",
        headers={"x-simulation": "sim-9"},
    )
    await bus.publish(f"{prefix}.work", sent)

    (delivery,) = await dead.wait_for(1)
    await work.wait_for(1)
    received = delivery.envelope
    assert (received.body, received.routing_key) == (sent.body, sent.routing_key)
    assert received.content_type == "text/plain"
    assert received.headers["x-simulation"] == "sim-9"
    assert received.headers[REASON_HEADER] == "malformed message: field 'run' is missing"


async def test_nack_without_requeue_dead_letters_as_rejected(bus: Bus, prefix: str) -> None:
    dead = await dead_letter_setup(bus, prefix)

    async def reject(delivery: Delivery) -> None:
        await delivery.nack(requeue=False)

    work = Inbox(reject)
    await bus.consume(f"{prefix}.runs", work.handler)
    await bus.publish(f"{prefix}.work", message("run.start", b"unwanted"))

    (delivery,) = await dead.wait_for(1)
    await work.wait_for(1)
    assert delivery.envelope.body == b"unwanted"
    assert delivery.envelope.headers[REASON_HEADER] == "rejected"


async def test_settling_a_delivery_twice_is_an_error(bus: Bus, prefix: str) -> None:
    name = await queue_on(bus, f"{prefix}.work", f"{prefix}.runs", "#")
    errors: list[Exception] = []

    async def ack_twice(delivery: Delivery) -> None:
        await delivery.ack()
        try:
            await delivery.nack()
        except RuntimeError as error:
            errors.append(error)

    inbox = Inbox(ack_twice)
    await bus.consume(name, inbox.handler)
    await bus.publish(f"{prefix}.work", message("run.start"))

    await inbox.wait_for(1)
    assert "already acked" in str(errors[0])


# -- passive declares (checking a topology that something else created) --------------------


async def test_a_passive_declare_of_a_missing_name_raises_naming_it(bus: Bus, prefix: str) -> None:
    """Nothing is created, and the bus goes on working: on RabbitMQ the broker's 404 closes a
    channel, which must not be the one the bus publishes on."""
    exchange, queue = f"{prefix}.events", f"{prefix}.runs"
    with pytest.raises(LookupError, match=f"exchange '{exchange}'"):
        await bus.declare_exchange(exchange, passive=True)
    with pytest.raises(LookupError, match=f"queue '{queue}'"):
        await bus.declare_queue(QueueSpec(name=queue), passive=True)
    with pytest.raises(LookupError):  # still missing: the checks created nothing
        await bus.declare_queue(QueueSpec(name=queue), passive=True)

    await queue_on(bus, exchange, queue, "run.#")
    inbox = Inbox()
    await bus.consume(queue, inbox.handler)
    await bus.publish(exchange, message("run.started"))
    assert (await inbox.wait_for(1))[0].envelope.routing_key == "run.started"


async def test_passively_declared_names_are_published_to_and_consumed_as_their_spec_says(
    bus: Bus, prefix: str
) -> None:
    """Declared once (as a broker's definitions would), then only checked: publishing and
    consuming work, and the spec's delivery limit and dead-letter exchange still hold."""
    dead = await dead_letter_setup(bus, prefix, delivery_limit=2)  # work -> runs, dlx -> dead
    spec = QueueSpec(name=f"{prefix}.runs", delivery_limit=2, dead_letter_exchange=f"{prefix}.dlx")
    await bus.declare_exchange(f"{prefix}.work", passive=True)
    await bus.declare_exchange(f"{prefix}.dlx", passive=True)
    await bus.declare_queue(spec, passive=True)

    async def always_nack(delivery: Delivery) -> None:
        await delivery.nack(requeue=True)

    work = Inbox(always_nack)
    await bus.consume(spec.name, work.handler)
    await bus.publish(f"{prefix}.work", message("run.start", b"poison"))

    (delivery,) = await dead.wait_for(1)
    assert [d.delivery_count for d in work.deliveries] == [1, 2]
    assert delivery.envelope.body == b"poison"
    assert delivery.envelope.headers[REASON_HEADER] == "delivery limit of 2 reached"
