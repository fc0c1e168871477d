"""The dead-letter queue for operators: see what is in it, and replay what was fixed.

This module talks to RabbitMQ through aio-pika directly instead of the
:class:`~gossipsim.common.messaging.bus.Bus` protocol, on purpose. The Bus is what services need
(publish, consume with manual acknowledgement) and what the in-memory bus mirrors; it has no
way to look at a queue without taking its messages, and none should be added for the
services' sake. Looking needs AMQP's ``basic.get`` without acknowledgement, giving every
message back by closing the channel; replaying needs ``mandatory`` publishing, so that a
message no queue would take stays dead-lettered instead of vanishing. Both are operator
tooling on a real broker, as ``gossipsim dead-letters`` is.

Design decisions:

* Looking is safe: the dead-letter queue has no delivery limit (the topology declares it
  without one, and on RabbitMQ 4 the broker's default is switched off, see
  :mod:`gossipsim.common.messaging.amqp_bus`), so taking and returning a message never drops it. The
  broker raises the copy's ``x-delivery-count`` each time, which is what listing shows.
* A replayed message is a fresh persistent message to the exchange its kind belongs on
  (:meth:`Topology.exchange_for`), with its routing key, body, content type and other headers
  but without the dead-letter headers (the reason, delivery count, ``x-death``), so it starts
  again with a clean count. Only when the broker has confirmed and routed it is the
  dead-lettered copy acknowledged: a crash between the two leaves a duplicate, never a loss,
  and the services' handlers are idempotent (run ids, message ids).
* A replay takes at most the messages that were in the queue when it began: a replayed
  message that is still broken is dead-lettered again behind them and is not replayed twice.
* A routing key that is no message kind cannot be put back: the copy does not record which
  exchange it came from. Such messages stay in the queue and are reported as skipped.
* The connection is a plain one, not a robust one: after a reconnect, messages held by the
  lost channel are back in the queue, and the command should fail rather than go on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import aiormq
import orjson
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from gossipsim.common.messaging.bus import DELIVERY_COUNT_HEADER, REASON_HEADER
from gossipsim.common.messaging.messages import MESSAGE_TYPES
from gossipsim.common.messaging.topology import Topology, TopologyMissing

# Headers of a dead-lettered copy that a replayed message must not carry: ours, and those the
# broker adds when it dead-letters by itself (a queue without our dead-letter exchange).
DEAD_LETTER_HEADERS = frozenset(
    {
        REASON_HEADER,
        DELIVERY_COUNT_HEADER,
        "x-death",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    }
)


def _text(value: Any) -> Any:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """One dead-lettered message, as listing shows it."""

    kind: str  # the routing key, which is the message's kind for everything gossipsim sends
    reason: str
    delivery_count: int  # x-delivery-count: how often the copy was handed out before
    simulation_id: str = ""
    run_id: str = ""
    body_kind: str = ""  # the "kind" field of the body, if it is a JSON object with one
    content_type: str = ""
    size: int = 0
    headers: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, message: AbstractIncomingMessage) -> DeadLetter:
        headers = {k: _text(v) for k, v in (message.headers or {}).items()}
        try:
            body = orjson.loads(message.body)
        except orjson.JSONDecodeError:
            body = None
        fields = body if isinstance(body, dict) else {}
        count = headers.get(DELIVERY_COUNT_HEADER, 0)

        def text(name: str) -> str:
            value = fields.get(name, "")
            return value if isinstance(value, str) else str(value)

        return cls(
            kind=message.routing_key or "",
            reason=str(headers.get(REASON_HEADER, "")),
            delivery_count=count if isinstance(count, int) else 0,
            simulation_id=text("simulation_id"),
            run_id=text("run_id"),
            body_kind=text("kind"),
            content_type=message.content_type or "",
            size=len(message.body),
            headers={k: v for k, v in headers.items() if k != "x-death"},
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "reason": self.reason,
            "delivery_count": self.delivery_count,
            "simulation_id": self.simulation_id,
            "run_id": self.run_id,
            "body_kind": self.body_kind,
            "content_type": self.content_type,
            "size": self.size,
            "headers": dict(self.headers),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Peek:
    total: int  # messages in the queue (not counting any another client holds unacked)
    letters: list[DeadLetter]


@dataclass(slots=True, kw_only=True)
class Replay:
    replayed: int = 0
    unmatched: int = 0  # left in the queue: not selected
    unknown_kind: list[str] = field(default_factory=list)  # selected, but no exchange to use
    unroutable: list[str] = field(default_factory=list)  # no queue took the replayed copy
    remaining: int = 0  # in the dead-letter queue: those there at the start, less replayed


def format_peek(peek: Peek, queue: str) -> str:
    """What ``gossipsim dead-letters list`` prints: a header line and one line per message."""
    if not peek.letters:
        return f"no dead-lettered messages in {queue}"
    lines = [["KIND", "SIMULATION", "RUN", "DELIVERIES", "REASON"]]
    for letter in peek.letters:
        kind = letter.kind or "-"
        if letter.body_kind and letter.body_kind != letter.kind:
            kind += f" (body: {letter.body_kind})"
        ids = [letter.simulation_id or "-", letter.run_id or "-"]
        lines.append([kind, *ids, str(letter.delivery_count), letter.reason or "-"])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]) - 1)]
    shown = len(peek.letters)
    which = f", the first {shown} shown" if shown < peek.total else ""
    out = [f"{peek.total} dead-lettered message(s) in {queue}{which} (listing leaves them there)"]
    for line in lines:  # the reason last and unpadded: it is the long one
        padded = [value.ljust(width) for value, width in zip(line[:-1], widths, strict=True)]
        out.append("  ".join([*padded, line[-1]]))
    if peek.total > shown:
        out.append(f"… and {peek.total - shown} more (--limit N shows more)")
    return "\n".join(out)


def _replayed(message: AbstractIncomingMessage) -> aio_pika.Message:
    headers = {
        k: _text(v) for k, v in (message.headers or {}).items() if k not in DEAD_LETTER_HEADERS
    }
    return aio_pika.Message(
        message.body,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        headers=headers,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        type=message.type,
        app_id=message.app_id,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


class DeadLetterQueue:
    """A deployment's dead-letter queue; open with :meth:`DeadLetterQueue.open`."""

    def __init__(self, connection: AbstractConnection, topology: Topology) -> None:
        self._connection = connection
        self._topology = topology

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str, topology: Topology) -> AsyncIterator[DeadLetterQueue]:
        connection = await aio_pika.connect(url)
        async with connection:
            yield cls(connection, topology)

    @property
    def name(self) -> str:
        return self._topology.dead_letters_queue

    async def _declared(self, channel: AbstractChannel) -> tuple[aio_pika.abc.AbstractQueue, int]:
        """The queue, passively (a mistyped prefix must not create one), and its length."""
        try:
            queue = await channel.declare_queue(self.name, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            raise TopologyMissing(
                f"there is no queue {self.name!r} on the broker; the services declare it when"
                " they start (is GOSSIPSIM_PREFIX the deployment's prefix?)"
            ) from None
        result = queue.declaration_result
        return queue, result.message_count or 0

    async def peek(self, limit: int) -> Peek:
        """Up to ``limit`` messages from the head of the queue, all left in it."""
        channel = await self._connection.channel()
        letters: list[DeadLetter] = []
        try:
            queue, total = await self._declared(channel)
            while len(letters) < limit:
                message = await queue.get(no_ack=False, fail=False)
                if message is None:
                    break
                letters.append(DeadLetter.of(message))
        finally:
            if not channel.is_closed:
                await channel.close()  # every unacknowledged message goes back to the queue
        return Peek(total=total, letters=letters)

    async def replay(self, selected: Callable[[DeadLetter], bool]) -> Replay:
        """Republish the selected messages where they came from; acknowledge each one only
        after the broker has confirmed that a queue took its copy."""
        outcome = Replay()
        await self._check_exchanges()
        channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        try:
            queue, total = await self._declared(channel)
            exchanges = {
                name: await channel.get_exchange(name, ensure=False)
                for name in (self._topology.commands, self._topology.events)
            }
            for _ in range(total):
                message = await queue.get(no_ack=False, fail=False)
                if message is None:
                    break
                letter = DeadLetter.of(message)
                if not selected(letter):
                    outcome.unmatched += 1
                    continue
                if letter.kind not in MESSAGE_TYPES:
                    outcome.unknown_kind.append(letter.kind)
                    continue
                exchange = exchanges[self._topology.exchange_for(letter.kind)]
                try:
                    await exchange.publish(_replayed(message), letter.kind, mandatory=True)
                except aiormq.exceptions.PublishError:
                    outcome.unroutable.append(letter.kind)
                    continue
                await message.ack()
                outcome.replayed += 1
            outcome.remaining = total - outcome.replayed
        finally:
            if not channel.is_closed:
                await channel.close()  # what was not replayed goes back to the queue
        return outcome

    async def _check_exchanges(self) -> None:
        channel = await self._connection.channel()
        try:
            for name in (self._topology.commands, self._topology.events):
                try:
                    await channel.declare_exchange(name, passive=True)
                except aiormq.exceptions.ChannelNotFoundEntity:
                    raise TopologyMissing(
                        f"there is no exchange {name!r} on the broker to replay to; start the"
                        " services (they declare it) or check GOSSIPSIM_PREFIX"
                    ) from None
        finally:
            if not channel.is_closed:
                await channel.close()
