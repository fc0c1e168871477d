"""Composition root of the scheduler: settings -> bus and store -> service (and, when asked,
the Kubernetes resource watcher beside it) -> run."""

from __future__ import annotations

import os

from gossipsim.common.runtime.connections import open_bus, open_store
from gossipsim.common.runtime.kubernetes import kubernetes_api
from gossipsim.common.runtime.service_loop import run_until_signalled
from gossipsim.common.runtime.settings import KubernetesSettings, ServiceSettings
from gossipsim.scheduler.kubernetes_watcher import ResourceWatcher
from gossipsim.scheduler.service import SchedulerService, SchedulerSettings
from gossipsim.scheduler.spec_check import SpecCheckSettings


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
            inputs=settings.graph_inputs,
            settings=SchedulerSettings(
                max_attempts=settings.max_attempts,
                lease_timeout=settings.lease_timeout,
                # the same GOSSIPSIM_MAX_* limits as the runner, checked in a worker process
                check=SpecCheckSettings(
                    limits=settings.limits,
                    max_shards=settings.max_shards,
                    seconds=settings.check_seconds,
                ),
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
