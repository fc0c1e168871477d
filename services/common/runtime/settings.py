"""The settings of each kind of process, read from the environment once.

Built in a composition root or the CLI from the mapping it passes (``os.environ`` there);
service code never reads the environment. Every variable, its default and its parser are in
:mod:`.variables`.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass

from gossipsim.common.graphs.limits import GraphLimits
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.runtime.variables import (
    BROKER_URL_VAR,
    CALL_TIMEOUT_VAR,
    DELIVERY_LIMIT_VAR,
    DRAIN_VAR,
    HEALTH_PORT_VAR,
    HEARTBEAT_VAR,
    KUBERNETES_NAMESPACE_VAR,
    LEASE_TIMEOUT_VAR,
    LOG_LEVEL,
    LOG_LEVEL_VAR,
    MAX_ATTEMPTS_VAR,
    MAX_EDGES_VAR,
    MAX_VERTICES_VAR,
    NODE_CPU_VAR,
    NODE_HOST,
    NODE_HOST_VAR,
    NODE_IMAGE_VAR,
    NODE_LAUNCHER_VAR,
    NODE_MEMORY_VAR,
    NODE_PARENT_PID_VAR,
    NODE_PEER_TIMEOUT_SECONDS,
    NODE_PEER_TIMEOUT_VAR,
    NODE_PORT,
    NODE_PORT_VAR,
    NODE_STARTUP_TIMEOUT_VAR,
    POD_NAME_VAR,
    POD_UID_VAR,
    PREFIX_VAR,
    RUN_ACK_AFTER_VAR,
    RUNNER_NAME_VAR,
    S3_ENDPOINT_VAR,
    SERVICE_ACCOUNT_NAMESPACE,
    STATIC_NODES_VAR,
    STORE_VAR,
    WATCH_KUBERNETES_VAR,
)

# --- the settings of each kind of process -------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceSettings:
    """The scheduler's, runner's and collector's settings, and the deployment commands'."""

    broker_url: str
    prefix: str
    store: str  # a directory, or s3://bucket/prefix
    s3_endpoint: str | None
    delivery_limit: int
    max_attempts: int
    runner_name: str
    log_level: str
    limits: GraphLimits
    call_timeout: float  # runner: seconds one node call may take (a one-shard run is one call)
    drain_seconds: float  # on SIGTERM: how long in-flight work may take to finish
    run_ack_after: float  # runner: ack a run's command after this long, then heartbeat
    heartbeat_seconds: float  # runner: heartbeat interval of such a long run
    lease_timeout: float  # scheduler: restart a long run after this long without heartbeat
    health_port: int  # HTTP /healthz and /readyz (0: off)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServiceSettings:
        return cls(
            broker_url=BROKER_URL_VAR.read(env),
            prefix=PREFIX_VAR.read(env),
            store=STORE_VAR.read(env),
            s3_endpoint=S3_ENDPOINT_VAR.read(env),
            delivery_limit=DELIVERY_LIMIT_VAR.read(env),
            max_attempts=MAX_ATTEMPTS_VAR.read(env),
            runner_name=RUNNER_NAME_VAR.read(env) or socket.gethostname(),
            log_level=LOG_LEVEL_VAR.read(env),
            limits=GraphLimits(
                max_vertices=MAX_VERTICES_VAR.read(env), max_edges=MAX_EDGES_VAR.read(env)
            ),
            call_timeout=CALL_TIMEOUT_VAR.read(env),
            drain_seconds=DRAIN_VAR.read(env),
            run_ack_after=RUN_ACK_AFTER_VAR.read(env),
            heartbeat_seconds=HEARTBEAT_VAR.read(env),
            lease_timeout=LEASE_TIMEOUT_VAR.read(env),
            health_port=HEALTH_PORT_VAR.read(env),
        )

    def topology(self) -> Topology:
        """The deployment's exchanges and queues (the one owner of their names)."""
        return Topology(prefix=self.prefix, delivery_limit=self.delivery_limit)


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSettings:
    """Where the node listens and how long it waits for a peer shard."""

    host: str = NODE_HOST
    port: int = NODE_PORT
    peer_timeout: float = NODE_PEER_TIMEOUT_SECONDS
    log_level: str = LOG_LEVEL
    parent_pid: int | None = None  # exit when this process is gone (local launcher)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NodeSettings:
        return cls(
            host=NODE_HOST_VAR.read(env),
            port=NODE_PORT_VAR.read(env),
            peer_timeout=NODE_PEER_TIMEOUT_VAR.read(env),
            log_level=LOG_LEVEL_VAR.read(env),
            parent_pid=NODE_PARENT_PID_VAR.read(env),
        )


def _own_namespace() -> str:
    """The namespace this pod runs in, or ``default`` outside a cluster."""
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"


@dataclass(frozen=True, slots=True, kw_only=True)
class KubernetesSettings:
    """The Kubernetes integration: read by the scheduler's resource watcher and the runner's
    choice of node launcher. Outside a cluster nothing here is used unless asked for."""

    namespace: str  # where resources are watched and node pods are created
    watch_resources: bool  # scheduler: follow GossipSimulation and seed Simulation resources
    node_launcher: str  # runner: local | kubernetes | static
    static_nodes: tuple[str, ...]  # runner with the static launcher: host:port of each node
    node_image: str  # node pods' image
    node_cpu: str  # node pods' CPU request and limit
    node_memory: str  # node pods' memory request and limit
    node_startup_timeout: float  # seconds for node pods to pass their gRPC health check
    pod_name: str | None  # this pod (downward API): owner of the node pods it creates
    pod_uid: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KubernetesSettings:
        launcher = NODE_LAUNCHER_VAR.read(env)
        static = STATIC_NODES_VAR.read(env)
        if launcher == "static" and not static:
            raise ValueError(
                "GOSSIPSIM_NODE_LAUNCHER=static needs GOSSIPSIM_STATIC_NODES=host:port,host:port"
            )
        return cls(
            namespace=KUBERNETES_NAMESPACE_VAR.read(env) or _own_namespace(),
            watch_resources=WATCH_KUBERNETES_VAR.read(env),
            node_launcher=launcher,
            static_nodes=static,
            node_image=NODE_IMAGE_VAR.read(env),
            node_cpu=NODE_CPU_VAR.read(env),
            node_memory=NODE_MEMORY_VAR.read(env),
            node_startup_timeout=NODE_STARTUP_TIMEOUT_VAR.read(env),
            pod_name=POD_NAME_VAR.read(env),
            pod_uid=POD_UID_VAR.read(env),
        )
