"""Connect to node services that run already (a static pool), instead of starting them.

For node services started by hand (``python -m gossipsim.node``) or deployed as a fixed pool.
A node is handed to one session at a time; a node released as unhealthy leaves the pool
until it passes its health check again. The pool's nodes and this runner share the operator's
secret (``GOSSIPSIM_NODE_SECRET``): without it the nodes would not start, nor obey this runner.
"""

from __future__ import annotations

import asyncio

from gossipsim.common.errors import ShardFailed
from gossipsim.common.rpc.transport import NodeTransport
from gossipsim.common.runtime.settings import NodeTrafficSettings
from gossipsim.common.runtime.variables import NODE_SECRET_VAR
from gossipsim.runner.local_launcher import check_health


class StaticNodeLauncher:
    """Hands out ``host:port`` addresses from a fixed list, started with ``traffic.secret``."""

    def __init__(
        self,
        addresses: list[str],
        *,
        traffic: NodeTrafficSettings,
        health_timeout: float = 5.0,
    ) -> None:
        if not addresses:
            raise ValueError("a static node pool needs at least one address")
        if traffic.secret is None:
            raise ValueError(
                f"a static node pool needs {NODE_SECRET_VAR.name}: the secret its nodes were "
                "started with, without which they obey no runner"
            )
        self._secret = traffic.secret
        self._transport = traffic.transport()
        self._free = list(addresses)
        self._health_timeout = health_timeout
        self._lock = asyncio.Lock()

    @property
    def transport(self) -> NodeTransport:
        return self._transport

    def launch_secret(self, address: str) -> str:
        return self._secret

    async def acquire(self, count: int, *, run_id: str) -> list[str]:
        async with self._lock:
            healthy: list[str] = []
            for address in list(self._free):
                if len(healthy) == count:
                    break
                try:
                    await check_health(
                        address, timeout=self._health_timeout, transport=self._transport
                    )
                    healthy.append(address)
                except ShardFailed:
                    continue
            if len(healthy) < count:
                raise ShardFailed(
                    f"run {run_id} needs {count} node services but only {len(healthy)} of the "
                    f"static pool ({len(self._free)} free) are healthy; start more nodes or use "
                    "fewer shards"
                )
            for address in healthy:
                self._free.remove(address)
            return healthy

    async def release(self, addresses: list[str], *, healthy: bool) -> None:
        async with self._lock:
            self._free.extend(addresses)  # an unhealthy node is re-checked before reuse

    async def close(self) -> None:
        """The nodes are not ours to stop."""
