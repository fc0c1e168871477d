"""Fixtures of the distributed tests: a deployment under a unique prefix on the test broker,
its results in the session's S3 bucket; every process stopped and every queue deleted after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.distributed.harness import Cluster
from tests.support.rabbitmq import URL, delete_prefixed, require_broker, unique_prefix
from tests.support.s3_server import S3Server


@pytest_asyncio.fixture
async def cluster(tmp_path: Path, s3_server: S3Server) -> AsyncIterator[Cluster]:
    await require_broker(URL)
    prefix = unique_prefix()
    deployment = Cluster(
        workdir=tmp_path,
        broker_url=URL,
        prefix=prefix,
        store_url=f"s3://{s3_server.bucket}/{prefix}",
        s3_endpoint=s3_server.endpoint_url,
    )
    try:
        yield deployment
    finally:
        deployment.stop_all()
        await delete_prefixed(prefix, URL)
