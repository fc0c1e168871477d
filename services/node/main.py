"""Composition root of the node service: settings -> logging -> gRPC server -> run.

``python -m gossipsim.node`` (or ``gossipsim serve node``) listens on ``--port`` (0 picks a
free one) and prints ``GOSSIPSIM_NODE_LISTENING <port>`` once it accepts connections, which is
how a local launcher learns the port. It serves ``grpc.health.v1`` beside the node service and
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
from dataclasses import dataclass

from grpclib.health.service import Health
from grpclib.server import Server
from grpclib.utils import graceful_exit

from gossipsim.common.rpc.wire import GRPC_CONFIG
from gossipsim.common.runtime.logging import configure_logging
from gossipsim.node.server import NodeShardService

READY_LINE = "GOSSIPSIM_NODE_LISTENING"


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSettings:
    """Where the node listens and how long it waits for a peer shard."""

    host: str = "0.0.0.0"
    port: int = 50051
    peer_timeout: float = 120.0
    log_level: str = "info"
    parent_pid: int | None = None  # exit when this process is gone (local launcher)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> NodeSettings:
        env = os.environ if environ is None else environ
        return cls(
            host=env.get("GOSSIPSIM_NODE_HOST", "0.0.0.0"),
            port=int(env.get("GOSSIPSIM_NODE_PORT", "50051")),
            peer_timeout=float(env.get("GOSSIPSIM_NODE_PEER_TIMEOUT", "120")),
            log_level=env.get("GOSSIPSIM_LOG_LEVEL", "info"),
            parent_pid=int(env["GOSSIPSIM_NODE_PARENT_PID"])
            if env.get("GOSSIPSIM_NODE_PARENT_PID")
            else None,
        )


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
        await server.start(settings.host, settings.port)
        sockets = server._server.sockets if server._server else ()
        port = sockets[0].getsockname()[1] if sockets else settings.port
        print(f"{READY_LINE} {port}", flush=True)
        await server.wait_closed()
    if watchdog is not None:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
    await service.close()


def main(argv: list[str] | None = None) -> int:
    defaults = NodeSettings.from_env()
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
