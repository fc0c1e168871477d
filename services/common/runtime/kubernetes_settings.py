"""Settings of the Kubernetes integration, from environment variables (documented in README).

Read in composition roots only: the scheduler's resource watcher and the runner's choice of
node launcher. Outside a cluster nothing here is used unless asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
NODE_LAUNCHERS = ("local", "kubernetes", "static")


def _own_namespace() -> str:
    """The namespace this pod runs in, or ``default`` outside a cluster."""
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ValueError(f"{name} must be true or false, got {env[name]!r}")


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class KubernetesSettings:
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
        launcher = env.get("GOSSIPSIM_NODE_LAUNCHER", "local")
        if launcher not in NODE_LAUNCHERS:
            raise ValueError(
                f"GOSSIPSIM_NODE_LAUNCHER must be one of {', '.join(NODE_LAUNCHERS)}, "
                f"got {launcher!r}"
            )
        static = tuple(a.strip() for a in env.get("GOSSIPSIM_STATIC_NODES", "").split(",") if a)
        if launcher == "static" and not static:
            raise ValueError(
                "GOSSIPSIM_NODE_LAUNCHER=static needs GOSSIPSIM_STATIC_NODES=host:port,host:port"
            )
        return cls(
            namespace=env.get("GOSSIPSIM_KUBERNETES_NAMESPACE") or _own_namespace(),
            watch_resources=_flag(env, "GOSSIPSIM_WATCH_KUBERNETES"),
            node_launcher=launcher,
            static_nodes=static,
            node_image=env.get("GOSSIPSIM_NODE_IMAGE", "gossipsim:latest"),
            node_cpu=env.get("GOSSIPSIM_NODE_CPU", "500m"),
            node_memory=env.get("GOSSIPSIM_NODE_MEMORY", "512Mi"),
            node_startup_timeout=_seconds(env, "GOSSIPSIM_NODE_STARTUP_TIMEOUT_SECONDS", 120.0),
            pod_name=env.get("GOSSIPSIM_POD_NAME") or None,
            pod_uid=env.get("GOSSIPSIM_POD_UID") or None,
        )
