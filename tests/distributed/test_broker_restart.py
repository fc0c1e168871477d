"""Restart the broker mid-simulation (a private broker the test owns): the services reconnect
and the simulation completes, every run exactly once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from gossipsim.common.spec.simulation_spec import expand_runs, load_spec_file, parse_spec
from tests.distributed.harness import Cluster
from tests.support.private_broker import PrivateBroker, private_broker  # noqa: F401 (fixture)
from tests.support.s3_server import S3Server

RUNS = 40
SPEC = f"""\
name: broker-restart
seed: 11
graphs:
  - name: rr-6000
    generator: random_regular_graph
    params: {{n: 6000, d: 4}}
    seed: 1
algorithms:
  - {{rule: average, mode: synchronous}}
repetitions: {RUNS}
stop: max_rounds
max_rounds: 400
"""
# Runs of about 0.3 s (as in test_faults.py): the restart must land mid-simulation even when
# the machine is busy; with millisecond runs all 40 could finish while the broker stops.


@pytest_asyncio.fixture
async def cluster_on_private_broker(
    tmp_path: Path,
    s3_server: S3Server,
    private_broker: PrivateBroker,  # noqa: F811
) -> AsyncIterator[Cluster]:
    deployment = Cluster.for_test(tmp_path, private_broker.url, s3_server)
    try:
        yield deployment
    finally:
        deployment.stop_all()  # the broker and its queues go with the fixture


async def results_stored(cluster: Cluster, simulation_id: str) -> int:
    keys = await cluster.list_keys(f"simulations/{simulation_id}/")
    return sum(key.endswith("/result.json") for key in keys)


async def wait_for_progress(cluster: Cluster, simulation_id: str, runs: int) -> int:
    """Wait until at least ``runs`` results are stored; returns how many are."""
    deadline = time.monotonic() + 60
    while (stored := await results_stored(cluster, simulation_id)) < runs:
        cluster.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"only {stored} of {runs} runs stored\n{cluster.logs()}")
        await asyncio.sleep(0.2)
    return stored


@pytest.mark.timeout(180)
async def test_services_reconnect_after_a_broker_restart_and_the_simulation_completes(
    cluster_on_private_broker: Cluster,
    private_broker: PrivateBroker,  # noqa: F811
    tmp_path: Path,
) -> None:
    cluster = cluster_on_private_broker
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    for service in ("scheduler", "collector", "runner"):
        cluster.start(service)
    simulation_id = cluster.submit(spec)
    expected = set(expand_runs(parse_spec(load_spec_file(spec))))
    assert len(expected) == RUNS

    before = await wait_for_progress(cluster, simulation_id, RUNS // 5)
    await private_broker.restart()
    after = await results_stored(cluster, simulation_id)
    assert after < RUNS, f"all {RUNS} runs were done before the broker came back: not mid-way"

    manifest = await cluster.wait_for_results(simulation_id, timeout=90)
    assert manifest["runs_total"] == RUNS and manifest["runs_succeeded"] == RUNS, manifest
    rows = await cluster.summary(simulation_id)
    assert sorted(row["run_id"] for row in rows) == sorted(expected)  # each exactly once
    assert {row["status"] for row in rows} == {"completed"}
    cluster.check_alive()
    codes = cluster.stop_all()
    assert set(codes.values()) == {0}, (codes, cluster.logs(), before, after)
