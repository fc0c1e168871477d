"""Where node shards come from: the ``NodeLauncher`` interface.

The runner asks for S node services, gets their addresses, and hands them back when the run
ends — healthy ones for reuse, failed ones to be discarded. Implementations: local processes
(:mod:`gossipsim.runner.local_launcher`), pods per run on Kubernetes
(:mod:`gossipsim.runner.kubernetes_launcher`), a fixed pool
(:mod:`gossipsim.runner.static_launcher`).

A launcher also says how to reach its nodes: the transport (TLS, the message cap) and each
node's launch secret, which the runner's ``Configure`` must carry (common/rpc/auth.py). A
launcher that starts nodes makes a fresh secret for each node or run and hands it to the node
through its environment; a static pool's nodes share the operator's ``GOSSIPSIM_NODE_SECRET``.
"""

from __future__ import annotations

from typing import Protocol

from gossipsim.common.rpc.transport import NodeTransport


class NodeLauncher(Protocol):
    @property
    def transport(self) -> NodeTransport:
        """How to connect to this launcher's nodes."""
        ...

    def launch_secret(self, address: str) -> str:
        """The secret the node at ``address`` (one this launcher handed out) was started with."""
        ...

    async def acquire(self, count: int, *, run_id: str) -> list[str]:
        """``count`` ready node services (``host:port``), each passing its health check."""
        ...

    async def release(self, addresses: list[str], *, healthy: bool) -> None:
        """Give nodes back: healthy ones may serve the next run, others are stopped."""
        ...

    async def close(self) -> None:
        """Stop every node this launcher started."""
        ...
