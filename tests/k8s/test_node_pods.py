"""The node pods, Service and NetworkPolicy the runner creates per run fit the deployment in k8s/.

The runner's Kubernetes launcher (services/runner/kubernetes_launcher.py; its behaviour against
an emulated API is tested in test_launcher.py) writes its objects in code, outside k8s/
(services/runner/node_pods.py). Here
they meet the manifests: the node pods must pass the same checks as every other pod (the
namespace enforces Pod Security "restricted"), validate against the Kubernetes 1.30 schemas,
and — with the base's policies — be reachable by runners, reach the other pods of their own
run, and nothing else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import kubernetes_validate.utils as kv
import pytest_asyncio
from kubernetes_asyncio import client

from gossipsim.common.runtime.settings import KubernetesSettings
from gossipsim.runner.kubernetes_launcher import KubernetesNodeLauncher
from tests.k8s.manifests import (
    KUBERNETES_VERSION,
    NAMESPACE,
    NetworkPolicies,
    Peer,
    ident,
    lockdown_problems,
    pod_labels,
    workloads,
)

RUNNER_POD = "gossipsim-runner-7d9f8-abcde"


@pytest_asyncio.fixture
async def launcher() -> AsyncIterator[KubernetesNodeLauncher]:
    """A launcher configured as in the runner Deployment; it never contacts an API server."""
    settings = KubernetesSettings.from_env(
        {
            "GOSSIPSIM_NODE_LAUNCHER": "kubernetes",
            "GOSSIPSIM_KUBERNETES_NAMESPACE": NAMESPACE,
            "GOSSIPSIM_NODE_IMAGE": "gossipsim:0.1.0",
            "GOSSIPSIM_POD_NAME": RUNNER_POD,
            "GOSSIPSIM_POD_UID": "0b6f4e5c-1111-2222-3333-444455556666",
        }
    )
    async with client.ApiClient(client.Configuration()) as api:
        yield KubernetesNodeLauncher(api=api, settings=settings)


def _objects_of_a_run(launcher: KubernetesNodeLauncher, run_id: str, shards: int) -> list[Any]:
    # A run planned as the launcher plans it (private), written by its manifests.
    run = launcher._plan(shards, run_id)
    manifests = launcher.manifests
    pods = [manifests.pod(run, index) for index in range(shards)]
    return [*pods, manifests.service(run), manifests.network_policy(run)]


async def test_node_pods_pass_the_checks_of_every_pod_and_validate(launcher):
    objects = _objects_of_a_run(launcher, "ba-200.default.r3", shards=3)
    for obj in objects:
        assert obj["metadata"]["namespace"] == NAMESPACE
        kv.validate(obj, KUBERNETES_VERSION, strict=True)
        (owner,) = obj["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"]) == ("Pod", RUNNER_POD)
    problems = []
    for obj, spec in workloads(objects):
        problems += lockdown_problems(obj, spec)
        assert spec["automountServiceAccountToken"] is False, ident(obj)
        assert pod_labels(obj)["app.kubernetes.io/component"] == "node"
    assert not problems, "\n".join(problems)


async def test_node_pods_talk_to_their_own_run_and_their_runner_only(launcher, k8s_base):
    run_a = _objects_of_a_run(launcher, "ring.default.r0", shards=2)
    run_b = _objects_of_a_run(launcher, "ring.default.r1", shards=2)
    policies = NetworkPolicies([*k8s_base, *run_a, *run_b])
    a0, a1 = (Peer(ident(o), pod_labels(o)) for o, _ in workloads(run_a))
    (b0, _) = (Peer(ident(o), pod_labels(o)) for o, _ in workloads(run_b))
    pods = {
        pod_labels(obj)["app.kubernetes.io/component"]: Peer(ident(obj), pod_labels(obj))
        for obj, _ in workloads(k8s_base)
    }
    assert policies.allows(a0, a1, 50051) and policies.allows(a1, a0, 50051)
    assert not policies.allows(a0, b0, 50051) and not policies.allows(b0, a1, 50051)
    assert policies.allows(pods["runner"], a0, 50051) and policies.allows(pods["runner"], b0, 50051)
    for component in ("scheduler", "collector", "broker", "store"):
        assert not policies.allows(pods[component], a0, 50051), component
        assert not policies.allows(a0, pods[component], 5672), component
        assert not policies.allows(a0, pods[component], 9000), component
