"""Shared fixtures: real node services as local processes, and the seed fixtures."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from gossipsim.runner.local_launcher import LocalProcessLauncher
from tests.support.services_chain import Stop, provide_broker

if TYPE_CHECKING:
    from tests.distributed.harness import Cluster
    from tests.support.s3_server import S3Server

pytest_plugins = ["tests.support.s3_server"]  # the session's S3 server and bucket fixtures

REPO = Path(__file__).resolve().parents[1]
_STOP_BROKER: list[Stop] = []


def pytest_configure(config: pytest.Config) -> None:
    """Settle the test broker once, before any test module reads GOSSIPSIM_TEST_AMQP_URL."""
    url, stop, source = provide_broker()
    if url is not None:
        os.environ["GOSSIPSIM_TEST_AMQP_URL"] = url
    if stop is not None:
        _STOP_BROKER.append(stop)
    config.stash[BROKER_SOURCE] = source


def pytest_report_header(config: pytest.Config) -> str:
    return f"gossipsim test broker: {config.stash.get(BROKER_SOURCE, '?')}"


def pytest_unconfigure(config: pytest.Config) -> None:
    while _STOP_BROKER:
        _STOP_BROKER.pop()()


BROKER_SOURCE = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """../shared/fixtures beside the repository, or GOSSIPSIM_FIXTURES."""
    path = Path(os.environ.get("GOSSIPSIM_FIXTURES", REPO.parent / "shared" / "fixtures"))
    if not path.is_dir():
        pytest.fail(f"seed fixtures not found at {path}; set GOSSIPSIM_FIXTURES")
    return path


@pytest.fixture(scope="session")
def seed_crs(fixtures_dir: Path) -> Path:
    return fixtures_dir / "seed-crs"


@pytest_asyncio.fixture(scope="session")
async def launcher() -> AsyncIterator[LocalProcessLauncher]:
    """Node services as local processes, pooled across the whole test session."""
    async with LocalProcessLauncher() as pool:
        yield pool


@pytest_asyncio.fixture
async def cluster(tmp_path: Path, s3_server: S3Server) -> AsyncIterator[Cluster]:
    """A deployment of service processes (tests/distributed/harness.py) under a unique prefix
    on the test broker, results in the session's S3 bucket; every process stopped and every
    queue deleted after the test."""
    # imported here: the broker URL is settled in pytest_configure, after this module loads
    from tests.distributed.harness import Cluster
    from tests.support.rabbitmq import URL, delete_prefixed, require_broker

    await require_broker(URL)
    deployment = Cluster.for_test(tmp_path, URL, s3_server)
    try:
        yield deployment
    finally:
        deployment.stop_all()
        await delete_prefixed(deployment.prefix, URL)
