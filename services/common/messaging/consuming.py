"""Reading a delivery as a message, or dead-lettering it with the reason it is unreadable.

Every consumer starts here, so garbage bytes, a wrong content type, an oversized body or an
unknown kind never reach service logic and never crash-loop a consumer: the message goes to
the dead-letter queue with a reason someone can read (and replay after fixing it).
"""

from __future__ import annotations

from gossipsim.common.messaging.bus import Delivery
from gossipsim.common.messaging.messages import MAX_MESSAGE_BYTES, Message, MessageError, decode

JSON = "application/json"


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
    if expected is not None and not isinstance(message, expected):
        await delivery.dead_letter(f"unexpected {message.kind} on this queue")
        return None
    return message
