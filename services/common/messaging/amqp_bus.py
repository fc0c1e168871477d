"""The :class:`~gossipsim.common.messaging.bus.Bus` on RabbitMQ through aio-pika (distributed
mode).

Design decisions, each to keep the semantics of :mod:`gossipsim.common.messaging.memory_bus`,
which the same contract suite (tests/common/bus_contract.py) checks:

* Queues are durable quorum queues; messages are persistent and published on a channel with
  publisher confirms, so :meth:`AmqpBus.publish` returns once the broker has the message.
* The delivery limit is enforced here, not by RabbitMQ's ``x-delivery-limit``: the broker
  dead-letters without saying why, and services and operators rely on the
  ``x-gossipsim-reason`` header. The count comes from the ``x-delivery-count`` header quorum
  queues add on redelivery. A delivery that arrives already past the limit (its consumer died
  or was cancelled while holding it) is dead-lettered before the handler sees it, as the
  in-memory bus counts a cancelled delivery as an attempt. On RabbitMQ 4, whose quorum queues
  default to a limit of 20, the broker's limit is switched off so that ours is the only one.
* Dead-lettering publishes a copy to the queue's dead-letter exchange (with confirm) and then
  acks: if the process dies between the two, the message is redelivered and dead-lettered
  again, never lost. Without a declared dead-letter exchange the message is rejected, so the
  broker applies the queue's own ``x-dead-letter-exchange``, if any, or drops it.
* Each consumer has its own channel and prefetch; cancelling closes that channel, which gives
  every unsettled delivery back to the queue.
* The connection is robust: after a reconnect aio-pika restores channels, exchanges, queues,
  bindings and consumers, but only those it has seen declared: aio-pika re-creates what its
  channels declared, so each consumer's channel declares its queue again (same arguments)
  instead of using an undeclared handle, and :meth:`AmqpBus.bind` binds the declared queue.
  Settling a delivery from before the loss cannot reach the broker (its channel is gone);
  that is logged, not raised, because the broker redelivers the message anyway.
* A passive declare (``passive=True``) first asks on a short-lived channel of its own, so the
  broker's 404 for a missing name closes that one and not the bus's channel with its publisher
  confirms; it is then a :class:`LookupError`. A passively declared exchange is only a handle
  to publish through; a passively declared queue is declared passively again on each
  consumer's channel (and by aio-pika after a reconnect), which needs no permission.
* While the connection is down, :meth:`AmqpBus.publish` waits for it to come back, and
  publishes again a message whose confirm was lost with it (a duplicate, never a loss); after
  ``outage_timeout`` seconds it raises :class:`BrokerUnavailable`, so a service cannot hang on
  a broker that does not return. Cancelling a consumer does not wait for the broker at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import aio_pika
import aiormq
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)

from gossipsim.common.messaging.bus import (
    DELIVERY_COUNT_HEADER,
    EXCHANGE_KINDS,
    REASON_HEADER,
    Consumer,
    Envelope,
    Handler,
    QueueSpec,
    call_handler,
)

log = structlog.get_logger(__name__)

# Settling over a channel that is gone: the broker requeues the message by itself.
# aiormq raises ChannelInvalidStateError (a RuntimeError) on a channel it knows is closed.
LOST_CHANNEL_ERRORS = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
)
# A publish that meets one of these lost its connection: it is sent again after the reconnect.
CONNECTION_LOST_ERRORS = (aiormq.exceptions.ChannelInvalidStateError, ConnectionError)
OUTAGE_TIMEOUT = 300.0  # seconds publish waits for a lost broker connection to come back
CANCEL_TIMEOUT = 5.0  # seconds basic.cancel may take; the channel is closed after it anyway


class BrokerUnavailable(ConnectionError):
    """The broker connection was lost and did not come back in time; nothing was published."""


class _AmqpDelivery:
    """One delivery; the first settle call wins and any later one raises."""

    __slots__ = ("_consumer", "_count", "envelope", "message", "settled_as")

    def __init__(self, consumer: _AmqpConsumer, message: AbstractIncomingMessage) -> None:
        self._consumer = consumer
        self.message = message
        headers = {k: _header_value(v) for k, v in (message.headers or {}).items()}
        self.envelope = Envelope(
            body=message.body,
            routing_key=message.routing_key or "",
            content_type=message.content_type or "application/octet-stream",
            headers=headers,
        )
        previous = headers.get(DELIVERY_COUNT_HEADER, 0)
        self._count = (previous if isinstance(previous, int) else 0) + 1
        self.settled_as: str | None = None

    @property
    def delivery_count(self) -> int:
        return self._count

    async def ack(self) -> None:
        self._settle("acked")
        await self._consumer.send(self, "ack")

    async def nack(self, *, requeue: bool = True) -> None:
        if not requeue:
            await self.dead_letter("rejected")
            return
        limit = self._consumer.spec.delivery_limit
        if limit is not None and self._count >= limit:
            await self.dead_letter(f"delivery limit of {limit} reached")
            return
        self._settle("requeued")
        await self._consumer.send(self, "requeue")

    async def dead_letter(self, reason: str) -> None:
        self._settle("dead-lettered")
        await self._consumer.dead_letter(self, reason)

    def _settle(self, outcome: str) -> None:
        if self.settled_as is not None:
            raise RuntimeError(
                f"cannot settle (as {outcome}) a delivery of {self.envelope.routing_key!r}"
                f" from queue {self._consumer.spec.name!r}: it was already {self.settled_as}"
            )
        self.settled_as = outcome


class _AmqpConsumer:
    """A consumer on its own channel; one handler task per delivery, ``prefetch`` at most."""

    def __init__(self, bus: AmqpBus, spec: QueueSpec, handler: Handler) -> None:
        self._bus = bus
        self.spec = spec
        self._handler = handler
        self._unsettled: dict[_AmqpDelivery, None] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None

    async def start(self, prefetch: int) -> None:
        self._channel = await self._bus.connection.channel()
        await self._channel.set_qos(prefetch_count=prefetch)
        # Declared (not get_queue): aio-pika restores the consumers of declared queues only.
        self._queue = await self._bus.declare_on(self._channel, self.spec)
        self._tag = await self._queue.consume(self._on_message)

    @property
    def is_open(self) -> bool:
        return self._channel is not None and not self._channel.is_closed

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        delivery = _AmqpDelivery(self, message)
        self._unsettled[delivery] = None
        task = asyncio.get_running_loop().create_task(self._run(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, delivery: _AmqpDelivery) -> None:
        """Call the handler; one that raises has its delivery requeued, as the Bus promises."""
        bound = log.bind(
            queue=self.spec.name,
            routing_key=delivery.envelope.routing_key,
            delivery_count=delivery.delivery_count,
        )
        limit = self.spec.delivery_limit
        if limit is not None and delivery.delivery_count > limit:
            # Handed out `limit` times already, the last one never settled (consumer lost).
            await delivery.dead_letter(f"delivery limit of {limit} reached")
            return
        await call_handler(self._handler, delivery, bound)

    async def send(self, delivery: _AmqpDelivery, action: str) -> None:
        """Settle on the broker; a lost channel is logged: the broker redelivers by itself."""
        self._unsettled.pop(delivery, None)
        try:
            if action == "ack":
                await delivery.message.ack()
            elif action == "requeue":
                await delivery.message.nack(requeue=True)
            else:
                await delivery.message.reject(requeue=False)
        except LOST_CHANNEL_ERRORS as error:
            log.warning(
                "could not settle a delivery: its channel is gone; it will be redelivered",
                queue=self.spec.name,
                routing_key=delivery.envelope.routing_key,
                action=action,
                error=repr(error),
            )

    async def dead_letter(self, delivery: _AmqpDelivery, reason: str) -> None:
        """Publish a copy with the reason to the dead-letter exchange, then ack the original."""
        dlx = self.spec.dead_letter_exchange
        if dlx is None or dlx not in self._bus.exchanges:
            log.warning(
                "dead-lettering through the broker: no declared dead-letter exchange",
                queue=self.spec.name,
                dead_letter_exchange=dlx,
                routing_key=delivery.envelope.routing_key,
                reason=reason,
            )
            await self.send(delivery, "reject")
            return
        headers = {k: v for k, v in delivery.envelope.headers.items() if k != DELIVERY_COUNT_HEADER}
        headers[REASON_HEADER] = reason
        envelope = Envelope(
            body=delivery.envelope.body,
            routing_key=delivery.envelope.routing_key,
            content_type=delivery.envelope.content_type,
            headers=headers,
        )
        await self._bus.publish(dlx, envelope)
        await self.send(delivery, "ack")

    async def cancel(self, *, drain: float = 0.0) -> None:
        """Stop (basic.cancel), give running handlers ``drain`` seconds, cancel the rest, and
        close the channel: unsettled messages go back to the queue."""
        channel, self._channel = self._channel, None
        if channel is None:
            return
        self._bus.forget(self)
        try:
            if self._queue is not None and self._tag is not None:
                # aio-pika waits for a lost connection to come back before it sends this.
                await asyncio.wait_for(self._queue.cancel(self._tag), CANCEL_TIMEOUT)
        except (*LOST_CHANNEL_ERRORS, TimeoutError) as error:
            log.warning("could not cancel a consumer", queue=self.spec.name, error=repr(error))
        running = [task for task in self._tasks if task is not asyncio.current_task()]
        if drain > 0 and running:
            log.info("draining", queue=self.spec.name, handlers=len(running), seconds=drain)
            await asyncio.wait(running, timeout=drain)
            running = [task for task in running if not task.done()]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for delivery in self._unsettled:
            delivery.settled_as = "returned to the queue when its consumer was cancelled"
        self._unsettled.clear()
        await channel.close()


def _header_value(value: Any) -> Any:
    """Header strings may arrive as bytes (AMQP short/long strings); callers expect str."""
    return value.decode() if isinstance(value, bytes) else value


class AmqpBus:
    """Exchanges and queues on RabbitMQ; open with ``await AmqpBus.connect(url)``."""

    def __init__(
        self,
        connection: AbstractRobustConnection,
        channel: AbstractRobustChannel,
        *,
        name_prefix_check: str | None,
        broker_major: int,
        outage_timeout: float = OUTAGE_TIMEOUT,
    ) -> None:
        self.connection = connection
        self._channel = channel  # publisher confirms; also declares and binds
        self._prefix = name_prefix_check
        self._broker_major = broker_major
        self._outage_timeout = outage_timeout
        self.exchanges: dict[str, AbstractExchange] = {}
        self.queues: dict[str, QueueSpec] = {}
        self._declared: dict[str, AbstractQueue] = {}  # on _channel: aio-pika rebinds these
        self._passive: set[str] = set()  # queues only checked: consumers declare them passively
        self._consumers: list[_AmqpConsumer] = []
        self._closed = False

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        name_prefix_check: str | None = None,
        outage_timeout: float = OUTAGE_TIMEOUT,
    ) -> AmqpBus:
        """Connect; ``name_prefix_check`` refuses to declare names outside a prefix (tests);
        ``outage_timeout``: how long a publish waits for a lost connection to come back."""
        connection = await aio_pika.connect_robust(url)
        try:
            channel = await connection.channel(publisher_confirms=True)
        except BaseException:
            await connection.close()
            raise
        underlay = connection.transport
        properties: Mapping[str, Any] = underlay.connection.server_properties if underlay else {}
        version = _header_value(properties.get("version", "0"))
        return cls(
            connection,
            channel,
            name_prefix_check=name_prefix_check,
            broker_major=int(str(version).split(".")[0] or 0),
            outage_timeout=outage_timeout,
        )

    async def __aenter__(self) -> AmqpBus:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def declare_exchange(
        self, name: str, *, kind: str = "topic", passive: bool = False
    ) -> None:
        """Durable; redeclaring with another kind fails on the broker (PRECONDITION_FAILED).
        ``passive``: only check that it exists (LookupError if not), then publish to it."""
        self._check(name)
        if kind not in EXCHANGE_KINDS:
            raise ValueError(
                f"exchange {name!r}: unknown kind {kind!r}; use one of {EXCHANGE_KINDS}"
            )
        if passive:
            await self._probe("exchange", name)
            # A handle only: there is nothing to declare again after a reconnect.
            self.exchanges[name] = await self._channel.get_exchange(name, ensure=False)
            return
        self.exchanges[name] = await self._channel.declare_exchange(
            name, aio_pika.ExchangeType(kind), durable=True
        )

    async def declare_queue(self, spec: QueueSpec, *, passive: bool = False) -> None:
        """A durable quorum queue; the delivery limit is ours (see the module docstring).
        A transient queue is a classic exclusive auto-delete one (quorum queues cannot be).
        ``passive``: only check that it exists (LookupError if not); consume it as ``spec``
        says."""
        self._check(spec.name)
        if spec.delivery_limit is not None and spec.delivery_limit < 1:
            raise ValueError(f"queue {spec.name!r}: delivery_limit must be at least 1")
        if passive:
            await self._probe("queue", spec.name)
            self._passive.add(spec.name)
        else:
            self._passive.discard(spec.name)
            self._declared[spec.name] = await self.declare_on(self._channel, spec)
        self.queues[spec.name] = spec

    async def declare_on(self, channel: AbstractChannel, spec: QueueSpec) -> AbstractQueue:
        """Declare ``spec`` on ``channel``, which then declares it again after a reconnect;
        passively where the bus was asked only to check it."""
        if spec.name in self._passive:
            return await channel.declare_queue(spec.name, passive=True)
        if spec.transient:
            return await channel.declare_queue(spec.name, exclusive=True, auto_delete=True)
        arguments: dict[str, Any] = {"x-queue-type": "quorum"}
        if spec.dead_letter_exchange is not None:
            arguments["x-dead-letter-exchange"] = spec.dead_letter_exchange
        if self._broker_major >= 4:
            arguments["x-delivery-limit"] = -1  # RabbitMQ 4 would dead-letter after 20
        return await channel.declare_queue(spec.name, durable=True, arguments=arguments)

    async def bind(self, queue: str, exchange: str, routing_key: str) -> None:
        """Bound through the declared queue, so that aio-pika binds it again after a reconnect
        (a transient queue is gone with the connection, and comes back without bindings)."""
        self._check(queue)
        target = self._declared.get(queue)
        if target is None:  # declared elsewhere: bound now, but not again after a reconnect
            target = await self._channel.get_queue(queue, ensure=False)
        await target.bind(self._exchange(exchange), routing_key)

    async def publish(self, exchange: str, envelope: Envelope) -> None:
        """Persistent, confirmed; unroutable messages are dropped by the broker (no mandatory).
        Across a lost connection: waits, publishes again, or raises BrokerUnavailable (see the
        module docstring)."""
        self._check()
        target = self._exchange(exchange)
        message = aio_pika.Message(
            envelope.body,
            content_type=envelope.content_type,
            headers=dict(envelope.headers),
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        deadline = time.monotonic() + self._outage_timeout
        while True:
            try:  # returns at once while connected; waits while aio-pika reconnects
                await asyncio.wait_for(self._channel.ready(), deadline - time.monotonic())
            except TimeoutError:
                raise BrokerUnavailable(
                    f"publishing {envelope.routing_key!r} to {exchange!r}: no connection to the"
                    f" broker for {self._outage_timeout:g} s; the message may not be published"
                ) from None
            try:
                await target.publish(message, routing_key=envelope.routing_key, mandatory=False)
                return
            except CONNECTION_LOST_ERRORS as error:
                if self._closed:
                    raise
                log.warning(
                    "publish interrupted by a lost connection; publishing again once it is back",
                    exchange=exchange,
                    routing_key=envelope.routing_key,
                    error=repr(error),
                )
                # Yield: until aio-pika has seen the loss, ready() returns and publish raises
                # without ever suspending, which would starve the very reconnect we wait for.
                await asyncio.sleep(0.1)

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 1) -> Consumer:
        self._check()
        if prefetch < 1:
            raise ValueError(f"prefetch must be at least 1, not {prefetch}")
        if queue not in self.queues:
            raise LookupError(f"queue {queue!r} is not declared on this bus")
        consumer = _AmqpConsumer(self, self.queues[queue], handler)
        self._consumers.append(consumer)
        try:
            await consumer.start(prefetch)
        except BaseException:
            await consumer.cancel()
            raise
        return consumer

    async def close(self) -> None:
        """Cancel every consumer (unsettled messages go back), then close the connection."""
        if self._closed:
            return
        self._closed = True
        await asyncio.gather(*(consumer.cancel() for consumer in list(self._consumers)))
        await self._channel.close()
        await self.connection.close()

    def health(self) -> dict[str, Any]:
        """Readiness: connected to the broker, and every consumer's channel open (after a
        reconnect aio-pika reopens them; until then the service is not ready)."""
        connected = not self._closed and self.connection.connected.is_set()
        open_consumers = sum(consumer.is_open for consumer in self._consumers)
        return {
            "ready": connected and open_consumers == len(self._consumers) > 0,
            "broker": "connected" if connected else "disconnected",
            "consumers": len(self._consumers),
            "consumers_open": open_consumers,
        }

    async def _probe(self, kind: str, name: str) -> None:
        """Declare ``name`` passively on a channel of its own (see the module docstring)."""
        transport = self.connection.transport
        if transport is None:
            raise BrokerUnavailable(f"checking {kind} {name!r}: not connected to the broker")
        channel = await transport.connection.channel()
        try:
            if kind == "exchange":
                await channel.exchange_declare(name, passive=True)
            else:
                await channel.queue_declare(name, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            raise LookupError(f"{kind} {name!r} does not exist on the broker") from None
        finally:
            if not channel.is_closed:
                await channel.close()

    def forget(self, consumer: _AmqpConsumer) -> None:
        if consumer in self._consumers:
            self._consumers.remove(consumer)

    def _exchange(self, name: str) -> AbstractExchange:
        if name not in self.exchanges:
            raise LookupError(f"exchange {name!r} is not declared on this bus")
        return self.exchanges[name]

    def _check(self, name: str | None = None) -> None:
        if self._closed:
            raise RuntimeError("the AMQP bus is closed")
        if name is not None and self._prefix is not None and not name.startswith(self._prefix):
            raise ValueError(f"{name!r} does not start with the required prefix {self._prefix!r}")
