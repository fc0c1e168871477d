"""What every consumer does with a delivery: read it, log in its context, retry it later.

* :func:`message_or_dead_letter` reads a delivery as a message, or dead-letters it with the
  reason it is unreadable. Every consumer starts here, so garbage bytes, a wrong content type,
  an oversized body, an unknown kind or a body whose kind is not its routing key never reach
  service logic and never crash-loop a
  consumer: the message goes to the dead-letter queue with a reason someone can read (and
  replay after fixing it).
* :func:`message_context` binds the message's ``simulation_id`` and ``run_id`` to every log line
  emitted while it is handled (structlog contextvars), so log calls never pass them by hand.
  Tasks started inside the block inherit them (asyncio copies the context into a new task).
* :func:`retry_later` settles a delivery whose handler raised
  :class:`~gossipsim.common.errors.Retry`: requeued after the error's delay, dead-lettered with
  the error once the queue's delivery limit is reached. The Bus has no delayed requeue (AMQP
  has none without a broker plugin), so the delay is a sleep in the handler before the nack:
  the delivery stays unsettled meanwhile and holds one of its consumer's prefetch slots, which
  is why the delay is bounded by :data:`MAX_DEFER`. A consumer cancelled during the sleep gives
  the delivery back, as it does any unsettled one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

from gossipsim.common.errors import Retry
from gossipsim.common.messaging.bus import Delivery
from gossipsim.common.messaging.messages import MAX_MESSAGE_BYTES, Message, MessageError, decode

log = structlog.get_logger(__name__)

JSON = "application/json"
CONTEXT_KEYS = ("simulation_id", "run_id")  # the ids bound to log lines, spelt as in messages
MAX_DEFER = 30.0  # seconds a handler may hold a delivery before requeueing it


async def message_or_dead_letter(
    delivery: Delivery, expected: tuple[type[Message], ...] | None = None
) -> Message | None:
    envelope = delivery.envelope
    content_type = (envelope.content_type or "").split(";")[0].strip()
    if content_type != JSON:
        await delivery.dead_letter(f"content type {envelope.content_type!r} is not {JSON}")
        return None
    if len(envelope.body) > MAX_MESSAGE_BYTES:
        await delivery.dead_letter(
            f"message of {len(envelope.body)} bytes exceeds {MAX_MESSAGE_BYTES}"
        )
        return None
    try:
        message = decode(envelope.body)
    except MessageError as error:
        await delivery.dead_letter(f"undecodable message: {error}")
        return None
    if envelope.routing_key != message.kind:
        # Broker permissions restrict routing keys per user (k8s/): a body of another kind
        # than its key would get past them.
        await delivery.dead_letter(
            f"a {message.kind} message published with routing key {envelope.routing_key!r}"
        )
        return None
    if expected is not None and not isinstance(message, expected):
        await delivery.dead_letter(f"unexpected {message.kind} on this queue")
        return None
    return message


@contextmanager
def message_context(message: Message) -> Iterator[None]:
    """Bind the message's ``simulation_id`` and ``run_id`` (those it has and that are set) to
    every log line until the block ends; what was bound before is restored then."""
    ids = {key: value for key in CONTEXT_KEYS if (value := getattr(message, key, ""))}
    with structlog.contextvars.bound_contextvars(**ids):
        yield


async def retry_later(delivery: Delivery, retry: Retry, *, limit: int) -> None:
    """Requeue ``delivery`` after ``retry.defer`` seconds (at most :data:`MAX_DEFER`); on its
    ``limit``-th delivery dead-letter it with the error instead. Expected, so no traceback."""
    count = delivery.delivery_count
    if count >= limit:
        log.warning("giving up on a message", reason=str(retry), delivery_count=count)
        await delivery.dead_letter(f"gave up after {count} deliveries: {retry}")
        return
    defer = min(retry.defer, MAX_DEFER)
    log.info("requeueing a message", reason=str(retry), defer=defer, delivery_count=count)
    await asyncio.sleep(defer)
    await delivery.nack(requeue=True)
