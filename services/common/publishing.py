"""Publishing a message: encoded as JSON, routed by its kind to the exchange it belongs on."""

from __future__ import annotations

from gossipsim.common.bus import Bus, Envelope
from gossipsim.common.messages import Message, encode
from gossipsim.common.topology import Topology


async def publish_message(bus: Bus, topology: Topology, message: Message) -> None:
    envelope = Envelope(body=encode(message), routing_key=message.kind)
    await bus.publish(topology.exchange_for(message.kind), envelope)
