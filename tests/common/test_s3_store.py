"""S3ObjectStore: the ObjectStore contract against a real S3 server (tests/support/s3_server.py).

Each session uses a fresh bucket and each test a fresh prefix in it, so tests never see each
other's objects.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import aioboto3
import pytest

from gossipsim.common.storage.s3_store import S3ObjectStore, S3StoreError, parse_s3_url
from gossipsim.common.storage.store import ObjectStore
from tests.common.store_contract import *  # noqa: F403 (the shared ObjectStore contract)
from tests.support.s3_server import REGION, S3Server

OpenStore = Callable[..., Awaitable[S3ObjectStore]]


@pytest.fixture
async def open_store(s3_server: S3Server) -> AsyncIterator[OpenStore]:
    """Open stores under a prefix unique to this test; all are closed when it ends."""
    base = f"t-{secrets.token_hex(4)}"
    async with AsyncExitStack() as stack:

        async def open_(suffix: str = "", *, bucket: str | None = None) -> S3ObjectStore:
            url = f"s3://{bucket or s3_server.bucket}/{base}{suffix}"
            return await stack.enter_async_context(
                S3ObjectStore.open(url, endpoint_url=s3_server.endpoint_url, region=REGION)
            )

        yield open_


@pytest.fixture
async def store(open_store: OpenStore) -> S3ObjectStore:
    return await open_store()


@pytest.fixture
async def raw_client(s3_server: S3Server) -> AsyncIterator[object]:
    """A plain client, to look at the bucket behind the store's back."""
    session = aioboto3.Session()
    async with session.client("s3", endpoint_url=s3_server.endpoint_url, region_name=REGION) as c:
        yield c


def test_satisfies_the_object_store_protocol(store: S3ObjectStore) -> None:
    typed: ObjectStore = store  # checked by mypy; at runtime, that the methods exist
    assert callable(typed.put) and callable(typed.location)


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
        ("s3://bucket/a/b", ("bucket", "a/b/")),
        ("s3://bucket/a/b/", ("bucket", "a/b/")),
    ],
)
def test_urls_give_a_bucket_and_a_slash_terminated_prefix(
    url: str, parsed: tuple[str, str]
) -> None:
    assert parse_s3_url(url) == parsed


@pytest.mark.parametrize("url", ["http://bucket/a", "s3:///a", "s3://bucket/a/../b", "bucket"])
def test_invalid_urls_are_rejected_naming_the_url(url: str) -> None:
    with pytest.raises(ValueError, match="invalid S3 URL") as caught:
        parse_s3_url(url)
    assert repr(url) in str(caught.value)


async def test_put_then_get_returns_the_same_bytes_and_keeps_the_content_type(
    store: S3ObjectStore, raw_client: object
) -> None:
    await store.put("runs/r1/result.json", b'{"ok": true}', content_type="application/json")
    assert await store.get("runs/r1/result.json") == b'{"ok": true}'
    assert await store.exists("runs/r1/result.json")
    head = await raw_client.head_object(  # type: ignore[attr-defined]
        Bucket=store.bucket, Key=f"{store.prefix}runs/r1/result.json"
    )
    assert head["ContentType"] == "application/json"


async def test_location_is_an_s3_url_under_the_prefix(store: S3ObjectStore) -> None:
    assert store.prefix.endswith("/")
    expected = f"s3://{store.bucket}/{store.prefix}runs/r1/result.json"
    assert store.location("runs/r1/result.json") == expected


async def test_list_follows_pagination_past_a_thousand_keys(store: S3ObjectStore) -> None:
    """ListObjectsV2 returns at most 1000 keys a page; the store must read every page."""
    keys = [f"many/{i:05d}" for i in range(1005)]
    for start in range(0, len(keys), 100):
        await asyncio.gather(*(store.put(key, b"") for key in keys[start : start + 100]))
    assert await store.list("many/") == keys


async def test_stores_with_different_prefixes_do_not_see_each_others_keys(
    open_store: OpenStore,
) -> None:
    """``p`` and ``p2`` share a string prefix; the store's trailing '/' keeps them apart."""
    first, second = await open_store("/p"), await open_store("/p2")
    await first.put("runs/r1/a", b"first")
    await second.put("runs/r1/a", b"second")
    await second.put("only-second", b"2")
    assert await first.list("") == ["runs/r1/a"]
    assert await second.list("") == ["only-second", "runs/r1/a"]
    assert await first.get("runs/r1/a") == b"first"
    assert not await first.exists("only-second")
    await first.delete("runs/r1/a")
    assert await second.get("runs/r1/a") == b"second"
    parent = await open_store()
    assert await parent.list("") == ["p2/only-second", "p2/runs/r1/a"]


async def test_a_missing_bucket_is_created_on_open(
    open_store: OpenStore, raw_client: object, s3_server: S3Server
) -> None:
    bucket = f"{s3_server.bucket}-new"
    store = await open_store(bucket=bucket)
    await store.put("k", b"v")
    again = await open_store(bucket=bucket)  # an existing bucket is fine too
    assert await again.get("k") == b"v"
    await raw_client.delete_object(Bucket=bucket, Key=f"{store.prefix}k")  # type: ignore[attr-defined]
    await raw_client.delete_bucket(Bucket=bucket)  # type: ignore[attr-defined]


async def test_errors_name_the_bucket_and_key(s3_server: S3Server) -> None:
    bucket = f"{s3_server.bucket}-absent"
    url = f"s3://{bucket}/pre"
    async with S3ObjectStore.open(
        url, endpoint_url=s3_server.endpoint_url, region=REGION, create_bucket=False
    ) as store:
        with pytest.raises(S3StoreError) as caught:
            await store.get("runs/r1/a")  # NoSuchBucket, unlike NoSuchKey, is an error
    assert f"s3://{bucket}/pre/runs/r1/a" in str(caught.value)
    assert "NoSuchBucket" in str(caught.value)
