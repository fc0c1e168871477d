"""A cap on the size of one gRPC message of node traffic, checked before the message is read.

grpclib (0.4) has no cap of its own: a receiver reads whatever length a message's five-byte
prefix announces (up to 4 GiB) into memory, and only then decodes it. Node traffic therefore
goes through :class:`LimitedProtoCodec`, given to the node's ``Server`` and to every
``Channel`` to a node (:mod:`.transport`). It

* refuses to encode a message over the cap, so the sender learns at once and sends nothing;
* carries the cap to the receiving side, where a message whose prefix announces more is
  refused before its body is read. grpclib offers no hook between the prefix and the body, so
  :func:`_install` replaces the receive function its client and server streams call with
  :func:`_receive_within_cap`, which does what grpclib's does plus the check. Streams with any
  other codec (the health checks' own clients, other programs) are received exactly as before.

Either way the call ends with ``RESOURCE_EXHAUSTED`` and a message naming the setting.
"""

from __future__ import annotations

import struct
from typing import Any

import grpclib.client
import grpclib.server
import grpclib.stream
from grpclib import GRPCError
from grpclib.const import Status
from grpclib.encoding.proto import ProtoCodec

SETTING = "GOSSIPSIM_NODE_MAX_MESSAGE_BYTES"
# The largest message a run within the default graph limits (GOSSIPSIM_MAX_VERTICES 5 000 000,
# GOSSIPSIM_MAX_EDGES 10 000 000) legitimately sends is the Configure of a one-shard run:
# (n + 1) int64 row pointers, 2m int32 neighbours and, for weighted partner selection, 2m
# float64 weights: 8·5M + 4·20M + 8·20M bytes, about 280 MB. Every other message is smaller
# (initial values and sampled values are 8 bytes a vertex, 40 MB) but a one-shard run's
# RunRounds reply, which holds all of its sampled history. 512 MiB fits the Configure with
# room for the history of a few sampled rounds; raising the graph limits may need it raised.
DEFAULT_MAX_MESSAGE_BYTES = 512 * 2**20
LARGEST_MAX_MESSAGE_BYTES = 2**31 - 1  # protobuf's own limit on one message


def _over_cap(size: int, cap: int, what: str) -> GRPCError:
    return GRPCError(
        Status.RESOURCE_EXHAUSTED,
        f"{what} a message of {size:,} bytes, over the cap of {cap:,} bytes ({SETTING}); "
        "use more shards, so that each shard's messages are smaller, or raise the setting on "
        "the runner and the nodes alike",
    )


class LimitedProtoCodec(ProtoCodec):
    """Protobuf messages of at most ``max_message_bytes``, in both directions."""

    def __init__(self, max_message_bytes: int) -> None:
        if not 1 <= max_message_bytes <= LARGEST_MAX_MESSAGE_BYTES:
            raise ValueError(
                f"{SETTING} must lie in 1..{LARGEST_MAX_MESSAGE_BYTES}, got {max_message_bytes}"
            )
        self.max_message_bytes = max_message_bytes

    def encode(self, message: Any, message_type: Any) -> bytes:
        data = super().encode(message, message_type)
        if len(data) > self.max_message_bytes:
            raise _over_cap(len(data), self.max_message_bytes, "refusing to send")
        return data

    def decode(self, data: bytes, message_type: Any) -> Any:
        if len(data) > self.max_message_bytes:  # _receive_within_cap has refused it already
            raise _over_cap(len(data), self.max_message_bytes, "refusing to receive")
        return super().decode(data, message_type)


_GRPCLIB_RECEIVE = grpclib.stream.recv_message


async def _receive_within_cap(stream: Any, codec: Any, message_type: Any) -> Any:
    """grpclib's ``recv_message``, refusing a message over the codec's cap before its body."""
    if not isinstance(codec, LimitedProtoCodec):
        return await _GRPCLIB_RECEIVE(stream, codec, message_type)
    prefix = await stream.recv_data(5)
    if not prefix:
        return None
    compressed, length = struct.unpack(">?I", prefix)
    if compressed:
        raise GRPCError(Status.UNIMPLEMENTED, "compressed messages are not supported")
    if length > codec.max_message_bytes:
        raise _over_cap(length, codec.max_message_bytes, "refusing to receive")
    body = await stream.recv_data(length)
    if len(body) != length:
        raise GRPCError(Status.DATA_LOSS, f"a message ended after {len(body)} of {length} bytes")
    return codec.decode(body, message_type)


def _install() -> None:
    """Make grpclib's client and server streams receive through :func:`_receive_within_cap`.

    Fails loudly if grpclib no longer receives the way this module expects, rather than
    leaving node traffic without its cap.
    """
    for module in (grpclib.client, grpclib.server):
        current = getattr(module, "recv_message", None)
        if current is _receive_within_cap:
            continue
        if current is not _GRPCLIB_RECEIVE:
            raise RuntimeError(
                f"{module.__name__}.recv_message is not grpclib.stream.recv_message: this "
                "grpclib version cannot enforce the node message cap; pin grpclib 0.4"
            )
        setattr(module, "recv_message", _receive_within_cap)  # noqa: B010 (not re-exported)


_install()
