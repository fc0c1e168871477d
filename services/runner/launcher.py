"""Where node shards come from: the ``NodeLauncher`` interface.

The runner asks for S node services, gets their addresses, and hands them back when the run
ends — healthy ones for reuse, failed ones to be discarded. Implementations: local processes
(:mod:`gossipsim.runner.local_launcher`), pods per run on Kubernetes
(:mod:`gossipsim.runner.kubernetes_launcher`), a fixed pool
(:mod:`gossipsim.runner.static_launcher`).
"""

from __future__ import annotations

from typing import Protocol


class NodeLauncher(Protocol):
    async def acquire(self, count: int, *, run_id: str) -> list[str]:
        """``count`` ready node services (``host:port``), each passing its health check."""
        ...

    async def release(self, addresses: list[str], *, healthy: bool) -> None:
        """Give nodes back: healthy ones may serve the next run, others are stopped."""
        ...

    async def close(self) -> None:
        """Stop every node this launcher started."""
        ...
