"""Node services as local processes (``python -m gossipsim.node``), pooled between runs.

Starting a node costs about a second (numba and numpy imports), so released healthy nodes
wait in a pool; a node that failed is killed, never reused. A node tells its port by the node
handshake (``gossipsim.common.contracts.node_handshake``): its first line on standard output.

Each node listens on 127.0.0.1 only and gets a launch secret of its own, drawn here and given
in its environment (which other users cannot read), so only this runner can configure it.
Its traffic settings (message cap, TLS files) are this launcher's, set explicitly rather than
inherited, so that both ends always agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Mapping

import structlog
from grpclib.client import Channel
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse

from gossipsim.common.contracts.node_handshake import PARENT_PID_VARIABLE, parse_ready_line
from gossipsim.common.errors import ShardFailed
from gossipsim.common.rpc.auth import new_token
from gossipsim.common.rpc.transport import NodeTransport
from gossipsim.common.runtime.settings import NodeTrafficSettings
from gossipsim.common.runtime.variables import (
    CLI_LOG_LEVEL,
    LOG_LEVEL_VAR,
    NODE_SECRET_VAR,
    NODE_STARTUP_TIMEOUT_SECONDS,
    NODE_TLS_CA_VAR,
    NODE_TLS_CERT_VAR,
    NODE_TLS_KEY_VAR,
)

log = structlog.get_logger(__name__)

# What a node process needs of the runner's environment: to find Python and its packages, the
# locale, temporary files, numba's cache and thread settings, and its own settings.
_NODE_VARIABLES = frozenset(
    {"PATH", "HOME", "LANG", "TZ", "TMPDIR", "VIRTUAL_ENV", "LD_LIBRARY_PATH", "SYSTEMROOT"}
)
_NODE_PREFIXES = ("PYTHON", "LC_", "NUMBA_", "OMP_", "OPENBLAS_", "MKL_", "GOSSIPSIM_NODE_")


def node_environment(parent: Mapping[str, str]) -> dict[str, str]:
    """The environment of a local node process: only what it needs of ``parent``.

    A node runs code on arrays a spec describes and listens on a port; it has no use for the
    runner's broker URL or store credentials, so they are not handed down (a node that is made
    to misbehave has no secrets to give away).
    """
    return {
        name: value
        for name, value in parent.items()
        if name in _NODE_VARIABLES or name.startswith(_NODE_PREFIXES)
    }


_TRAFFIC_VARIABLES = (NODE_SECRET_VAR, NODE_TLS_CERT_VAR, NODE_TLS_KEY_VAR, NODE_TLS_CA_VAR)


async def check_health(
    address: str, *, timeout: float, transport: NodeTransport | None = None
) -> None:
    """Raise ShardFailed unless the node at ``address`` reports SERVING (no credentials)."""
    channel: Channel = (transport or NodeTransport()).channel(address)
    try:
        reply = await HealthStub(channel).Check(HealthCheckRequest(), timeout=timeout)
    except (TimeoutError, OSError, Exception) as error:  # any failure means unhealthy
        raise ShardFailed(f"node at {address} failed its health check: {error!r}") from error
    finally:
        channel.close()
    if reply.status != HealthCheckResponse.SERVING:
        raise ShardFailed(f"node at {address} is not serving (status {reply.status})")


class LocalProcessLauncher:
    """Starts node services as child processes on 127.0.0.1 and pools them.

    ``traffic``: the message cap and TLS files of the nodes and of the channels to them (its
    ``secret`` is not used: every node gets a fresh one, or ``secret`` if given — for tests
    that hand these nodes to a static pool). ``log_level``: the nodes' log level; by default
    ``GOSSIPSIM_LOG_LEVEL`` where it is set, else ``warning`` (a node logs little of use, and a
    run starts many), so that ``gossipsim run`` and the Python API are quiet unless asked.
    """

    def __init__(
        self,
        *,
        startup_timeout: float = NODE_STARTUP_TIMEOUT_SECONDS,
        python: str = sys.executable,
        log_level: str | None = None,
        traffic: NodeTrafficSettings | None = None,
        secret: str | None = None,
    ) -> None:
        self._startup_timeout = startup_timeout
        self._log_level = log_level or LOG_LEVEL_VAR.read_or(os.environ, CLI_LOG_LEVEL)
        self._python = python
        self._traffic = traffic or NodeTrafficSettings()
        self._transport = self._traffic.transport()
        self._secret = secret
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._secrets: dict[str, str] = {}
        self._idle: list[str] = []

    @property
    def transport(self) -> NodeTransport:
        return self._transport

    def launch_secret(self, address: str) -> str:
        return self._secrets[address]

    def process(self, address: str) -> asyncio.subprocess.Process:
        """The process behind an address (tests use it to kill a node mid-run)."""
        return self._processes[address]

    def _environment(self, secret: str) -> dict[str, str]:
        """What a node process gets: what it needs of ours, and this launcher's settings."""
        env = node_environment(os.environ)
        for variable in _TRAFFIC_VARIABLES:  # never the runner's own: ours, or none
            env.pop(variable.name, None)
        return {
            **env,
            **self._traffic.environment(),
            NODE_SECRET_VAR.name: secret,
            LOG_LEVEL_VAR.name: self._log_level,
            PARENT_PID_VARIABLE: str(os.getpid()),  # they exit if we die
        }

    async def _start_one(self) -> str:
        secret = self._secret or new_token()
        process = await asyncio.create_subprocess_exec(
            self._python,
            "-m",
            "gossipsim.node",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            stdout=asyncio.subprocess.PIPE,
            stderr=None,  # node logs go where the runner's go
            env=self._environment(secret),
        )
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), self._startup_timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise ShardFailed(
                f"a local node service did not start within {self._startup_timeout:.0f} s"
            ) from None
        port = parse_ready_line(line.decode())
        if port is None:
            code = await process.wait()
            raise ShardFailed(
                f"a local node service exited (code {code}) before listening; "
                "run `python -m gossipsim.node --port 0` to see why"
            )
        address = f"127.0.0.1:{port}"
        self._processes[address] = process
        self._secrets[address] = secret
        log.debug("node started", address=address, pid=process.pid)
        return address

    async def acquire(self, count: int, *, run_id: str) -> list[str]:
        reused: list[str] = []
        while self._idle and len(reused) < count:
            address = self._idle.pop()
            try:
                await check_health(address, timeout=5.0, transport=self._transport)
                reused.append(address)
            except ShardFailed:
                await self._stop(address)
        started = await asyncio.gather(*(self._start_one() for _ in range(count - len(reused))))
        return reused + list(started)

    async def release(self, addresses: list[str], *, healthy: bool) -> None:
        for address in addresses:
            if healthy and address in self._processes:
                self._idle.append(address)
            else:
                await self._stop(address)

    async def _stop(self, address: str) -> None:
        process = self._processes.pop(address, None)
        self._secrets.pop(address, None)
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()

    async def close(self) -> None:
        self._idle = []
        await asyncio.gather(*(self._stop(address) for address in list(self._processes)))

    async def __aenter__(self) -> LocalProcessLauncher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
