"""A thousand runs in one `gossipsim run` (node services pooled, not started per run)."""

from __future__ import annotations

import csv
from pathlib import Path

from gossipsim.embedded import run_embedded


async def test_thousand_runs_on_a_seed_example_graph_complete(tmp_path, seed_crs):
    graph = seed_crs / "graphs" / "examples-test-series" / "barab-n20-e2.0.yaml"
    spec = {
        "name": "sweep",
        "graphs": [{"resource": str(graph)}],
        "algorithms": ["default"],
        "repetitions": 1000,
    }
    outcome = await run_embedded(spec, out_dir=tmp_path)
    assert outcome.state is not None and outcome.state.count_failed() == 0
    with (Path(outcome.location) / "summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1000 and len({row["run_id"] for row in rows}) == 1000
    assert all(row["converged"] == "True" for row in rows)
    assert len({row["rounds"] for row in rows}) > 1  # repetitions are independent
