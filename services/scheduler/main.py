"""Composition root of the scheduler: settings -> bus -> service -> run until signalled."""

from __future__ import annotations

from gossipsim.common.connections import open_bus
from gossipsim.common.service_loop import run_until_signalled
from gossipsim.common.settings import ServiceSettings
from gossipsim.scheduler.service import SchedulerService


async def serve(settings: ServiceSettings) -> None:
    async with open_bus(settings) as (bus, topology):
        service = SchedulerService(bus=bus, topology=topology, max_attempts=settings.max_attempts)
        await service.start()
        await run_until_signalled("scheduler", service.close)
