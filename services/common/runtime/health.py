"""HTTP health endpoints of the long-running services, for Kubernetes probes.

    GET /healthz  200 while the process serves requests (liveness: restart it otherwise)
    GET /readyz   200 when connected to the broker with its consumers running, else 503
                  (readiness); both answer a JSON body saying what was checked

Readiness comes from the bus (:meth:`AmqpBus.health`): a service that lost RabbitMQ is not
ready until aio-pika has reconnected and restored its consumers; it is not restarted for
that, since reconnecting is what it is doing.

Which port: ``GOSSIPSIM_HEALTH_PORT`` where it is set (Kubernetes sets it: the probes name it),
and a taken one is an error naming the variable. Unset, each service has its own port
(:data:`~gossipsim.common.runtime.variables.HEALTH_PORTS`: scheduler 8080, collector 8081,
runner 8082), so the three started on one host do not collide; a second process of the same
kind there (another runner) finds that port taken and serves on a free one instead, with a
warning that names it. Failing would stop a runner over endpoints nobody probes on a laptop,
and a deployment that probes them sets the port, so it never gets a surprise port.
"""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import structlog
from aiohttp import web

from gossipsim.common.runtime.variables import HEALTH_PORT_VAR, HEALTH_PORTS

log = structlog.get_logger(__name__)

Check = Callable[[], dict[str, Any]]  # must include "ready": bool


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def make_app(service: str, readiness: Check) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        return _json(200, {"service": service, "alive": True})

    async def readyz(request: web.Request) -> web.Response:
        state = readiness()
        return _json(200 if state.get("ready") else 503, {"service": service, **state})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


@asynccontextmanager
async def serve_health(
    service: str, readiness: Check, *, port: int | None, host: str = "0.0.0.0"
) -> AsyncIterator[int]:
    """Serve the endpoints while the block runs; yields the port. ``port``: the one set
    (0 picks a free one), or None for the service's own, or a free one if that is taken."""
    app = make_app(service, readiness)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        bound = await _start(runner, service, host, port)
    except OSError:
        await runner.cleanup()
        raise
    log.info("health endpoints", service=service, port=bound)
    try:
        yield bound
    finally:
        await runner.cleanup()


async def _start(runner: web.AppRunner, service: str, host: str, port: int | None) -> int:
    """Bind as the module docstring says; an OSError names the variable and what to do."""
    name = HEALTH_PORT_VAR.name
    if port is not None:
        return await _bind(runner, host, port, f"{name}={port}")
    default = HEALTH_PORTS.get(service, 0)
    try:
        return await _bind(runner, host, default, f"the {service}'s own port ({name} unset)")
    except OSError as error:
        if not _in_use(error):
            raise
    bound = await _bind(runner, host, 0, "a free port")
    log.warning(
        f"health port {default} is in use (another {service} on this host?): /healthz and "
        f"/readyz are on port {bound} instead; set {name} to choose the port, or 0 to turn "
        "them off",
        service=service,
        port=bound,
    )
    return bound


async def _bind(runner: web.AppRunner, host: str, port: int, which: str) -> int:
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as error:
        await site.stop()  # unregisters it, so the runner can try another port
        what = "the port is in use by another process" if _in_use(error) else str(error)
        raise OSError(
            error.errno,
            f"cannot serve health endpoints on {host}:{port} ({which}): {what}; set "
            f"{HEALTH_PORT_VAR.name} to a free port, or 0 to turn them off",
        ) from error
    return site.port


def _in_use(error: OSError) -> bool:
    return error.errno == errno.EADDRINUSE
