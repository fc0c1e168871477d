"""An in-process Kubernetes API for tests: kmock's emulator taught to behave like an apiserver.

No cluster exists where the tests run, so the scheduler's resource watcher and the runner's
Kubernetes node launcher talk to this: a real HTTP server on 127.0.0.1 that kubernetes-asyncio
reaches through an ordinary ``ApiClient``. It is built on the PyPI ``kmock`` (pinned in the dev
extras): kmock brings the HTTP server, request parsing, API discovery of the built-in resources,
an object store with each object's history, and a DSL to inject faults. kmock 0.8 alone does
not talk to kubernetes-asyncio correctly, so :class:`KubeApi` takes over the object semantics:

* kubernetes-asyncio sends ``?watch=True`` where kmock recognises only ``true``; without the fix
  a watch is served as a one-off list and the client loops reconnecting;
* kmock stores a created object as sent: no ``metadata.namespace`` (so namespaced watches,
  which filter on it, miss every event), ``uid``, ``resourceVersion`` or
  ``creationTimestamp``; here every write stamps them as an apiserver does;
* kmock's watch replays every current object and ignores ``resourceVersion``; here a watch
  from a resourceVersion streams exactly the events after it (so a dropped watch resumes
  without duplicates), and one older than :meth:`KubeApi.compact` gets ``410 Expired``;
* label selectors (``=``, ``==``, ``!=``, ``in``, ``notin``, ``key``, ``!key``) and the
  ``metadata.name`` / ``metadata.namespace`` field selectors filter lists, watches and
  collection deletes (other field selectors are refused with 400, never silently ignored);
* the ``status`` subresource: a write to the object keeps its status, a write to ``/status``
  changes only the status; a write that changes nothing emits no event;
* patch content types are checked as the apiserver checks them: a JSON patch must be a list,
  strategic merge is refused for custom resources (415) and taken as a merge patch for
  built-in ones (close enough for labels, status and finalizers; not for merging lists by
  key), server-side apply is not supported (415);
* finalizers: DELETE of an object with finalizers sets ``metadata.deletionTimestamp`` and
  emits MODIFIED; removing the last finalizer deletes it (MODIFIED, then DELETED);
* ``metadata.resourceVersion`` in a patch or PUT is a precondition (409 Conflict on mismatch);
  ``metadata.generation`` moves when anything but metadata and status changes.

There are no controllers: nothing schedules pods, runs containers or collects garbage by
itself. A test moves a pod along with :meth:`KubeApi.patch_status`, and calls
:meth:`KubeApi.collect_garbage` to delete what owner references say should go. Deletion is
immediate (no grace period) unless finalizers hold it.

Custom resources are registered with :meth:`KubeApi.register`, or by creating their
CustomResourceDefinition through the API (``ApiextensionsV1Api.create_custom_resource_definition``
with the manifest from ``k8s/``), which registers every served version with its scope and
subresources.

Usage, in a test module (or a ``conftest.py``: ``from tests.support.kube_api import kube_api``)::

    import pytest
    from kubernetes_asyncio import client, watch

    from tests.support.kube_api import KubeApi, running_kube_api

    @pytest.fixture
    async def kube() -> AsyncIterator[KubeApi]:
        async with running_kube_api() as api:
            api.register("gossipsim.io", "v1alpha1", "gossipsimulations",
                         kind="GossipSimulation")
            yield api

    async def test_something(kube: KubeApi) -> None:
        objects = client.CustomObjectsApi(kube.client)     # kube.configuration for your own
        await objects.create_namespaced_custom_object(
            "gossipsim.io", "v1alpha1", "default", "gossipsimulations",
            {"apiVersion": "gossipsim.io/v1alpha1", "kind": "GossipSimulation",
             "metadata": {"name": "sim"}, "spec": {...}},
        )
        # custom objects need an explicit merge patch: kubernetes-asyncio would send a dict
        # as a JSON patch, which a real apiserver (and this one) refuses
        await objects.patch_namespaced_custom_object_status(
            "gossipsim.io", "v1alpha1", "default", "gossipsimulations", "sim",
            {"status": {"phase": "Running"}}, _content_type="application/merge-patch+json",
        )
        async with watch.Watch() as w:
            async for event in w.stream(objects.list_namespaced_custom_object, "gossipsim.io",
                                        "v1alpha1", "default", "gossipsimulations"):
                ...
        kube.drop_watches()        # every open watch ends as on a server timeout; the
                                   # kubernetes-asyncio Watch reconnects from its last RV
        kube.drop_watches(abort=True)  # or the connection breaks mid-stream
        kube.compact()             # every resourceVersion so far now gets 410 Expired
        kube.read_object("gossipsim.io/v1alpha1/gossipsimulations", "sim", namespace="default")
        kube.events                # every change so far, as WatchEvent records

Faults are injected with kmock's DSL, which answers before the emulator does (and then the
emulator does not apply the request)::

    kube["patch", kube.resource("gossipsim.io/v1alpha1/gossipsimulations")] << 500
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import gzip
import importlib.resources
import re
import secrets
import string
import uuid
from bisect import bisect_right
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import attrs
import jsonpatch
import kmock
import pytest_asyncio
from kubernetes_asyncio.client import ApiClient, Configuration

Obj = dict[str, Any]
ResourceRef = str | kmock.resource

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def _error(status: int, reason: str, message: str, **details: Any) -> kmock.KubernetesError:
    """An error the client sees as the apiserver's ``Status`` (kubernetes-asyncio ApiException)."""
    return kmock.KubernetesError(status=status, reason=reason, message=message, details=details)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, ``null`` removes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- selectors -------------------------------------------------------------------------------

_SET_REQUIREMENT = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_REQUIREMENT = re.compile(r"^\s*([\w./-]+)\s*(==|!=|=)\s*([\w.-]*)\s*$")
_EXISTS_REQUIREMENT = re.compile(r"^\s*(!?)\s*([\w./-]+)\s*$")

Predicate = Callable[[Mapping[str, str]], bool]


def _split_requirements(text: str) -> Iterator[str]:
    """Split on the commas outside parentheses."""
    depth, start = 0, 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            yield text[start:index]
            start = index + 1
    yield text[start:]


def _requirement(text: str) -> Predicate:
    if match := _SET_REQUIREMENT.match(text):
        key, op, raw = match.groups()
        values = {value.strip() for value in raw.split(",")}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match := _EQ_REQUIREMENT.match(text):
        key, op, value = match.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _EXISTS_REQUIREMENT.match(text):
        negated, key = match.groups()
        if negated:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise _error(400, "BadRequest", f"unable to parse requirement: {text!r}")


def label_selector(text: str | None) -> Predicate:
    """A predicate on labels for a Kubernetes label selector (empty: everything matches)."""
    if not text or not text.strip():
        return lambda labels: True
    requirements = [_requirement(part) for part in _split_requirements(text)]
    return lambda labels: all(requirement(labels) for requirement in requirements)


def _field_selector(text: str | None) -> Callable[[Obj], bool]:
    if not text or not text.strip():
        return lambda obj: True
    checks: list[Callable[[Obj], bool]] = []
    for part in text.split(","):
        match = re.match(r"^\s*(metadata\.name|metadata\.namespace)\s*(==|!=|=)\s*(\S*)\s*$", part)
        if match is None:
            raise _error(
                400,
                "BadRequest",
                f"field selector {part!r} is not supported by the emulator "
                "(only metadata.name and metadata.namespace)",
            )
        field, op, value = match.groups()
        key = field.split(".")[1]

        def check(obj: Obj, key: str = key, op: str = op, value: str = value) -> bool:
            actual = obj.get("metadata", {}).get(key)
            return (actual != value) if op == "!=" else (actual == value)

        checks.append(check)
    return lambda obj: all(check(obj) for check in checks)


def _labels(obj: Mapping[str, Any] | None) -> Mapping[str, str]:
    if obj is None:
        return {}
    return obj.get("metadata", {}).get("labels") or {}


# --- the emulator ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change, as the log behind every watch keeps it."""

    resource_version: int
    type: str  # ADDED | MODIFIED | DELETED
    resource: kmock.resource
    namespace: str | None
    name: str
    object: Obj  # the state after the change (for DELETED: the last state)
    previous: Obj | None  # the state before (MODIFIED and DELETED)


@dataclass(slots=True)
class _OpenWatch:
    dropped_at: int | None = None  # the revision when it was dropped: nothing later goes out
    abort: bool = False


@attrs.define(kw_only=True)
class KubeApi(kmock.KubernetesEmulator):
    """kmock's Kubernetes emulator with an apiserver's object semantics (see the module doc)."""

    client: ApiClient | None = attrs.field(default=None, init=False)
    configuration: Configuration | None = attrs.field(default=None, init=False)
    _revision: int = attrs.field(default=0, init=False)
    _log: list[WatchEvent] = attrs.field(factory=list, init=False)
    _compacted: int = attrs.field(default=0, init=False)
    _changed: asyncio.Event = attrs.field(factory=asyncio.Event, init=False)
    _watch_states: dict[int, _OpenWatch] = attrs.field(factory=dict, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        # The built-in resources of a recent cluster (k3s), with their verbs and subresources.
        # Read here rather than with load_bundled(), which uses a deprecated importlib call.
        bundled = importlib.resources.files("kmock._internal") / "resources.json.gz"
        self.resources.load_data(gzip.decompress(bundled.read_bytes()))
        # kmock's fallbacks know PATCH only; PUT (replace) and DELETE of a collection get ours.
        self.fallback[kmock.method.PUT] << self._serve_replace
        self.fallback[kmock.method.DELETE] << self._serve_delete_collection

    # --- registration ------------------------------------------------------------------------

    def register(
        self,
        group: str,
        version: str,
        plural: str,
        *,
        kind: str,
        namespaced: bool = True,
        status: bool = True,
        singular: str | None = None,
        shortnames: tuple[str, ...] = (),
    ) -> kmock.resource:
        """Serve a custom resource (as its CRD would), with a ``status`` subresource by default."""
        resource = kmock.resource(group, version, plural)
        self.resources[resource] = kmock.ResourceInfo(
            namespaced=namespaced,
            kind=kind,
            singular=singular or kind.lower(),
            shortnames=set(shortnames),
            verbs={
                "get",
                "list",
                "watch",
                "create",
                "update",
                "patch",
                "delete",
                "deletecollection",
            },
            subresources={"status"} if status else set(),
        )
        return resource

    def _register_crd(self, crd: Mapping[str, Any]) -> None:
        spec = crd.get("spec", {})
        names = spec.get("names", {})
        for version in spec.get("versions", []):
            if version.get("served", True):
                self.register(
                    spec["group"],
                    version["name"],
                    names["plural"],
                    kind=names["kind"],
                    namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                    status="status" in (version.get("subresources") or {}),
                    singular=names.get("singular"),
                    shortnames=tuple(names.get("shortNames", ())),
                )

    def _info(self, resource: kmock.resource | None) -> kmock.ResourceInfo:
        if resource is None or resource not in self.resources:
            raise _error(404, "NotFound", f"the server could not find the resource {resource}")
        return self.resources[resource]

    def _check_verb(self, resource: kmock.resource, verb: str) -> kmock.ResourceInfo:
        info = self._info(resource)
        if info.verbs and verb not in info.verbs:
            raise _error(405, "MethodNotAllowed", f"{verb} is not supported on {resource}")
        return info

    @staticmethod
    def _api_version(resource: kmock.resource) -> str:
        return f"{resource.group}/{resource.version}" if resource.group else str(resource.version)

    # --- the store ---------------------------------------------------------------------------

    def _key(self, resource: kmock.resource, namespace: str | None, name: str) -> Any:
        return (resource, namespace if self._info(resource).namespaced else None, name)

    def _live(self, resource: kmock.resource, namespace: str | None, name: str) -> Obj | None:
        key = self._key(resource, namespace, name)
        if key not in self.objects or self.objects[key].deleted:
            return None
        return copy.deepcopy(self.objects[key].raw)

    def _require(self, resource: kmock.resource, namespace: str | None, name: str) -> Obj:
        obj = self._live(resource, namespace, name)
        if obj is None:
            kind = self._info(resource).kind or resource.plural
            raise _error(
                404,
                "NotFound",
                f'{resource.plural} "{name}" not found',
                name=name,
                kind=kind,
            )
        return obj

    def _scan(
        self,
        resource: kmock.resource,
        namespace: str | None,
        labels: str | None = None,
        fields: str | None = None,
    ) -> list[Obj]:
        matches_labels, matches_fields = label_selector(labels), _field_selector(fields)
        found = []
        for (res, ns, _name), obj in self.objects.items():
            if res != resource or obj.deleted or (namespace is not None and ns != namespace):
                continue
            raw = obj.raw
            if matches_labels(_labels(raw)) and matches_fields(raw):
                found.append(copy.deepcopy(raw))
        found.sort(key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))
        return found

    def _record(self, kind: str, resource: kmock.resource, obj: Obj, previous: Obj | None) -> None:
        meta = obj["metadata"]
        event = WatchEvent(
            resource_version=int(meta["resourceVersion"]),
            type=kind,
            resource=resource,
            namespace=meta.get("namespace"),
            name=meta["name"],
            object=copy.deepcopy(obj),
            previous=copy.deepcopy(previous),
        )
        self._log.append(event)
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _next_version(self) -> str:
        self._revision += 1
        return str(self._revision)

    # --- writes (shared by HTTP and the Python helpers) --------------------------------------

    def _create(self, resource: kmock.resource, namespace: str | None, body: Any) -> Obj:
        info = self._check_verb(resource, "create")
        if not isinstance(body, Mapping):
            raise _error(400, "BadRequest", "the body of a create must be an object")
        obj: Obj = copy.deepcopy(dict(body))
        meta = obj.setdefault("metadata", {})
        if info.namespaced:
            if namespace is None:
                namespace = meta.get("namespace")
            if namespace is None:
                raise _error(400, "BadRequest", "a namespace is needed for a namespaced object")
            if meta.get("namespace", namespace) != namespace:
                raise _error(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request",
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise _error(422, "Invalid", "metadata.name or metadata.generateName is required")
            alphabet = string.ascii_lowercase + string.digits
            meta["name"] = meta["generateName"] + "".join(
                secrets.choice(alphabet) for _ in range(5)
            )
        name = meta["name"]
        if self._live(resource, namespace, name) is not None:
            kind = info.kind or resource.plural
            raise _error(
                409,
                "AlreadyExists",
                f'{resource.plural} "{name}" already exists',
                name=name,
                kind=kind,
            )
        for stamped in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(stamped, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        meta["generation"] = 1
        meta["resourceVersion"] = self._next_version()
        obj.setdefault("apiVersion", self._api_version(resource))
        if info.kind:
            obj.setdefault("kind", info.kind)
        if "status" in info.subresources:
            obj.pop("status", None)  # status is the status subresource's business
        key = self._key(resource, namespace, name)
        if key in self.objects:
            self.objects[key].create(obj)  # re-created: the history goes on
        else:
            self.objects[key] = obj
        self._record("ADDED", resource, obj, None)
        if resource == kmock.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions"):
            self._register_crd(obj)
        return copy.deepcopy(obj)

    def _update(
        self,
        resource: kmock.resource,
        namespace: str | None,
        name: str,
        change: Callable[[Obj], Any],
        *,
        subresource: str | None,
        verb: str,
    ) -> Obj:
        """Apply ``change`` to a copy of the object and store it the way an apiserver would."""
        info = self._check_verb(resource, verb)
        if subresource is not None and subresource not in info.subresources:
            raise _error(404, "NotFound", f"{resource} has no subresource {subresource!r}")
        old = self._require(resource, namespace, name)
        new = change(copy.deepcopy(old))
        if not isinstance(new, dict):
            raise _error(422, "Invalid", "the result of the update is not an object")
        new_meta = new.setdefault("metadata", {})
        wanted_version = new_meta.get("resourceVersion")
        old_meta = old["metadata"]
        if wanted_version not in (None, old_meta["resourceVersion"]):
            raise _error(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource.plural} "{name}": the object has '
                "been modified; please apply your changes to the latest version and try again",
                name=name,
            )
        if "status" in info.subresources:
            if subresource == "status":
                # only the status moves (and metadata: labels, annotations, finalizers)
                new = {**old, "metadata": new_meta, "status": new.get("status")}
                if new["status"] is None:
                    del new["status"]
            elif "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        for fixed in (
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
            "resourceVersion",
        ):
            if fixed in old_meta:
                new_meta[fixed] = old_meta[fixed]
            else:
                new_meta.pop(fixed, None)
        if new == old:
            return old  # a no-op write: no new resourceVersion, no event
        body = {k: v for k, v in new.items() if k not in ("metadata", "status")}
        if body != {k: v for k, v in old.items() if k not in ("metadata", "status")}:
            new_meta["generation"] = int(old_meta.get("generation", 1)) + 1
        new_meta["resourceVersion"] = self._next_version()
        key = self._key(resource, namespace, name)
        self.objects[key].create(new)
        self._record("MODIFIED", resource, new, old)
        if new_meta.get("deletionTimestamp") and not new_meta.get("finalizers"):
            return self._remove(resource, namespace, name)
        return copy.deepcopy(new)

    def _patch(
        self,
        resource: kmock.resource,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        content_type: str = MERGE_PATCH,
        subresource: str | None = None,
    ) -> Obj:
        content_type = content_type.split(";")[0].strip().lower()
        custom = self._is_custom(resource)
        if content_type == JSON_PATCH:
            if not isinstance(patch, list):
                raise _error(
                    400,
                    "BadRequest",
                    "a JSON patch (application/json-patch+json) must be a list of operations; "
                    "for a dict pass _content_type='application/merge-patch+json'",
                )

            def change(obj: Obj) -> Any:
                try:
                    return jsonpatch.apply_patch(obj, patch)
                except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
                    raise _error(422, "Invalid", f"the JSON patch failed: {error}") from None

        elif content_type == MERGE_PATCH or (content_type == STRATEGIC_MERGE_PATCH and not custom):
            if not isinstance(patch, Mapping):
                raise _error(400, "BadRequest", "a merge patch must be an object")

            def change(obj: Obj) -> Any:
                return merge_patch(obj, patch)

        elif content_type == STRATEGIC_MERGE_PATCH:
            raise _error(
                415,
                "UnsupportedMediaType",
                "strategic merge patch is not supported for custom resources; "
                "use application/merge-patch+json",
            )
        else:
            raise _error(
                415, "UnsupportedMediaType", f"the emulator does not support {content_type}"
            )
        return self._update(
            resource, namespace, name, change, subresource=subresource, verb="patch"
        )

    def _is_custom(self, resource: kmock.resource) -> bool:
        group = resource.group or ""
        return "." in group and not group.endswith(".k8s.io")

    def _delete(self, resource: kmock.resource, namespace: str | None, name: str) -> Obj:
        self._check_verb(resource, "delete")
        obj = self._require(resource, namespace, name)
        meta = obj["metadata"]
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return obj  # already being deleted: finalizers still hold it
            old = copy.deepcopy(obj)
            meta["deletionTimestamp"] = _now()
            meta["deletionGracePeriodSeconds"] = 0
            meta["resourceVersion"] = self._next_version()
            self.objects[self._key(resource, namespace, name)].create(obj)
            self._record("MODIFIED", resource, obj, old)
            return copy.deepcopy(obj)
        return self._remove(resource, namespace, name)

    def _remove(self, resource: kmock.resource, namespace: str | None, name: str) -> Obj:
        obj = self._require(resource, namespace, name)
        old = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = self._next_version()
        key = self._key(resource, namespace, name)
        self.objects[key].create(obj)  # the last state, as the DELETED event carries it
        self.objects[key].delete()
        self._record("DELETED", resource, obj, old)
        return copy.deepcopy(obj)

    # --- HTTP --------------------------------------------------------------------------------

    async def _handle(self, request: kmock.Request) -> Any:
        fixed = request
        watching = request.params.get("watch", "").lower() in ("true", "1")
        if request.resource is not None and request.method == kmock.method.GET and watching:
            # kubernetes-asyncio sends watch=True; kmock recognises only watch=true
            fixed = attrs.evolve(request, action=kmock.action.WATCH)
        if fixed is not request:
            self._requests[:] = [fixed if r is request else r for r in self._requests]
        # Skip KubernetesEmulator._handle: it applies every write before any reaction is
        # consulted and without resourceVersions; our fallbacks below do the writes instead.
        return await super(kmock.KubernetesEmulator, self)._handle(fixed)

    def _params(self, request: kmock.Request) -> tuple[str | None, str | None]:
        return request.params.get("labelSelector"), request.params.get("fieldSelector")

    async def _serve_list(self, request: kmock.Request) -> Obj:
        assert request.resource is not None
        info = self._check_verb(request.resource, "list")
        labels, fields = self._params(request)
        return {
            "apiVersion": self._api_version(request.resource),
            "kind": f"{info.kind or 'Object'}List",
            "metadata": {"resourceVersion": str(self._revision)},
            "items": self._scan(request.resource, request.namespace, labels, fields),
        }

    async def _serve_fetch(self, request: kmock.Request) -> Obj:
        assert request.resource is not None and request.name is not None
        self._check_verb(request.resource, "get")
        return self._require(request.resource, request.namespace, request.name)

    async def _serve_create(self, request: kmock.Request) -> kmock.Response:
        assert request.resource is not None
        created = self._create(request.resource, request.namespace, request.data)
        # 201: kubernetes-asyncio deserializes a create's answer only for 201 (None for 200)
        return kmock.Response(status=201, payload=created)

    async def _serve_update(self, request: kmock.Request) -> Obj:
        assert request.resource is not None and request.name is not None
        return self._patch(
            request.resource,
            request.namespace,
            request.name,
            request.data,
            content_type=request.headers.get("Content-Type", MERGE_PATCH),
            subresource=request.subresource,
        )

    async def _serve_replace(self, request: kmock.Request) -> Obj:
        if request.resource is None or request.name is None:
            raise kmock.KubernetesEndpointNotFoundError()
        body = request.data
        if not isinstance(body, Mapping):
            raise _error(400, "BadRequest", "the body of a replace must be an object")
        return self._update(
            request.resource,
            request.namespace,
            request.name,
            lambda old: copy.deepcopy(dict(body)),
            subresource=request.subresource,
            verb="update",
        )

    async def _serve_delete(self, request: kmock.Request) -> Obj:
        assert request.resource is not None and request.name is not None
        obj = self._delete(request.resource, request.namespace, request.name)
        if obj["metadata"].get("deletionTimestamp") and obj["metadata"].get("finalizers"):
            return obj  # still there: the apiserver answers with the object
        return {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": request.name,
                "kind": request.resource.plural,
                "uid": obj["metadata"]["uid"],
            },
        }

    async def _serve_delete_collection(self, request: kmock.Request) -> Obj:
        if request.resource is None or request.name is not None:
            raise kmock.KubernetesEndpointNotFoundError()
        info = self._check_verb(request.resource, "deletecollection")
        labels, fields = self._params(request)
        items = [
            self._delete(request.resource, meta.get("namespace"), meta["name"])
            for obj in self._scan(request.resource, request.namespace, labels, fields)
            for meta in [obj["metadata"]]
        ]
        return {
            "apiVersion": self._api_version(request.resource),
            "kind": f"{info.kind or 'Object'}List",
            "metadata": {"resourceVersion": str(self._revision)},
            "items": items,
        }

    async def _serve_watch(self, request: kmock.Request) -> AsyncIterator[Any]:
        assert request.resource is not None
        resource = request.resource
        self._check_verb(resource, "watch")
        labels, fields = self._params(request)
        matches_labels, matches_fields = label_selector(labels), _field_selector(fields)
        name = request.name

        def visible(obj: Obj | None) -> bool:
            if obj is None:
                return False
            meta = obj.get("metadata", {})
            return (
                (request.namespace is None or meta.get("namespace") == request.namespace)
                and (name is None or meta.get("name") == name)
                and matches_labels(_labels(obj))
                and matches_fields(obj)
            )

        yield b""  # send the headers now: the client waits for them before reading events
        since = request.params.get("resourceVersion", "")
        if since in ("", "0"):
            position = self._revision
            for obj in self._scan(resource, request.namespace, labels, fields):
                if name is None or obj["metadata"]["name"] == name:
                    yield {"type": "ADDED", "object": obj}
        else:
            try:
                position = int(since)
            except ValueError:
                raise _error(400, "BadRequest", f"bad resourceVersion {since!r}") from None
            if position < self._compacted:
                yield {
                    "type": "ERROR",
                    "object": {
                        "apiVersion": "v1",
                        "kind": "Status",
                        "metadata": {},
                        "status": "Failure",
                        "message": f"too old resource version: {position} ({self._compacted})",
                        "reason": "Expired",
                        "code": 410,
                    },
                }
                return
        timeout = float(request.params.get("timeoutSeconds", 0)) or None
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        state = _OpenWatch()
        token = id(state)
        self._watch_states[token] = state
        try:
            while True:
                wakeup = self._changed
                start = bisect_right([e.resource_version for e in self._log], position)
                for event in self._log[start:]:
                    if state.dropped_at is not None and event.resource_version > state.dropped_at:
                        break
                    position = event.resource_version
                    if event.resource != resource:
                        continue
                    now, before = visible(event.object), visible(event.previous)
                    if event.type == "MODIFIED" and now != before:
                        kind = "ADDED" if now else "DELETED"  # moved into or out of the selection
                    elif now or (event.type == "DELETED" and before):
                        kind = event.type
                    else:
                        continue
                    yield {"type": kind, "object": copy.deepcopy(event.object)}
                if state.dropped_at is not None:
                    if state.abort and request._raw_request is not None:
                        transport = request._raw_request.transport
                        if transport is not None:
                            transport.abort()
                    return
                transport = request._raw_request.transport if request._raw_request else None
                if transport is None or transport.is_closing():
                    return  # the client went away
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return  # the server-side timeout: the stream ends cleanly
                wait = 0.5 if remaining is None else min(0.5, remaining)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), wait)
        finally:
            self._watch_states.pop(token, None)

    # --- what tests use directly ---------------------------------------------------------------

    @staticmethod
    def resource(ref: ResourceRef) -> kmock.resource:
        """``"v1/pods"``, ``"networking.k8s.io/v1/networkpolicies"``, ``"gossip.io/v1/graphs"``."""
        return ref if isinstance(ref, kmock.resource) else kmock.resource(ref)

    @property
    def resource_version(self) -> str:
        """The newest resourceVersion, as a list would report it."""
        return str(self._revision)

    @property
    def requests(self) -> list[kmock.Request]:
        """Every request served so far (a watch shows as action WATCH), oldest first."""
        return list(self._requests)

    @property
    def events(self) -> list[WatchEvent]:
        """Every change since the start (or the last :meth:`compact`), oldest first."""
        return list(self._log)

    @property
    def watch_count(self) -> int:
        """How many watch streams are open now."""
        return len(self._watch_states)

    def drop_watches(self, *, abort: bool = False) -> int:
        """End every open watch: cleanly (as a server timeout does) or, with ``abort``, by
        breaking the connection mid-stream. Returns how many there were."""
        for state in self._watch_states.values():
            if state.dropped_at is None:
                state.dropped_at, state.abort = self._revision, abort
        self._wake()
        return len(self._watch_states)

    async def wait_for_watches(self, count: int = 1, *, timeout: float = 10.0) -> None:
        """Wait until at least ``count`` watch streams are open (a watcher has (re)connected)."""
        async with asyncio.timeout(timeout):
            while self.watch_count < count:
                await asyncio.sleep(0.01)

    def compact(self) -> None:
        """Forget the change log (as compaction, or an apiserver restarted with an empty watch
        cache): a watch from any resourceVersion handed out so far gets 410 Expired, so the
        client must list again; the next list's resourceVersion is a fresh, valid one."""
        self._revision += 1
        self._compacted = self._revision
        self._log.clear()

    def create_object(self, ref: ResourceRef, body: Mapping[str, Any]) -> Obj:
        """Create as a client would (namespace from ``body.metadata.namespace``)."""
        return self._create(self.resource(ref), None, body)

    def read_object(self, ref: ResourceRef, name: str, *, namespace: str | None = None) -> Obj:
        """The object now, or KubernetesError 404."""
        return self._require(self.resource(ref), namespace, name)

    def find_object(
        self, ref: ResourceRef, name: str, *, namespace: str | None = None
    ) -> Obj | None:
        """The object now, or None."""
        return self._live(self.resource(ref), namespace, name)

    def list_objects(
        self,
        ref: ResourceRef,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[Obj]:
        """Live objects of a resource (all namespaces unless one is given)."""
        return self._scan(self.resource(ref), namespace, label_selector)

    def patch_object(
        self,
        ref: ResourceRef,
        name: str,
        patch: Mapping[str, Any] | list[Any],
        *,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> Obj:
        """A merge patch (or a JSON patch, given a list), as through the API."""
        content_type = JSON_PATCH if isinstance(patch, list) else MERGE_PATCH
        return self._patch(
            self.resource(ref),
            namespace,
            name,
            patch,
            content_type=content_type,
            subresource=subresource,
        )

    def patch_status(
        self,
        ref: ResourceRef,
        name: str,
        status: Mapping[str, Any],
        *,
        namespace: str | None = None,
    ) -> Obj:
        """Merge into ``status`` as a controller would (e.g. the kubelet: a pod is Running)."""
        return self.patch_object(
            ref, name, {"status": dict(status)}, namespace=namespace, subresource="status"
        )

    def delete_object(self, ref: ResourceRef, name: str, *, namespace: str | None = None) -> Obj:
        """Delete as through the API (finalizers hold the object, marked for deletion)."""
        return self._delete(self.resource(ref), namespace, name)

    def collect_garbage(self) -> int:
        """Do what the garbage collector would: delete every object whose owners are all gone
        (by uid), repeatedly, so that chains cascade. Returns how many were deleted."""
        deleted = 0
        while True:
            live: dict[str, tuple[kmock.resource, str | None, str]] = {}
            for (resource, namespace, name), obj in self.objects.items():
                if not obj.deleted:
                    live[obj.raw["metadata"]["uid"]] = (resource, namespace, name)
            orphans = [
                key
                for key in live.values()
                if (refs := self.objects[key].raw["metadata"].get("ownerReferences"))
                and not any(ref.get("uid") in live for ref in refs)
                and not self.objects[key].raw["metadata"].get("deletionTimestamp")
            ]
            if not orphans:
                return deleted
            for resource, namespace, name in orphans:
                self._delete(resource, namespace, name)
                deleted += 1

    def unexpected_errors(self) -> list[Exception]:
        """Errors that are not answers the apiserver would give: bugs of the emulator."""
        return [e for e in self.errors if not isinstance(e, kmock.KubernetesError)]


@contextlib.asynccontextmanager
async def running_kube_api() -> AsyncIterator[KubeApi]:
    """Serve a fresh :class:`KubeApi` on 127.0.0.1 with a connected ``ApiClient``."""
    async with KubeApi() as api, kmock.Server(api) as server:
        configuration = Configuration(host=str(server.url).rstrip("/"))
        api.configuration = configuration
        api.client = ApiClient(configuration)
        try:
            yield api
        finally:
            api.drop_watches()
            await asyncio.sleep(0)  # let the streams see it and end
            await api.client.close()
            api.client = None
            unexpected = api.unexpected_errors()
    if unexpected:
        raise AssertionError(f"the Kubernetes API emulator failed: {unexpected!r}")


@pytest_asyncio.fixture
async def kube_api() -> AsyncIterator[KubeApi]:
    """A fresh Kubernetes API emulator per test (see the module docstring)."""
    async with running_kube_api() as api:
        yield api
