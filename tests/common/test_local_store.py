"""LocalDirectoryStore: the ObjectStore contract over a real directory, plus crash safety."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from gossipsim.common.storage.local_store import TEMP_PREFIX, LocalDirectoryStore
from gossipsim.common.storage.store import ObjectStore
from tests.common.store_contract import *  # noqa: F403 (the shared ObjectStore contract)


@pytest.fixture
def store(tmp_path: Path) -> LocalDirectoryStore:
    return LocalDirectoryStore(tmp_path / "results")


def test_satisfies_the_object_store_protocol(store: LocalDirectoryStore) -> None:
    typed: ObjectStore = store  # checked by mypy; at runtime, that the methods exist
    assert callable(typed.put) and callable(typed.location)


async def test_objects_are_files_with_the_bucket_layout(
    store: LocalDirectoryStore, tmp_path: Path
) -> None:
    await store.put("runs/r1/result.json", b"x")
    path = tmp_path / "results" / "runs" / "r1" / "result.json"
    assert path.read_bytes() == b"x"
    assert store.location("runs/r1/result.json") == str(path.resolve())
    assert Path(store.location("runs/r1/result.json")).is_absolute()


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


async def test_concurrent_puts_to_one_key_leave_one_whole_object(
    store: LocalDirectoryStore,
) -> None:
    payloads = [bytes([i]) * 100_000 for i in range(16)]
    await asyncio.gather(*(store.put("same", payload) for payload in payloads))
    assert await store.get("same") in payloads
    assert await store.list("") == ["same"]


async def test_temp_file_names_are_reserved_keys(store: LocalDirectoryStore) -> None:
    key = f"runs/{TEMP_PREFIX}x"
    with pytest.raises(ValueError, match="reserved") as caught:
        await store.put(key, b"x")
    assert repr(key) in str(caught.value)
