"""The services as separate processes over the real RabbitMQ, results in S3."""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from tests.distributed.harness import Cluster


@pytest.mark.timeout(600)
async def test_quickstart_runs_on_separate_scheduler_runner_and_collector(cluster: Cluster):
    for service in ("scheduler", "collector", "runner"):
        cluster.start(service)
    simulation_id = cluster.submit(REPO / "examples" / "quickstart.yaml")
    manifest = await cluster.wait_for_results(simulation_id)
    assert manifest["runs_total"] == 30 and manifest["runs_succeeded"] == 30
    rows = await cluster.summary(simulation_id)
    assert len(rows) == 30 and {row["status"] for row in rows} == {"completed"}
    codes = cluster.stop_all()
    assert set(codes.values()) == {0}, (codes, cluster.logs())
