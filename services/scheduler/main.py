"""Composition root of the scheduler: settings -> bus and store -> service (and, when asked,
the Kubernetes resource watcher beside it) -> run."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, Configuration

from gossipsim.common.runtime.connections import open_bus, open_store
from gossipsim.common.runtime.kubernetes_settings import KubernetesSettings
from gossipsim.common.runtime.service_loop import run_until_signalled
from gossipsim.common.runtime.settings import ServiceSettings
from gossipsim.scheduler.kubernetes_watcher import ResourceWatcher
from gossipsim.scheduler.service import SchedulerService, SchedulerSettings


async def serve(settings: ServiceSettings) -> None:
    kubernetes = KubernetesSettings.from_env(os.environ)
    async with (
        open_store(settings) as store,
        open_bus(settings, health_of="scheduler") as (bus, topology),
    ):
        service = SchedulerService(
            bus=bus,
            topology=topology,
            store=store,
            settings=SchedulerSettings(
                max_attempts=settings.max_attempts,
                lease_timeout=settings.lease_timeout,
            ),
        )
        await service.start()  # resumed state first, so the watcher finds it
        if not kubernetes.watch_resources:
            await run_until_signalled("scheduler", service.close)
            return
        async with kubernetes_api() as api:
            watcher = ResourceWatcher(
                api=api,
                bus=bus,
                topology=topology,
                scheduler=service,
                namespace=kubernetes.namespace,
                store=store,
            )
            await watcher.start()

            async def close() -> None:
                await watcher.close()
                await service.close()

            await run_until_signalled("scheduler", close)


@asynccontextmanager
async def kubernetes_api() -> AsyncIterator[ApiClient]:
    """The cluster's API: the pod's service account in a cluster, else the kubeconfig."""
    configuration = Configuration()
    try:
        # kubernetes-asyncio leaves this one unannotated
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        await config.load_kube_config(client_configuration=configuration)
    async with ApiClient(configuration) as api:
        yield api
