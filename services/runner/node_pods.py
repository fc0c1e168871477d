"""The objects a run's node services are in Kubernetes: pods, a headless Service, a NetworkPolicy.

The manifests are plain dicts in the API's JSON shape (as in k8s/), which the client sends as
they are; its typed signatures want models, hence the ``Any``. How and when they are created,
awaited and deleted is the launcher's business (kubernetes_launcher.py); what they say is here:

* every object carries the labels of a gossipsim node, its run (``gossipsim.io/run``) and the
  runner that made it (``gossipsim.io/launcher``), by which orphans are found and reaped, and
  the run id in full as an annotation (a label value is limited to 63 characters);
* the owner reference names the runner's own pod, so the garbage collector deletes a killed
  runner's objects (``blockOwnerDeletion`` false: true would need ``update`` on the runner's
  own pod's finalizers);
* a node pod passes Pod Security "restricted": non-root, read-only root file system, no
  capabilities, no service account token; restart policy Never (a restarted node would
  answer its health check with an empty shard);
* the NetworkPolicy lets node pods talk to the other pods of their own run and to runners,
  on the gRPC port only, and reach nothing but DNS;
* a node pod listens on every interface of its own network namespace (``--host 0.0.0.0`` and
  ``GOSSIPSIM_NODE_HOST``: the default, loopback, would not be reachable), obeys only the
  runner that knows the run's launch secret (``GOSSIPSIM_NODE_SECRET``, drawn per run), and
  has the runner's message cap. The secret is in the pod's spec: whoever may read pods in the
  namespace may read it while the run lasts, as they may read the runner's own environment.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from gossipsim.common.rpc.auth import new_token
from gossipsim.common.rpc.message_limit import DEFAULT_MAX_MESSAGE_BYTES
from gossipsim.common.runtime.settings import KubernetesSettings
from gossipsim.common.runtime.variables import (
    LOG_LEVEL_VAR,
    NODE_HOST_VAR,
    NODE_MAX_MESSAGE_BYTES_VAR,
    NODE_PORT,
    NODE_SECRET_VAR,
)

APP_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
RUN_LABEL = "gossipsim.io/run"
LAUNCHER_LABEL = "gossipsim.io/launcher"
RUN_ID_ANNOTATION = "gossipsim.io/run-id"
NODE_SELECTOR = f"{APP_LABEL}=gossipsim,{COMPONENT_LABEL}=node"  # every node object


def label_value(text: str) -> str:
    """``text`` as a label value (at most 63 of ``[A-Za-z0-9._-]``, alphanumeric at both ends);
    a text that had to change gets a hash suffix, so two texts never share a value."""
    if re.fullmatch(r"([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?", text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:54].strip("._-")
    return f"{cleaned}-{digest}" if cleaned else digest


@dataclass(slots=True)
class RunObjects:
    """The names of one run's objects, and the addresses of its pods once they are ready."""

    run_id: str
    label: str  # the value of gossipsim.io/run
    pods: list[str]  # names, in shard order
    service: str
    policy: str
    addresses: list[str] = field(default_factory=list)
    secret: str = field(default_factory=new_token, repr=False)  # the run's launch secret


@dataclass(frozen=True, slots=True, kw_only=True)
class NodePodManifests:
    """Writes the manifests of a run's objects for one runner (``launcher``: its label)."""

    namespace: str
    launcher: str  # the value of gossipsim.io/launcher
    owner: dict[str, Any] | None  # owner reference to the runner's pod, if it is known
    image: str
    cpu: str
    memory: str
    log_level: str
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES

    @classmethod
    def for_runner(
        cls,
        settings: KubernetesSettings,
        *,
        launcher: str,
        log_level: str,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> NodePodManifests:
        owner: dict[str, Any] | None = None
        if settings.pod_name and settings.pod_uid:
            owner = {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": settings.pod_name,
                "uid": settings.pod_uid,
                "controller": False,
                "blockOwnerDeletion": False,
            }
        return cls(
            namespace=settings.namespace,
            launcher=launcher,
            owner=owner,
            image=settings.node_image,
            cpu=settings.node_cpu,
            memory=settings.node_memory,
            log_level=log_level,
            max_message_bytes=max_message_bytes,
        )

    def labels(self, run: RunObjects) -> dict[str, str]:
        return {
            APP_LABEL: "gossipsim",
            COMPONENT_LABEL: "node",
            RUN_LABEL: run.label,
            LAUNCHER_LABEL: self.launcher,
        }

    def metadata(self, run: RunObjects, name: str) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "name": name,
            "namespace": self.namespace,
            "labels": self.labels(run),
            "annotations": {RUN_ID_ANNOTATION: run.run_id},
        }
        if self.owner is not None:
            meta["ownerReferences"] = [dict(self.owner)]
        return meta

    def node_selector(self, run: RunObjects) -> dict[str, str]:
        return {APP_LABEL: "gossipsim", COMPONENT_LABEL: "node", RUN_LABEL: run.label}

    def pod(self, run: RunObjects, index: int) -> Any:
        resources = {"cpu": self.cpu, "memory": self.memory}
        probe = {"grpc": {"port": NODE_PORT}}
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": self.metadata(run, run.pods[index]),
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "terminationGracePeriodSeconds": 5,
                "hostname": f"node-{index}",
                "subdomain": run.service,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 10001,
                    "runAsGroup": 10001,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "node",
                        "image": self.image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": [
                            "gossipsim",
                            "serve",
                            "node",
                            "--host",
                            "0.0.0.0",
                            "--port",
                            str(NODE_PORT),
                        ],
                        "env": [
                            {"name": "NUMBA_CACHE_DIR", "value": "/tmp/numba"},
                            {"name": "HOME", "value": "/tmp"},
                            {"name": LOG_LEVEL_VAR.name, "value": self.log_level},
                            {"name": NODE_HOST_VAR.name, "value": "0.0.0.0"},
                            {"name": NODE_SECRET_VAR.name, "value": run.secret},
                            {
                                "name": NODE_MAX_MESSAGE_BYTES_VAR.name,
                                "value": str(self.max_message_bytes),
                            },
                        ],
                        "ports": [{"name": "grpc", "containerPort": NODE_PORT, "protocol": "TCP"}],
                        "resources": {"requests": resources, "limits": dict(resources)},
                        "startupProbe": {**probe, "periodSeconds": 2, "failureThreshold": 60},
                        "readinessProbe": {**probe, "periodSeconds": 5},
                        "livenessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 3},
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 10001,
                            "runAsGroup": 10001,
                            "readOnlyRootFilesystem": True,
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                    }
                ],
                "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
            },
        }

    def service(self, run: RunObjects) -> Any:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self.metadata(run, run.service),
            "spec": {
                "clusterIP": "None",
                "publishNotReadyAddresses": True,
                "selector": self.node_selector(run),
                "ports": [
                    {"name": "grpc", "port": NODE_PORT, "targetPort": NODE_PORT, "protocol": "TCP"}
                ],
            },
        }

    def network_policy(self, run: RunObjects) -> Any:
        nodes = {"podSelector": {"matchLabels": self.node_selector(run)}}
        runners = {
            "podSelector": {"matchLabels": {APP_LABEL: "gossipsim", COMPONENT_LABEL: "runner"}}
        }
        grpc = [{"protocol": "TCP", "port": NODE_PORT}]
        dns = {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": self.metadata(run, run.policy),
            "spec": {
                "podSelector": {"matchLabels": self.node_selector(run)},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [nodes, runners], "ports": grpc}],
                "egress": [
                    {"to": [nodes], "ports": grpc},
                    {
                        "to": [dns],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    },
                ],
            },
        }
