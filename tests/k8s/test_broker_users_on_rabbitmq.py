"""The broker users on a real RabbitMQ: what each role may do is what RabbitMQ enforces, and the
services run a simulation each as its own user.

A private RabbitMQ node (tests/support/private_broker.py; the shared broker's users are never
touched) starts with ``load_definitions`` pointing at the file the broker's init container
renders from the rendered manifests, as on the cluster, for a fresh name prefix. Each role
connects with the URL its Deployment composes (``GOSSIPSIM_BROKER_URL`` expanded from the
rendered Secret and ConfigMap, ``BROKER_ADDRESS`` pointing at the private node), the client
with the URL docs/kubernetes.md tells you to use. A refusal is RabbitMQ's ``ACCESS_REFUSED``:
the channel is closed with code 403 (aiormq's ChannelAccessRefused).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import aiormq
import pytest
import pytest_asyncio
from yarl import URL

from gossipsim.common.messaging.amqp_bus import AmqpBus
from gossipsim.common.messaging.bus import QueueSpec
from gossipsim.common.messaging.topology import Topology
from tests.distributed.harness import Cluster
from tests.k8s.manifests import (
    Obj,
    broker_definitions,
    container_environment,
    find,
    pod_spec,
    secret_value,
)
from tests.support.private_broker import PrivateBroker, require_rabbitmq_server
from tests.support.rabbitmq import unique_prefix
from tests.support.s3_server import S3Server

pytestmark = pytest.mark.timeout(180)


class DefinedBroker(PrivateBroker):
    """A private node that imports definitions at boot; it then has no guest user, so its
    readiness check logs in as the definitions' administrator."""

    def __init__(self, workdir: Path, definitions: Path, admin_url: str) -> None:
        super().__init__(workdir)
        self._admin_url = admin_url
        with (workdir / "rabbitmq.conf").open("a") as conf:
            conf.write(f"load_definitions = {definitions}\n")

    @property
    def url(self) -> str:
        return self._admin_url.format(port=self.port)


@dataclass(frozen=True, slots=True)
class Deployment:
    broker: DefinedBroker
    topology: Topology
    urls: dict[str, str]  # role (and "admin") -> AMQP URL on the private node


def _service_url(objs: list[Obj], service: str, address: str) -> str:
    spec = pod_spec(find(objs, "Deployment", f"gossipsim-{service}"))
    assert spec is not None
    (container,) = spec["containers"]
    env = container_environment(objs, container, {"BROKER_ADDRESS": address})
    return env["GOSSIPSIM_BROKER_URL"]


@pytest_asyncio.fixture(scope="module")
async def deployment(
    k8s_base: list[Obj], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    require_rabbitmq_server()
    prefix = unique_prefix()
    workdir = tmp_path_factory.mktemp("defined-broker")
    rendered = broker_definitions(k8s_base, workdir / "init", {"GOSSIPSIM_PREFIX": prefix})
    secret = {
        key: secret_value(k8s_base, "gossipsim-secrets", key)
        for key in ("RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS", "BROKER_CLIENT_PASSWORD")
    }
    admin = f"amqp://{secret['RABBITMQ_DEFAULT_USER']}:{secret['RABBITMQ_DEFAULT_PASS']}"
    broker = DefinedBroker(workdir / "node", rendered.path, admin + "@127.0.0.1:{port}/")
    await broker.start()
    address = f"127.0.0.1:{broker.port}"
    monitor = secret_value(k8s_base, "gossipsim-secrets", "BROKER_MONITOR_URL")
    urls = {service: _service_url(k8s_base, service, address) for service in
            ("scheduler", "runner", "collector")}  # fmt: skip
    urls["client"] = f"amqp://gossipsim-client:{secret['BROKER_CLIENT_PASSWORD']}@{address}/"
    urls["monitor"] = monitor.replace("gossipsim-rabbitmq.gossipsim.svc:5672", address)
    urls["admin"] = broker.url
    try:
        yield Deployment(broker, Topology(prefix=prefix), urls)
    finally:
        await broker.stop()


async def _publish(url: str, exchange: str, routing_key: str) -> None:
    """Publish with a confirm on a connection of its own (a refusal closes the channel)."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        target = await channel.get_exchange(exchange, ensure=False)
        await target.publish(aio_pika.Message(b"{}"), routing_key=routing_key)


async def _get(url: str, queue: str) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        found = await channel.get_queue(queue, ensure=False)
        message = await found.get(fail=False)
        if message is not None:
            await message.nack(requeue=True)


async def test_every_role_declares_the_topology_as_the_services_and_clients_do(deployment):
    """open_bus declares the whole topology (Topology.declare) for every service and for
    `gossipsim submit`; the runner also its feed queue, bound to simulation.completed."""
    topology = deployment.topology
    for role in ("client", "collector", "runner", "scheduler"):
        bus = await AmqpBus.connect(deployment.urls[role])
        try:
            await topology.declare(bus)
            if role == "runner":
                feed = QueueSpec(name=topology.runner_feed("gossipsim-runner-1a2b"), transient=True)
                await bus.declare_queue(feed)
                await bus.bind(feed.name, topology.events, "simulation.completed")
        finally:
            await bus.close()


@pytest.mark.parametrize(
    ("role", "exchange", "routing_key"),
    [
        ("client", "commands", "simulation.submit"),
        ("client", "commands", "simulation.cancel"),
        ("scheduler", "commands", "run.start"),
        ("scheduler", "events", "simulation.completed"),
        ("scheduler", "events", "run.failed"),
        ("runner", "events", "run.completed"),
        ("runner", "events", "run.round"),
        ("runner", "dead-letter", "run.start"),
        ("collector", "events", "results.stored"),
        ("collector", "dead-letter", "run.completed"),
    ],
)
async def test_each_role_may_publish_what_it_sends(deployment, role, exchange, routing_key):
    await _publish(deployment.urls[role], f"{deployment.topology.prefix}.{exchange}", routing_key)


@pytest.mark.parametrize(
    ("role", "exchange", "routing_key"),
    [
        ("client", "commands", "run.start"),  # straight to the runners, past the scheduler
        ("client", "events", "run.completed"),  # a forged result
        ("client", "events", "simulation.completed"),
        ("client", "dead-letter", "run.start"),  # "this run has failed"
        ("runner", "events", "simulation.completed"),
        ("runner", "commands", "run.start"),
        ("runner", "events", "results.stored"),
        ("collector", "events", "run.completed"),
        ("collector", "dead-letter", "run.start"),
        ("scheduler", "events", "run.completed"),
        ("scheduler", "events", "results.stored"),
        ("monitor", "commands", "simulation.submit"),
    ],
)
async def test_each_role_is_refused_what_it_does_not_send(deployment, role, exchange, routing_key):
    with pytest.raises(aiormq.exceptions.ChannelAccessRefused, match="ACCESS_REFUSED"):
        await _publish(
            deployment.urls[role], f"{deployment.topology.prefix}.{exchange}", routing_key
        )


@pytest.mark.parametrize(
    ("role", "queue", "allowed"),
    [
        ("runner", "runs", True),
        ("scheduler", "scheduler", True),
        ("collector", "collector", True),
        ("admin", "dead-letters", True),
        ("client", "runs", False),  # a client could take runs off the queue
        ("client", "scheduler", False),
        ("client", "dead-letters", False),
        ("collector", "runs", False),
        ("runner", "scheduler", False),
        ("scheduler", "dead-letters", False),
        ("monitor", "runs", False),
    ],
)
async def test_only_a_queue_s_consumer_may_take_from_it(deployment, role, queue, allowed):
    name = f"{deployment.topology.prefix}.{queue}"
    if allowed:
        await _get(deployment.urls[role], name)
        return
    with pytest.raises(aiormq.exceptions.ChannelAccessRefused, match="ACCESS_REFUSED"):
        await _get(deployment.urls[role], name)


async def test_a_client_cannot_bind_a_queue_to_keys_outside_the_topology(deployment):
    """Topic read permissions: a binding's key must be one the topology itself uses."""
    connection = await aio_pika.connect(deployment.urls["client"])
    async with connection:
        channel = await connection.channel()
        runs = await channel.get_queue(f"{deployment.topology.prefix}.runs", ensure=False)
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused, match="ACCESS_REFUSED"):
            await runs.bind(deployment.topology.events, "#")


async def test_the_monitor_reads_a_queue_s_length_and_nothing_else(deployment):
    """KEDA's scaler declares the runs queue passively to read its length."""
    runs = f"{deployment.topology.prefix}.runs"
    await _publish(deployment.urls["scheduler"], deployment.topology.commands, "run.start")
    connection = await aio_pika.connect(deployment.urls["monitor"])
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(runs, passive=True)
        assert queue.declaration_result.message_count >= 1
    with pytest.raises(aiormq.exceptions.ChannelAccessRefused, match=r"amq\.default"):
        await _publish(deployment.urls["monitor"], "", runs)  # the default exchange


async def test_a_wrong_password_is_refused(deployment):
    wrong = URL(deployment.urls["client"]).with_password("not-the-password")
    with pytest.raises(aio_pika.exceptions.ProbableAuthenticationError):
        await aio_pika.connect(str(wrong))


async def _purge(deployment: Deployment) -> None:
    """Take what the tests above published off the queues (as the administrator)."""
    connection = await aio_pika.connect(deployment.urls["admin"])
    async with connection:
        channel = await connection.channel()
        for suffix in ("runs", "scheduler", "collector", "dead-letters"):
            queue = await channel.get_queue(f"{deployment.topology.prefix}.{suffix}", ensure=False)
            await queue.purge()


SPEC = """\
name: broker-users
seed: 3
graphs:
  - name: ring-30
    generator: cycle_graph
    params: {n: 30}
algorithms:
  - {rule: average, mode: synchronous}
repetitions: 3
max_rounds: 50
"""


async def test_the_services_run_a_simulation_each_as_its_own_user(
    deployment, s3_server: S3Server, tmp_path: Path
):
    await _purge(deployment)
    cluster = Cluster(
        workdir=tmp_path,
        broker_url=deployment.urls["client"],  # what `gossipsim submit` uses
        prefix=deployment.topology.prefix,
        store_url=f"s3://{s3_server.bucket}/{deployment.topology.prefix}",
        s3_endpoint=s3_server.endpoint_url,
    )
    try:
        for service in ("scheduler", "runner", "collector"):
            cluster.start(service, GOSSIPSIM_BROKER_URL=deployment.urls[service])
        spec = tmp_path / "spec.yaml"
        spec.write_text(SPEC)
        simulation_id = cluster.submit(spec)
        manifest = await cluster.wait_for_results(simulation_id, timeout=120)
        assert (manifest["runs_total"], manifest["runs_succeeded"]) == (3, 3), manifest
        logs = cluster.logs()
        assert "ACCESS_REFUSED" not in logs
        # the client may not read the dead letters: that is the administrator's
        refused = cluster.cli("dead-letters", "list")
        assert refused.returncode != 0 and "ACCESS_REFUSED" in refused.stderr + refused.stdout
    finally:
        codes = cluster.stop_all()
    assert set(codes.values()) == {0}, cluster.logs()
