"""Composition root of the node service: settings -> logging -> gRPC server -> run.

``python -m gossipsim.node`` (or ``gossipsim serve node``) listens on ``--port`` (0 picks a
free one) and prints the ready line of the node handshake (``GOSSIPSIM_NODE_LISTENING <port>``,
common/contracts/node_handshake.py) once it accepts connections, which is how a local launcher
learns the port. It serves ``grpc.health.v1`` beside the node service and
exits gracefully on SIGTERM or SIGINT — and, when started by a local launcher
(``GOSSIPSIM_NODE_PARENT_PID``), when that parent process is gone, so a runner killed with
SIGKILL leaves no orphan node services behind.

A node does not start without ``GOSSIPSIM_NODE_SECRET``, the secret its runner must show to
configure it (a node anyone could configure would run any graph and dial any address it is
given): launchers set one per node or run, an operator's static pool shares one with its
runner. It listens on 127.0.0.1 unless ``--host`` or ``GOSSIPSIM_NODE_HOST`` say otherwise,
and with TLS when ``GOSSIPSIM_NODE_TLS_CERT``, ``_KEY`` and ``_CA`` are set.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import socket
import sys

from grpclib.health.service import Health
from grpclib.utils import graceful_exit

from gossipsim.common.contracts.node_handshake import ready_line
from gossipsim.common.runtime.logging import configure_logging
from gossipsim.common.runtime.settings import NodeSettings
from gossipsim.common.runtime.variables import NODE_SECRET_VAR
from gossipsim.node.server import NodeShardService


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to the first address of ``host``, as asyncio would bind it.

    Bound here rather than by the server so that the port that port 0 picked can be read from
    it: grpclib keeps the sockets of the server it creates private. The socket is made with the
    protocol getaddrinfo names (IPPROTO_TCP), not 0 as ``socket.create_server`` does: asyncio
    sets TCP_NODELAY only on connections whose socket says TCP, and without it every small gRPC
    reply waits for the peer's delayed ACK (~40 ms a call instead of ~0.1 ms).
    """
    family, kind, protocol, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listening = socket.socket(family, kind, protocol)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(address)
        listening.listen()
    except OSError:
        listening.close()
        raise
    return listening


async def _exit_with_parent(parent_pid: int) -> None:
    """SIGTERM ourselves (a graceful exit) once we have been re-parented: the parent died."""
    while os.getppid() == parent_pid:
        await asyncio.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


async def serve(settings: NodeSettings) -> None:
    secret = settings.traffic.secret
    if secret is None:
        raise ValueError(f"{NODE_SECRET_VAR.name} is not set")
    transport = settings.traffic.transport()
    service = NodeShardService(
        secret=secret, transport=transport, peer_timeout=settings.peer_timeout
    )
    server = transport.server([service, Health()])
    watchdog = (
        asyncio.create_task(_exit_with_parent(settings.parent_pid))
        if settings.parent_pid is not None
        else None
    )
    with graceful_exit([server]):
        listening = _listen(settings.host, settings.port)
        await server.start(sock=listening, ssl=transport.server_ssl)
        print(ready_line(listening.getsockname()[1]), flush=True)
        await server.wait_closed()
    if watchdog is not None:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
    await service.close()


_NO_SECRET = f"""\
gossipsim node: {NODE_SECRET_VAR.name} is not set, and a node without it does not start.
It is the secret a runner must show to configure this node. Runners that start their nodes
(local processes, Kubernetes pods) set it themselves; for a node started by hand, as in a
static pool, make one and give the same value to the node and to its runner:
    python -c 'import secrets; print(secrets.token_urlsafe(32))'
"""


def main(argv: list[str] | None = None) -> int:
    """The composition root: settings from the environment, ``--host``/``--port`` over them.

    Exits 2 with what to set when the settings are unusable (no secret, a TLS file that does
    not load).
    """
    parser = argparse.ArgumentParser(prog="gossipsim-node", description=__doc__)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    try:
        defaults = NodeSettings.from_env(os.environ)
        settings = dataclasses.replace(
            defaults,
            host=defaults.host if args.host is None else args.host,
            port=defaults.port if args.port is None else args.port,
        )
        if settings.traffic.secret is None:
            print(_NO_SECRET, end="", file=sys.stderr)
            return 2
        settings.traffic.transport()  # the TLS files load, or this says which does not
    except ValueError as error:
        print(f"gossipsim node: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    asyncio.run(serve(settings))
    return 0
