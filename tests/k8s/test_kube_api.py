"""The Kubernetes API emulator itself (tests/support/kube_api.py), through kubernetes-asyncio.

These pin what the watcher and launcher tests rely on: that the emulator answers like an
apiserver where kmock alone would not.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from tests.support.kube_api import KubeApi, label_selector, running_kube_api

GROUP, VERSION, PLURAL = "gossipsim.io", "v1alpha1", "gossipsimulations"
SIMS = f"{GROUP}/{VERSION}/{PLURAL}"
MERGE = "application/merge-patch+json"


@pytest.fixture
async def kube() -> AsyncIterator[KubeApi]:
    async with running_kube_api() as api:
        api.register(GROUP, VERSION, PLURAL, kind="GossipSimulation")
        yield api


def sim(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "GossipSimulation",
        "metadata": {"name": name, "labels": labels},
        "spec": {"runs": 1},
    }


def pod(name: str, **labels: str) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="i")]),
    )


async def collect(stream: watch.Watch, count: int, timeout: float = 5.0) -> list[tuple[str, str]]:
    """The next ``count`` events of a watch as (type, name)."""
    seen: list[tuple[str, str]] = []
    async with asyncio.timeout(timeout):
        async for event in stream:
            obj = event["raw_object"]
            seen.append((event["type"], obj["metadata"]["name"]))
            if len(seen) == count:
                break
    return seen


async def test_created_objects_get_namespace_uid_resource_version_and_timestamp(
    kube: KubeApi,
) -> None:
    core = client.CoreV1Api(kube.client)
    created = await core.create_namespaced_pod("runs", pod("p1"))
    meta = created.metadata
    assert meta.namespace == "runs"
    assert meta.uid and meta.resource_version and meta.creation_timestamp is not None
    fetched = await core.read_namespaced_pod("p1", "runs")
    assert fetched.metadata.uid == meta.uid
    with pytest.raises(ApiException) as conflict:
        await core.create_namespaced_pod("runs", pod("p1"))
    assert conflict.value.status == 409
    with pytest.raises(ApiException) as missing:
        await core.read_namespaced_pod("p1", "elsewhere")
    assert missing.value.status == 404


async def test_lists_filter_by_namespace_and_label_selector(kube: KubeApi) -> None:
    core = client.CoreV1Api(kube.client)
    await core.create_namespaced_pod("a", pod("p1", run="r1", role="node"))
    await core.create_namespaced_pod("a", pod("p2", run="r2", role="node"))
    await core.create_namespaced_pod("b", pod("p3", run="r1"))
    names = [p.metadata.name for p in (await core.list_namespaced_pod("a")).items]
    assert names == ["p1", "p2"]
    selected = await core.list_pod_for_all_namespaces(label_selector="run=r1")
    assert [p.metadata.name for p in selected.items] == ["p1", "p3"]
    selected = await core.list_namespaced_pod("a", label_selector="run in (r1,r9),role")
    assert [p.metadata.name for p in selected.items] == ["p1"]
    selected = await core.list_namespaced_pod("a", field_selector="metadata.name=p2")
    assert [p.metadata.name for p in selected.items] == ["p2"]


def test_label_selector_grammar() -> None:
    labels = {"a": "1", "b": "2"}
    assert label_selector("a=1,b==2")(labels)
    assert label_selector("a!=2, !c")(labels)
    assert label_selector("a in (1, 3), b notin (3)")(labels)
    assert not label_selector("c")(labels)
    assert not label_selector("a notin (1)")(labels)
    assert label_selector("")(labels)


async def test_namespaced_watch_sees_creations_changes_and_deletions(kube: KubeApi) -> None:
    objects = client.CustomObjectsApi(kube.client)
    async with watch.Watch() as stream:
        events = stream.stream(objects.list_namespaced_custom_object, GROUP, VERSION, "ns", PLURAL)
        listener = asyncio.create_task(collect(events, 3))
        await kube.wait_for_watches()
        await objects.create_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, sim("s1"))
        await objects.create_namespaced_custom_object(GROUP, VERSION, "other", PLURAL, sim("x"))
        await objects.patch_namespaced_custom_object(
            GROUP, VERSION, "ns", PLURAL, "s1", {"spec": {"runs": 2}}, _content_type=MERGE
        )
        await objects.delete_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, "s1")
        assert await listener == [("ADDED", "s1"), ("MODIFIED", "s1"), ("DELETED", "s1")]


async def test_watch_from_a_resource_version_streams_only_later_events(kube: KubeApi) -> None:
    kube.create_object(SIMS, {**sim("old"), "metadata": {"name": "old", "namespace": "ns"}})
    since = kube.resource_version
    kube.create_object(SIMS, {**sim("new"), "metadata": {"name": "new", "namespace": "ns"}})
    objects = client.CustomObjectsApi(kube.client)
    async with watch.Watch() as stream:
        events = stream.stream(
            objects.list_namespaced_custom_object,
            GROUP,
            VERSION,
            "ns",
            PLURAL,
            resource_version=since,
        )
        assert await collect(events, 1) == [("ADDED", "new")]


async def test_a_dropped_watch_resumes_from_its_last_resource_version_without_duplicates(
    kube: KubeApi,
) -> None:
    """kubernetes-asyncio's Watch reconnects after a clean end of stream with the last RV."""
    objects = client.CustomObjectsApi(kube.client)
    await objects.create_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, sim("s1"))
    async with watch.Watch() as stream:
        events = stream.stream(objects.list_namespaced_custom_object, GROUP, VERSION, "ns", PLURAL)
        assert await collect(events, 1) == [("ADDED", "s1")]
        assert kube.drop_watches() == 1
        await objects.create_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, sim("s2"))
        assert await collect(events, 1) == [("ADDED", "s2")]
        watches = [r for r in kube.requests if r.params.get("watch")]
        assert len(watches) == 2
        assert (
            watches[1].params["resourceVersion"]
            == kube.read_object(SIMS, "s1", namespace="ns")["metadata"]["resourceVersion"]
        )


async def test_an_aborted_watch_breaks_the_client_stream(kube: KubeApi) -> None:
    objects = client.CustomObjectsApi(kube.client)
    async with watch.Watch() as stream:
        events = stream.stream(objects.list_namespaced_custom_object, GROUP, VERSION, "ns", PLURAL)
        listener = asyncio.create_task(collect(events, 1))
        await kube.wait_for_watches()
        kube.drop_watches(abort=True)
        with pytest.raises(Exception) as broken:  # aiohttp's payload/disconnect errors
            await listener
        assert not isinstance(broken.value, TimeoutError)


async def test_after_compaction_every_earlier_resource_version_gets_410_expired(
    kube: KubeApi,
) -> None:
    kube.create_object(SIMS, {**sim("s1"), "metadata": {"name": "s1", "namespace": "ns"}})
    old = kube.resource_version
    kube.create_object(SIMS, {**sim("s2"), "metadata": {"name": "s2", "namespace": "ns"}})
    latest = kube.resource_version
    kube.compact()
    objects = client.CustomObjectsApi(kube.client)
    for since in (old, latest):
        async with watch.Watch() as stream:
            events = stream.stream(
                objects.list_namespaced_custom_object,
                GROUP,
                VERSION,
                "ns",
                PLURAL,
                resource_version=since,
            )
            with pytest.raises(ApiException) as expired:
                await collect(events, 1)
        assert expired.value.status == 410
    fresh = await objects.list_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL)
    async with watch.Watch() as stream:
        events = stream.stream(
            objects.list_namespaced_custom_object,
            GROUP,
            VERSION,
            "ns",
            PLURAL,
            resource_version=fresh["metadata"]["resourceVersion"],
        )
        listener = asyncio.create_task(collect(events, 1))
        await kube.wait_for_watches()
        kube.create_object(SIMS, {**sim("s3"), "metadata": {"name": "s3", "namespace": "ns"}})
        assert await listener == [("ADDED", "s3")]


async def test_label_selected_watch_sees_objects_move_in_and_out(kube: KubeApi) -> None:
    core = client.CoreV1Api(kube.client)
    await core.create_namespaced_pod("ns", pod("p1", run="r1"))
    async with watch.Watch() as stream:
        events = stream.stream(core.list_namespaced_pod, "ns", label_selector="run=r1")
        assert await collect(events, 1) == [("ADDED", "p1")]
        await core.create_namespaced_pod("ns", pod("p2", run="r2"))
        await core.patch_namespaced_pod("p1", "ns", {"metadata": {"labels": {"run": "r2"}}})
        await core.patch_namespaced_pod("p2", "ns", {"metadata": {"labels": {"run": "r1"}}})
        assert await collect(events, 2) == [("DELETED", "p1"), ("ADDED", "p2")]


async def test_status_subresource_separates_spec_and_status_writes(kube: KubeApi) -> None:
    objects = client.CustomObjectsApi(kube.client)
    body = {**sim("s1"), "status": {"phase": "ignored on create"}}
    created = await objects.create_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, body)
    assert "status" not in created
    assert created["metadata"]["generation"] == 1
    patched = await objects.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        "ns",
        PLURAL,
        "s1",
        {"status": {"phase": "Running"}, "spec": {"runs": 99}},
        _content_type=MERGE,
    )
    assert patched["status"] == {"phase": "Running"}
    assert patched["spec"] == {"runs": 1}
    assert patched["metadata"]["generation"] == 1
    patched = await objects.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        "ns",
        PLURAL,
        "s1",
        {"status": {"phase": "lost"}, "spec": {"runs": 2}},
        _content_type=MERGE,
    )
    assert patched["status"] == {"phase": "Running"}
    assert patched["spec"] == {"runs": 2}
    assert patched["metadata"]["generation"] == 2


async def test_a_no_op_patch_changes_nothing_and_emits_no_event(kube: KubeApi) -> None:
    kube.create_object(SIMS, {**sim("s1"), "metadata": {"name": "s1", "namespace": "ns"}})
    kube.patch_status(SIMS, "s1", {"phase": "Running"}, namespace="ns")
    before, count = kube.resource_version, len(kube.events)
    kube.patch_status(SIMS, "s1", {"phase": "Running"}, namespace="ns")
    assert (kube.resource_version, len(kube.events)) == (before, count)


async def test_custom_objects_refuse_a_dict_sent_as_json_patch_or_strategic_merge(
    kube: KubeApi,
) -> None:
    """kubernetes-asyncio sends a dict to custom objects as a JSON patch unless told."""
    objects = client.CustomObjectsApi(kube.client)
    await objects.create_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, sim("s1"))
    with pytest.raises(ApiException) as bad:
        await objects.patch_namespaced_custom_object(
            GROUP, VERSION, "ns", PLURAL, "s1", {"spec": {"runs": 2}}
        )
    assert bad.value.status == 400
    with pytest.raises(ApiException) as unsupported:
        await objects.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            "ns",
            PLURAL,
            "s1",
            {"spec": {"runs": 2}},
            _content_type="application/strategic-merge-patch+json",
        )
    assert unsupported.value.status == 415
    patched = await objects.patch_namespaced_custom_object(
        GROUP, VERSION, "ns", PLURAL, "s1", [{"op": "replace", "path": "/spec/runs", "value": 3}]
    )
    assert patched["spec"]["runs"] == 3


async def test_a_stale_resource_version_in_a_patch_is_a_conflict(kube: KubeApi) -> None:
    objects = client.CustomObjectsApi(kube.client)
    created = await objects.create_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, sim("s1"))
    stale = created["metadata"]["resourceVersion"]
    kube.patch_status(SIMS, "s1", {"phase": "Running"}, namespace="ns")
    with pytest.raises(ApiException) as conflict:
        await objects.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            "ns",
            PLURAL,
            "s1",
            {"metadata": {"resourceVersion": stale}, "spec": {"runs": 2}},
            _content_type=MERGE,
        )
    assert conflict.value.status == 409


async def test_finalizers_hold_a_deleted_object_until_the_last_is_removed(kube: KubeApi) -> None:
    objects = client.CustomObjectsApi(kube.client)
    body = sim("s1")
    body["metadata"]["finalizers"] = ["gossipsim.io/cancel"]
    await objects.create_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, body)
    async with watch.Watch() as stream:
        events = stream.stream(objects.list_namespaced_custom_object, GROUP, VERSION, "ns", PLURAL)
        assert await collect(events, 1) == [("ADDED", "s1")]
        await objects.delete_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, "s1")
        marked = await objects.get_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, "s1")
        assert marked["metadata"]["deletionTimestamp"]
        assert await collect(events, 1) == [("MODIFIED", "s1")]
        await objects.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            "ns",
            PLURAL,
            "s1",
            {"metadata": {"finalizers": None}},
            _content_type=MERGE,
        )
        assert await collect(events, 2) == [("MODIFIED", "s1"), ("DELETED", "s1")]
    assert kube.find_object(SIMS, "s1", namespace="ns") is None


async def test_a_crd_created_through_the_api_registers_its_resource(kube: KubeApi) -> None:
    crd = client.V1CustomResourceDefinition(
        metadata=client.V1ObjectMeta(name="graphs.gossip.io"),
        spec=client.V1CustomResourceDefinitionSpec(
            group="gossip.io",
            scope="Namespaced",
            names=client.V1CustomResourceDefinitionNames(
                plural="graphs", singular="graph", kind="Graph"
            ),
            versions=[
                client.V1CustomResourceDefinitionVersion(
                    name="v1",
                    served=True,
                    storage=True,
                    schema=client.V1CustomResourceValidation(
                        open_apiv3_schema=client.V1JSONSchemaProps(type="object")
                    ),
                    subresources=client.V1CustomResourceSubresources(status={}),
                )
            ],
        ),
    )
    await client.ApiextensionsV1Api(kube.client).create_custom_resource_definition(crd)
    objects = client.CustomObjectsApi(kube.client)
    graph = {"apiVersion": "gossip.io/v1", "kind": "Graph", "metadata": {"name": "g"}}
    await objects.create_namespaced_custom_object("gossip.io", "v1", "ns", "graphs", graph)
    listed = await objects.list_namespaced_custom_object("gossip.io", "v1", "ns", "graphs")
    assert [g["metadata"]["name"] for g in listed["items"]] == ["g"]


async def test_unknown_resources_are_not_found(kube: KubeApi) -> None:
    objects = client.CustomObjectsApi(kube.client)
    with pytest.raises(ApiException) as missing:
        await objects.list_namespaced_custom_object("gossip.io", "v1", "ns", "graphs")
    assert missing.value.status == 404


async def test_collect_garbage_follows_owner_references(kube: KubeApi) -> None:
    owner = kube.create_object("v1/pods", {"metadata": {"name": "runner", "namespace": "ns"}})
    reference = {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": "runner",
        "uid": owner["metadata"]["uid"],
    }
    kube.create_object(
        "v1/services",
        {"metadata": {"name": "svc", "namespace": "ns", "ownerReferences": [reference]}},
    )
    assert kube.collect_garbage() == 0
    kube.delete_object("v1/pods", "runner", namespace="ns")
    assert kube.collect_garbage() == 1
    assert kube.list_objects("v1/services") == []


async def test_delete_collection_by_label(kube: KubeApi) -> None:
    core = client.CoreV1Api(kube.client)
    await core.create_namespaced_pod("ns", pod("p1", run="r1"))
    await core.create_namespaced_pod("ns", pod("p2", run="r2"))
    await core.delete_collection_namespaced_pod("ns", label_selector="run=r1")
    assert [p["metadata"]["name"] for p in kube.list_objects("v1/pods")] == ["p2"]


async def test_injected_faults_answer_before_the_emulator(kube: KubeApi) -> None:
    """kmock's DSL still works: a reaction answers and the write does not happen."""
    kube["post", kube.resource("v1/pods")] << 403
    core = client.CoreV1Api(kube.client)
    with pytest.raises(ApiException) as refused:
        await core.create_namespaced_pod("ns", pod("p1"))
    assert refused.value.status == 403
    assert kube.list_objects("v1/pods") == []
