"""Every setting gossipsim reads from the environment: its name, default, parser and meaning.

Design decisions:

* **One table.** :data:`VARIABLES` lists each variable once as a :class:`Variable`; the
  settings classes below read through it and nothing else reads the environment (a test checks
  that every name the code mentions is in the table and in the README with its default).
* **One parser per type** (:func:`positive_int`, :func:`seconds`, :func:`port`, :func:`flag`,
  :func:`amqp_url`, :func:`http_url`, :func:`addresses`, :func:`one_of`), each naming the
  variable in its error, so a typo fails at start-up with the setting to fix.
* **An empty value is the same as an unset one**: orchestrators (Compose, Kubernetes) often
  write ``VAR=`` for "no value".
* **The same defaults in both modes.** The defaults are module constants; the dataclasses the
  embedded mode builds directly (``RunnerSettings``, ``RunSettings``, ``SchedulerSettings``,
  the local node launcher) take theirs from the same constants, so a simulation behaves alike
  whether it runs in one process or across a deployment.
* Settings are built once, in a composition root or the CLI, from the mapping it passes
  (``os.environ`` there); service code never reads the environment.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from gossipsim.common.contracts.node_handshake import PARENT_PID_VARIABLE
from gossipsim.common.graphs.limits import DEFAULT_LIMITS, GraphLimits
from gossipsim.common.messaging.topology import DEFAULT_DELIVERY_LIMIT, Topology

T = TypeVar("T")

# --- defaults, shared by the environment and the dataclasses of the embedded mode -----------

BROKER_URL = "amqp://guest:guest@localhost:5672/"
PREFIX = "gossipsim"
STORE = "results"
LOG_LEVEL = "info"
CLI_LOG_LEVEL = "warning"  # the command line and the node processes it starts stay quiet
DELIVERY_LIMIT = DEFAULT_DELIVERY_LIMIT
MAX_ATTEMPTS = 3
# One node call may cover a whole run (a one-shard run is a single call), and a run of a few
# thousand rounds on a graph of millions of vertices takes many minutes; an hour fails only a
# node that hangs. (Embedded mode had 300 s, which failed such runs there but not in a
# deployment.)
CALL_TIMEOUT_SECONDS = 3600.0
# A runner drains its run in progress on SIGTERM: as long as a long run may reasonably need.
DRAIN_SECONDS = 300.0
RUN_ACK_AFTER_SECONDS = 900.0  # under RabbitMQ's default consumer_timeout of 30 minutes
HEARTBEAT_SECONDS = 30.0
# Six missed heartbeats: long enough for a broker restart or a slow network, short enough that
# the run of a killed runner starts again within minutes. (Embedded mode had 300 s; its
# runners die only with the process, so the value mattered only in a deployment.)
LEASE_TIMEOUT_SECONDS = 180.0
HEALTH_PORT = 8080
NODE_HOST = "0.0.0.0"
NODE_PORT = 50051
NODE_PEER_TIMEOUT_SECONDS = 120.0
NODE_STARTUP_TIMEOUT_SECONDS = 120.0  # local processes and Kubernetes pods alike
NODE_LAUNCHERS = ("local", "kubernetes", "static")
NODE_IMAGE = "gossipsim:latest"
NODE_CPU = "500m"
NODE_MEMORY = "512Mi"

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

# --- one parser per type: (variable name, raw text) -> value, ValueError naming the variable -


def text(name: str, raw: str) -> str:
    return raw


def positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw, 10)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return value


def seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a positive number of seconds, got {raw!r}") from None
    if not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def port(name: str, raw: str) -> int:
    if not raw.isdigit() or int(raw) > 65535:
        raise ValueError(f"{name} must be a port number (0 to 65535), got {raw!r}")
    return int(raw)


def flag(name: str, raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("0", "false", "no"):
        return False
    if lowered in ("1", "true", "yes"):
        return True
    raise ValueError(f"{name} must be true or false, got {raw!r}")


def _url(name: str, raw: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not parts.hostname:
        wanted = " or ".join(f"{scheme}://" for scheme in schemes)
        raise ValueError(f"{name} must be a {wanted} URL with a host, got {raw!r}")
    return raw


def amqp_url(name: str, raw: str) -> str:
    return _url(name, raw, ("amqp", "amqps"))


def http_url(name: str, raw: str) -> str:
    return _url(name, raw, ("http", "https"))


def addresses(name: str, raw: str) -> tuple[str, ...]:
    """``host:port,host:port``; blanks around commas are ignored."""
    found = tuple(a.strip() for a in raw.split(",") if a.strip())
    for address in found:
        host, _, number = address.rpartition(":")
        if not host or not number.isdigit():
            raise ValueError(f"{name} must be host:port,host:port…, got {raw!r}")
    return found


def one_of(*choices: str) -> Callable[[str, str], str]:
    def choice(name: str, raw: str) -> str:
        if raw not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
        return raw

    return choice


# --- the table ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Variable(Generic[T]):
    """One environment variable. ``documented`` is the default as the README states it, for
    defaults that are computed (the host name) or have no value (unset)."""

    name: str
    parse: Callable[[str, str], T]
    default: T
    meaning: str
    documented: str = ""

    def read(self, env: Mapping[str, str]) -> T:
        return self.read_or(env, self.default)

    def read_or(self, env: Mapping[str, str], default: T) -> T:
        """The variable's value, or ``default`` where it is unset or empty."""
        raw = env.get(self.name, "").strip()
        return default if not raw else self.parse(self.name, raw)

    @property
    def shown_default(self) -> str:
        """The default as written in the README's table."""
        if self.documented:
            return self.documented
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if isinstance(self.default, float) and self.default.is_integer():
            return str(int(self.default))
        return str(self.default)


_UNSET = "unset"

BROKER_URL_VAR = Variable(
    name="GOSSIPSIM_BROKER_URL",
    parse=amqp_url,
    default=BROKER_URL,
    meaning="RabbitMQ",
)
PREFIX_VAR = Variable(
    name="GOSSIPSIM_PREFIX",
    parse=text,
    default=PREFIX,
    meaning="prefix of every exchange and queue",
)
STORE_VAR = Variable(
    name="GOSSIPSIM_STORE",
    parse=text,
    default=STORE,
    meaning="the object store: a directory or s3://bucket/prefix",
)
S3_ENDPOINT_VAR: Variable[str | None] = Variable(
    name="GOSSIPSIM_S3_ENDPOINT",
    parse=http_url,
    default=None,
    meaning="S3-compatible endpoint (credentials from the AWS_… variables)",
    documented=_UNSET,
)
DELIVERY_LIMIT_VAR = Variable(
    name="GOSSIPSIM_DELIVERY_LIMIT",
    parse=positive_int,
    default=DELIVERY_LIMIT,
    meaning="deliveries of a message before it is dead-lettered",
)
MAX_ATTEMPTS_VAR = Variable(
    name="GOSSIPSIM_MAX_ATTEMPTS",
    parse=positive_int,
    default=MAX_ATTEMPTS,
    meaning="attempts of a run that fails with a retryable error",
)
RUNNER_NAME_VAR: Variable[str | None] = Variable(
    name="GOSSIPSIM_RUNNER_NAME",
    parse=text,
    default=None,
    meaning="the runner's name in run.started events",
    documented="the host name",
)
LOG_LEVEL_VAR = Variable(
    name="GOSSIPSIM_LOG_LEVEL",
    parse=text,
    default=LOG_LEVEL,
    meaning="log level",
)
MAX_VERTICES_VAR = Variable(
    name="GOSSIPSIM_MAX_VERTICES",
    parse=positive_int,
    default=DEFAULT_LIMITS.max_vertices,
    meaning="largest graph accepted (vertices)",
)
MAX_EDGES_VAR = Variable(
    name="GOSSIPSIM_MAX_EDGES",
    parse=positive_int,
    default=DEFAULT_LIMITS.max_edges,
    meaning="largest graph accepted (undirected edges)",
)
CALL_TIMEOUT_VAR = Variable(
    name="GOSSIPSIM_CALL_TIMEOUT_SECONDS",
    parse=seconds,
    default=CALL_TIMEOUT_SECONDS,
    meaning="longest call to a node service (a one-shard run is one call)",
)
DRAIN_VAR = Variable(
    name="GOSSIPSIM_DRAIN_SECONDS",
    parse=seconds,
    default=DRAIN_SECONDS,
    meaning="on SIGTERM, how long the runner's run in progress may take to finish",
)
RUN_ACK_AFTER_VAR = Variable(
    name="GOSSIPSIM_RUN_ACK_AFTER_SECONDS",
    parse=seconds,
    default=RUN_ACK_AFTER_SECONDS,
    meaning="a run still going after this long is acked and covered by heartbeats",
)
HEARTBEAT_VAR = Variable(
    name="GOSSIPSIM_HEARTBEAT_SECONDS",
    parse=seconds,
    default=HEARTBEAT_SECONDS,
    meaning="interval of run.heartbeat for such a run",
)
LEASE_TIMEOUT_VAR = Variable(
    name="GOSSIPSIM_LEASE_TIMEOUT_SECONDS",
    parse=seconds,
    default=LEASE_TIMEOUT_SECONDS,
    meaning="a leased run without heartbeat for this long is started again",
)
HEALTH_PORT_VAR = Variable(
    name="GOSSIPSIM_HEALTH_PORT",
    parse=port,
    default=HEALTH_PORT,
    meaning="HTTP /healthz and /readyz (0: off)",
)
NODE_HOST_VAR = Variable(
    name="GOSSIPSIM_NODE_HOST",
    parse=text,
    default=NODE_HOST,
    meaning="node: listen address",
)
NODE_PORT_VAR = Variable(
    name="GOSSIPSIM_NODE_PORT",
    parse=port,
    default=NODE_PORT,
    meaning="node: listen port (0 picks a free one)",
)
NODE_PEER_TIMEOUT_VAR = Variable(
    name="GOSSIPSIM_NODE_PEER_TIMEOUT",
    parse=seconds,
    default=NODE_PEER_TIMEOUT_SECONDS,
    meaning="node: seconds to wait for a peer shard to accept a delivery",
)
NODE_PARENT_PID_VAR: Variable[int | None] = Variable(
    name=PARENT_PID_VARIABLE,
    parse=positive_int,
    default=None,
    meaning="node: exit when this process is gone (set by the local launcher)",
    documented="set by the local launcher",
)
WATCH_KUBERNETES_VAR = Variable(
    name="GOSSIPSIM_WATCH_KUBERNETES",
    parse=flag,
    default=False,
    meaning="scheduler: follow GossipSimulation and seed Simulation resources",
)
KUBERNETES_NAMESPACE_VAR: Variable[str | None] = Variable(
    name="GOSSIPSIM_KUBERNETES_NAMESPACE",
    parse=text,
    default=None,
    meaning="where resources are watched and node pods created",
    documented="the service account's namespace, else default",
)
NODE_LAUNCHER_VAR = Variable(
    name="GOSSIPSIM_NODE_LAUNCHER",
    parse=one_of(*NODE_LAUNCHERS),
    default="local",
    meaning="runner: node services as local processes, kubernetes pods or a static pool",
)
STATIC_NODES_VAR: Variable[tuple[str, ...]] = Variable(
    name="GOSSIPSIM_STATIC_NODES",
    parse=addresses,
    default=(),
    meaning="runner with the static launcher: host:port of each node",
    documented=_UNSET,
)
NODE_IMAGE_VAR = Variable(
    name="GOSSIPSIM_NODE_IMAGE",
    parse=text,
    default=NODE_IMAGE,
    meaning="node pods' image",
)
NODE_CPU_VAR = Variable(
    name="GOSSIPSIM_NODE_CPU",
    parse=text,
    default=NODE_CPU,
    meaning="node pods' CPU request and limit",
)
NODE_MEMORY_VAR = Variable(
    name="GOSSIPSIM_NODE_MEMORY",
    parse=text,
    default=NODE_MEMORY,
    meaning="node pods' memory request and limit",
)
NODE_STARTUP_TIMEOUT_VAR = Variable(
    name="GOSSIPSIM_NODE_STARTUP_TIMEOUT_SECONDS",
    parse=seconds,
    default=NODE_STARTUP_TIMEOUT_SECONDS,
    meaning="deadline for node pods to pass their gRPC health check",
)
POD_NAME_VAR: Variable[str | None] = Variable(
    name="GOSSIPSIM_POD_NAME",
    parse=text,
    default=None,
    meaning="the runner's own pod (downward API), owner of its node pods",
    documented=_UNSET,
)
POD_UID_VAR: Variable[str | None] = Variable(
    name="GOSSIPSIM_POD_UID",
    parse=text,
    default=None,
    meaning="the runner's own pod's uid (downward API)",
    documented=_UNSET,
)
# Read by the S3 client (botocore's default credential chain), not by gossipsim: listed so the
# README names them beside the store's settings.
S3_ACCESS_KEY_VAR: Variable[str | None] = Variable(
    name="AWS_ACCESS_KEY_ID",
    parse=text,
    default=None,
    meaning="S3 credentials (read by the S3 client)",
    documented=_UNSET,
)
S3_SECRET_KEY_VAR: Variable[str | None] = Variable(
    name="AWS_SECRET_ACCESS_KEY",
    parse=text,
    default=None,
    meaning="S3 credentials (read by the S3 client)",
    documented=_UNSET,
)

VARIABLES: tuple[Variable[Any], ...] = (
    BROKER_URL_VAR,
    PREFIX_VAR,
    STORE_VAR,
    S3_ENDPOINT_VAR,
    S3_ACCESS_KEY_VAR,
    S3_SECRET_KEY_VAR,
    DELIVERY_LIMIT_VAR,
    MAX_ATTEMPTS_VAR,
    RUNNER_NAME_VAR,
    LOG_LEVEL_VAR,
    MAX_VERTICES_VAR,
    MAX_EDGES_VAR,
    CALL_TIMEOUT_VAR,
    DRAIN_VAR,
    RUN_ACK_AFTER_VAR,
    HEARTBEAT_VAR,
    LEASE_TIMEOUT_VAR,
    HEALTH_PORT_VAR,
    NODE_HOST_VAR,
    NODE_PORT_VAR,
    NODE_PEER_TIMEOUT_VAR,
    NODE_PARENT_PID_VAR,
    WATCH_KUBERNETES_VAR,
    KUBERNETES_NAMESPACE_VAR,
    NODE_LAUNCHER_VAR,
    STATIC_NODES_VAR,
    NODE_IMAGE_VAR,
    NODE_CPU_VAR,
    NODE_MEMORY_VAR,
    NODE_STARTUP_TIMEOUT_VAR,
    POD_NAME_VAR,
    POD_UID_VAR,
)
"""Every variable gossipsim reads (or, for the AWS ones, documents), in README order."""


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
