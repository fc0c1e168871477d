"""The ObjectStore contract: behaviour every store shares (local directory, S3).

Each implementation's test module provides a ``store`` fixture (empty, unique to the test)
and imports these tests; its own module keeps what only it does (files, buckets, crashes).
"""

from __future__ import annotations

import asyncio

import pytest

from gossipsim.common.storage.store import ObjectNotFound, ObjectStore

INVALID_KEYS = [
    "",
    "/etc/passwd",
    "../outside",
    "runs/../../outside",
    "runs/./r1",
    "runs//r1",
    "runs/r1/",
    "runs\\r1",
    "runs/r1\0",
]


async def test_put_then_get_returns_the_same_bytes(store: ObjectStore) -> None:
    await store.put("runs/r1/result.json", b'{"ok": true}', content_type="application/json")
    assert await store.get("runs/r1/result.json") == b'{"ok": true}'
    assert await store.exists("runs/r1/result.json")


async def test_empty_object_round_trips(store: ObjectStore) -> None:
    await store.put("empty", b"")
    assert await store.get("empty") == b""


async def test_put_overwrites_the_previous_object(store: ObjectStore) -> None:
    await store.put("a/b", b"old")
    await store.put("a/b", b"new")
    assert await store.get("a/b") == b"new"


async def test_get_of_a_missing_key_raises_object_not_found(store: ObjectStore) -> None:
    await store.put("runs/r1/result.json", b"x")
    for key in ("nothing", "runs/r2/result.json", "runs"):
        with pytest.raises(ObjectNotFound) as caught:
            await store.get(key)
        assert caught.value.args == (key,)
        assert not await store.exists(key)


async def test_list_returns_sorted_keys_matching_the_prefix_as_a_string(
    store: ObjectStore,
) -> None:
    for key in ("runs/r2/b", "runs/r10/a", "runs/r1/z", "runs/r1/a", "sims/s1", "top"):
        await store.put(key, b".")
    assert await store.list("") == [
        "runs/r1/a",
        "runs/r1/z",
        "runs/r10/a",
        "runs/r2/b",
        "sims/s1",
        "top",
    ]
    assert await store.list("runs/") == ["runs/r1/a", "runs/r1/z", "runs/r10/a", "runs/r2/b"]
    assert await store.list("runs/r1") == ["runs/r1/a", "runs/r1/z", "runs/r10/a"]
    assert await store.list("runs/r1/") == ["runs/r1/a", "runs/r1/z"]
    assert await store.list("runs/r1/z") == ["runs/r1/z"]
    assert await store.list("t") == ["top"]
    assert await store.list("nope/") == []
    assert await store.list("../") == []


async def test_list_of_a_store_never_written_is_empty(store: ObjectStore) -> None:
    assert await store.list("") == []


async def test_delete_removes_the_object_and_ignores_missing_keys(
    store: ObjectStore,
) -> None:
    await store.put("runs/r1/a", b"1")
    await store.put("runs/r1/b", b"2")
    await store.delete("runs/r1/a")
    assert not await store.exists("runs/r1/a")
    assert await store.list("runs/") == ["runs/r1/b"]
    await store.delete("runs/r1/a")  # again: a no-op
    await store.delete("never/written")
    await store.delete("runs")  # a prefix is not an object
    assert await store.get("runs/r1/b") == b"2"


async def test_concurrent_puts_to_different_keys_all_land(store: ObjectStore) -> None:
    keys = [f"runs/r{i % 4}/node-{i:03d}.bin" for i in range(64)]
    await asyncio.gather(*(store.put(key, key.encode() * 100) for key in keys))
    assert await store.list("runs/") == sorted(keys)
    for key in keys:
        assert await store.get(key) == key.encode() * 100


@pytest.mark.parametrize("key", INVALID_KEYS)
async def test_invalid_keys_are_rejected_naming_the_key(store: ObjectStore, key: str) -> None:
    for attempt in (store.put(key, b"x"), store.get(key), store.exists(key), store.delete(key)):
        with pytest.raises(ValueError, match="invalid object key") as caught:
            await attempt
        assert repr(key) in str(caught.value)
    with pytest.raises(ValueError, match="invalid object key"):
        store.location(key)
