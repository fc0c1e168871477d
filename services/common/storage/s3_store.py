"""An :class:`~gossipsim.common.storage.store.ObjectStore` over an S3 bucket, through aioboto3.

The distributed mode keeps results here; a store is a bucket plus a key prefix, so several
deployments (or test sessions) can share one bucket without seeing each other's objects.

Design decisions:

* Credentials come only from the default AWS chain (environment, shared files, instance or
  pod role): there are no credential parameters, so none can end up in code or a spec.
* One client per store, owned by :meth:`S3ObjectStore.open`: aiobotocore clients hold a
  connection pool that must be closed, and a context manager makes that impossible to forget.
* Retries are botocore's "standard" mode: exponential backoff with jitter on throttling,
  5xx and connection errors, on every call, including the bucket check at open.
* A PUT is atomic in S3 itself (a reader sees the old object or the new one), so put is a
  single ``put_object``; objects are small results, so there is no multipart upload.
* Keys follow the same rules as in the local store, so a key valid in the embedded mode is
  valid here and means the same object.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from gossipsim.common.storage.store import ObjectNotFound, check_key

_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})


class S3StoreError(OSError):
    """An S3 request failed after retries; the message names the bucket and key."""


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → ``("bucket", "some/prefix/")``; the prefix may be empty."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"invalid S3 URL {url!r}: expected s3://bucket[/prefix]")
    prefix = parts.path.strip("/")
    try:
        if prefix:
            check_key(prefix)
    except ValueError as exc:
        raise ValueError(f"invalid S3 URL {url!r}: the prefix is an {exc}") from None
    return parts.netloc, f"{prefix}/" if prefix else ""


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3ObjectStore:
    """Objects under ``s3://bucket/prefix/``; build one with :meth:`open`."""

    def __init__(self, client: Any, *, bucket: str, prefix: str) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        url: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        max_attempts: int = 5,
        create_bucket: bool = True,
    ) -> AsyncIterator[S3ObjectStore]:
        """A store for ``url`` whose client lives as long as the ``async with`` block."""
        bucket, prefix = parse_s3_url(url)
        config = AioConfig(retries={"max_attempts": max_attempts, "mode": "standard"})
        session = aioboto3.Session()  # the default credential chain, nothing else
        async with session.client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=config
        ) as client:
            store = cls(client, bucket=bucket, prefix=prefix)
            if create_bucket:
                await store._ensure_bucket()
            yield store

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def prefix(self) -> str:
        return self._prefix

    def _key(self, key: str) -> str:
        check_key(key)
        return self._prefix + key

    def _error(self, action: str, key: str | None, exc: Exception) -> S3StoreError:
        where = f"s3://{self._bucket}/{key}" if key is not None else f"bucket {self._bucket!r}"
        return S3StoreError(f"S3 {action} of {where} failed: {exc}")

    async def _ensure_bucket(self) -> None:
        try:
            await self._client.head_bucket(Bucket=self._bucket)
            return
        except ClientError as exc:
            if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise self._error("head_bucket", None, exc) from exc
        except BotoCoreError as exc:
            raise self._error("head_bucket", None, exc) from exc
        region = self._client.meta.region_name
        kwargs: dict[str, Any] = {"Bucket": self._bucket}
        if region and region != "us-east-1":  # us-east-1 rejects an explicit constraint
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            await self._client.create_bucket(**kwargs)
        except ClientError as exc:
            if _code(exc) != "BucketAlreadyOwnedByYou":  # another process was first: fine
                raise self._error("create_bucket", None, exc) from exc
        except BotoCoreError as exc:
            raise self._error("create_bucket", None, exc) from exc

    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        full = self._key(key)
        try:
            await self._client.put_object(
                Bucket=self._bucket, Key=full, Body=data, ContentType=content_type
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error("put", full, exc) from exc

    async def get(self, key: str) -> bytes:
        full = self._key(key)
        try:
            response = await self._client.get_object(Bucket=self._bucket, Key=full)
            async with response["Body"] as body:
                data: bytes = await body.read()
                return data
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                raise ObjectNotFound(key) from None
            raise self._error("get", full, exc) from exc
        except BotoCoreError as exc:
            raise self._error("get", full, exc) from exc

    async def exists(self, key: str) -> bool:
        full = self._key(key)
        try:
            await self._client.head_object(Bucket=self._bucket, Key=full)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                return False
            raise self._error("head", full, exc) from exc
        except BotoCoreError as exc:
            raise self._error("head", full, exc) from exc
        return True

    async def list(self, prefix: str) -> list[str]:
        full = self._prefix + prefix
        paginator = self._client.get_paginator("list_objects_v2")
        keys: list[str] = []
        try:
            async for page in paginator.paginate(Bucket=self._bucket, Prefix=full):
                keys.extend(item["Key"][len(self._prefix) :] for item in page.get("Contents", ()))
        except (ClientError, BotoCoreError) as exc:
            raise self._error("list", full + "*", exc) from exc
        return sorted(keys)

    async def delete(self, key: str) -> None:
        full = self._key(key)
        try:
            await self._client.delete_object(Bucket=self._bucket, Key=full)
        except (ClientError, BotoCoreError) as exc:
            raise self._error("delete", full, exc) from exc

    def location(self, key: str) -> str:
        return f"s3://{self._bucket}/{self._key(key)}"
