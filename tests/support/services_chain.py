"""Where the integration tests get RabbitMQ and S3, in order of preference:

RabbitMQ: ``GOSSIPSIM_TEST_AMQP_URL``; else a broker already answering on 127.0.0.1:5672 (this
machine and CI); else a testcontainers RabbitMQ where a Docker engine answers; else a private
node of the local ``rabbitmq-server`` (tests/support/private_broker.py); else nothing, and the
tests skip — or fail in CI (``GOSSIPSIM_REQUIRE_SERVICES=1``).

S3: ``GOSSIPSIM_TEST_S3_ENDPOINT``; else a testcontainers MinIO where Docker answers; else
SeaweedFS ``weed mini`` (tests/support/s3_server.py).

The broker is settled once per session in ``pytest_configure`` (tests/conftest.py) by setting
``GOSSIPSIM_TEST_AMQP_URL``, so every test module reads the same URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

DEFAULT_AMQP = ("127.0.0.1", 5672)
Stop = Callable[[], None]


def _answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def docker_answers() -> bool:
    """Whether a Docker engine is reachable (testcontainers needs one). The socket is looked
    for first: the Docker SDK leaks a socket when it finds no engine."""
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False
    try:
        import docker

        client = docker.from_env(timeout=3)
    except Exception:  # no SDK, no socket, no permission: no Docker
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def _testcontainers_rabbitmq() -> tuple[str, Stop]:
    from testcontainers.community.rabbitmq import RabbitMqContainer

    container = RabbitMqContainer("rabbitmq:3.13").start()
    host = container.get_container_host_ip()
    port = container.get_exposed_port(container.port)
    return f"amqp://guest:guest@{host}:{port}/", container.stop


def _private_rabbitmq() -> tuple[str, Stop]:
    from tests.support.private_broker import SERVER, PrivateBroker

    if not SERVER.is_file():
        raise FileNotFoundError(SERVER)
    broker = PrivateBroker(Path(tempfile.mkdtemp(prefix="gossipsim-test-broker-")))
    asyncio.run(broker.start())
    return broker.url, lambda: asyncio.run(broker.stop())


def provide_broker() -> tuple[str | None, Stop | None, str]:
    """(URL or None, how to stop what was started, where it came from)."""
    if os.environ.get("GOSSIPSIM_TEST_AMQP_URL"):
        return os.environ["GOSSIPSIM_TEST_AMQP_URL"], None, "GOSSIPSIM_TEST_AMQP_URL"
    if _answers(*DEFAULT_AMQP):
        return "amqp://guest:guest@127.0.0.1:5672/", None, "the broker on 127.0.0.1:5672"
    if docker_answers():
        with contextlib.suppress(Exception):
            url, stop = _testcontainers_rabbitmq()
            return url, stop, "testcontainers RabbitMQ"
    with contextlib.suppress(Exception):
        url, stop = _private_rabbitmq()
        return url, stop, "a private rabbitmq-server node"
    return None, None, "none: tests that need RabbitMQ skip (or fail in CI)"


def testcontainers_minio() -> tuple[str, dict[str, str], Stop] | None:
    """A MinIO container's endpoint and credentials, where Docker and the SDK are present."""
    if not docker_answers():
        return None
    try:
        from testcontainers.community.minio import MinioContainer
    except ImportError:  # testcontainers without its minio extra
        return None
    container = MinioContainer().start()
    config = container.get_config()
    credentials = {
        "AWS_ACCESS_KEY_ID": config["access_key"],
        "AWS_SECRET_ACCESS_KEY": config["secret_key"],
    }
    return f"http://{config['endpoint']}", credentials, container.stop
