"""Publishing a message: encoded as JSON, routed by its kind to the exchange it belongs on."""

from __future__ import annotations

from gossipsim.common.messaging.bus import Bus, Envelope
from gossipsim.common.messaging.messages import Message, encode
from gossipsim.common.messaging.topology import Topology


async def publish_message(bus: Bus, topology: Topology, message: Message) -> None:
    envelope = Envelope(body=encode(message), routing_key=message.kind)
    await bus.publish(topology.exchange_for(message.kind), envelope)
