"""Node services as Kubernetes pods: per run a pod per shard, a headless Service, a NetworkPolicy.

This module is their lifecycle: creating them, waiting until they serve, deleting them, and
reaping what an earlier runner left behind. What the objects say (labels, security, network
rules) is written in node_pods.py.

Design decisions:

* **Addresses are pod IPs** (``10.x.y.z:50051``), not DNS names under the headless Service: an
  IP is known as soon as the pod runs, needs no DNS record to propagate (nor risks a cached
  NXDOMAIN from an early lookup), and is what the readiness check has just reached. The
  headless Service (``publishNotReadyAddresses``) still gives every pod a stable DNS name
  (``node-3.<service>.<namespace>.svc``) for people and tools.
* **Every release deletes the run's pods, Service and NetworkPolicy**, healthy or not: a pod
  holds one run's shard in memory, starting one costs seconds against minutes of scheduling
  work, and a pool of idle pods would hold cluster resources between runs. (The local
  launcher pools processes because there a start is the whole cost.)
* **A failed or cancelled acquire cleans up after itself** before the error goes on: the
  caller never sees the run's objects, so nothing else would delete them.
* **Owner references point at the runner's own pod** (``GOSSIPSIM_POD_NAME`` and
  ``GOSSIPSIM_POD_UID`` from the downward API), so the garbage collector deletes a killed
  runner's objects. ``blockOwnerDeletion`` is false: true would need the runner to have
  ``update`` on its own pod's finalizers.
* **Orphans are reaped at start**: objects labelled with this runner's pod name (a previous
  incarnation of the same pod: a container restart keeps the pod, so the garbage collector
  does not act) and objects whose owner pod is gone (the garbage collector may lag or be off).
* **Readiness is polled**: the run's pods are listed by label (``resourceVersion=0``, so the
  apiserver answers from its cache) every ``poll_interval`` until each is Running with an IP
  and passes the gRPC health check from here, which also proves the NetworkPolicy lets the
  runner in. A pod that fails for good (phase Failed, an invalid image name, a bad config)
  fails the run at once; anything else (unschedulable, ImagePullBackOff) is waited for until
  ``node_startup_timeout`` and then named in the error.
* **Restart policy Never**: a node restarted by the kubelet would answer its health check with
  an empty shard; better the run fails and is retried as a whole.
* The earlier simulator's topology, one pod per vertex, is a run that asks for as many shards
  as vertices: nothing here depends on the count (creations go at most 16 at a time).
* **A launch secret per run** (node_pods.py): every pod of a run is started with it, and only
  this runner, which drew it, can configure them. Node traffic to pods is plaintext: the
  kubelet's gRPC probes cannot speak TLS, so a runner with ``GOSSIPSIM_NODE_TLS_*`` set refuses
  to start with this launcher rather than fail every run; the NetworkPolicy and the tokens
  protect the traffic in the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import aiohttp
import structlog
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gossipsim.common.errors import ShardFailed
from gossipsim.common.rpc.transport import NodeTransport
from gossipsim.common.runtime.kubernetes import kubernetes_api
from gossipsim.common.runtime.settings import KubernetesSettings, NodeTrafficSettings
from gossipsim.common.runtime.variables import NODE_PORT
from gossipsim.runner.local_launcher import check_health
from gossipsim.runner.node_pods import (
    LAUNCHER_LABEL,
    NODE_SELECTOR,
    NodePodManifests,
    RunObjects,
    label_value,
)

log = structlog.get_logger(__name__)

CREATE_CONCURRENCY = 16
# A pod in one of these will not start however long we wait.
HOPELESS_REASONS = frozenset(
    {"InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError"}
)


class HealthCheck(Protocol):
    async def __call__(self, address: str, *, timeout: float) -> None:
        """Return if the node at ``address`` serves; raise ShardFailed otherwise."""
        ...


def _describe(pod: Mapping[str, Any] | None) -> str:
    """Where a pod is stuck, for the error: phase, the last false condition, container waits."""
    if pod is None:
        return "not found"
    status = pod.get("status") or {}
    parts = [f"phase {status.get('phase') or 'Pending'}"]
    if status.get("phase") == "Running" and not status.get("podIP"):
        parts.append("no IP yet")
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            text = f"{condition.get('type')}=False"
            detail = ": ".join(x for x in (condition.get("reason"), condition.get("message")) if x)
            parts.append(f"{text} ({detail})" if detail else text)
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        for kind in ("waiting", "terminated"):
            if kind in state:
                reason = state[kind].get("reason") or kind
                message = state[kind].get("message")
                parts.append(
                    f"container {container.get('name')} {kind}: {reason}"
                    + (f" ({message})" if message else "")
                )
    return ", ".join(parts)


def _api_error(error: BaseException) -> str:
    if isinstance(error, ApiException):
        return f"{error.status} {error.reason}"
    return repr(error)


def _hopeless(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") in ("Failed", "Succeeded"):
        return True
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in HOPELESS_REASONS:
            return True
    return False


class KubernetesNodeLauncher:
    """Starts node services as pods in ``settings.namespace`` for each run (a NodeLauncher)."""

    def __init__(
        self,
        *,
        api: client.ApiClient,
        settings: KubernetesSettings,
        health_check: HealthCheck | None = None,
        poll_interval: float = 1.0,
        health_timeout: float = 2.0,
        log_level: str = "info",
        traffic: NodeTrafficSettings | None = None,
    ) -> None:
        traffic = traffic or NodeTrafficSettings()
        if traffic.tls is not None:
            raise ValueError(
                "node pods started per run have no TLS (the kubelet's gRPC probes cannot speak "
                "it): unset GOSSIPSIM_NODE_TLS_CERT, _KEY and _CA for the kubernetes launcher"
            )
        self._transport = traffic.transport()
        self._api = api
        self._core = client.CoreV1Api(api)
        self._networking = client.NetworkingV1Api(api)
        self._settings = settings
        self._namespace = settings.namespace
        self._health_check: HealthCheck = health_check or self._check_health
        self._poll_interval = poll_interval
        self._health_timeout = health_timeout
        self._log_level = log_level
        # this runner: in a pod its name (the downward API); elsewhere the host name
        self._launcher = label_value(settings.pod_name or socket.gethostname())
        self.manifests = NodePodManifests.for_runner(
            settings,
            launcher=self._launcher,
            log_level=log_level,
            max_message_bytes=traffic.max_message_bytes,
        )
        self._runs: dict[str, RunObjects] = {}
        self._cleanups: set[asyncio.Task[None]] = set()
        self._create_slots = asyncio.Semaphore(CREATE_CONCURRENCY)
        self._check_slots = asyncio.Semaphore(4 * CREATE_CONCURRENCY)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Reap what a previous incarnation of this runner, or a runner now gone, left behind."""
        if self.manifests.owner is None:
            log.warning(
                "node pods will have no owner: GOSSIPSIM_POD_NAME and GOSSIPSIM_POD_UID are "
                "not set, so only this runner's own clean-up and start-up reaping remove them",
                launcher=self._launcher,
            )
        reaped = await self.reap_orphans()
        if reaped:
            log.info("reaped orphaned node objects", count=reaped, launcher=self._launcher)

    async def close(self) -> None:
        """Delete the objects of every run still held; wait for pending clean-ups."""
        for run in list(self._runs.values()):
            self._discard(run)
        while self._cleanups:
            await asyncio.gather(*list(self._cleanups), return_exceptions=True)

    async def __aenter__(self) -> KubernetesNodeLauncher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- NodeLauncher ------------------------------------------------------------------------

    @property
    def transport(self) -> NodeTransport:
        return self._transport

    def launch_secret(self, address: str) -> str:
        for run in self._runs.values():
            if address in run.addresses:
                return run.secret
        raise KeyError(f"no run of this launcher has a node at {address}")

    async def _check_health(self, address: str, *, timeout: float) -> None:
        await check_health(address, timeout=timeout, transport=self._transport)

    async def acquire(self, count: int, *, run_id: str) -> list[str]:
        if count < 1:
            raise ValueError(f"a run needs at least one node, not {count}")
        run = self._plan(count, run_id)
        self._runs[run.label] = run
        bound = log.bind(run_id=run_id, pods=count, namespace=self._namespace)
        try:
            await self._create(run)
            run.addresses = await self._wait_until_ready(run)
        except BaseException as error:
            bound.warning("node pods not ready; deleting them", error=repr(error))
            await self._discard_and_wait(run)
            raise
        bound.info("node pods ready", service=run.service)
        return list(run.addresses)

    async def release(self, addresses: list[str], *, healthy: bool) -> None:
        wanted = set(addresses)
        runs = [run for run in self._runs.values() if wanted & set(run.addresses)]
        for run in runs:
            log.debug("releasing node pods", run_id=run.run_id, healthy=healthy)
            await self._discard_and_wait(run)

    # --- the objects of a run ----------------------------------------------------------------

    def _plan(self, count: int, run_id: str) -> RunObjects:
        # Random, not derived from the run id: a retried run must not meet the still terminating
        # pods of its previous attempt, nor a run of the same id on another runner.
        key = secrets.token_hex(5)
        label = label_value(run_id)
        if label in self._runs:
            raise ValueError(f"run {run_id} already has node pods from this launcher")
        return RunObjects(
            run_id=run_id,
            label=label,
            pods=[f"gossipsim-node-{key}-{index}" for index in range(count)],
            service=f"gossipsim-nodes-{key}",
            policy=f"gossipsim-nodes-{key}",
        )

    async def _create(self, run: RunObjects) -> None:
        async def create_pod(index: int) -> None:
            async with self._create_slots:
                await self._core.create_namespaced_pod(
                    self._namespace, self.manifests.pod(run, index)
                )

        try:
            # The policy first, so that no node pod is ever reachable beyond it.
            await self._networking.create_namespaced_network_policy(
                self._namespace, self.manifests.network_policy(run)
            )
            await self._core.create_namespaced_service(self._namespace, self.manifests.service(run))
            await asyncio.gather(*(create_pod(index) for index in range(len(run.pods))))
        except (ApiException, aiohttp.ClientError, OSError) as error:
            raise ShardFailed(
                f"could not create the node objects of run {run.run_id} in namespace "
                f"{self._namespace}: {_api_error(error)}"
            ) from error

    async def _wait_until_ready(self, run: RunObjects) -> list[str]:
        loop = asyncio.get_running_loop()
        timeout = self._settings.node_startup_timeout
        deadline = loop.time() + timeout
        healthy: dict[str, str] = {}  # pod name -> address
        pods: dict[str, dict[str, Any]] = {}
        selector = ",".join(f"{k}={v}" for k, v in self.manifests.node_selector(run).items())
        trouble = ""  # the last failure to list the pods, for the error at the deadline
        while True:
            try:
                listing = await self._core.list_namespaced_pod(
                    self._namespace, label_selector=selector, resource_version="0"
                )
            except (ApiException, aiohttp.ClientError, OSError) as error:
                trouble = f"; listing the pods failed: {_api_error(error)}"
            else:
                trouble = ""
                pods = {
                    pod.metadata.name: self._api.sanitize_for_serialization(pod)
                    for pod in listing.items
                }
            for name in run.pods:
                pod = pods.get(name)
                if pod is not None and _hopeless(pod):
                    raise ShardFailed(
                        f"node pod {name} of run {run.run_id} cannot start: {_describe(pod)}"
                    )
            pending = [
                (name, f"{pod['status']['podIP']}:{NODE_PORT}")
                for name in run.pods
                if name not in healthy
                for pod in [pods.get(name)]
                if pod is not None
                and (pod.get("status") or {}).get("phase") == "Running"
                and (pod.get("status") or {}).get("podIP")
            ]
            check_timeout = max(0.1, min(self._health_timeout, deadline - loop.time()))
            results = await asyncio.gather(
                *(self._check(address, check_timeout) for _, address in pending),
                return_exceptions=True,
            )
            for (name, address), result in zip(pending, results, strict=True):
                if result is None:
                    healthy[name] = address
                elif not isinstance(result, ShardFailed):
                    raise result
            if len(healthy) == len(run.pods):
                return [healthy[name] for name in run.pods]
            remaining = deadline - loop.time()
            if remaining <= 0:
                waiting = [name for name in run.pods if name not in healthy]
                name = waiting[0]
                more = f" (and {len(waiting) - 1} more)" if len(waiting) > 1 else ""
                state = _describe(pods.get(name))
                if name in dict(pending):
                    state += ", running but failing its gRPC health check"
                raise ShardFailed(
                    f"node pod {name}{more} of run {run.run_id} was not ready within "
                    f"{timeout:g} s: {state}{trouble}"
                )
            await asyncio.sleep(min(self._poll_interval, remaining))

    async def _check(self, address: str, timeout: float) -> None:
        async with self._check_slots:
            await self._health_check(address, timeout=timeout)

    # --- deleting ----------------------------------------------------------------------------

    def _discard(self, run: RunObjects) -> asyncio.Task[None]:
        """Start deleting a run's objects in a task of its own (a cancel does not stop it)."""
        self._runs.pop(run.label, None)
        task = asyncio.get_running_loop().create_task(self._delete_run(run))
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)
        return task

    async def _discard_and_wait(self, run: RunObjects) -> None:
        await asyncio.shield(self._discard(run))

    async def _delete_run(self, run: RunObjects) -> None:
        deletions = [self._delete("pod", name) for name in run.pods]
        deletions += [self._delete("service", run.service), self._delete("policy", run.policy)]
        await asyncio.gather(*deletions)

    async def _delete(self, kind: str, name: str) -> bool:
        """Delete one object; False if it was not there. Failures are logged, not raised: the
        owner reference and the next start's reaping are there for what is left."""
        delete = {
            "pod": self._core.delete_namespaced_pod,
            "service": self._core.delete_namespaced_service,
            "policy": self._networking.delete_namespaced_network_policy,
        }[kind]
        try:
            await delete(name, self._namespace, propagation_policy="Background")
            return True
        except ApiException as error:
            if error.status != 404:
                log.warning(
                    "could not delete a node object", kind=kind, name=name, error=str(error)
                )
            return False
        except (OSError, TimeoutError) as error:
            log.warning("could not delete a node object", kind=kind, name=name, error=repr(error))
            return False

    async def reap_orphans(self) -> int:
        """Delete node objects left by an earlier incarnation of this runner (same launcher
        label) or owned by a pod that no longer exists. Returns how many were deleted."""
        found: list[tuple[str, Any]] = []
        for kind, lister in (
            ("pod", self._core.list_namespaced_pod),
            ("service", self._core.list_namespaced_service),
            ("policy", self._networking.list_namespaced_network_policy),
        ):
            listing = await lister(self._namespace, label_selector=NODE_SELECTOR)
            found += [(kind, item.metadata) for item in listing.items]
        owners_alive: dict[tuple[str, str], bool] = {}
        doomed = []
        for kind, meta in found:
            ours = (meta.labels or {}).get(LAUNCHER_LABEL) == self._launcher
            owners = [ref for ref in meta.owner_references or () if ref.kind == "Pod"]
            if not ours and owners:
                alive = [await self._owner_alive(r.name, r.uid, owners_alive) for r in owners]
                ours = not any(alive)
            if ours:
                doomed.append((kind, meta.name))
        results = await asyncio.gather(*(self._delete(kind, name) for kind, name in doomed))
        return sum(results)

    async def _owner_alive(self, name: str, uid: str, cache: dict[tuple[str, str], bool]) -> bool:
        if (name, uid) not in cache:
            try:
                pod = await self._core.read_namespaced_pod(name, self._namespace)
                cache[name, uid] = pod.metadata.uid == uid
            except ApiException as error:
                if error.status != 404:
                    raise
                cache[name, uid] = False
        return cache[name, uid]


@contextlib.asynccontextmanager
async def kubernetes_launcher(
    settings: KubernetesSettings,
    *,
    log_level: str = "info",
    traffic: NodeTrafficSettings | None = None,
) -> AsyncIterator[KubernetesNodeLauncher]:
    """The launcher with its own API client, started (orphans reaped) and closed after."""
    async with (
        kubernetes_api() as api,
        KubernetesNodeLauncher(
            api=api, settings=settings, log_level=log_level, traffic=traffic
        ) as launcher,
    ):
        yield launcher
