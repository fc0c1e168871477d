"""LocalDirectoryStore: the ObjectStore contract over a real directory, plus crash safety."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from gossipsim.common.local_store import TEMP_PREFIX, LocalDirectoryStore
from gossipsim.common.store import ObjectNotFound, ObjectStore


@pytest.fixture
def store(tmp_path: Path) -> LocalDirectoryStore:
    return LocalDirectoryStore(tmp_path / "results")


def test_satisfies_the_object_store_protocol(store: LocalDirectoryStore) -> None:
    typed: ObjectStore = store  # checked by mypy; at runtime, that the methods exist
    assert callable(typed.put) and callable(typed.location)


async def test_put_then_get_returns_the_same_bytes(store: LocalDirectoryStore) -> None:
    await store.put("runs/r1/result.json", b'{"ok": true}', content_type="application/json")
    assert await store.get("runs/r1/result.json") == b'{"ok": true}'
    assert await store.exists("runs/r1/result.json")


async def test_empty_object_round_trips(store: LocalDirectoryStore) -> None:
    await store.put("empty", b"")
    assert await store.get("empty") == b""


async def test_put_overwrites_the_previous_object(store: LocalDirectoryStore) -> None:
    await store.put("a/b", b"old")
    await store.put("a/b", b"new")
    assert await store.get("a/b") == b"new"


async def test_objects_are_files_with_the_bucket_layout(
    store: LocalDirectoryStore, tmp_path: Path
) -> None:
    await store.put("runs/r1/result.json", b"x")
    path = tmp_path / "results" / "runs" / "r1" / "result.json"
    assert path.read_bytes() == b"x"
    assert store.location("runs/r1/result.json") == str(path.resolve())
    assert Path(store.location("runs/r1/result.json")).is_absolute()


async def test_get_of_a_missing_key_raises_object_not_found(store: LocalDirectoryStore) -> None:
    await store.put("runs/r1/result.json", b"x")
    for key in ("nothing", "runs/r2/result.json", "runs", "runs/r1/result.json/deeper"):
        with pytest.raises(ObjectNotFound) as caught:
            await store.get(key)
        assert caught.value.args == (key,)
        assert not await store.exists(key)


async def test_list_returns_sorted_keys_matching_the_prefix_as_a_string(
    store: LocalDirectoryStore,
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


async def test_list_of_a_store_never_written_is_empty(store: LocalDirectoryStore) -> None:
    assert await store.list("") == []


async def test_delete_removes_the_object_and_ignores_missing_keys(
    store: LocalDirectoryStore,
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


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "../outside",
        "runs/../../outside",
        "runs/./r1",
        "runs//r1",
        "runs/r1/",
        "runs\\r1",
        "runs/r1\0",
        f"runs/{TEMP_PREFIX}x",
    ],
)
async def test_invalid_keys_are_rejected_naming_the_key(
    store: LocalDirectoryStore, tmp_path: Path, key: str
) -> None:
    for attempt in (
        store.put(key, b"x"),
        store.get(key),
        store.exists(key),
        store.delete(key),
    ):
        with pytest.raises(ValueError, match="invalid object key") as caught:
            await attempt
        assert repr(key) in str(caught.value)
    with pytest.raises(ValueError, match="invalid object key"):
        store.location(key)
    assert not (tmp_path / "outside").exists()


async def test_failed_replace_leaves_the_old_object_intact_and_no_temp_file(
    store: LocalDirectoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between writing the new bytes and renaming them must not corrupt the object."""
    await store.put("runs/r1/result.json", b"old")

    def crash(src: object, dst: object) -> None:
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        await store.put("runs/r1/result.json", b"new, half-written")
    monkeypatch.undo()

    assert await store.get("runs/r1/result.json") == b"old"
    assert await store.list("") == ["runs/r1/result.json"]
    assert os.listdir(store.root / "runs" / "r1") == ["result.json"]


async def test_leftover_temp_files_from_a_crash_are_never_listed(
    store: LocalDirectoryStore,
) -> None:
    """A process killed mid-write leaves its temp file; it must not look like an object."""
    await store.put("runs/r1/result.json", b"old")
    stray = store.root / "runs" / "r1" / f"{TEMP_PREFIX}result.json.deadbeef"
    stray.write_bytes(b"half")
    (store.root / f"{TEMP_PREFIX}top.0").write_bytes(b"half")

    assert await store.list("") == ["runs/r1/result.json"]
    assert await store.list("runs/r1/") == ["runs/r1/result.json"]
    assert await store.get("runs/r1/result.json") == b"old"
    await store.put("runs/r1/result.json", b"new")  # a later put is unaffected
    assert await store.get("runs/r1/result.json") == b"new"


async def test_concurrent_puts_to_different_keys_all_land(store: LocalDirectoryStore) -> None:
    keys = [f"runs/r{i % 4}/node-{i:03d}.bin" for i in range(64)]
    await asyncio.gather(*(store.put(key, key.encode() * 100) for key in keys))
    assert await store.list("runs/") == sorted(keys)
    for key in keys:
        assert await store.get(key) == key.encode() * 100


async def test_concurrent_puts_to_one_key_leave_one_whole_object(
    store: LocalDirectoryStore,
) -> None:
    payloads = [bytes([i]) * 100_000 for i in range(16)]
    await asyncio.gather(*(store.put("same", payload) for payload in payloads))
    assert await store.get("same") in payloads
    assert await store.list("") == ["same"]
