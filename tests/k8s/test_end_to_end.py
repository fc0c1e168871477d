"""A GossipSimulation applied to the (emulated) cluster runs through the real RabbitMQ and S3.

The services run as they are deployed: ``gossipsim serve scheduler|collector|runner`` processes
sharing a broker prefix and a bucket; the custom resource definitions are those of k8s/crds,
installed through the API. The scheduler is started with resource watching on and a kubeconfig
that points at the Kubernetes API emulator served from this test process, so the watcher, its
wiring in the scheduler's composition root and its stop on SIGTERM are the real ones. In CI
(``GOSSIPSIM_REQUIRE_SERVICES=1``) a missing broker or S3 server fails the test.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
import yaml
from kubernetes_asyncio.client import ApiextensionsV1Api, CustomObjectsApi

from gossipsim.scheduler.kubernetes_watcher import FINALIZER, GOSSIP_SIMULATIONS
from tests.conftest import REPO
from tests.distributed.harness import Cluster, Tap
from tests.support.kube_api import KubeApi, running_kube_api
from tests.support.rabbitmq import URL
from tests.support.s3_server import S3Server

NAMESPACE = "sims"
KIND = GOSSIP_SIMULATIONS
SIMS = f"{KIND.group}/{KIND.version}/{KIND.plural}"
SPEC = {
    "graphs": [{"name": "ring", "generator": "cycle_graph", "params": {"n": 24}}],
    "algorithms": ["default", {"rule": "average", "mode": "synchronous"}],
    "repetitions": 3,
    "seed": 7,
}


@pytest_asyncio.fixture
async def kube() -> AsyncIterator[KubeApi]:
    """The emulated API with the repository's CRDs (k8s/crds) installed through it."""
    async with running_kube_api() as api:
        extensions = ApiextensionsV1Api(api.client)
        for path in sorted((REPO / "k8s" / "crds").glob("*.yaml")):
            document = yaml.safe_load(path.read_text())
            if document.get("kind") == "CustomResourceDefinition":
                await extensions.create_custom_resource_definition(document)
        yield api


def kubeconfig(path: Path, server: str) -> Path:
    """A kubeconfig for the emulator (JSON is YAML), its namespace as the context's."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": server}}],
        "users": [{"name": "test", "user": {"token": "not-checked"}}],
        "contexts": [
            {
                "name": "emulator",
                "context": {"cluster": "emulator", "user": "test", "namespace": NAMESPACE},
            }
        ],
        "current-context": "emulator",
    }
    path.write_bytes(orjson.dumps(config))
    return path


def check_against_crd(status: dict[str, Any]) -> None:
    """The status fits the status schema of k8s/crds (fields, phases, condition shape)."""
    crd = yaml.safe_load((REPO / "k8s/crds/gossipsimulations.gossipsim.io.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == KIND.version]
    schema = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert set(status) <= set(schema["properties"]), set(status) - set(schema["properties"])
    assert status["phase"] in schema["properties"]["phase"]["enum"]
    item = schema["properties"]["conditions"]["items"]
    for condition in status.get("conditions", []):
        assert set(item["required"]) <= set(condition) <= set(item["properties"]), condition
        assert condition["status"] in item["properties"]["status"]["enum"]
        assert re.match(item["properties"]["reason"]["pattern"], condition["reason"]), condition
        for key in ("type", "reason", "message"):
            assert len(condition[key]) <= item["properties"][key]["maxLength"]
    for key in ("startedAt", "finishedAt"):
        if key in status:
            datetime.strptime(status[key], "%Y-%m-%dT%H:%M:%S%z")


async def wait_for_phase(
    kube: KubeApi, cluster: Cluster, name: str, phase: str, timeout: float = 240
) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            obj = kube.find_object(SIMS, name, namespace=NAMESPACE) or {}
            status = obj.get("status") or {}
            if status.get("phase") == phase:
                return status
            assert status.get("phase") not in ("Failed", "Rejected", "Cancelled"), (
                status,
                cluster.logs(),
            )
            cluster.check_alive()
            await asyncio.sleep(0.2)


@pytest.mark.timeout(600)
async def test_a_gossip_simulation_resource_runs_over_rabbitmq_and_ends_succeeded(
    kube: KubeApi, cluster: Cluster, s3_server: S3Server, tmp_path: Path
):
    assert kube.configuration is not None and kube.client is not None
    watching = {
        "GOSSIPSIM_WATCH_KUBERNETES": "true",
        "GOSSIPSIM_KUBERNETES_NAMESPACE": NAMESPACE,
        "KUBECONFIG": str(kubeconfig(tmp_path / "kubeconfig", kube.configuration.host)),
        "KUBERNETES_SERVICE_HOST": "",  # not in-cluster, even when the tests run in a pod
    }
    async with Tap(URL, cluster.prefix) as tap:
        cluster.start("scheduler", name="scheduler", **watching)
        cluster.start("collector", name="collector")
        cluster.start("runner", name="runner")
        await kube.wait_for_watches(2, timeout=120)  # the scheduler watches both kinds

        created = await CustomObjectsApi(kube.client).create_namespaced_custom_object(
            KIND.group,
            KIND.version,
            NAMESPACE,
            KIND.plural,
            {
                "apiVersion": f"{KIND.group}/{KIND.version}",
                "kind": KIND.kind,
                "metadata": {"name": "ring-sweep"},
                "spec": SPEC,
            },
        )
        status = await wait_for_phase(kube, cluster, "ring-sweep", "Succeeded")

        simulation_id = status["simulationId"]
        assert simulation_id.startswith(f"{NAMESPACE}-ring-sweep-")
        assert created["metadata"]["uid"][:8] in simulation_id
        assert (status["runsTotal"], status["runsSucceeded"], status["runsFailed"]) == (6, 6, 0)
        assert status["results"] == (
            f"s3://{s3_server.bucket}/{cluster.prefix}/simulations/{simulation_id}"
        )
        assert status["startedAt"] <= status["finishedAt"]
        conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
        assert conditions == {"Accepted": ("True", "Accepted"), "Completed": ("True", "Succeeded")}

        manifest = await cluster.get_json(f"simulations/{simulation_id}/manifest.json")
        assert manifest["runs_succeeded"] == 6 and manifest["name"] == "ring-sweep"
        rows = await cluster.summary(simulation_id)
        assert len(rows) == 6 and {row["status"] for row in rows} == {"completed"}
        statuses = [
            e.object["status"]
            for e in kube.events
            if e.name == "ring-sweep" and e.object.get("status")
        ]
        assert statuses[0]["phase"] == "Pending"
        for each in statuses:
            check_against_crd(each)
        submits = tap.of_kind("simulation.submit")
        assert [m.body["simulation_id"] for m in submits] == [simulation_id]
        assert len(tap.of_kind("run.start")) == 6

        # finished: the finalizer is gone, so deleting the resource need not wait
        async with asyncio.timeout(30):
            while FINALIZER in (
                kube.read_object(SIMS, "ring-sweep", namespace=NAMESPACE)["metadata"].get(
                    "finalizers"
                )
                or []
            ):
                await asyncio.sleep(0.1)

    codes = cluster.stop_all()  # SIGTERM: the scheduler stops its watcher, then itself
    assert set(codes.values()) == {0}, (codes, cluster.logs())
    async with asyncio.timeout(10):
        while kube.watch_count:  # its watches closed with it
            await asyncio.sleep(0.1)
