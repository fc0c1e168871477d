"""Composition root of the node service: settings -> logging -> gRPC server -> run.

``python -m gossipsim.node`` (or ``gossipsim serve node``) listens on ``--port`` (0 picks a
free one) and prints the ready line of the node handshake (``GOSSIPSIM_NODE_LISTENING <port>``,
common/contracts/node_handshake.py) once it accepts connections, which is how a local launcher
learns the port. It serves ``grpc.health.v1`` beside the node service and
exits gracefully on SIGTERM or SIGINT — and, when started by a local launcher
(``GOSSIPSIM_NODE_PARENT_PID``), when that parent process is gone, so a runner killed with
SIGKILL leaves no orphan node services behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket

from grpclib.health.service import Health
from grpclib.server import Server
from grpclib.utils import graceful_exit

from gossipsim.common.contracts.node_handshake import ready_line
from gossipsim.common.rpc.wire import GRPC_CONFIG
from gossipsim.common.runtime.logging import configure_logging
from gossipsim.common.runtime.settings import NodeSettings
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
    service = NodeShardService(peer_timeout=settings.peer_timeout)
    server = Server([service, Health()], config=GRPC_CONFIG)
    watchdog = (
        asyncio.create_task(_exit_with_parent(settings.parent_pid))
        if settings.parent_pid is not None
        else None
    )
    with graceful_exit([server]):
        listening = _listen(settings.host, settings.port)
        await server.start(sock=listening)
        print(ready_line(listening.getsockname()[1]), flush=True)
        await server.wait_closed()
    if watchdog is not None:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
    await service.close()


def main(argv: list[str] | None = None) -> int:
    """The composition root: settings from the environment, ``--host``/``--port`` over them."""
    defaults = NodeSettings.from_env(os.environ)
    parser = argparse.ArgumentParser(prog="gossipsim-node", description=__doc__)
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port)
    args = parser.parse_args(argv)
    settings = NodeSettings(
        host=args.host,
        port=args.port,
        peer_timeout=defaults.peer_timeout,
        log_level=defaults.log_level,
        parent_pid=defaults.parent_pid,
    )
    configure_logging(settings.log_level)
    asyncio.run(serve(settings))
    return 0
