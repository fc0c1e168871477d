"""Composition root of the scheduler: settings -> bus and store -> service -> run."""

from __future__ import annotations

from gossipsim.common.connections import open_bus, open_store
from gossipsim.common.service_loop import run_until_signalled
from gossipsim.common.settings import ServiceSettings
from gossipsim.scheduler.service import SchedulerService, SchedulerSettings


async def serve(settings: ServiceSettings) -> None:
    async with open_store(settings) as store, open_bus(settings) as (bus, topology):
        service = SchedulerService(
            bus=bus,
            topology=topology,
            store=store,
            settings=SchedulerSettings(
                max_attempts=settings.max_attempts,
                lease_timeout=settings.lease_timeout,
            ),
        )
        await service.start()
        await run_until_signalled("scheduler", service.close)
