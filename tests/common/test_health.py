"""The services' HTTP health endpoints, with readiness taken from a real AMQP bus."""

from __future__ import annotations

import aiohttp

from gossipsim.common.messaging.bus import Delivery, QueueSpec
from gossipsim.common.runtime import health
from gossipsim.common.runtime.health import serve_health
from gossipsim.common.runtime.variables import HEALTH_PORT_VAR, HEALTH_PORTS
from tests.common.test_amqp_bus import connect_or_skip, delete_declared
from tests.support.captured_logs import captured_logs
from tests.support.ports import free_ports
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


def test_each_service_has_its_own_port_by_default() -> None:
    """The README starts scheduler, collector and runner on one host: no two may share."""
    assert HEALTH_PORT_VAR.read({}) is None  # unset: each service's own port
    assert set(HEALTH_PORTS) == {"scheduler", "collector", "runner"}
    assert len(set(HEALTH_PORTS.values())) == 3
    assert HEALTH_PORTS["scheduler"] == 8080  # where the Kubernetes probes have always looked


async def test_a_service_without_a_set_port_serves_on_its_own(monkeypatch) -> None:
    (own,) = free_ports(1)
    monkeypatch.setitem(health.HEALTH_PORTS, "collector", own)
    async with serve_health("collector", lambda: {"ready": True}, port=None) as port:
        assert port == own
        assert await get(port, "/healthz") == (200, {"service": "collector", "alive": True})


async def test_a_second_service_of_a_kind_falls_back_to_a_free_port_and_says_so(
    monkeypatch,
) -> None:
    """Two runners on one host: the second's own port is taken; it serves on a free one and
    warns where, naming the variable that chooses it, instead of stopping."""
    (own,) = free_ports(1)
    monkeypatch.setitem(health.HEALTH_PORTS, "runner", own)
    with captured_logs(monkeypatch, health) as entries:
        async with (
            serve_health("runner", lambda: {"ready": True}, port=None) as first,
            serve_health("runner", lambda: {"ready": False}, port=None) as second,
        ):
            assert first == own and second not in (own, 0)
            assert (await get(first, "/readyz"))[0] == 200
            assert (await get(second, "/readyz"))[0] == 503  # the second one's own answer
    (warning,) = [e for e in entries if e["log_level"] == "warning"]
    assert warning["port"] == second
    assert f"health port {own} is in use" in warning["event"]
    assert "GOSSIPSIM_HEALTH_PORT" in warning["event"]


async def test_a_set_port_that_is_taken_is_an_error_not_a_fallback() -> None:
    """Where the port is set, something probes it: serving elsewhere would hide the error."""
    async with serve_health("runner", lambda: {"ready": True}, port=0, host="127.0.0.1") as port:
        try:
            async with serve_health("runner", lambda: {"ready": True}, port=port):
                raise AssertionError("a second server on a set, taken port started")
        except OSError as error:
            assert f"GOSSIPSIM_HEALTH_PORT={port}" in str(error)
            assert "in use by another process" in str(error)
