"""An in-process :class:`~gossipsim.common.messaging.bus.Bus` with AMQP's semantics, on asyncio.

Not a test double: the embedded ``gossipsim run`` carries real work on it, so it keeps the
guarantees the services rely on in distributed mode — FIFO queues, bounded prefetch, manual
acknowledgement, redelivery with a rising delivery count, dead-lettering past a queue's
delivery limit (RabbitMQ quorum-queue semantics) — and it passes tests/common/bus_contract.py
like the AMQP implementation. What it cannot give is durability: messages live in this process.

Where AMQP leaves a choice, this bus chooses so that failures surface rather than repeat:

* a requeued message goes back to the head of its queue, ahead of newer work;
* a delivery returned by :meth:`Consumer.cancel` counts as a delivery attempt, so a message that
  keeps taking its consumer down reaches the delivery limit instead of looping forever;
* cancelling a consumer cancels its running handler tasks (a stopping service must not go on
  working on messages the queue already hands to someone else); settling afterwards raises;
* a dead-lettered message on a queue without a dead-letter exchange is dropped, and logged.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from dataclasses import dataclass, field, replace

import structlog

from gossipsim.common.messaging.bus import (
    EXCHANGE_KINDS,
    REASON_HEADER,
    Consumer,
    Envelope,
    Handler,
    QueueSpec,
    call_handler,
)

log = structlog.get_logger(__name__)


@functools.lru_cache(maxsize=8192)
def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching on dot-separated words: ``*`` is exactly one, ``#`` zero or more.

    Cached because a handful of binding patterns meet the same few routing keys over and over.
    """
    return _match_words(_words(pattern), _words(routing_key))


def _words(key: str) -> tuple[str, ...]:
    # RabbitMQ reads the empty key as zero words: "#" matches it, "*" does not.
    return tuple(key.split(".")) if key else ()


def _match_words(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match_words(rest, words[i:]) for i in range(len(words) + 1))
    return bool(words) and head in ("*", words[0]) and _match_words(rest, words[1:])


@dataclass(slots=True)
class _Exchange:
    kind: str
    bindings: dict[tuple[str, str], None] = field(default_factory=dict)  # ordered set

    def route(self, routing_key: str) -> list[str]:
        """Queues that get a copy: each once, however many of its bindings match."""
        return list(dict.fromkeys(q for q, key in self.bindings if self._matches(key, routing_key)))

    def _matches(self, binding_key: str, routing_key: str) -> bool:
        if self.kind == "fanout":
            return True
        if self.kind == "direct":
            return binding_key == routing_key
        return topic_matches(binding_key, routing_key)


@dataclass(slots=True)
class _Message:
    envelope: Envelope
    deliveries: int = 0  # times handed to a consumer so far


@dataclass(slots=True, eq=False)
class _Queue:
    spec: QueueSpec
    ready: deque[_Message] = field(default_factory=deque)
    consumers: list[_MemoryConsumer] = field(default_factory=list)
    next_consumer: int = 0  # round-robin position, so one busy consumer does not starve others


class _MemoryDelivery:
    """One hand-over of a message; settling goes through its consumer, exactly once."""

    __slots__ = ("_consumer", "_count", "message", "settled_as")

    def __init__(self, consumer: _MemoryConsumer, message: _Message) -> None:
        self._consumer = consumer
        self.message = message
        self._count = message.deliveries  # a snapshot: the message's count rises on redelivery
        self.settled_as: str | None = None

    @property
    def envelope(self) -> Envelope:
        return self.message.envelope

    @property
    def delivery_count(self) -> int:
        return self._count

    async def ack(self) -> None:
        self._consumer.settle(self, "acked")

    async def nack(self, *, requeue: bool = True) -> None:
        if requeue:
            self._consumer.settle(self, "requeued", requeue=True)
        else:
            self._consumer.settle(self, "rejected", dead_letter="rejected")

    async def dead_letter(self, reason: str) -> None:
        self._consumer.settle(self, "dead-lettered", dead_letter=reason)


class _MemoryConsumer:
    """Runs the handler as one task per delivery, never more than ``prefetch`` unsettled."""

    def __init__(self, bus: InMemoryBus, queue: _Queue, handler: Handler, prefetch: int) -> None:
        self._bus = bus
        self._queue = queue
        self._handler = handler
        self._prefetch = prefetch
        self._unsettled: dict[_MemoryDelivery, None] = {}  # ordered: oldest delivery first
        self._tasks: set[asyncio.Task[None]] = set()
        self.active = True

    @property
    def has_capacity(self) -> bool:
        return self.active and len(self._unsettled) < self._prefetch

    def deliver(self, message: _Message) -> None:
        message.deliveries += 1
        delivery = _MemoryDelivery(self, message)
        self._unsettled[delivery] = None
        task = asyncio.get_running_loop().create_task(self._run(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, delivery: _MemoryDelivery) -> None:
        """Call the handler; one that raises has its delivery requeued, as the Bus promises."""
        bound = log.bind(
            queue=self._queue.spec.name,
            routing_key=delivery.envelope.routing_key,
            delivery_count=delivery.delivery_count,
        )
        await call_handler(self._handler, delivery, bound)

    def settle(
        self,
        delivery: _MemoryDelivery,
        outcome: str,
        *,
        requeue: bool = False,
        dead_letter: str | None = None,
    ) -> None:
        """Record the outcome, then requeue, dead-letter or drop the message and refill."""
        if delivery.settled_as is not None:
            raise RuntimeError(
                f"cannot settle (as {outcome}) a delivery of {delivery.envelope.routing_key!r}"
                f" from queue {self._queue.spec.name!r}: it was already {delivery.settled_as}"
            )
        delivery.settled_as = outcome
        del self._unsettled[delivery]
        if requeue:
            self._bus.requeue(self._queue, delivery.message)
        elif dead_letter is not None:
            self._bus.dead_letter(self._queue, delivery.message, dead_letter)
        self._bus.pump(self._queue)

    async def cancel(self, *, drain: float = 0.0) -> None:
        """Stop, give running handlers ``drain`` seconds, cancel the rest and give their
        unsettled messages back, in order; a transient queue goes with its consumer."""
        if not self.active:
            return
        self.active = False
        self._queue.consumers.remove(self)
        running = [task for task in self._tasks if task is not asyncio.current_task()]
        if drain > 0 and running:
            await asyncio.wait(running, timeout=drain)
            running = [task for task in running if not task.done()]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for delivery in reversed(self._unsettled):
            delivery.settled_as = "returned to the queue when its consumer was cancelled"
            self._bus.requeue(self._queue, delivery.message)
        self._unsettled.clear()
        if self._queue.spec.transient:
            self._bus.delete_queue(self._queue)
        else:
            self._bus.pump(self._queue)


class InMemoryBus:
    """Exchanges, queues and consumers in this process; use as ``async with InMemoryBus()``."""

    def __init__(self) -> None:
        self._exchanges: dict[str, _Exchange] = {}
        self._queues: dict[str, _Queue] = {}
        self._closed = False

    async def __aenter__(self) -> InMemoryBus:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def declare_exchange(
        self, name: str, *, kind: str = "topic", passive: bool = False
    ) -> None:
        """Idempotent, like AMQP; redeclaring with another kind is an error, as in AMQP.
        ``passive``: only check that it exists (LookupError if not), as AMQP's passive flag."""
        self._check_open()
        if passive:
            self._exchange(name)
            return
        if kind not in EXCHANGE_KINDS:
            raise ValueError(
                f"exchange {name!r}: unknown kind {kind!r}; use one of {EXCHANGE_KINDS}"
            )
        existing = self._exchanges.setdefault(name, _Exchange(kind))
        if existing.kind != kind:
            raise ValueError(f"exchange {name!r} is already declared as {existing.kind!r}")

    async def declare_queue(self, spec: QueueSpec, *, passive: bool = False) -> None:
        """Idempotent for the same spec; a different spec for the same name is an error.
        ``passive``: only check that it exists (LookupError if not); the spec is not compared
        (AMQP cannot), and the queue keeps the one it was declared with."""
        self._check_open()
        if passive:
            self._queue(spec.name)
            return
        if spec.delivery_limit is not None and spec.delivery_limit < 1:
            raise ValueError(f"queue {spec.name!r}: delivery_limit must be at least 1")
        existing = self._queues.setdefault(spec.name, _Queue(spec))
        if existing.spec != spec:
            raise ValueError(f"queue {spec.name!r} is already declared as {existing.spec}")

    async def bind(self, queue: str, exchange: str, routing_key: str) -> None:
        self._check_open()
        self._queue(queue)
        self._exchange(exchange).bindings[(queue, routing_key)] = None

    async def publish(self, exchange: str, envelope: Envelope) -> None:
        """Route a copy to each bound queue; a message no binding matches is dropped (AMQP)."""
        self._check_open()
        target = self._exchange(exchange)
        # A snapshot of the headers: the sender may go on to change its dict.
        envelope = replace(envelope, headers=dict(envelope.headers))
        self._route(target, envelope)

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 1) -> Consumer:
        self._check_open()
        if prefetch < 1:
            raise ValueError(f"prefetch must be at least 1, not {prefetch}")
        target = self._queue(queue)
        consumer = _MemoryConsumer(self, target, handler, prefetch)
        target.consumers.append(consumer)
        self.pump(target)
        return consumer

    async def close(self) -> None:
        """Cancel every consumer (their handlers end, unsettled messages go back) and stop."""
        self._closed = True
        consumers = [c for queue in self._queues.values() for c in queue.consumers]
        await asyncio.gather(*(consumer.cancel() for consumer in consumers))

    def queue_depth(self, name: str) -> int:
        """Messages waiting in ``name`` (RabbitMQ's messages_ready: unsettled ones not counted)."""
        return len(self._queue(name).ready)

    # -- internals shared with consumers ----------------------------------------------------

    def pump(self, queue: _Queue) -> None:
        """Hand waiting messages to consumers with room, round-robin, oldest message first."""
        while queue.ready and (consumer := self._next_consumer(queue)) is not None:
            consumer.deliver(queue.ready.popleft())

    def requeue(self, queue: _Queue, message: _Message) -> None:
        """Back to the head of the queue, unless another delivery would pass the limit."""
        limit = queue.spec.delivery_limit
        if limit is not None and message.deliveries >= limit:
            self.dead_letter(queue, message, f"delivery limit of {limit} reached")
        else:
            queue.ready.appendleft(message)

    def dead_letter(self, queue: _Queue, message: _Message, reason: str) -> None:
        """Republish through the queue's dead-letter exchange, original key, reason added."""
        envelope = message.envelope
        envelope = replace(envelope, headers={**envelope.headers, REASON_HEADER: reason})
        dlx = queue.spec.dead_letter_exchange
        exchange = self._exchanges.get(dlx) if dlx is not None else None
        if exchange is None:
            log.warning(
                "message dropped: its queue has no declared dead-letter exchange",
                queue=queue.spec.name,
                dead_letter_exchange=dlx,
                routing_key=envelope.routing_key,
                reason=reason,
            )
            return
        self._route(exchange, envelope)

    def delete_queue(self, queue: _Queue) -> None:
        """Remove a queue, its messages and its bindings (a transient queue's end)."""
        self._queues.pop(queue.spec.name, None)
        for exchange in self._exchanges.values():
            for binding in [b for b in exchange.bindings if b[0] == queue.spec.name]:
                del exchange.bindings[binding]

    def _route(self, exchange: _Exchange, envelope: Envelope) -> None:
        for name in exchange.route(envelope.routing_key):
            queue = self._queues[name]
            queue.ready.append(_Message(envelope))
            self.pump(queue)

    def _next_consumer(self, queue: _Queue) -> _MemoryConsumer | None:
        count = len(queue.consumers)
        for step in range(count):
            index = (queue.next_consumer + step) % count
            if queue.consumers[index].has_capacity:
                queue.next_consumer = (index + 1) % count
                return queue.consumers[index]
        return None

    def _exchange(self, name: str) -> _Exchange:
        if name not in self._exchanges:
            raise LookupError(f"exchange {name!r} is not declared")
        return self._exchanges[name]

    def _queue(self, name: str) -> _Queue:
        if name not in self._queues:
            raise LookupError(f"queue {name!r} is not declared")
        return self._queues[name]

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the in-memory bus is closed")
