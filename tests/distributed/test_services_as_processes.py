"""The services as separate processes over the real RabbitMQ, results in S3."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.distributed.harness import Cluster


@pytest.mark.timeout(600)
async def test_quickstart_runs_on_separate_scheduler_runner_and_collector(cluster: Cluster):
    for service in ("scheduler", "collector", "runner"):
        cluster.start(service)
    simulation_id = cluster.submit(REPO / "examples" / "quickstart.yaml")
    manifest = await cluster.wait_for_results(simulation_id)
    assert manifest["runs_total"] == 45 and manifest["runs_succeeded"] == 45
    rows = await cluster.summary(simulation_id)
    assert len(rows) == 45 and {row["status"] for row in rows} == {"completed"}
    codes = cluster.stop_all()
    assert set(codes.values()) == {0}, (codes, cluster.logs())


VISUALIZE_SPEC = """\
name: visualize-distributed
seed: 7
graphs:
  - {name: ba-40, generator: barabasi_albert_graph, params: {n: 40, m: 2}, seed: 1}
algorithms: [default, {rule: rumor_push_pull, mode: synchronous}]
repetitions: 2
visualize: {every: 1}
"""


@pytest.mark.timeout(600)
async def test_visualized_runs_get_their_drawings_in_s3_over_rabbitmq(
    cluster: Cluster, tmp_path: Path
):
    """run.graph travels the real broker, and the collector in its own process writes every
    run's GEXF, frames, animation and history to S3, in the layout of the embedded mode."""
    spec = tmp_path / "visualize.yaml"
    spec.write_text(VISUALIZE_SPEC)
    for service in ("scheduler", "collector", "runner"):
        cluster.start(service)
    simulation_id = cluster.submit(spec)
    manifest = await cluster.wait_for_results(simulation_id)
    assert manifest["runs_succeeded"] == 4
    assert manifest["visualize"] == {"runs_drawn": 4, "runs_not_drawn": 0, "not_drawn": {}}
    keys = await cluster.list_keys(f"simulations/{simulation_id}/")
    assert len([key for key in keys if "/drawings/" in key]) == 1  # one graph
    for row in await cluster.summary(simulation_id):
        run = f"simulations/{simulation_id}/runs/{row['run_id']}/"
        sampled = int(row["rounds"]) + 1
        for name in ("graph.gexf", "animation.gif", "history.parquet"):
            assert f"{run}{name}" in keys
        frames = [key for key in keys if key.startswith(f"{run}frames/")]
        assert len(frames) == sampled
        result = await cluster.get_json(f"{run}result.json")
        assert result["visualization"]["frames"] == list(range(sampled))
    codes = cluster.stop_all()
    assert set(codes.values()) == {0}, (codes, cluster.logs())
