"""Run a started service until SIGTERM or SIGINT, then stop it gracefully."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)


async def run_until_signalled(name: str, close: Callable[[], Awaitable[None]]) -> None:
    """Wait for a stop signal, then ``close()``: consumers are cancelled, so unsettled work
    goes back to the queue for another instance instead of being lost."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("service running", service=name)
    await stop.wait()
    log.info("service stopping", service=name)
    await close()
