"""The settings of each kind of process, read from the environment once.

Built in a composition root or the CLI from the mapping it passes (``os.environ`` there);
service code never reads the environment. Every variable, its default and its parser are in
:mod:`.variables`.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gossipsim.common.graphs.inputs import GraphInputs
from gossipsim.common.graphs.limits import GraphLimits
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.rpc.auth import MIN_CREDENTIAL_CHARACTERS
from gossipsim.common.rpc.message_limit import LARGEST_MAX_MESSAGE_BYTES
from gossipsim.common.rpc.transport import NodeTransport, TlsFiles
from gossipsim.common.runtime.variables import (
    BROKER_URL_VAR,
    CALL_TIMEOUT_VAR,
    CHECK_MEMORY_BYTES_VAR,
    CHECK_SECONDS_VAR,
    DECLARE_TOPOLOGY_VAR,
    DELIVERY_LIMIT_VAR,
    DRAIN_VAR,
    GRAPH_ROOTS_VAR,
    HEALTH_PORT_VAR,
    HEARTBEAT_VAR,
    KUBERNETES_NAMESPACE_VAR,
    LEASE_TIMEOUT_VAR,
    LOG_LEVEL,
    LOG_LEVEL_VAR,
    MAX_ATTEMPTS_VAR,
    MAX_EDGES_VAR,
    MAX_FILE_BYTES_VAR,
    MAX_SHARDS_VAR,
    MAX_VERTICES_VAR,
    NODE_CPU_VAR,
    NODE_HOST,
    NODE_HOST_VAR,
    NODE_IMAGE_VAR,
    NODE_LAUNCHER_VAR,
    NODE_MAX_MESSAGE_BYTES,
    NODE_MAX_MESSAGE_BYTES_VAR,
    NODE_MEMORY_VAR,
    NODE_PARENT_PID_VAR,
    NODE_PEER_TIMEOUT_SECONDS,
    NODE_PEER_TIMEOUT_VAR,
    NODE_PORT,
    NODE_PORT_VAR,
    NODE_SECRET_VAR,
    NODE_STARTUP_TIMEOUT_VAR,
    NODE_TLS_CA_VAR,
    NODE_TLS_CERT_VAR,
    NODE_TLS_KEY_VAR,
    POD_NAME_VAR,
    POD_UID_VAR,
    PREFIX_VAR,
    RUN_ACK_AFTER_VAR,
    RUNNER_CACHE_BYTES_VAR,
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
    limits: GraphLimits  # scheduler, runner: largest graph, and the memory building one takes
    max_shards: int  # scheduler, runner: most node shards of one run
    check_seconds: float  # scheduler: longest check of one submitted spec
    graph_inputs: GraphInputs  # scheduler, runner: graph files only inside the roots, capped
    call_timeout: float  # runner: seconds one node call may take (a one-shard run is one call)
    drain_seconds: float  # on SIGTERM: how long in-flight work may take to finish
    run_ack_after: float  # runner: ack a run's command after this long, then heartbeat
    heartbeat_seconds: float  # runner: heartbeat interval of such a long run
    runner_cache_bytes: int  # runner: memory for graphs and shard sessions kept between runs
    lease_timeout: float  # scheduler: restart a long run after this long without heartbeat
    # HTTP /healthz and /readyz (0: off; None: the service's own port, runtime/health.py)
    health_port: int | None
    # False where the broker's definitions create the topology (Kubernetes): only check it
    declare_topology: bool = True

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
            limits=graph_limits(env),
            max_shards=MAX_SHARDS_VAR.read(env),
            check_seconds=CHECK_SECONDS_VAR.read(env),
            graph_inputs=GraphInputs(
                roots=GRAPH_ROOTS_VAR.read(env), max_file_bytes=MAX_FILE_BYTES_VAR.read(env)
            ),
            call_timeout=CALL_TIMEOUT_VAR.read(env),
            drain_seconds=DRAIN_VAR.read(env),
            run_ack_after=RUN_ACK_AFTER_VAR.read(env),
            heartbeat_seconds=HEARTBEAT_VAR.read(env),
            runner_cache_bytes=RUNNER_CACHE_BYTES_VAR.read(env),
            lease_timeout=LEASE_TIMEOUT_VAR.read(env),
            health_port=HEALTH_PORT_VAR.read(env),
            declare_topology=DECLARE_TOPOLOGY_VAR.read(env),
        )

    def topology(self) -> Topology:
        """The deployment's exchanges and queues (the one owner of their names)."""
        return Topology(prefix=self.prefix, delivery_limit=self.delivery_limit)


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeTrafficSettings:
    """How runners and node services talk, read alike at both ends (docs/security.md).

    ``secret``: on a node, what a runner must show to configure it; on a runner, what it shows
    to the nodes of a static pool (the local and Kubernetes launchers make their own).
    TLS is on when the certificate, key and CA are all given, and an error names what is
    missing when only some are.
    """

    secret: str | None = field(default=None, repr=False)  # never in a log or traceback
    max_message_bytes: int = NODE_MAX_MESSAGE_BYTES
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None

    def __post_init__(self) -> None:
        if self.secret is not None and len(self.secret) < MIN_CREDENTIAL_CHARACTERS:
            raise ValueError(
                f"{NODE_SECRET_VAR.name} must be at least {MIN_CREDENTIAL_CHARACTERS} "
                "characters; make one with: python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'"
            )
        if not 1 <= self.max_message_bytes <= LARGEST_MAX_MESSAGE_BYTES:
            raise ValueError(
                f"{NODE_MAX_MESSAGE_BYTES_VAR.name} must lie in 1..{LARGEST_MAX_MESSAGE_BYTES} "
                "(protobuf encodes no larger message)"
            )
        files = {
            NODE_TLS_CERT_VAR.name: self.tls_cert,
            NODE_TLS_KEY_VAR.name: self.tls_key,
            NODE_TLS_CA_VAR.name: self.tls_ca,
        }
        missing = [name for name, value in files.items() if not value]
        if 0 < len(missing) < len(files):
            raise ValueError(
                f"TLS for node traffic needs {', '.join(files)} together; "
                f"{', '.join(missing)} not set"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NodeTrafficSettings:
        return cls(
            secret=NODE_SECRET_VAR.read(env),
            max_message_bytes=NODE_MAX_MESSAGE_BYTES_VAR.read(env),
            tls_cert=NODE_TLS_CERT_VAR.read(env),
            tls_key=NODE_TLS_KEY_VAR.read(env),
            tls_ca=NODE_TLS_CA_VAR.read(env),
        )

    @property
    def tls(self) -> TlsFiles | None:
        if not (self.tls_cert and self.tls_key and self.tls_ca):
            return None
        return TlsFiles(cert=Path(self.tls_cert), key=Path(self.tls_key), ca=Path(self.tls_ca))

    def transport(self) -> NodeTransport:
        """Channels and servers as these settings say; loads the TLS files (ValueError)."""
        return NodeTransport.create(max_message_bytes=self.max_message_bytes, tls=self.tls)

    def environment(self) -> dict[str, str]:
        """These settings as the variables of a node process started with them, but the
        secret, which the launcher sets per node."""
        env = {NODE_MAX_MESSAGE_BYTES_VAR.name: str(self.max_message_bytes)}
        for variable, value in (
            (NODE_TLS_CERT_VAR, self.tls_cert),
            (NODE_TLS_KEY_VAR, self.tls_key),
            (NODE_TLS_CA_VAR, self.tls_ca),
        ):
            if value:
                env[variable.name] = value
        return env


def graph_limits(env: Mapping[str, str]) -> GraphLimits:
    """The largest graph accepted, as the services and ``gossipsim run`` alike read it."""
    return GraphLimits(
        max_vertices=MAX_VERTICES_VAR.read(env),
        max_edges=MAX_EDGES_VAR.read(env),
        memory_bytes=CHECK_MEMORY_BYTES_VAR.read(env),
    )


def max_shards(env: Mapping[str, str]) -> int:
    return MAX_SHARDS_VAR.read(env)


def local_graph_inputs(env: Mapping[str, str]) -> GraphInputs:
    """``gossipsim run``'s graph inputs: any local file (the user's own machine), with the byte
    cap of ``GOSSIPSIM_MAX_FILE_BYTES``."""
    return GraphInputs(roots=None, max_file_bytes=MAX_FILE_BYTES_VAR.read(env))


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSettings:
    """Where the node listens, how long it waits for a peer shard, and its traffic settings."""

    host: str = NODE_HOST
    port: int = NODE_PORT
    peer_timeout: float = NODE_PEER_TIMEOUT_SECONDS
    log_level: str = LOG_LEVEL
    parent_pid: int | None = None  # exit when this process is gone (local launcher)
    traffic: NodeTrafficSettings = field(default_factory=NodeTrafficSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NodeSettings:
        return cls(
            host=NODE_HOST_VAR.read(env),
            port=NODE_PORT_VAR.read(env),
            peer_timeout=NODE_PEER_TIMEOUT_VAR.read(env),
            log_level=LOG_LEVEL_VAR.read(env),
            parent_pid=NODE_PARENT_PID_VAR.read(env),
            traffic=NodeTrafficSettings.from_env(env),
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
