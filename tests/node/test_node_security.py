"""A node service answers only its runner (docs/security.md, node authentication).

Each test talks to real node processes over gRPC, as a hostile client on the same machine
would: without credentials, with wrong or stale ones, naming addresses of its choosing,
sending messages over the cap, in plaintext to a TLS node.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import struct
import subprocess
import sys
import types
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from grpclib import GRPCError
from grpclib.const import Status

from gossipsim.common.errors import InvalidInput, ShardFailed
from gossipsim.common.model.algorithms import resolve_algorithm
from gossipsim.common.model.initial_values import Initialization
from gossipsim.common.rpc import node_pb2 as pb
from gossipsim.common.rpc.auth import SECRET_HEADER, TOKEN_HEADER, new_token
from gossipsim.common.rpc.node_grpc import NodeShardStub
from gossipsim.common.rpc.transport import NodeTransport
from gossipsim.common.rpc.wire import array_to_proto
from gossipsim.common.runtime.settings import NodeTrafficSettings
from gossipsim.node.server import NodeShardService
from gossipsim.node.shard_state import Batch
from gossipsim.runner.driver import RunSettings
from gossipsim.runner.local_launcher import LocalProcessLauncher, check_health
from gossipsim.runner.simulate import simulate
from gossipsim.runner.static_launcher import StaticNodeLauncher
from tests.engine.helpers import random_graph

from .certificates import Authority
from .clients import NodeClient, configure_request, node_client, raw_stub

SETTLE = pb.PhaseRequest(configuration_id="test", round=0)

# Every call but Configure, with a request that would be valid for the configured node.
CALLS: dict[str, Callable[[NodeShardStub], Any]] = {
    "Reset": lambda s: s.Reset(pb.ResetRequest(configuration_id="test", run_key=1)),
    "RunRounds": lambda s: s.RunRounds(pb.RunRoundsRequest(configuration_id="test")),
    "Propose": lambda s: s.Propose(pb.PhaseRequest(configuration_id="test", round=1)),
    "Resolve": lambda s: s.Resolve(pb.PhaseRequest(configuration_id="test", round=1)),
    "Settle": lambda s: s.Settle(SETTLE),
    "SequentialTurn": lambda s: s.SequentialTurn(pb.TurnRequest(configuration_id="test")),
    "SelectPartners": lambda s: s.SelectPartners(pb.PhaseRequest(configuration_id="test")),
    "InitiationOrder": lambda s: s.InitiationOrder(pb.PhaseRequest(configuration_id="test")),
    "ScheduleRound": lambda s: s.ScheduleRound(pb.ScheduleRequest(configuration_id="test")),
    "Wave": lambda s: s.Wave(pb.WaveRequest(configuration_id="test")),
    "Deliver": lambda s: s.Deliver(pb.DeliverRequest(configuration_id="test", kind=pb.UPDATES)),
    "GetValues": lambda s: s.GetValues(pb.GetValuesRequest()),
    "Terminate": lambda s: s.Terminate(pb.Empty()),
}


async def refused(call: Any, status: Status = Status.UNAUTHENTICATED) -> str:
    """The message of the gRPC error ``call`` ends with, which must have ``status``."""
    with pytest.raises(GRPCError) as error:
        await call
    assert error.value.status is status, error.value.message
    return str(error.value.message)


@pytest.fixture
async def node(launcher: LocalProcessLauncher) -> AsyncIterator[NodeClient]:
    """A node of the session's launcher, configured by its runner (this client)."""
    (address,) = await launcher.acquire(1, run_id="security")
    try:
        async with node_client(launcher, address) as client:
            await client.configure(configure_request())
            yield client
    finally:
        await launcher.release([address], healthy=True)


async def still_serves(node: NodeClient) -> None:
    """The runner's session is intact: its shard answers, with its three vertices."""
    reply = await node.stub.Settle(SETTLE)
    assert reply.aggregates.count == 3


class Listener:
    """A TCP port that counts the connections made to it (and closes each at once)."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Listener:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.close()

        self.server = await asyncio.start_server(accept, "127.0.0.1", 0)
        return self

    @property
    def address(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


# --- the session token ---------------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(CALLS))
async def test_a_call_without_a_token_is_refused_and_changes_nothing(node, method):
    async with raw_stub(node.address) as stranger:
        message = await refused(CALLS[method](stranger))
    assert TOKEN_HEADER in message
    await still_serves(node)


@pytest.mark.parametrize("method", sorted(CALLS))
async def test_a_call_with_a_wrong_token_is_refused(launcher, node, method):
    async with node_client(launcher, node.address) as guesser:  # a fresh token of its own
        await refused(CALLS[method](guesser.stub))
    await still_serves(node)


async def test_configure_needs_the_launch_secret_and_a_new_token(launcher, node):
    request = configure_request(configuration_id="hijack")
    async with raw_stub(node.address) as stranger:
        assert SECRET_HEADER in await refused(stranger.Configure(request))
        wrong = {SECRET_HEADER: new_token(), TOKEN_HEADER: new_token()}
        await refused(stranger.Configure(request, metadata=wrong))
        no_token = {SECRET_HEADER: node.secret}
        assert TOKEN_HEADER in await refused(stranger.Configure(request, metadata=no_token))
        short = {SECRET_HEADER: node.secret, TOKEN_HEADER: "x"}
        await refused(stranger.Configure(request, metadata=short))
    async with node_client(launcher, node.address, token=node.token) as replay:
        await refused(replay.stub.Configure(request))  # the session token is not the secret
    await still_serves(node)


async def test_a_token_of_an_earlier_session_is_refused(launcher, node):
    async with node_client(launcher, node.address) as next_runner:
        await next_runner.configure(configure_request(configuration_id="next"))
        await refused(node.stub.Settle(SETTLE))  # the first session's token: over
        await refused(node.stub.Terminate(pb.Empty()))
        reply = await next_runner.stub.Settle(pb.PhaseRequest(configuration_id="next"))
        assert reply.aggregates.count == 3
        await next_runner.stub.Terminate(pb.Empty())
        message = await refused(next_runner.stub.Settle(pb.PhaseRequest(configuration_id="next")))
        assert "Configure first" in message


async def test_each_local_node_has_its_own_secret_passed_outside_its_command_line(launcher):
    first, second = await launcher.acquire(2, run_id="secrets")
    try:
        assert launcher.launch_secret(first) != launcher.launch_secret(second)
        for address in (first, second):
            command = " ".join(psutil.Process(launcher.process(address).pid).cmdline())
            assert launcher.launch_secret(address) not in command
        async with node_client(launcher, first) as client:
            client.secret = launcher.launch_secret(second)
            await refused(client.configure(configure_request()))
    finally:
        await launcher.release([first, second], healthy=True)


async def test_health_checks_need_no_credentials(node):
    await check_health(node.address, timeout=5)


# --- peers ---------------------------------------------------------------------------------


async def test_a_refused_configure_makes_the_node_connect_nowhere(node):
    async with Listener() as bait, raw_stub(node.address) as stranger:
        request = configure_request(
            shard_bounds=[0, 3, 6], num_vertices=6, peer_addresses=[node.address, bait.address]
        )
        await refused(stranger.Configure(request))
        await refused(stranger.Propose(pb.PhaseRequest(configuration_id="test", round=1)))
        await asyncio.sleep(0.3)
        assert bait.connections == 0
    await still_serves(node)


async def test_a_node_connects_only_to_the_peers_of_its_configuration(launcher):
    """Shard 0 of a two-vertex graph must send to shard 1: it dials the configured address
    (a listener that hangs up, so the delivery fails) and no other."""
    (address,) = await launcher.acquire(1, run_id="peers")
    try:
        async with Listener() as peer, Listener() as other, node_client(launcher, address) as n:
            await n.configure(
                configure_request(
                    shard_bounds=[0, 1, 2],
                    num_vertices=2,
                    peer_addresses=[address, peer.address],
                    indptr=array_to_proto(np.array([0, 1])),
                    neighbors=array_to_proto(np.array([1])),
                    algorithm=pb.AlgorithmConfig(rule=1, memory=0, mode=2, order=1),
                )
            )
            values = array_to_proto(np.array([5.0]))  # synchronous mode: no halo copies
            await n.stub.Reset(pb.ResetRequest(configuration_id="test", run_key=1, values=values))
            message = await refused(
                n.stub.Propose(pb.PhaseRequest(configuration_id="test", round=1)),
                Status.UNAVAILABLE,
            )
            assert peer.address in message
            assert peer.connections >= 1 and other.connections == 0
    finally:
        await launcher.release([address], healthy=False)


async def test_a_delivery_to_a_shard_outside_the_configuration_is_refused_before_dialling():
    service = NodeShardService(secret=new_token())
    service._engine = types.SimpleNamespace(index=0)  # type: ignore[assignment]
    service._peers = [None]  # a one-shard configuration: no peer at all
    batch = Batch(ids=np.array([0]), partners=np.array([7]))
    with pytest.raises(GRPCError) as error:
        await service._send_to_peers({3: batch}, round_number=1, kind=pb.REQUESTS)
    assert error.value.status is Status.PERMISSION_DENIED
    assert "not a peer of its configuration" in error.value.message


# --- the message cap -----------------------------------------------------------------------

SMALL_CAP = 64 * 1024


@pytest.fixture(scope="module")
async def capped() -> AsyncIterator[LocalProcessLauncher]:
    """Nodes (and channels to them) with a cap of 64 KiB per message."""
    traffic = NodeTrafficSettings(max_message_bytes=SMALL_CAP)
    async with LocalProcessLauncher(traffic=traffic) as launcher:
        yield launcher


@pytest.fixture
async def capped_node(capped) -> AsyncIterator[NodeClient]:
    (address,) = await capped.acquire(1, run_id="cap")
    try:
        async with node_client(capped, address) as client:
            await client.configure(configure_request())
            yield client
    finally:
        await capped.release([address], healthy=True)


def big_delivery(size: int) -> pb.DeliverRequest:
    ids = array_to_proto(np.zeros(size // 8, dtype=np.int64))
    return pb.DeliverRequest(configuration_id="test", kind=pb.UPDATES, ids=ids)


async def test_a_message_over_the_nodes_cap_is_refused_naming_the_setting(capped_node):
    metadata = {TOKEN_HEADER: capped_node.token}
    async with raw_stub(capped_node.address) as uncapped:  # sends whatever it is given
        message = await refused(
            uncapped.Deliver(big_delivery(2 * SMALL_CAP), metadata=metadata),
            Status.RESOURCE_EXHAUSTED,
        )
    assert "GOSSIPSIM_NODE_MAX_MESSAGE_BYTES" in message and f"{SMALL_CAP:,}" in message
    reply = await capped_node.stub.Settle(SETTLE)  # the node and its session carry on
    assert reply.aggregates.count == 3


async def test_an_oversize_message_is_refused_before_its_body_arrives(capped_node):
    """Its prefix announces a gigabyte; the node answers at once, having read 5 bytes."""
    async with raw_stub(capped_node.address) as uncapped:
        stream = uncapped.Deliver.open(metadata={TOKEN_HEADER: capped_node.token})
        with pytest.raises(GRPCError) as error:
            async with stream:
                await stream.send_request()
                await stream._stream.send_data(struct.pack(">?I", False, 2**30) + bytes(100))
                await asyncio.wait_for(stream.recv_message(), 10)
    assert error.value.status is Status.RESOURCE_EXHAUSTED
    assert "1,073,741,824 bytes" in str(error.value.message)


async def test_an_unauthenticated_oversize_message_is_refused_unread(capped_node):
    async with raw_stub(capped_node.address) as uncapped:
        await refused(uncapped.Deliver(big_delivery(4 * SMALL_CAP)))  # UNAUTHENTICATED first


async def test_a_capped_client_neither_sends_nor_receives_over_its_cap(launcher, node):
    small = NodeTransport(max_message_bytes=SMALL_CAP)
    channel = small.channel(node.address, token=node.token)
    stub = NodeShardStub(channel)
    try:
        message = await refused(
            stub.Deliver(big_delivery(2 * SMALL_CAP)), Status.RESOURCE_EXHAUSTED
        )
        assert "refusing to send" in message
        values = await node.stub.GetValues(
            pb.GetValuesRequest(vertices=array_to_proto(np.arange(3)))
        )
        assert len(values.values.data) == 24  # small replies pass
    finally:
        channel.close()
    big = configure_request(
        shard_bounds=[0, 20_000],
        num_vertices=20_000,
        indptr=array_to_proto(np.arange(20_001) * 2),
        neighbors=array_to_proto(
            np.stack([np.arange(1, 20_001) % 20_000, np.arange(-1, 19_999) % 20_000], 1).ravel()
        ),
    )
    await node.configure(big)  # the session's client has the default cap (512 MiB)
    values = array_to_proto(np.linspace(0.0, 1.0, 20_000))
    await node.stub.Reset(pb.ResetRequest(configuration_id="test", run_key=1, values=values))
    channel = small.channel(node.address, token=node.token)
    try:
        sampled = pb.RunRoundsRequest(  # every vertex's value after rounds 0 and 1: 320 kB
            configuration_id="test",
            stop=pb.StopCondition(max_rounds=1),
            history=pb.HistorySampling(every=1),
        )
        message = await refused(
            NodeShardStub(channel).RunRounds(sampled), Status.RESOURCE_EXHAUSTED
        )
        assert "refusing to receive a message of 321," in message  # with rounds and framing
    finally:
        channel.close()


async def test_a_run_whose_messages_exceed_the_cap_is_impossible_not_retried(capped):
    graph = random_graph(20_000, 40_000, seed=1)  # its one-shard Configure is ~0.5 MB
    settings = RunSettings(max_rounds=5, initialization=Initialization.UNIFORM)
    with pytest.raises(InvalidInput) as error:
        await simulate(graph, resolve_algorithm("default"), settings=settings, launcher=capped)
    assert error.value.field == "shards"
    assert "Configure" in str(error.value) and "GOSSIPSIM_NODE_MAX_MESSAGE_BYTES" in str(
        error.value
    )


# --- where nodes listen, and what they need to start ---------------------------------------


def listening_hosts(pid: int) -> set[str]:
    return {c.laddr.ip for c in psutil.Process(pid).net_connections("tcp") if c.status == "LISTEN"}


async def test_local_node_processes_listen_on_loopback_only(launcher):
    (address,) = await launcher.acquire(1, run_id="bind")
    try:
        assert listening_hosts(launcher.process(address).pid) == {"127.0.0.1"}
    finally:
        await launcher.release([address], healthy=True)


def start_node(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GOSSIPSIM_")}
    return subprocess.Popen(
        [sys.executable, "-m", "gossipsim.node", "--port", "0", *args],
        env={**base, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.timeout(60)
def test_a_node_started_by_hand_listens_on_loopback_by_default() -> None:
    node = start_node({"GOSSIPSIM_NODE_SECRET": new_token()})
    try:
        assert node.stdout is not None
        assert node.stdout.readline().startswith("GOSSIPSIM_NODE_LISTENING ")
        assert listening_hosts(node.pid) == {"127.0.0.1"}
    finally:
        node.terminate()
        node.communicate(timeout=30)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "GOSSIPSIM_NODE_SECRET is not set"),
        ({"GOSSIPSIM_NODE_SECRET": "canary-short"}, "at least 16 characters"),
        (
            {"GOSSIPSIM_NODE_SECRET": new_token(), "GOSSIPSIM_NODE_TLS_CERT": "/nowhere.pem"},
            "GOSSIPSIM_NODE_TLS_KEY, GOSSIPSIM_NODE_TLS_CA not set",
        ),
        (
            {
                "GOSSIPSIM_NODE_SECRET": new_token(),
                "GOSSIPSIM_NODE_TLS_CERT": "/nowhere/cert.pem",
                "GOSSIPSIM_NODE_TLS_KEY": "/nowhere/key.pem",
                "GOSSIPSIM_NODE_TLS_CA": "/nowhere/ca.pem",
            },
            "GOSSIPSIM_NODE_TLS_CA",
        ),
    ],
    ids=["no secret", "short secret", "partial TLS", "missing TLS files"],
)
def test_a_node_without_usable_settings_does_not_start(env, expected) -> None:
    node = start_node(env)
    out, err = node.communicate(timeout=50)
    assert node.returncode == 2
    assert "GOSSIPSIM_NODE_LISTENING" not in out
    assert expected in err
    assert "canary-short" not in out + err  # a secret is never echoed
    assert "Traceback" not in err


def test_a_static_pool_needs_the_shared_secret() -> None:
    with pytest.raises(ValueError, match="GOSSIPSIM_NODE_SECRET"):
        StaticNodeLauncher(["127.0.0.1:50051"], traffic=NodeTrafficSettings())


def test_the_secret_is_never_in_the_settings_repr() -> None:
    secret = new_token()
    assert secret not in repr(NodeTrafficSettings(secret=secret))


# --- TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority.create(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
async def tls_launcher(authority: Authority) -> AsyncIterator[LocalProcessLauncher]:
    async with LocalProcessLauncher(traffic=authority.traffic("node")) as launcher:
        yield launcher


@pytest.mark.timeout(120)
async def test_a_sharded_run_over_tls_gives_the_plaintext_result(tls_launcher, launcher):
    graph = random_graph(200, 400, seed=5)
    settings = RunSettings(max_rounds=40, initialization=Initialization.UNIFORM)
    algorithm = resolve_algorithm(rule="average", mode="synchronous")
    (secure,) = await simulate(graph, algorithm, settings=settings, shards=3, launcher=tls_launcher)
    (plain,) = await simulate(graph, algorithm, settings=settings, shards=3, launcher=launcher)
    assert secure.rounds == 40 and secure.aggregates == plain.aggregates


async def test_a_tls_node_refuses_plaintext_and_clients_without_a_certificate_of_its_ca(
    authority, tls_launcher, tmp_path: Path
):
    (address,) = await tls_launcher.acquire(1, run_id="tls")
    try:
        await check_health(address, timeout=5, transport=tls_launcher.transport)
        with pytest.raises(ShardFailed):
            await check_health(address, timeout=5)  # plaintext
        # Clients that trust the node's CA, so the node's certificate is not what fails:
        cert, key = Authority.create(tmp_path / "other-ca").issue("intruder")
        foreign = NodeTrafficSettings(
            tls_cert=str(cert), tls_key=str(key), tls_ca=str(authority.cert)
        ).transport()
        anonymous = ssl.create_default_context(cafile=str(authority.cert))
        anonymous.set_alpn_protocols(["h2"])
        for transport in (foreign, NodeTransport(client_ssl=anonymous)):
            with pytest.raises(ShardFailed):
                await check_health(address, timeout=5, transport=transport)
    finally:
        await tls_launcher.release([address], healthy=True)


async def test_a_runner_refuses_a_node_certificate_for_another_name(authority, tls_launcher):
    cert, key = authority.issue("impostor", dns_name="not-a-node.example")
    impostor = NodeTrafficSettings(tls_cert=str(cert), tls_key=str(key), tls_ca=str(authority.cert))
    async with LocalProcessLauncher(traffic=impostor) as launcher:
        (address,) = await launcher.acquire(1, run_id="impostor")  # it starts, it serves ...
        with pytest.raises(ShardFailed):  # ... but a runner does not take it for a node
            await check_health(address, timeout=5, transport=tls_launcher.transport)
