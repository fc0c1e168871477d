"""HTTP health endpoints of the long-running services, for Kubernetes probes.

    GET /healthz  200 while the process serves requests (liveness: restart it otherwise)
    GET /readyz   200 when connected to the broker with its consumers running, else 503
                  (readiness); both answer a JSON body saying what was checked

Readiness comes from the bus (:meth:`AmqpBus.health`): a service that lost RabbitMQ is not
ready until aio-pika has reconnected and restored its consumers; it is not restarted for
that, since reconnecting is what it is doing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import structlog
from aiohttp import web

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
    service: str, readiness: Check, *, port: int, host: str = "0.0.0.0"
) -> AsyncIterator[int]:
    """Serve the endpoints while the block runs; yields the port (0 picks a free one)."""
    app = make_app(service, readiness)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        raise OSError(
            f"cannot serve health endpoints on {host}:{port}: {error}; "
            "set GOSSIPSIM_HEALTH_PORT to a free port, or 0 to turn them off"
        ) from error
    server = site._server
    sockets = getattr(server, "sockets", None) or ()
    bound = sockets[0].getsockname()[1] if sockets else port
    log.info("health endpoints", service=service, port=bound)
    try:
        yield bound
    finally:
        await runner.cleanup()
