"""The message bus interface: AMQP's model, small enough for an in-memory twin.

Exchanges route published messages to bound queues (``topic``: AMQP wildcards, ``*`` one
word, ``#`` zero or more); queues hand messages to one consumer at a time with manual
acknowledgement. A message that is nacked with requeue comes back with its delivery count
raised; past the queue's delivery limit it goes to the dead-letter exchange, and so does one
that a handler dead-letters on purpose, with the reason in the ``x-gossipsim-reason`` header.

Implementations: :class:`gossipsim.common.messaging.memory_bus.InMemoryBus` (embedded mode, tests)
and the AMQP one over aio-pika (distributed mode). Both pass tests/common/bus_contract.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

REASON_HEADER = "x-gossipsim-reason"
EXCHANGE_KINDS = ("topic", "direct", "fanout")  # the exchange types every Bus supports
DELIVERY_COUNT_HEADER = "x-delivery-count"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSpec:
    """A queue and what happens to messages it cannot deliver."""

    name: str
    delivery_limit: int | None = None  # deliveries before dead-lettering; None: unlimited
    dead_letter_exchange: str | None = None
    # A private queue of one consumer (e.g. a runner's cancellation feed): not durable, and
    # deleted with its bindings when that consumer is cancelled or its connection goes.
    transient: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """A message as published: body bytes plus AMQP properties."""

    body: bytes
    routing_key: str
    content_type: str = "application/json"
    headers: Mapping[str, str | int] = field(default_factory=dict)


class Delivery(Protocol):
    """One delivery of a message to a consumer; exactly one settle call per delivery."""

    @property
    def envelope(self) -> Envelope: ...

    @property
    def delivery_count(self) -> int:
        """1 on first delivery, 2 on the first redelivery, …"""
        ...

    async def ack(self) -> None: ...

    async def nack(self, *, requeue: bool = True) -> None:
        """Give the message back (requeue) or drop it to the dead-letter exchange."""
        ...

    async def dead_letter(self, reason: str) -> None:
        """Send the message to the dead-letter exchange with ``reason``, and settle it."""
        ...


Handler = Callable[[Delivery], Awaitable[None]]


class Consumer(Protocol):
    async def cancel(self, *, drain: float = 0.0) -> None:
        """Stop consuming: running handlers are cancelled, unsettled deliveries go back to
        the queue to be delivered again, and settling one of them afterwards raises.

        With ``drain`` > 0 no new delivery starts and running handlers first get up to
        ``drain`` seconds to finish and settle (a runner finishing its run on SIGTERM).
        """
        ...


class Bus(Protocol):
    """``passive=True`` declares nothing: it only checks that the exchange or queue exists and
    raises :class:`LookupError` naming it if not. On RabbitMQ a passive declare needs no
    permission, so a user who may not create or delete anything (no ``configure``) can still
    use a topology that the broker's definitions created (docs/kubernetes.md). A passively
    declared queue is used as ``spec`` says (delivery limit, dead-letter exchange): a broker
    cannot be asked for a queue's arguments, so they are not compared.
    """

    async def declare_exchange(
        self, name: str, *, kind: str = "topic", passive: bool = False
    ) -> None: ...

    async def declare_queue(self, spec: QueueSpec, *, passive: bool = False) -> None: ...

    async def bind(self, queue: str, exchange: str, routing_key: str) -> None: ...

    async def publish(self, exchange: str, envelope: Envelope) -> None:
        """Route to every bound queue; returns once the broker has the message (confirm)."""
        ...

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 1) -> Consumer:
        """Deliver the queue's messages to ``handler``, at most ``prefetch`` unsettled.

        A handler that raises gets its delivery nacked with requeue.
        """
        ...

    async def close(self) -> None: ...


class _Settleable(Delivery, Protocol):
    settled_as: str | None


async def call_handler(handler: Handler, delivery: _Settleable, log: Any) -> None:
    """Call a consumer's handler the way every Bus promises: one that raises before settling
    has its delivery requeued; one that returns without settling is logged (the message
    stays with the consumer until it goes, as AMQP holds it)."""
    try:
        await handler(delivery)
    except Exception:
        requeue = delivery.settled_as is None
        log.exception("bus handler failed", requeueing=requeue)
        if requeue:
            await delivery.nack(requeue=True)
    else:
        if delivery.settled_as is None:
            log.warning("bus handler returned without settling its delivery")
