"""The node service over real gRPC: health, and clear errors for misuse."""

from __future__ import annotations

import numpy as np
import pytest
from grpclib import GRPCError
from grpclib.const import Status

from gossipsim.common.rpc import node_pb2 as pb
from gossipsim.common.rpc.wire import array_to_proto
from gossipsim.runner.local_launcher import check_health

from .clients import configure_request, node_client


@pytest.fixture
async def node(launcher):
    (address,) = await launcher.acquire(1, run_id="node-test")
    try:
        async with node_client(launcher, address) as client:
            yield client
    finally:
        await launcher.release([address], healthy=True)


async def test_node_serves_grpc_health(node):
    await check_health(node.address, timeout=5)


async def test_phase_before_configure_says_to_configure_first(node):
    await node.configure(configure_request())
    await node.stub.Terminate(pb.Empty())
    with pytest.raises(GRPCError) as error:
        await node.stub.Settle(pb.PhaseRequest(configuration_id="x", round=0))
    assert error.value.status is Status.UNAUTHENTICATED  # no session: no token is valid
    assert "Configure first" in error.value.message


async def test_a_configured_node_refuses_another_configuration_id(node):
    await node.configure(configure_request())
    with pytest.raises(GRPCError) as error:
        await node.stub.Settle(pb.PhaseRequest(configuration_id="other", round=0))
    assert error.value.status is Status.FAILED_PRECONDITION
    assert "serves configuration 'test'" in error.value.message


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"indptr": array_to_proto(np.array([0, 2, 4]))}, "row pointers"),
        (
            {
                "indptr": array_to_proto(np.array([0, 2, 2, 4])),
                "neighbors": array_to_proto(np.array([1, 2, 0, 1])),
            },
            "no neighbours",
        ),
        ({"neighbors": array_to_proto(np.array([1, 2, 0, 2, 0, 9]))}, "outside"),
        ({"shard_index": 3}, "shard index"),
        ({"peer_addresses": []}, "peer address"),
        ({"peer_addresses": ["no-port"]}, "peer address 0 is not host:port"),
        ({"peer_addresses": ["127.0.0.1:99999"]}, "peer address 0 is not host:port"),
        ({"peer_addresses": ["evil/path:80"]}, "peer address 0 is not host:port"),
    ],
)
async def test_bad_configuration_is_refused_with_the_reason(node, overrides, message):
    with pytest.raises(GRPCError) as error:
        await node.configure(configure_request(**overrides))
    assert message in error.value.message


async def test_a_single_shard_node_runs_a_whole_run_in_one_call(node):
    stub = node.stub
    await node.configure(configure_request())
    await stub.Reset(
        pb.ResetRequest(
            configuration_id="test", run_key=1, values=array_to_proto(np.array([5.0, 3.0, 9.0]))
        )
    )
    reply = await stub.RunRounds(
        pb.RunRoundsRequest(
            configuration_id="test",
            stop=pb.StopCondition(max_rounds=10, until_converged=True),
            history=pb.HistorySampling(every=1),
        )
    )
    assert reply.converged
    assert len(reply.rounds) >= 2 and reply.rounds[-1].minimum == reply.rounds[-1].maximum == 3.0
    assert len(reply.history) == len(reply.rounds)


def test_node_listens_on_a_tcp_socket_so_asyncio_disables_nagle() -> None:
    """asyncio sets TCP_NODELAY only on sockets whose protocol says TCP; without it every small
    reply waits for the peer's delayed ACK (a 20x slower sweep of small runs)."""
    import socket

    from gossipsim.node.main import _listen

    listening = _listen("127.0.0.1", 0)
    try:
        assert listening.proto == socket.IPPROTO_TCP
        assert listening.getsockname()[1] > 0
    finally:
        listening.close()
