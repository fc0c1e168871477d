"""Every environment variable gossipsim reads: its name, default, parser and meaning.

Design decisions:

* **One table.** :data:`VARIABLES` lists each variable once as a :class:`Variable`; the
  settings classes of :mod:`.settings` read through it and nothing else reads the environment
  (a test checks that every name the code mentions is in the table and in the README with its
  default).
* **One parser per type** (:mod:`.parsers`), each naming the variable in its error.
* **An empty value is the same as an unset one**: orchestrators (Compose, Kubernetes) often
  write ``VAR=`` for "no value".
* **The same defaults in both modes.** The defaults are module constants here; the dataclasses
  the embedded mode builds directly (``RunnerSettings``, ``RunSettings``, ``SchedulerSettings``,
  the local node launcher) take theirs from the same constants, so a simulation behaves alike
  whether it runs in one process or across a deployment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from gossipsim.common.contracts.node_handshake import PARENT_PID_VARIABLE
from gossipsim.common.graphs.inputs import DEFAULT_MAX_FILE_BYTES
from gossipsim.common.graphs.limits import DEFAULT_LIMITS
from gossipsim.common.messaging.topology import DEFAULT_DELIVERY_LIMIT
from gossipsim.common.rpc.message_limit import DEFAULT_MAX_MESSAGE_BYTES
from gossipsim.common.runtime.parsers import (
    addresses,
    amqp_url,
    directories,
    flag,
    http_url,
    one_of,
    port,
    positive_int,
    seconds,
    text,
)
from gossipsim.common.spec.run_plan import DEFAULT_MAX_SHARDS

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
# The scheduler's spec check (services/scheduler/spec_check.py): building the largest graph the
# limits allow takes a few seconds; a minute refuses only a spec built to keep it busy.
CHECK_SECONDS = 60.0
# What a runner keeps between runs (built graphs, warm shard sessions), by estimate: a quarter of
# the runner pod's 4Gi limit (k8s/base/services/runner.yaml), the rest is for the run in hand.
RUNNER_CACHE_BYTES = 1024 * 1024 * 1024
# Six missed heartbeats: long enough for a broker restart or a slow network, short enough that
# the run of a killed runner starts again within minutes. (Embedded mode had 300 s; its
# runners die only with the process, so the value mattered only in a deployment.)
LEASE_TIMEOUT_SECONDS = 180.0
# Health endpoints: one port per service, so that the three services started on one host (the
# README's "Beyond one process") do not take each other's; Kubernetes sets the port explicitly
# (k8s/base/kustomization.yaml). Fixed rather than ephemeral, so that a person can curl
# /readyz of the service they mean; a second process of one kind on the same host falls back
# to a free port (runtime/health.py).
HEALTH_PORTS = {"scheduler": 8080, "collector": 8081, "runner": 8082}
# Loopback: a node started by hand serves only its own machine unless told otherwise (node pods
# and the static pool in k8s/ set 0.0.0.0; local launchers pass 127.0.0.1 explicitly).
NODE_HOST = "127.0.0.1"
NODE_PORT = 50051
NODE_PEER_TIMEOUT_SECONDS = 120.0
NODE_STARTUP_TIMEOUT_SECONDS = 120.0  # local processes and Kubernetes pods alike
NODE_MAX_MESSAGE_BYTES = DEFAULT_MAX_MESSAGE_BYTES  # why this value: rpc/message_limit.py
NODE_LAUNCHERS = ("local", "kubernetes", "static")
NODE_IMAGE = "gossipsim:latest"
NODE_CPU = "500m"
NODE_MEMORY = "512Mi"

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

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
DECLARE_TOPOLOGY_VAR = Variable(
    name="GOSSIPSIM_DECLARE_TOPOLOGY",
    parse=flag,
    default=True,
    meaning="services and CLI declare the exchanges and queues (false: only check them)",
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
CHECK_MEMORY_BYTES_VAR = Variable(
    name="GOSSIPSIM_CHECK_MEMORY_BYTES",
    parse=positive_int,
    default=DEFAULT_LIMITS.memory_bytes,
    meaning="memory a spec check (and building one graph) may take, in bytes",
)
CHECK_SECONDS_VAR = Variable(
    name="GOSSIPSIM_CHECK_SECONDS",
    parse=seconds,
    default=CHECK_SECONDS,
    meaning="scheduler: longest check of one submitted spec; a longer one is rejected",
)
MAX_SHARDS_VAR = Variable(
    name="GOSSIPSIM_MAX_SHARDS",
    parse=positive_int,
    default=DEFAULT_MAX_SHARDS,
    meaning="most node shards a spec may ask for per run (at most 1024)",
)
GRAPH_ROOTS_VAR: Variable[tuple[Path, ...]] = Variable(
    name="GOSSIPSIM_GRAPH_ROOTS",
    parse=directories,
    default=(),
    meaning="scheduler, runner: directories graph files may be read from (none: object store)",
    documented="empty",
)
MAX_FILE_BYTES_VAR = Variable(
    name="GOSSIPSIM_MAX_FILE_BYTES",
    parse=positive_int,
    default=DEFAULT_MAX_FILE_BYTES,
    meaning="most bytes read from one graph file or object, decompressed",
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
RUNNER_CACHE_BYTES_VAR = Variable(
    name="GOSSIPSIM_RUNNER_CACHE_BYTES",
    parse=positive_int,
    default=RUNNER_CACHE_BYTES,
    meaning="runner: memory for the graphs and shard sessions kept between runs (estimated)",
)
LEASE_TIMEOUT_VAR = Variable(
    name="GOSSIPSIM_LEASE_TIMEOUT_SECONDS",
    parse=seconds,
    default=LEASE_TIMEOUT_SECONDS,
    meaning="a leased run without heartbeat for this long is started again",
)
HEALTH_PORT_VAR: Variable[int | None] = Variable(
    name="GOSSIPSIM_HEALTH_PORT",
    parse=port,
    default=None,
    meaning="HTTP /healthz and /readyz (0: off; unset: the service's own port, HEALTH_PORTS)",
    documented=", ".join(f"{number} {service}" for service, number in HEALTH_PORTS.items()),
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
NODE_SECRET_VAR: Variable[str | None] = Variable(
    name="GOSSIPSIM_NODE_SECRET",
    parse=text,
    default=None,
    meaning="node: the secret a runner must show to configure it; a node without one does not "
    "start (local and Kubernetes launchers make one per node or run; a static pool and its "
    "runner share the operator's)",
    documented="unset (set by the launchers)",
)
NODE_MAX_MESSAGE_BYTES_VAR = Variable(
    name="GOSSIPSIM_NODE_MAX_MESSAGE_BYTES",
    parse=positive_int,
    default=NODE_MAX_MESSAGE_BYTES,
    meaning="runner and node: largest gRPC message of node traffic, sent or received",
)
NODE_TLS_CERT_VAR: Variable[str | None] = Variable(
    name="GOSSIPSIM_NODE_TLS_CERT",
    parse=text,
    default=None,
    meaning="runner and node: PEM certificate for node traffic (with the key and CA: TLS on)",
    documented=_UNSET,
)
NODE_TLS_KEY_VAR: Variable[str | None] = Variable(
    name="GOSSIPSIM_NODE_TLS_KEY",
    parse=text,
    default=None,
    meaning="runner and node: PEM private key of that certificate",
    documented=_UNSET,
)
NODE_TLS_CA_VAR: Variable[str | None] = Variable(
    name="GOSSIPSIM_NODE_TLS_CA",
    parse=text,
    default=None,
    meaning="runner and node: PEM CA certificate that signs every party's certificate",
    documented=_UNSET,
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
    DECLARE_TOPOLOGY_VAR,
    DELIVERY_LIMIT_VAR,
    MAX_ATTEMPTS_VAR,
    RUNNER_NAME_VAR,
    LOG_LEVEL_VAR,
    MAX_VERTICES_VAR,
    MAX_EDGES_VAR,
    CHECK_MEMORY_BYTES_VAR,
    CHECK_SECONDS_VAR,
    MAX_SHARDS_VAR,
    GRAPH_ROOTS_VAR,
    MAX_FILE_BYTES_VAR,
    CALL_TIMEOUT_VAR,
    DRAIN_VAR,
    RUN_ACK_AFTER_VAR,
    HEARTBEAT_VAR,
    RUNNER_CACHE_BYTES_VAR,
    LEASE_TIMEOUT_VAR,
    HEALTH_PORT_VAR,
    NODE_HOST_VAR,
    NODE_PORT_VAR,
    NODE_PEER_TIMEOUT_VAR,
    NODE_PARENT_PID_VAR,
    NODE_SECRET_VAR,
    NODE_MAX_MESSAGE_BYTES_VAR,
    NODE_TLS_CERT_VAR,
    NODE_TLS_KEY_VAR,
    NODE_TLS_CA_VAR,
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
