"""Open the bus and the object store a deployment is configured for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from gossipsim.common.messaging.amqp_bus import AmqpBus
from gossipsim.common.messaging.bus import Bus
from gossipsim.common.messaging.topology import Topology, TopologyMissing
from gossipsim.common.runtime.health import serve_health
from gossipsim.common.runtime.settings import ServiceSettings
from gossipsim.common.runtime.variables import DECLARE_TOPOLOGY_VAR
from gossipsim.common.storage.local_store import LocalDirectoryStore
from gossipsim.common.storage.s3_store import S3ObjectStore
from gossipsim.common.storage.store import ObjectStore


@asynccontextmanager
async def open_bus(
    settings: ServiceSettings, *, health_of: str | None = None
) -> AsyncIterator[tuple[AmqpBus, Topology]]:
    """Connect to RabbitMQ and declare the topology (idempotent: every service does it), or,
    with GOSSIPSIM_DECLARE_TOPOLOGY=false, only check that it exists: then the users need no
    permission to create or delete anything (docs/kubernetes.md, "Broker users and
    permissions"). A runner still declares its own feed queue (runner/service.py).

    ``health_of`` names a long-running service: its /healthz and /readyz are then served on
    GOSSIPSIM_HEALTH_PORT, or where it is unset on the service's own port (runtime/health.py),
    unless 0, for as long as the bus is open."""
    bus = await AmqpBus.connect(settings.broker_url)
    try:
        topology = settings.topology()
        await prepare_topology(topology, bus, declare=settings.declare_topology)
        if health_of is None or settings.health_port == 0:
            yield bus, topology
        else:
            async with serve_health(health_of, bus.health, port=settings.health_port):
                yield bus, topology
    finally:
        await bus.close()


async def prepare_topology(topology: Topology, bus: Bus, *, declare: bool) -> None:
    """Declare the topology, or check it; a missing part is named with what to do about it."""
    if declare:
        await topology.declare(bus)
        return
    try:
        await topology.check(bus)
    except TopologyMissing as error:
        name = DECLARE_TOPOLOGY_VAR.name
        raise TopologyMissing(
            f"{error} on the broker, and with {name}=false it is only checked, never created:"
            " the broker's definitions must create the topology (k8s/base/broker/"
            f"definitions.template.json, docs/kubernetes.md), or set {name}=true to declare it"
            " (and check GOSSIPSIM_PREFIX)"
        ) from None


@asynccontextmanager
async def open_store(
    settings: ServiceSettings, *, create_bucket: bool = True
) -> AsyncIterator[ObjectStore]:
    """The deployment's store. ``create_bucket=False`` asks nothing of S3 until the first
    read (a runner opens it only for ``{object: graphs/…}`` sources, and may lack the
    credentials if no spec uses one)."""
    if settings.store.startswith("s3://"):
        async with S3ObjectStore.open(
            settings.store, endpoint_url=settings.s3_endpoint, create_bucket=create_bucket
        ) as store:
            yield store
    else:
        yield LocalDirectoryStore(Path(settings.store))
