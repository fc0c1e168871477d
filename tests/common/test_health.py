"""The services' HTTP health endpoints, with readiness taken from a real AMQP bus."""

from __future__ import annotations

import aiohttp

from gossipsim.common.messaging.bus import Delivery, QueueSpec
from gossipsim.common.runtime.health import serve_health
from tests.common.test_amqp_bus import connect_or_skip, delete_declared
from tests.support.rabbitmq import unique_prefix


async def get(port: int, path: str) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status, await response.json()


async def ack(delivery: Delivery) -> None:
    await delivery.ack()


async def test_ready_only_while_connected_and_consuming() -> None:
    prefix = unique_prefix()
    bus = await connect_or_skip(prefix)
    try:
        await bus.declare_queue(QueueSpec(name=f"{prefix}.work"))
        async with serve_health("test", bus.health, port=0, host="127.0.0.1") as port:
            assert await get(port, "/healthz") == (200, {"service": "test", "alive": True})
            status, body = await get(port, "/readyz")
            assert status == 503 and body["consumers"] == 0  # connected, consuming nothing

            consumer = await bus.consume(f"{prefix}.work", ack)
            status, body = await get(port, "/readyz")
            assert status == 200
            assert body == {
                "service": "test",
                "ready": True,
                "broker": "connected",
                "consumers": 1,
                "consumers_open": 1,
            }
            await consumer.cancel()
            await bus.close()
            status, body = await get(port, "/readyz")
            assert status == 503 and body["broker"] == "disconnected"
            assert (await get(port, "/healthz"))[0] == 200  # alive: not a reason to restart
    finally:
        await bus.close()
        await delete_declared(bus, prefix)


async def test_a_taken_port_is_reported_with_what_to_do() -> None:
    async with serve_health("first", lambda: {"ready": True}, port=0, host="127.0.0.1") as port:
        try:
            async with serve_health("second", lambda: {"ready": True}, port=port, host="127.0.0.1"):
                raise AssertionError("a second server on the same port started")
        except OSError as error:
            assert "GOSSIPSIM_HEALTH_PORT" in str(error)
