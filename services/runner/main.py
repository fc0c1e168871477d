"""Composition root of the runner: settings -> bus, node launcher -> service -> run."""

from __future__ import annotations

from gossipsim.common.connections import open_bus
from gossipsim.common.service_loop import run_until_signalled
from gossipsim.common.settings import ServiceSettings
from gossipsim.runner.local_launcher import LocalProcessLauncher
from gossipsim.runner.service import RunnerService, RunnerSettings


async def serve(settings: ServiceSettings) -> None:
    async with LocalProcessLauncher() as launcher, open_bus(settings) as (bus, topology):
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
            ),
            limits=settings.limits,
        )
        await service.start()
        await run_until_signalled("runner", service.close)
