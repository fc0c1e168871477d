"""The scheduler follows custom resources: a new one is submitted, its status tracks the runs.

``GossipSimulation`` (gossipsim.io; its spec is a simulation spec) and the earlier simulator's
``Simulation`` (gossip.io/v1; translated, its selected ``Graph`` resources inlined) are listed,
then watched from the list's resourceVersion. A watch that ends is resumed from the last
version seen; one whose version has expired (410 Gone) or that fails otherwise is replaced by
a new list. Whatever the list shows again is recognised, so nothing is submitted twice.

Submission takes the path of any client: ``simulation.submit`` on the bus, with an id derived
from the resource (namespace, name, uid), so the scheduler's idempotent submission covers a
restart. Before publishing, the watcher adds its finalizer and sets phase Pending; a resource
whose status says it was accepted, or that the scheduler's stored state knows, is not
published again.

Status comes from the scheduler in this process (kubernetes_status.py), written by a loop
that patches only what changed. Deleting a resource publishes ``simulation.cancel`` and then
removes the finalizer; a finished resource loses the finalizer at once, so deleting it does
not wait for a scheduler. Editing the spec of a submitted resource changes nothing: it runs the
spec it was submitted with, and ``status.observedGeneration`` says which generation that was.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from kubernetes_asyncio import watch
from kubernetes_asyncio.client import ApiClient, CustomObjectsApi
from kubernetes_asyncio.client.exceptions import ApiException

from gossipsim.common.contracts import status_document
from gossipsim.common.errors import InvalidInput
from gossipsim.common.messaging.bus import Bus
from gossipsim.common.messaging.messages import Message, SimulationCancel, SimulationSubmit
from gossipsim.common.messaging.publishing import publish_message
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.spec.ids import SimulationId, check_simulation_id
from gossipsim.common.spec.seed_simulation import seed_field, translate_seed_simulation
from gossipsim.common.storage.store import ObjectNotFound, ObjectStore
from gossipsim.scheduler.kubernetes_status import (
    PENDING,
    REJECTED,
    RUNNING,
    TERMINAL_PHASES,
    Progress,
    SchedulerView,
    differs,
    progress_of_document,
    progress_of_rejection,
    progress_of_state,
    status_for,
)

__all__ = [
    "FINALIZER",
    "GOSSIP_SIMULATIONS",
    "SEED_GRAPHS",
    "SEED_SIMULATIONS",
    "ResourceKind",
    "ResourceWatcher",
    "resource_simulation_id",
]

log = structlog.get_logger(__name__)

FINALIZER = "gossipsim.io/cancel-on-delete"
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True, slots=True)
class ResourceKind:
    group: str
    version: str
    plural: str
    kind: str
    seed: bool = False  # the earlier simulator's Simulation: translated before submission


GOSSIP_SIMULATIONS = ResourceKind(
    "gossipsim.io", "v1alpha1", "gossipsimulations", "GossipSimulation"
)
SEED_SIMULATIONS = ResourceKind("gossip.io", "v1", "simulations", "Simulation", seed=True)
SEED_GRAPHS = ResourceKind("gossip.io", "v1", "graphs", "Graph")


def resource_simulation_id(metadata: Mapping[str, Any]) -> SimulationId:
    """``<namespace>-<name>-<uid[:8]>``, lower-case ``[a-z0-9-]``: stable for the object's life
    (so resubmission after a restart is idempotent), new for an object created again."""
    base = f"{metadata.get('namespace', '')}-{metadata.get('name', '')}"
    slug = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")[:50].strip("-")
    uid = re.sub(r"[^a-z0-9]", "", str(metadata.get("uid", "")).lower())[:8]
    return check_simulation_id(f"{slug or 'resource'}-{uid}" if uid else slug or "resource")


@dataclass(slots=True)
class _Tracked:
    """A resource the watcher has taken on, and the status it last saw or wrote there."""

    kind: ResourceKind
    name: str
    uid: str
    simulation_id: SimulationId
    generation: int | None
    status: dict[str, Any]
    finalizers: list[str] = field(default_factory=list)
    taken: bool = False  # finalizer, Pending status and submission done
    deleting: bool = False  # its cancellation has been published


class ResourceWatcher:
    def __init__(
        self,
        *,
        api: ApiClient,
        bus: Bus,
        topology: Topology,
        scheduler: SchedulerView,
        namespace: str,
        store: ObjectStore | None = None,
        kinds: tuple[ResourceKind, ...] = (GOSSIP_SIMULATIONS, SEED_SIMULATIONS),
        graphs: ResourceKind = SEED_GRAPHS,
        status_interval: float = 1.0,
        watch_timeout: int = 300,
        retry_delay: float = 1.0,
    ) -> None:
        self._objects = CustomObjectsApi(api)
        self._bus = bus
        self._topology = topology
        self._scheduler = scheduler
        self._namespace = namespace
        self._store = store  # status documents of simulations finished while we were down
        self._kinds = kinds
        self._graphs = graphs
        self._status_interval = status_interval
        self._watch_timeout = watch_timeout
        self._retry_delay = retry_delay
        self._tracked: dict[tuple[str, str], _Tracked] = {}
        self._rejected: dict[str, str] = {}  # found invalid here, before submission
        self._tasks: list[asyncio.Task[None]] = []
        self.lists = 0  # how many times a kind was listed (the first time, and after failures)

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._follow(kind)) for kind in self._kinds]
        self._tasks.append(asyncio.create_task(self._keep_status()))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # -- list, then watch ----------------------------------------------------------------

    async def _follow(self, kind: ResourceKind) -> None:
        delay = self._retry_delay
        while True:
            try:
                version = await self._list(kind)
                delay = self._retry_delay
                await self._watch(kind, version)
            except asyncio.CancelledError:
                raise
            except ApiException as error:
                if error.status == 410:
                    log.info("watch expired; listing again", kind=kind.kind)
                    continue
                log.warning("cannot follow resources", kind=kind.kind, error=_short(error))
            except Exception as error:
                log.warning("cannot follow resources", kind=kind.kind, error=repr(error))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _list(self, kind: ResourceKind) -> str:
        listing = await self._objects.list_namespaced_custom_object(
            kind.group, kind.version, self._namespace, kind.plural
        )
        self.lists += 1
        items = listing.get("items", [])
        listed = {(kind.plural, str(obj.get("metadata", {}).get("name"))) for obj in items}
        for key in [k for k in self._tracked if k[0] == kind.plural and k not in listed]:
            self._untrack(key)  # deleted while no watch was open
        log.info("watching", kind=kind.kind, namespace=self._namespace, resources=len(items))
        for obj in items:
            await self._observe(kind, obj)
        return str(listing.get("metadata", {}).get("resourceVersion", ""))

    async def _watch(self, kind: ResourceKind, version: str) -> None:
        """Follow changes from ``version`` until an error (the caller lists again)."""
        while True:
            opened = asyncio.get_running_loop().time()
            arguments: dict[str, Any] = {
                "timeout_seconds": self._watch_timeout,
                "allow_watch_bookmarks": True,
                "_request_timeout": self._watch_timeout + 30,
            }
            if version:
                arguments["resource_version"] = version
            async with watch.Watch() as stream:
                events = stream.stream(
                    self._objects.list_namespaced_custom_object,
                    kind.group,
                    kind.version,
                    self._namespace,
                    kind.plural,
                    **arguments,
                )
                async for event in events:
                    obj = event["raw_object"]
                    version = str(obj.get("metadata", {}).get("resourceVersion") or version)
                    if event["type"] in ("ADDED", "MODIFIED"):
                        await self._observe(kind, obj)
                    elif event["type"] == "DELETED":
                        self._forget(kind, obj)
            # the server ended the watch (its timeout, or a dropped connection): resume,
            # after a pause if it ends at once
            if asyncio.get_running_loop().time() - opened < 1.0:
                await asyncio.sleep(self._retry_delay)

    # -- one resource ----------------------------------------------------------------------

    async def _observe(self, kind: ResourceKind, obj: dict[str, Any]) -> None:
        metadata = obj.get("metadata", {})
        key = (kind.plural, str(metadata.get("name")))
        status = dict(obj.get("status") or {})
        tracked = self._tracked.get(key)
        if tracked is None or tracked.uid != metadata.get("uid"):
            simulation_id = resource_simulation_id(metadata)
            ours = status.get("simulationId") == simulation_id
            tracked = self._tracked[key] = _Tracked(
                kind=kind,
                name=key[1],
                uid=str(metadata.get("uid", "")),
                simulation_id=simulation_id,
                # what was submitted; later edits of the spec change nothing
                generation=status.get("observedGeneration", metadata.get("generation"))
                if ours
                else metadata.get("generation"),
                status=status,
            )
        tracked.status = status
        tracked.finalizers = list(metadata.get("finalizers") or [])
        if metadata.get("deletionTimestamp"):
            await self._deleting(tracked)
        elif not tracked.taken:
            await self._take_on(tracked, obj)
            tracked.taken = True  # not before: a failure is retried when it is seen again

    async def _take_on(self, tracked: _Tracked, obj: dict[str, Any]) -> None:
        """A resource seen for the first time (since this scheduler started)."""
        bound = log.bind(resource=tracked.name, simulation_id=tracked.simulation_id)
        phase = tracked.status.get("phase")
        if tracked.status.get("simulationId") == tracked.simulation_id and phase in (
            *TERMINAL_PHASES,
            RUNNING,
        ):
            return  # accepted before a restart: the scheduler resumed it (or it is done)
        if FINALIZER not in tracked.finalizers:
            await self._set_finalizers(tracked, [*tracked.finalizers, FINALIZER])
        if phase is None:
            await self._patch_status(tracked, self._desired(tracked, None))
        known = self._scheduler.simulations.keys() | self._scheduler.rejections.keys()
        if tracked.simulation_id in known or await self._stored(tracked.simulation_id):
            return  # submitted before a restart, and the scheduler has it
        try:
            spec = await self._spec_of(tracked.kind, obj)
        except InvalidInput as error:
            bound.info("resource rejected before submission", reason=str(error))
            self._rejected[tracked.simulation_id] = str(error)
            return
        bound.info("submitting resource", kind=tracked.kind.kind)
        await self._publish(SimulationSubmit(spec=spec, simulation_id=tracked.simulation_id))

    async def _spec_of(self, kind: ResourceKind, obj: dict[str, Any]) -> dict[str, Any]:
        metadata = obj.get("metadata", {})
        if kind.seed:
            graphs = await self._seed_graphs(obj)
            return translate_seed_simulation(obj, None, graph_resources=graphs)
        spec = obj.get("spec")
        if not isinstance(spec, Mapping):
            raise InvalidInput(f"a {kind.kind} needs a spec mapping", field="spec")
        return {"name": metadata.get("name"), **spec}

    async def _seed_graphs(self, simulation: dict[str, Any]) -> list[dict[str, Any]]:
        """The namespace's Graph resources, narrowed by the selector where the server can."""
        spec = simulation.get("spec")
        selector = spec.get("graphSelector") if isinstance(spec, Mapping) else None
        labels = selector.get("matchLabels") if isinstance(selector, Mapping) else None
        arguments: dict[str, Any] = {}
        if isinstance(labels, Mapping) and labels:
            arguments["label_selector"] = ",".join(f"{k}={v}" for k, v in labels.items())
        listing = await self._objects.list_namespaced_custom_object(
            self._graphs.group,
            self._graphs.version,
            self._namespace,
            self._graphs.plural,
            **arguments,
        )
        return list(listing.get("items", []))

    async def _deleting(self, tracked: _Tracked) -> None:
        if FINALIZER not in tracked.finalizers:
            return
        if not tracked.deleting:
            log.info("resource deleted; cancelling", resource=tracked.name)
            tracked.deleting = True
            await self._publish(
                SimulationCancel(
                    simulation_id=tracked.simulation_id,
                    reason=f"{tracked.kind.kind} {self._namespace}/{tracked.name} was deleted",
                )
            )
        await self._set_finalizers(tracked, [f for f in tracked.finalizers if f != FINALIZER])

    def _forget(self, kind: ResourceKind, obj: dict[str, Any]) -> None:
        metadata = obj.get("metadata", {})
        tracked = self._tracked.get((kind.plural, str(metadata.get("name"))))
        if tracked is not None and tracked.uid == metadata.get("uid"):
            self._untrack((kind.plural, tracked.name))

    def _untrack(self, key: tuple[str, str]) -> None:
        tracked = self._tracked.pop(key, None)
        if tracked is not None:
            self._rejected.pop(tracked.simulation_id, None)

    # -- status ----------------------------------------------------------------------------

    async def _keep_status(self) -> None:
        while True:
            await asyncio.sleep(self._status_interval)
            for tracked in list(self._tracked.values()):
                try:
                    await self._update_status(tracked)
                except asyncio.CancelledError:
                    raise
                except ApiException as error:
                    if error.status == 404:  # gone; its DELETED event may be late
                        self._untrack((tracked.kind.plural, tracked.name))
                    else:
                        log.warning(
                            "cannot update status", resource=tracked.name, error=_short(error)
                        )
                except Exception as error:  # the next round tries again
                    log.warning("cannot update status", resource=tracked.name, error=_short(error))

    async def _update_status(self, tracked: _Tracked) -> None:
        if tracked.deleting or tracked.status.get("simulationId") != tracked.simulation_id:
            return  # going, or not taken on yet (its Pending status comes first)
        phase = tracked.status.get("phase")
        settled = phase in TERMINAL_PHASES and (tracked.status.get("results") or phase == REJECTED)
        if not settled:
            progress = await self._progress(tracked)
            if progress is None and phase != PENDING:
                return  # accepted earlier, unknown here now (e.g. the store is gone): leave it
            desired = self._desired(tracked, progress)
            if differs(desired, tracked.status):
                await self._patch_status(tracked, desired)
        if tracked.status.get("phase") in TERMINAL_PHASES and FINALIZER in tracked.finalizers:
            # nothing left to cancel: deleting it need not wait for a scheduler
            await self._set_finalizers(tracked, [f for f in tracked.finalizers if f != FINALIZER])

    async def _progress(self, tracked: _Tracked) -> Progress | None:
        simulation_id = tracked.simulation_id
        if simulation_id in self._rejected:
            return progress_of_rejection("", self._rejected[simulation_id])
        rejection = self._scheduler.rejections.get(simulation_id)
        if rejection is not None:
            return progress_of_rejection(
                self._resource_field(tracked.kind, rejection.field),
                _strip_field(rejection.reason, rejection.field),
            )
        state = self._scheduler.simulations.get(simulation_id)
        if state is not None:
            return progress_of_state(state)
        if tracked.status.get("phase") not in (PENDING, RUNNING):
            return None
        # finished (or rejected) before a restart, so not resumed: its status document says how
        document = await self._stored(simulation_id)
        if document is None:
            return None
        rejected = document.get("rejected")
        if document.get("phase") == status_document.REJECTED and isinstance(rejected, Mapping):
            field = str(rejected.get("field") or "")
            return progress_of_rejection(
                self._resource_field(tracked.kind, field),
                _strip_field(str(rejected.get("reason", "")), field),
            )
        return progress_of_document(document)

    async def _stored(self, simulation_id: str) -> dict[str, Any] | None:
        """The scheduler's status document of a simulation, if it has one."""
        if self._store is None:
            return None
        try:
            document = orjson.loads(
                await self._store.get(status_document.status_key(simulation_id))
            )
        except ObjectNotFound:
            return None
        return document if isinstance(document, dict) else None

    @staticmethod
    def _resource_field(kind: ResourceKind, native: str) -> str:
        """Where in the resource a field of the submitted spec came from."""
        if kind.seed:
            return seed_field(native) or ""
        return f"spec.{native}" if native else ""

    def _desired(self, tracked: _Tracked, progress: Progress | None) -> dict[str, Any]:
        return status_for(
            progress,
            simulation_id=tracked.simulation_id,
            generation=tracked.generation,
            previous=tracked.status,
        )

    # -- API calls -------------------------------------------------------------------------

    async def _patch_status(self, tracked: _Tracked, status: dict[str, Any]) -> None:
        try:
            obj = await self._merge_patch(tracked, {"status": status}, subresource=True)
        except ApiException as error:
            if error.status != 404:
                raise
            # no status subresource in this CRD (or the object is gone: then this fails too)
            obj = await self._merge_patch(tracked, {"status": status}, subresource=False)
        tracked.status = dict(obj.get("status") or status)
        log.info(
            "status updated",
            resource=tracked.name,
            phase=status["phase"],
            done=status["runsSucceeded"] + status["runsFailed"],
            total=status["runsTotal"],
        )

    async def _set_finalizers(self, tracked: _Tracked, finalizers: list[str]) -> None:
        obj = await self._merge_patch(
            tracked, {"metadata": {"finalizers": finalizers}}, subresource=False
        )
        tracked.finalizers = list((obj.get("metadata") or {}).get("finalizers") or [])

    async def _merge_patch(
        self, tracked: _Tracked, body: dict[str, Any], *, subresource: bool
    ) -> dict[str, Any]:
        kind = tracked.kind
        patch = (
            self._objects.patch_namespaced_custom_object_status
            if subresource
            else self._objects.patch_namespaced_custom_object
        )
        # The stubs lack _content_type; without it a mapping goes out as a JSON patch.
        obj = await patch(  # type: ignore[call-arg]
            kind.group,
            kind.version,
            self._namespace,
            kind.plural,
            tracked.name,
            body,
            _content_type=MERGE_PATCH,
        )
        return obj if isinstance(obj, dict) else {}

    async def _publish(self, message: Message) -> None:
        await publish_message(self._bus, self._topology, message)


def _strip_field(reason: str, field: str) -> str:
    """The scheduler's reason without its leading ``<field>: `` (the field is renamed)."""
    return reason.removeprefix(f"{field}: ") if field else reason


def _short(error: Exception) -> str:
    if isinstance(error, ApiException):
        return f"{error.status} {error.reason}"
    return repr(error)
