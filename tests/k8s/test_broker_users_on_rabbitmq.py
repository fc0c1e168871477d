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

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import aiormq
import pytest
import pytest_asyncio
from aio_pika.abc import AbstractChannel
from yarl import URL

from gossipsim.common.messaging.amqp_bus import AmqpBus
from gossipsim.common.messaging.bus import Delivery, Envelope, QueueSpec
from gossipsim.common.messaging.topology import Topology, TopologyMissing
from gossipsim.common.runtime.connections import prepare_topology
from gossipsim.common.runtime.variables import DECLARE_TOPOLOGY_VAR
from tests.distributed.harness import Cluster
from tests.k8s.manifests import (
    Obj,
    broker_definitions,
    container_environment,
    find,
    gossipsim_config,
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
    declare_topology: bool  # GOSSIPSIM_DECLARE_TOPOLOGY of the rendered ConfigMap


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
        declare = DECLARE_TOPOLOGY_VAR.read(gossipsim_config(k8s_base))
        yield Deployment(broker, Topology(prefix=prefix), urls, declare)
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


async def test_every_role_checks_the_topology_as_the_services_and_clients_do(deployment):
    """With GOSSIPSIM_DECLARE_TOPOLOGY=false (the ConfigMap's) open_bus only checks the
    topology (passive declares, which need no permission); the runner also declares its feed
    queue and binds it to simulation.completed, as RunnerService.start does."""
    topology = deployment.topology
    assert deployment.declare_topology is False
    for role in ("client", "collector", "runner", "scheduler", "monitor"):
        bus = await AmqpBus.connect(deployment.urls[role])
        try:
            await prepare_topology(topology, bus, declare=deployment.declare_topology)
            if role == "runner":
                feed = QueueSpec(name=topology.runner_feed("gossipsim-runner-1a2b"), transient=True)
                await bus.declare_queue(feed)
                await bus.bind(feed.name, topology.events, "simulation.completed")
        finally:
            await bus.close()


@pytest.mark.parametrize("role", ["client", "collector", "runner", "scheduler"])
async def test_declaring_the_topology_is_refused_to_every_role(deployment, role):
    """Why the ConfigMap sets GOSSIPSIM_DECLARE_TOPOLOGY=false: declaring needs configure."""
    bus = await AmqpBus.connect(deployment.urls[role])
    try:
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused, match="ACCESS_REFUSED"):
            await prepare_topology(deployment.topology, bus, declare=True)
    finally:
        await bus.close()


async def test_a_missing_topology_stops_a_service_that_only_checks_it_naming_what_is_missing(
    deployment,
):
    other = Topology(prefix=f"{deployment.topology.prefix}-not-deployed")
    bus = await AmqpBus.connect(deployment.urls["scheduler"])
    try:
        with pytest.raises(TopologyMissing) as raised:
            await prepare_topology(other, bus, declare=False)
    finally:
        await bus.close()
    message = str(raised.value)
    assert f"exchange '{other.commands}' does not exist" in message
    assert "GOSSIPSIM_DECLARE_TOPOLOGY=true" in message
    assert "definitions" in message


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


async def _refused(url: str, operation: Callable[[AbstractChannel], Awaitable[object]]) -> None:
    """``operation`` on a channel of its own connection is refused with 403."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused, match="ACCESS_REFUSED"):
            await operation(channel)


ROLES = ["client", "scheduler", "collector", "runner", "monitor"]


@pytest.mark.parametrize("role", ROLES)
async def test_no_role_may_bind_the_runs_queue_to_the_runs_events(deployment, role):
    """Bound to run.# on events, the runs queue would hand every run event to the runners,
    which would dead-letter them."""
    topology = deployment.topology

    async def bind(channel: AbstractChannel) -> None:
        runs = await channel.get_queue(topology.runs_queue, ensure=False)
        await runs.bind(topology.events, "run.#")

    await _refused(deployment.urls[role], bind)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("what", ["queue.delete", "exchange.delete", "queue.declare"])
async def test_no_role_may_delete_or_create_a_queue_or_exchange(deployment, role, what):
    """Not even the queue a role consumes, and no new queue outside the runner's feeds."""
    topology = deployment.topology
    own = {"scheduler": topology.scheduler_queue, "collector": topology.collector_queue}
    queue = own.get(role, topology.runs_queue)

    async def operation(channel: AbstractChannel) -> object:
        if what == "queue.delete":
            return await channel.queue_delete(queue)
        if what == "exchange.delete":
            return await channel.exchange_delete(topology.events)
        return await channel.declare_queue(f"{topology.prefix}.extra", durable=True)

    await _refused(deployment.urls[role], operation)


async def test_the_runner_binds_its_feed_only_to_finished_simulations(deployment):
    topology = deployment.topology
    for source, key in ((topology.events, "run.#"), (topology.events, "#"),
                        (topology.commands, "run.start"), (topology.dead_letter, "#")):  # fmt: skip

        async def bind(channel: AbstractChannel, source: str = source, key: str = key) -> None:
            feed = await channel.declare_queue(
                topology.runner_feed("gossipsim-runner-9f8e"), exclusive=True, auto_delete=True
            )
            await feed.bind(source, key)

        await _refused(deployment.urls["runner"], bind)


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
        # as the ConfigMap says, and as docs/kubernetes.md tells the client's user to set
        extra_env={"GOSSIPSIM_DECLARE_TOPOLOGY": "false"},
    )
    assert deployment.declare_topology is False
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


async def test_a_runner_that_only_checks_the_topology_comes_back_after_a_broker_restart(
    deployment,
):
    """After a reconnect aio-pika declares again what the bus declared: the checked queue
    passively, the feed queue (and its binding) for real; the runner's user may do both. (Last
    in this module: it restarts the module's broker.)"""
    await _purge(deployment)
    topology = deployment.topology
    bus = await AmqpBus.connect(deployment.urls["runner"])
    try:
        await prepare_topology(topology, bus, declare=False)
        feed = QueueSpec(name=topology.runner_feed("gossipsim-runner-5d6c"), transient=True)
        await bus.declare_queue(feed)
        await bus.bind(feed.name, topology.events, "simulation.completed")
        arrived: dict[str, asyncio.Queue[str]] = {"runs": asyncio.Queue(), "feed": asyncio.Queue()}

        def recorder(name: str) -> Callable[[Delivery], Awaitable[None]]:
            async def record(delivery: Delivery) -> None:
                await delivery.ack()
                arrived[name].put_nowait(delivery.envelope.routing_key)

            return record

        await bus.consume(topology.runs_queue, recorder("runs"))
        await bus.consume(feed.name, recorder("feed"))
        log = deployment.broker.log_path
        logged_before = log.stat().st_size
        await deployment.broker.restart()

        scheduler = deployment.urls["scheduler"]
        await _publish(scheduler, topology.commands, "run.start")  # waits in the durable queue
        assert await asyncio.wait_for(arrived["runs"].get(), 30) == "run.start"
        # publishing waits until the bus's channel is back, with the feed declared and bound
        started = Envelope(body=b"{}", routing_key="run.started")
        await asyncio.wait_for(bus.publish(topology.events, started), 30)
        await _publish(scheduler, topology.events, "simulation.completed")
        assert await asyncio.wait_for(arrived["feed"].get(), 30) == "simulation.completed"
    finally:
        await bus.close()
    with log.open("rb") as logged:  # the node logs each refusal (access_refused)
        logged.seek(logged_before)
        since_the_restart = logged.read()
    assert b"Server startup complete" in since_the_restart
    assert b"access_refused" not in since_the_restart
