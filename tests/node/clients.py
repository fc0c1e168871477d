"""Clients of a node service as its runner calls it: the session token on every call, the
node's launch secret on Configure (common/rpc/auth.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import numpy as np
from grpclib.client import Channel

from gossipsim.common.rpc import node_pb2 as pb
from gossipsim.common.rpc.auth import SECRET_HEADER, new_token
from gossipsim.common.rpc.node_grpc import NodeShardStub
from gossipsim.common.rpc.wire import array_to_proto
from gossipsim.runner.launcher import NodeLauncher


@dataclass
class NodeClient:
    address: str
    stub: NodeShardStub  # its calls carry ``token``
    secret: str  # the node's launch secret
    token: str

    async def configure(self, request: pb.ConfigureRequest) -> pb.ConfigureReply:
        return await self.stub.Configure(request, metadata={SECRET_HEADER: self.secret})


@asynccontextmanager
async def node_client(
    launcher: NodeLauncher, address: str, *, token: str | None = None
) -> AsyncIterator[NodeClient]:
    """A runner's client of the node at ``address`` with a fresh (or the given) token."""
    token = token or new_token()
    channel = launcher.transport.channel(address, token=token)
    try:
        yield NodeClient(
            address=address,
            stub=NodeShardStub(channel),
            secret=launcher.launch_secret(address),
            token=token,
        )
    finally:
        channel.close()


@asynccontextmanager
async def raw_stub(address: str, **channel_options: object) -> AsyncIterator[NodeShardStub]:
    """A client with no credentials, no cap and no TLS unless given: what anyone could open."""
    host, _, port = address.rpartition(":")
    channel = Channel(host, int(port), **channel_options)  # type: ignore[arg-type]
    try:
        yield NodeShardStub(channel)
    finally:
        channel.close()


def configure_request(**overrides: object) -> pb.ConfigureRequest:
    """One shard holding a triangle; its only peer address is its own, unused."""
    fields: dict[str, object] = {
        "configuration_id": "test",
        "shard_index": 0,
        "shard_bounds": [0, 3],
        "peer_addresses": ["127.0.0.1:1"],
        "indptr": array_to_proto(np.array([0, 2, 4, 6])),
        "neighbors": array_to_proto(np.array([1, 2, 0, 2, 0, 1])),
        "algorithm": pb.AlgorithmConfig(rule=1, memory=0, mode=1, order=1),
        "num_vertices": 3,
    }
    fields.update(overrides)
    return pb.ConfigureRequest(**fields)  # type: ignore[arg-type]
