"""The test services' fallback chain: with no broker configured or answering and no Docker,
the tests get a private rabbitmq-server node (tests/support/services_chain.py)."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest

from tests.support import services_chain
from tests.support.private_broker import require_rabbitmq_server


@pytest.mark.timeout(180)
def test_without_a_broker_or_docker_a_private_node_is_started(monkeypatch):
    require_rabbitmq_server()
    monkeypatch.delenv("GOSSIPSIM_TEST_AMQP_URL", raising=False)
    monkeypatch.setattr(services_chain, "_answers", lambda host, port: False)
    monkeypatch.setattr(services_chain, "docker_answers", lambda: False)
    url, stop, source = services_chain.provide_broker()
    assert source == "a private rabbitmq-server node" and url is not None and stop is not None
    try:

        async def connect() -> None:
            connection = await aio_pika.connect(url)
            await connection.close()

        asyncio.run(connect())
    finally:
        stop()
