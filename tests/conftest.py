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
def seed_crs() -> Path:
    """The earlier simulator's resources kept in the repository (examples/seed-crs): the
    20-vertex graphs, a few series1 graphs and the simulations that select them."""
    return REPO / "examples" / "seed-crs"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The full set of the earlier simulator's resources, at ``GOSSIPSIM_FIXTURES``.

    It is not part of the repository, so a clone without it skips the tests that need it;
    in CI (``GOSSIPSIM_REQUIRE_SERVICES=1`` or ``CI`` set) a missing set fails them instead,
    so that they cannot quietly stop running there.
    """
    configured = os.environ.get("GOSSIPSIM_FIXTURES")
    path = Path(configured) if configured else None
    if path is not None and (path / "seed-crs").is_dir():
        return path
    if path is None:
        reason = "GOSSIPSIM_FIXTURES is not set (the full seed fixture set is not in the repo)"
    else:
        reason = f"GOSSIPSIM_FIXTURES={path} has no seed-crs/ folder"
    in_ci = os.environ.get("GOSSIPSIM_REQUIRE_SERVICES") == "1" or bool(os.environ.get("CI"))
    if path is not None or in_ci:
        pytest.fail(
            f"{reason}; set it to the folder that holds seed-crs/ (in CI these tests must run)"
        )
    pytest.skip(f"{reason}; set it to run this test")


@pytest.fixture(scope="session")
def full_seed_crs(fixtures_dir: Path) -> Path:
    """All of the earlier simulator's resources (580 graphs, 28 simulations)."""
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
