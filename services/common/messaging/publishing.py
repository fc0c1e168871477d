"""Publishing a message: encoded as JSON, routed by its kind to the exchange it belongs on."""

from __future__ import annotations

from gossipsim.common.messaging.bus import Bus, Envelope
from gossipsim.common.messaging.messages import MAX_MESSAGE_BYTES, Message, MessageError, encode
from gossipsim.common.messaging.topology import Topology


async def publish_message(bus: Bus, topology: Topology, message: Message) -> None:
    """Publish ``message``; one over the size every consumer accepts is refused here, where the
    publisher can still tell its user, instead of being dead-lettered unseen downstream."""
    body = encode(message)
    if len(body) > MAX_MESSAGE_BYTES:
        raise MessageError(
            f"a {message.kind} message of {len(body):,} bytes is over the limit of"
            f" {MAX_MESSAGE_BYTES:,} bytes a message may have; make it smaller (for a spec:"
            " put large graphs in files or the object store rather than inline)"
        )
    await bus.publish(
        topology.exchange_for(message.kind), Envelope(body=body, routing_key=message.kind)
    )
