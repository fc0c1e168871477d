"""The Kubernetes node launcher against the in-process API (tests/support/kube_api.py).

Nothing runs containers there, so a fake kubelet moves the node pods to Running with an IP,
and the gRPC health check is a fake that answers for those IPs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio.config import kube_config

from gossipsim.common.errors import ShardFailed
from gossipsim.common.runtime.settings import KubernetesSettings, NodeTrafficSettings
from gossipsim.runner.kubernetes_launcher import KubernetesNodeLauncher
from gossipsim.runner.local_launcher import LocalProcessLauncher
from gossipsim.runner.main import open_launcher
from gossipsim.runner.node_pods import LAUNCHER_LABEL, RUN_LABEL, label_value
from gossipsim.runner.static_launcher import StaticNodeLauncher
from tests.support.kube_api import KubeApi, running_kube_api

NAMESPACE = "runs"
PODS, SERVICES, POLICIES = "v1/pods", "v1/services", "networking.k8s.io/v1/networkpolicies"
NODES = "app.kubernetes.io/component=node"


@pytest.fixture
async def kube() -> AsyncIterator[KubeApi]:
    async with running_kube_api() as api:
        yield api


def runner_pod(kube: KubeApi, name: str = "runner-0") -> dict[str, Any]:
    """The runner's own pod: the owner of what its launcher creates."""
    return kube.create_object(
        PODS,
        {
            "metadata": {
                "name": name,
                "namespace": NAMESPACE,
                "labels": {
                    "app.kubernetes.io/name": "gossipsim",
                    "app.kubernetes.io/component": "runner",
                },
            },
            "spec": {"containers": [{"name": "runner", "image": "gossipsim:test"}]},
        },
    )


def settings_for(pod: dict[str, Any], **changes: Any) -> KubernetesSettings:
    base = KubernetesSettings(
        namespace=NAMESPACE,
        watch_resources=False,
        node_launcher="kubernetes",
        static_nodes=(),
        node_image="registry.example/gossipsim:1.2.3",
        node_cpu="250m",
        node_memory="300Mi",
        node_startup_timeout=1.5,
        pod_name=pod["metadata"]["name"],
        pod_uid=pod["metadata"]["uid"],
    )
    return dataclasses.replace(base, **changes)


class FakeHealth:
    """The gRPC health check, answering SERVING for addresses not listed as failing."""

    def __init__(self) -> None:
        self.failing: set[str] = set()
        self.fail_first: int = 0  # how many checks of each address fail before it serves
        self.calls: list[str] = []

    async def __call__(self, address: str, *, timeout: float) -> None:
        self.calls.append(address)
        if address in self.failing or self.calls.count(address) <= self.fail_first:
            raise ShardFailed(f"node at {address} failed its health check: fake")


class FakeKubelet:
    """Moves node pods to Running with an IP, except those told otherwise."""

    def __init__(self, kube: KubeApi) -> None:
        self.kube = kube
        self.next_ip = 1
        # (run label, shard index) -> the status that pod gets instead of Running
        self.hold: dict[tuple[str, int], dict[str, Any]] = {}
        self.paused = False

    def tick(self) -> None:
        if self.paused:
            return
        for pod in self.kube.list_objects(PODS, namespace=NAMESPACE, label_selector=NODES):
            name = pod["metadata"]["name"]
            shard = (pod["metadata"]["labels"][RUN_LABEL], int(name.rsplit("-", 1)[1]))
            if pod.get("status"):
                continue
            if shard in self.hold:
                status = self.hold[shard]
            else:
                status = {
                    "phase": "Running",
                    "podIP": f"10.1.{self.next_ip // 250}.{self.next_ip % 250}",
                }
                self.next_ip += 1
            self.kube.patch_status(PODS, name, status, namespace=NAMESPACE)

    async def run(self) -> None:
        while True:
            self.tick()
            await asyncio.sleep(0.01)


@pytest.fixture
async def kubelet(kube: KubeApi) -> AsyncIterator[FakeKubelet]:
    fake = FakeKubelet(kube)
    task = asyncio.create_task(fake.run())
    yield fake
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.fixture
def health() -> FakeHealth:
    return FakeHealth()


@pytest.fixture
def new_launcher(kube: KubeApi, health: FakeHealth) -> Callable[..., KubernetesNodeLauncher]:
    """A launcher of the runner pod ``runner-0`` (or as ``settings`` say), not yet started."""

    def new(settings: KubernetesSettings | None = None) -> KubernetesNodeLauncher:
        if settings is None:
            owner = kube.find_object(PODS, "runner-0", namespace=NAMESPACE) or runner_pod(kube)
            settings = settings_for(owner)
        assert kube.client is not None
        return KubernetesNodeLauncher(
            api=kube.client, settings=settings, health_check=health, poll_interval=0.01
        )

    return new


@pytest.fixture
def make_launcher(
    new_launcher: Callable[..., KubernetesNodeLauncher],
) -> Callable[..., contextlib.AbstractAsyncContextManager[KubernetesNodeLauncher]]:
    """A started launcher, closed at the end of the ``async with``."""

    @contextlib.asynccontextmanager
    async def make(
        settings: KubernetesSettings | None = None,
    ) -> AsyncIterator[KubernetesNodeLauncher]:
        async with new_launcher(settings) as launcher:
            yield launcher

    return make


def leftovers(kube: KubeApi) -> dict[str, list[str]]:
    """Node objects still in the namespace, by kind (empty lists when nothing is left)."""
    return {
        ref: [o["metadata"]["name"] for o in kube.list_objects(ref, label_selector=NODES)]
        for ref in (PODS, SERVICES, POLICIES)
    }


NOTHING = {PODS: [], SERVICES: [], POLICIES: []}
# what a kubelet reports of a container (the client's models insist on these fields)
CONTAINER = {"name": "node", "image": "gossipsim", "imageID": "", "ready": False, "restartCount": 0}


def created_pod(kube: KubeApi, run: str, index: int) -> str:
    """The name of a run's node pod for a shard, deleted or not."""
    (name,) = {
        event.name
        for event in kube.events
        if event.type == "ADDED"
        and event.resource == kube.resource(PODS)
        and event.object["metadata"]["labels"].get(RUN_LABEL) == run
        and event.name.endswith(f"-{index}")
    }
    return name


def pod_ips(kube: KubeApi, run_label: str) -> list[str]:
    pods = kube.list_objects(PODS, label_selector=f"{RUN_LABEL}={run_label}")
    pods.sort(key=lambda pod: int(pod["metadata"]["name"].rsplit("-", 1)[1]))
    return [f"{pod['status']['podIP']}:50051" for pod in pods]


async def test_acquire_creates_pods_service_and_policy_owned_by_the_runner(
    kube: KubeApi, kubelet: FakeKubelet, make_launcher: Callable[..., Any]
) -> None:
    owner = runner_pod(kube)
    async with make_launcher(settings_for(owner)) as launcher:
        addresses = await launcher.acquire(3, run_id="run-a")
        assert addresses == pod_ips(kube, "run-a")
        reference = {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": "runner-0",
            "uid": owner["metadata"]["uid"],
            "controller": False,
            "blockOwnerDeletion": False,
        }
        labels = {
            "app.kubernetes.io/name": "gossipsim",
            "app.kubernetes.io/component": "node",
            RUN_LABEL: "run-a",
            LAUNCHER_LABEL: "runner-0",
        }
        pods = kube.list_objects(PODS, label_selector=NODES)
        services = kube.list_objects(SERVICES, label_selector=NODES)
        policies = kube.list_objects(POLICIES, label_selector=NODES)
        assert (len(pods), len(services), len(policies)) == (3, 1, 1)
        for obj in [*pods, *services, *policies]:
            assert obj["metadata"]["namespace"] == NAMESPACE
            assert obj["metadata"]["labels"] == labels
            assert obj["metadata"]["ownerReferences"] == [reference]

        spec = pods[0]["spec"]
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        (container,) = spec["containers"]
        assert container["image"] == "registry.example/gossipsim:1.2.3"
        assert container["command"][:3] == ["gossipsim", "serve", "node"]
        assert container["command"][-2:] == ["--port", "50051"]
        assert container["resources"] == {
            "requests": {"cpu": "250m", "memory": "300Mi"},
            "limits": {"cpu": "250m", "memory": "300Mi"},
        }
        assert container["securityContext"] == {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        assert {"name": "NUMBA_CACHE_DIR", "value": "/tmp/numba"} in container["env"]
        assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
        assert spec["volumes"][0]["name"] == "tmp" and "emptyDir" in spec["volumes"][0]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert container[probe]["grpc"] == {"port": 50051}

        (service,) = services
        assert service["spec"]["clusterIP"] == "None"
        assert service["spec"]["publishNotReadyAddresses"] is True
        assert service["spec"]["ports"][0]["port"] == 50051
        selected = kube.list_objects(PODS, label_selector=selector(service["spec"]["selector"]))
        assert sorted(p["metadata"]["name"] for p in selected) == sorted(
            p["metadata"]["name"] for p in pods
        )

        (policy,) = policies
        node_selector = {k: v for k, v in labels.items() if k != LAUNCHER_LABEL}
        assert policy["spec"]["podSelector"] == {"matchLabels": node_selector}
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        (ingress,) = policy["spec"]["ingress"]
        assert ingress["ports"] == [{"protocol": "TCP", "port": 50051}]
        assert {"podSelector": {"matchLabels": node_selector}} in ingress["from"]
        runners = {"app.kubernetes.io/name": "gossipsim", "app.kubernetes.io/component": "runner"}
        assert {"podSelector": {"matchLabels": runners}} in ingress["from"]
        to_nodes, to_dns = policy["spec"]["egress"]
        assert to_nodes == {
            "to": [{"podSelector": {"matchLabels": node_selector}}],
            "ports": [{"protocol": "TCP", "port": 50051}],
        }
        assert {p["port"] for p in to_dns["ports"]} == {53}

        await launcher.release(addresses, healthy=True)
        assert leftovers(kube) == NOTHING


def selector(labels: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in labels.items())


async def test_created_objects_validate_against_the_kubernetes_schemas(
    kube: KubeApi, kubelet: FakeKubelet, make_launcher: Callable[..., Any]
) -> None:
    validate = pytest.importorskip("kubernetes_validate")
    async with make_launcher() as launcher:
        await launcher.acquire(2, run_id="run-a")
        for ref in (PODS, SERVICES, POLICIES):
            for obj in kube.list_objects(ref, label_selector=NODES):
                obj.pop("status", None)
                validate.validate(obj, "1.30.0", strict=True)


async def test_acquire_returns_only_once_every_pod_runs_and_passes_its_health_check(
    kube: KubeApi, kubelet: FakeKubelet, health: FakeHealth, make_launcher: Callable[..., Any]
) -> None:
    health.fail_first = 3  # each node answers its fourth check
    async with make_launcher() as launcher:
        addresses = await launcher.acquire(2, run_id="run-a")
        assert addresses == pod_ips(kube, "run-a")
        for address in addresses:
            assert health.calls.count(address) == 4
        await launcher.release(addresses, healthy=True)


async def test_a_pod_that_never_starts_fails_the_acquire_naming_it_and_leaves_nothing(
    kube: KubeApi, kubelet: FakeKubelet, make_launcher: Callable[..., Any]
) -> None:
    async with make_launcher() as launcher:
        kubelet.hold["run-a", 1] = {
            "phase": "Pending",
            "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
            "containerStatuses": [
                {
                    **CONTAINER,
                    "state": {
                        "waiting": {
                            "reason": "ImagePullBackOff",
                            "message": 'Back-off pulling image "registry.example/gossipsim"',
                        }
                    },
                }
            ],
        }
        started = time.monotonic()
        with pytest.raises(ShardFailed) as failed:
            await launcher.acquire(3, run_id="run-a")
        assert time.monotonic() - started >= 1.5  # it waited for node_startup_timeout
        message = str(failed.value)
        assert created_pod(kube, "run-a", 1) in message
        assert "run-a" in message
        assert "phase Pending" in message
        assert "ImagePullBackOff" in message
        assert "1.5 s" in message
        assert leftovers(kube) == NOTHING


async def test_a_running_pod_that_fails_its_health_check_fails_the_acquire(
    kube: KubeApi, kubelet: FakeKubelet, health: FakeHealth, make_launcher: Callable[..., Any]
) -> None:
    async with make_launcher() as launcher:
        kubelet.hold["run-a", 0] = {"phase": "Running", "podIP": "10.9.9.9"}
        health.failing.add("10.9.9.9:50051")
        with pytest.raises(ShardFailed) as failed:
            await launcher.acquire(2, run_id="run-a")
        assert created_pod(kube, "run-a", 0) in str(failed.value)
        assert "health check" in str(failed.value)
        assert leftovers(kube) == NOTHING


async def test_a_failed_pod_fails_the_acquire_at_once(
    kube: KubeApi, kubelet: FakeKubelet, make_launcher: Callable[..., Any]
) -> None:
    async with make_launcher() as launcher:
        kubelet.hold["run-a", 0] = {
            "phase": "Pending",
            "containerStatuses": [
                {**CONTAINER, "state": {"waiting": {"reason": "InvalidImageName"}}}
            ],
        }
        started = time.monotonic()
        with pytest.raises(ShardFailed, match="InvalidImageName") as failed:
            await launcher.acquire(2, run_id="run-a")
        assert time.monotonic() - started < 1.0
        assert created_pod(kube, "run-a", 0) in str(failed.value)
        assert leftovers(kube) == NOTHING


async def test_nothing_is_left_after_release_healthy_release_unhealthy_or_close(
    kube: KubeApi, kubelet: FakeKubelet, make_launcher: Callable[..., Any]
) -> None:
    async with make_launcher() as launcher:
        addresses = await launcher.acquire(2, run_id="run-a")
        await launcher.release(addresses, healthy=True)
        assert leftovers(kube) == NOTHING

        addresses = await launcher.acquire(2, run_id="run-b")
        await launcher.release(addresses, healthy=False)
        assert leftovers(kube) == NOTHING

        await launcher.acquire(2, run_id="run-c")
        assert len(leftovers(kube)[PODS]) == 2
    assert leftovers(kube) == NOTHING


async def test_a_cancelled_acquire_leaves_nothing(
    kube: KubeApi, kubelet: FakeKubelet, make_launcher: Callable[..., Any]
) -> None:
    kubelet.paused = True  # the pods stay Pending
    async with make_launcher() as launcher:
        acquiring = asyncio.create_task(launcher.acquire(3, run_id="run-a"))
        async with asyncio.timeout(5):
            while len(leftovers(kube)[PODS]) < 3:
                await asyncio.sleep(0.01)
        acquiring.cancel()
        with pytest.raises(asyncio.CancelledError):
            await acquiring
        assert leftovers(kube) == NOTHING


async def test_a_refused_creation_fails_the_acquire_and_leaves_nothing(
    kube: KubeApi, kubelet: FakeKubelet, make_launcher: Callable[..., Any]
) -> None:
    kube["post", kube.resource(PODS)] << 403
    async with make_launcher() as launcher:
        with pytest.raises(ShardFailed, match="403"):
            await launcher.acquire(2, run_id="run-a")
        assert leftovers(kube) == NOTHING


async def test_concurrent_runs_get_separate_pods_services_and_policies(
    kube: KubeApi, kubelet: FakeKubelet, make_launcher: Callable[..., Any]
) -> None:
    async with make_launcher() as launcher:
        first, second = await asyncio.gather(
            launcher.acquire(2, run_id="run-a"), launcher.acquire(3, run_id="run-b")
        )
        assert first == pod_ips(kube, "run-a")
        assert second == pod_ips(kube, "run-b")
        assert not set(first) & set(second)
        for run, count in (("run-a", 2), ("run-b", 3)):
            (service,) = kube.list_objects(SERVICES, label_selector=f"{RUN_LABEL}={run}")
            (policy,) = kube.list_objects(POLICIES, label_selector=f"{RUN_LABEL}={run}")
            for chosen in (
                service["spec"]["selector"],
                policy["spec"]["podSelector"]["matchLabels"],
            ):
                pods = kube.list_objects(PODS, label_selector=selector(chosen))
                assert len(pods) == count
                assert {p["metadata"]["labels"][RUN_LABEL] for p in pods} == {run}

        await launcher.release(first, healthy=True)
        remaining = leftovers(kube)
        assert len(remaining[PODS]) == 3 and len(remaining[SERVICES]) == 1
        assert pod_ips(kube, "run-b") == second
        await launcher.release(second, healthy=False)
        assert leftovers(kube) == NOTHING


async def test_orphans_of_an_earlier_incarnation_or_a_gone_runner_are_reaped_at_start(
    kube: KubeApi,
    kubelet: FakeKubelet,
    new_launcher: Callable[..., KubernetesNodeLauncher],
    make_launcher: Callable[..., Any],
) -> None:
    me, other, gone = (runner_pod(kube, f"runner-{i}") for i in range(3))
    for owner, run in ((me, "run-mine"), (other, "run-other"), (gone, "run-gone")):
        crashed = new_launcher(settings_for(owner))
        await crashed.start()
        await crashed.acquire(2, run_id=run)
        # the runner dies here: no release, no close
    kube.delete_object(PODS, "runner-2", namespace=NAMESPACE)

    async with make_launcher(settings_for(me)):
        runs = {
            p["metadata"]["labels"][RUN_LABEL]
            for p in kube.list_objects(PODS, label_selector=NODES)
        }
        assert runs == {"run-other"}  # the live runner-1's run is not ours to touch
        assert len(leftovers(kube)[SERVICES]) == 1
        assert len(leftovers(kube)[POLICIES]) == 1


async def test_owner_references_let_the_garbage_collector_remove_a_deleted_runners_objects(
    kube: KubeApi, kubelet: FakeKubelet, new_launcher: Callable[..., KubernetesNodeLauncher]
) -> None:
    crashed = new_launcher()
    await crashed.start()
    await crashed.acquire(3, run_id="run-a")  # and the runner dies: no release, no close
    kube.delete_object(PODS, "runner-0", namespace=NAMESPACE)
    assert kube.collect_garbage() == 5
    assert leftovers(kube) == NOTHING


async def test_a_launcher_outside_a_pod_sets_no_owner_references(
    kube: KubeApi, kubelet: FakeKubelet, make_launcher: Callable[..., Any]
) -> None:
    settings = settings_for(runner_pod(kube), pod_name=None, pod_uid=None)
    async with make_launcher(settings) as launcher:
        addresses = await launcher.acquire(1, run_id="run-a")
        (pod,) = kube.list_objects(PODS, label_selector=NODES)
        assert "ownerReferences" not in pod["metadata"]
        await launcher.release(addresses, healthy=True)


@pytest.mark.parametrize(
    ("run_id", "expected"),
    [
        ("5f0c1e2a9b7d4c3e8f6a1b2c3d4e5f60", "5f0c1e2a9b7d4c3e8f6a1b2c3d4e5f60"),
        ("sim/run 7", None),
        ("x" * 80, None),
        ("-leading", None),
    ],
)
def test_run_ids_become_valid_distinct_label_values(run_id: str, expected: str | None) -> None:
    value = label_value(run_id)
    if expected is not None:
        assert value == expected
    assert len(value) <= 63
    assert value[0].isalnum() and value[-1].isalnum()
    assert all(c.isalnum() or c in "._-" for c in value)
    assert label_value(run_id + "!") != label_value(run_id + "?")


async def test_the_runner_chooses_its_launcher_from_the_environment(
    kube: KubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GOSSIPSIM_NODE_LAUNCHER=kubernetes reaches the API (here through a kubeconfig) and
    starts by reaping; static and local need no cluster."""
    owner = runner_pod(kube)
    orphan = {
        "metadata": {
            "name": "gossipsim-node-left-0",
            "namespace": NAMESPACE,
            "labels": {
                "app.kubernetes.io/name": "gossipsim",
                "app.kubernetes.io/component": "node",
                LAUNCHER_LABEL: "runner-0",
            },
        },
        "spec": {"containers": [{"name": "node", "image": "gossipsim"}]},
    }
    kube.create_object(PODS, orphan)
    assert kube.configuration is not None
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "emulator", "cluster": {"server": kube.configuration.host}}],
                "users": [{"name": "tester", "user": {"token": "not-checked"}}],
                "contexts": [
                    {"name": "test", "context": {"cluster": "emulator", "user": "tester"}}
                ],
                "current-context": "test",
            }
        )
    )
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    env = {
        "GOSSIPSIM_NODE_LAUNCHER": "kubernetes",
        "GOSSIPSIM_KUBERNETES_NAMESPACE": NAMESPACE,
        "GOSSIPSIM_POD_NAME": "runner-0",
        "GOSSIPSIM_POD_UID": owner["metadata"]["uid"],
    }
    async with open_launcher(KubernetesSettings.from_env(env), log_level="info") as launcher:
        assert isinstance(launcher, KubernetesNodeLauncher)
        assert leftovers(kube) == NOTHING

    static = {"GOSSIPSIM_NODE_LAUNCHER": "static", "GOSSIPSIM_STATIC_NODES": "10.0.0.1:50051"}
    pool_secret = NodeTrafficSettings(secret="the-pool-secret-of-the-operator")
    async with open_launcher(
        KubernetesSettings.from_env(static), log_level="info", traffic=pool_secret
    ) as launcher:
        assert isinstance(launcher, StaticNodeLauncher)
    async with open_launcher(KubernetesSettings.from_env({}), log_level="info") as launcher:
        assert isinstance(launcher, LocalProcessLauncher)
