"""Hostile gRPC calls to node services that hold a canary secret in reach.

Two nodes, each capped at 64 KiB a message: one started by a local launcher from a process
whose environment holds the canary (the launcher hands its children a minimal environment, so
the node must not have it), and one started by hand with the canary in its own environment, as
an operator's misconfigured node might be. Each is configured by its runner (this test, with the
launch secret); then a stranger calls it without credentials, with wrong ones, with messages
over the cap. Every call must be refused with the right status, the runner's session must
survive, and no reply detail, node log or node environment may hold the canary.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from grpclib import GRPCError
from grpclib.const import Status

from gossipsim.common.contracts.node_handshake import parse_ready_line
from gossipsim.common.rpc import node_pb2 as pb
from gossipsim.common.rpc.auth import SECRET_HEADER, TOKEN_HEADER, new_token
from gossipsim.common.rpc.node_grpc import NodeShardStub
from gossipsim.common.rpc.wire import array_to_proto
from gossipsim.common.runtime.settings import NodeTrafficSettings
from gossipsim.runner.local_launcher import LocalProcessLauncher
from tests.node.clients import configure_request, raw_stub
from tests.security.conftest import CANARY, assert_no_canary, canary_env

pytestmark = pytest.mark.timeout(120)

CAP = 64 * 1024
SETTLE = pb.PhaseRequest(configuration_id="test", round=0)


@dataclass
class Target:
    """A node configured by its runner: the launch secret and the session's token."""

    address: str
    secret: str
    token: str
    pid: int
    details: list[str] = field(default_factory=list)  # every refusal's message, for the check

    @property
    def session(self) -> dict[str, str]:
        return {TOKEN_HEADER: self.token}

    async def refused(self, call: Awaitable[Any], status: Status) -> str:
        with pytest.raises(GRPCError) as error:
            await call
        message = f"{error.value.message} {error.value.details!r}"
        self.details.append(message)
        assert error.value.status is status, message
        return message

    async def still_serves(self) -> None:
        async with raw_stub(self.address) as runner:
            reply = await runner.Settle(SETTLE, metadata=self.session)
        assert reply.aggregates.count == 3


async def configured(address: str, secret: str, pid: int) -> Target:
    target = Target(address=address, secret=secret, token=new_token(), pid=pid)
    async with raw_stub(address) as runner:
        await runner.Configure(
            configure_request(), metadata={SECRET_HEADER: secret, TOKEN_HEADER: target.token}
        )
    return target


@pytest.fixture(scope="module")
async def launched() -> AsyncIterator[Target]:
    """A node of a launcher whose own environment holds the canary."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in canary_env().items():
            patch.setenv(name, value)
        traffic = NodeTrafficSettings(max_message_bytes=CAP)
        async with LocalProcessLauncher(traffic=traffic) as launcher:
            (address,) = await launcher.acquire(1, run_id="hostile")
            pid = launcher.process(address).pid
            yield await configured(address, launcher.launch_secret(address), pid)


@dataclass
class HandNode:
    target: Target
    log: Path  # its standard error: its logs


@pytest.fixture(scope="module")
def by_hand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HandNode]:
    """A node started by hand with the canary in its environment (tests/node's start_node)."""
    log = tmp_path_factory.mktemp("hand-node") / "node.log"
    secret = new_token()
    base = {k: v for k, v in os.environ.items() if not k.startswith("GOSSIPSIM_")}
    env = {
        **base,
        **canary_env(),
        "GOSSIPSIM_NODE_SECRET": secret,
        "GOSSIPSIM_NODE_MAX_MESSAGE_BYTES": str(CAP),
        "GOSSIPSIM_LOG_LEVEL": "debug",
    }
    with log.open("wb") as stderr:
        node = subprocess.Popen(
            [sys.executable, "-m", "gossipsim.node", "--port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert node.stdout is not None
        port = parse_ready_line(node.stdout.readline())
        assert port is not None, log.read_text()
        yield HandNode(Target(f"127.0.0.1:{port}", secret, "", node.pid), log)
    finally:
        node.terminate()
        node.communicate(timeout=30)


@pytest.fixture(params=["launched", "by-hand"])
async def node(request: pytest.FixtureRequest, launched: Target, by_hand: HandNode) -> Target:
    """Each node, configured afresh by its runner for each test."""
    target = launched if request.param == "launched" else by_hand.target
    target.token = (await configured(target.address, target.secret, target.pid)).token
    return target


def big_delivery(size: int) -> pb.DeliverRequest:
    ids = array_to_proto(np.zeros(size // 8, dtype=np.int64))
    return pb.DeliverRequest(configuration_id="test", kind=pb.UPDATES, ids=ids)


Call = Callable[[NodeShardStub, Target], Awaitable[Any]]

# (the call a stranger makes, the status it must get)
HOSTILE: dict[str, tuple[Call, Status]] = {
    "settle-without-token": (lambda s, t: s.Settle(SETTLE), Status.UNAUTHENTICATED),
    "get-values-without-token": (
        lambda s, t: s.GetValues(pb.GetValuesRequest(vertices=array_to_proto(np.arange(3)))),
        Status.UNAUTHENTICATED,
    ),
    "terminate-without-token": (lambda s, t: s.Terminate(pb.Empty()), Status.UNAUTHENTICATED),
    "settle-with-a-wrong-token": (
        lambda s, t: s.Settle(SETTLE, metadata={TOKEN_HEADER: new_token()}),
        Status.UNAUTHENTICATED,
    ),
    "terminate-with-the-secret-as-token": (
        lambda s, t: s.Terminate(pb.Empty(), metadata={TOKEN_HEADER: t.secret}),
        Status.UNAUTHENTICATED,
    ),
    "configure-without-secret": (
        lambda s, t: s.Configure(configure_request(), metadata={TOKEN_HEADER: new_token()}),
        Status.UNAUTHENTICATED,
    ),
    "configure-with-a-wrong-secret": (
        lambda s, t: s.Configure(
            configure_request(), metadata={SECRET_HEADER: new_token(), TOKEN_HEADER: new_token()}
        ),
        Status.UNAUTHENTICATED,
    ),
    "configure-with-the-canary-as-secret": (
        lambda s, t: s.Configure(
            configure_request(), metadata={SECRET_HEADER: CANARY, TOKEN_HEADER: new_token()}
        ),
        Status.UNAUTHENTICATED,
    ),
    "configure-with-the-session-token-as-secret": (
        lambda s, t: s.Configure(
            configure_request(), metadata={SECRET_HEADER: t.token, TOKEN_HEADER: new_token()}
        ),
        Status.UNAUTHENTICATED,
    ),
    "oversize-without-token": (
        lambda s, t: s.Deliver(big_delivery(4 * CAP)),
        Status.UNAUTHENTICATED,
    ),
    "oversize-with-the-token": (
        lambda s, t: s.Deliver(big_delivery(4 * CAP), metadata=t.session),
        Status.RESOURCE_EXHAUSTED,
    ),
    "oversize-configure-with-the-secret": (
        lambda s, t: s.Configure(
            configure_request(indptr=array_to_proto(np.zeros(4 * CAP // 8, dtype=np.int64))),
            metadata={SECRET_HEADER: t.secret, TOKEN_HEADER: new_token()},
        ),
        Status.RESOURCE_EXHAUSTED,
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_a_hostile_call_is_refused_and_the_session_survives(node, name):
    call, status = HOSTILE[name]
    async with raw_stub(node.address) as stranger:
        message = await node.refused(call(stranger, node), status)
    assert CANARY not in message
    if status is Status.UNAUTHENTICATED:
        assert node.secret not in message and node.token not in message
    else:
        assert "GOSSIPSIM_NODE_MAX_MESSAGE_BYTES" in message and f"{CAP:,}" in message
    await node.still_serves()


# Calls of the runner itself (the right credentials) with requests a node must refuse: the
# reply says what is wrong and nothing else.
MALFORMED: dict[str, tuple[Call, Status]] = {
    "configure-shard-index-outside": (
        lambda s, t: s.Configure(
            configure_request(shard_index=5),
            metadata={SECRET_HEADER: t.secret, TOKEN_HEADER: t.token},
        ),
        Status.INVALID_ARGUMENT,
    ),
    "configure-peer-not-an-address": (
        lambda s, t: s.Configure(
            configure_request(peer_addresses=[f"{CANARY}"]),
            metadata={SECRET_HEADER: t.secret, TOKEN_HEADER: t.token},
        ),
        Status.INVALID_ARGUMENT,
    ),
    "settle-of-another-configuration": (
        lambda s, t: s.Settle(pb.PhaseRequest(configuration_id="other"), metadata=t.session),
        Status.FAILED_PRECONDITION,
    ),
}


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_a_malformed_call_of_the_runner_is_refused_without_echo(node, name):
    call, status = MALFORMED[name]
    async with raw_stub(node.address) as runner:
        message = await node.refused(call(runner, node), status)
    assert CANARY not in message  # not even the one the request carried
    assert node.secret not in message and node.token not in message


async def test_the_launched_node_has_none_of_its_launchers_secrets(launched):
    environ = Path(f"/proc/{launched.pid}/environ").read_bytes()
    assert CANARY.encode() not in environ
    names = {entry.split(b"=", 1)[0].decode() for entry in environ.split(b"\0") if entry}
    assert not names & {"AWS_SECRET_ACCESS_KEY", "GOSSIPSIM_TEST_CANARY", "GOSSIPSIM_BROKER_URL"}
    assert "GOSSIPSIM_NODE_SECRET" in names  # its own, which no stranger has


async def test_no_reply_detail_or_node_log_holds_the_canary(launched, by_hand):
    """Every hostile and malformed call once more on both nodes (whatever ran before), then
    what the nodes answered and what the node started by hand logged."""
    hand = by_hand.target
    assert CANARY.encode() in Path(f"/proc/{hand.pid}/environ").read_bytes()  # in its reach
    for target in (launched, hand):
        for call, status in [*HOSTILE.values(), *MALFORMED.values()]:
            # afresh each time: a malformed Configure of the runner's ends its session
            target.token = (await configured(target.address, target.secret, target.pid)).token
            async with raw_stub(target.address) as client:
                await target.refused(call(client, target), status)
    log = by_hand.log.read_text(errors="replace")
    assert "shard configured" in log  # the node logs (the check below means something)
    assert_no_canary([*launched.details, *hand.details, log])
