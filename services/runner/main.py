"""Composition root of the runner: settings -> bus, node launcher -> service -> run.

The node launcher is chosen by ``GOSSIPSIM_NODE_LAUNCHER``: ``local`` processes (the default),
``kubernetes`` pods per run, or a ``static`` pool of running node services.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gossipsim.common.runtime.connections import open_bus, open_store
from gossipsim.common.runtime.service_loop import run_until_signalled
from gossipsim.common.runtime.settings import (
    KubernetesSettings,
    NodeTrafficSettings,
    ServiceSettings,
)
from gossipsim.runner.launcher import NodeLauncher
from gossipsim.runner.local_launcher import LocalProcessLauncher
from gossipsim.runner.service import RunnerService, RunnerSettings
from gossipsim.runner.static_launcher import StaticNodeLauncher


@asynccontextmanager
async def open_launcher(
    kubernetes: KubernetesSettings,
    *,
    log_level: str,
    traffic: NodeTrafficSettings | None = None,
) -> AsyncIterator[NodeLauncher]:
    """The launcher ``kubernetes.node_launcher`` names; ``traffic``: how to talk to its nodes
    (TLS, message cap, and for a static pool the secret its nodes were started with)."""
    traffic = traffic or NodeTrafficSettings()
    if kubernetes.node_launcher == "kubernetes":
        # imported here: the Kubernetes client is only needed, and only loaded, in a cluster
        from gossipsim.runner.kubernetes_launcher import kubernetes_launcher

        async with kubernetes_launcher(kubernetes, log_level=log_level, traffic=traffic) as pods:
            yield pods
    elif kubernetes.node_launcher == "static":
        pool = StaticNodeLauncher(list(kubernetes.static_nodes), traffic=traffic)
        try:
            yield pool
        finally:
            await pool.close()
    else:
        async with LocalProcessLauncher(traffic=traffic) as processes:
            yield processes


async def serve(settings: ServiceSettings) -> None:
    kubernetes = KubernetesSettings.from_env(os.environ)
    traffic = NodeTrafficSettings.from_env(os.environ)
    async with (
        open_launcher(kubernetes, log_level=settings.log_level, traffic=traffic) as launcher,
        open_bus(settings, health_of="runner") as (bus, topology),
        open_store(settings, create_bucket=False) as store,  # {object: graphs/…} sources
    ):
        service = RunnerService(
            bus=bus,
            topology=topology,
            launcher=launcher,
            settings=RunnerSettings(
                name=settings.runner_name,
                call_timeout=settings.call_timeout,
                ack_after=settings.run_ack_after,
                heartbeat=settings.heartbeat_seconds,
                drain=settings.drain_seconds,
                cache_bytes=settings.runner_cache_bytes,
                max_shards=settings.max_shards,
            ),
            limits=settings.limits,
            inputs=settings.graph_inputs,
            graph_store=store,
        )
        await service.start()
        await run_until_signalled("runner", service.close)
