"""Composition root of the collector: settings -> bus and store -> service -> run."""

from __future__ import annotations

from gossipsim.collector.service import CollectorService
from gossipsim.common.runtime.connections import open_bus, open_store
from gossipsim.common.runtime.service_loop import run_until_signalled
from gossipsim.common.runtime.settings import ServiceSettings


async def serve(settings: ServiceSettings) -> None:
    async with (
        open_store(settings) as store,
        open_bus(settings, health_of="collector") as (bus, topology),
    ):
        service = CollectorService(bus=bus, topology=topology, store=store)
        await service.start()
        await run_until_signalled("collector", service.close)
