"""The seed simulator's graphs and algorithm names run with its semantics."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from gossipsim.common.graphs.sources import find_seed_graphs, load_graph
from gossipsim.common.model.algorithms import resolve_algorithm, seed_algorithm_names
from gossipsim.runner.driver import RunSettings
from gossipsim.runner.simulate import selection_weights, simulate


def fixture_algorithms(seed_crs) -> dict[str, dict]:
    specs = {}
    for path in sorted((seed_crs / "simulations").rglob("*.yaml")):
        spec = yaml.safe_load(path.read_text())["spec"]
        specs[path.stem] = spec
    return specs


def test_every_seed_algorithm_name_in_the_fixtures_is_accepted(seed_crs, full_seed_crs):
    graph = load_graph(
        {"resource": str(seed_crs / "graphs/examples-test-series/barab-n20-e2.0.yaml")}
    )
    specs = fixture_algorithms(full_seed_crs)
    assert len(specs) >= 20
    for name, spec in specs.items():
        options = {
            key: spec[key][0]
            for key in ("factor", "priorPartnerFactor", "weightingParamA")
            if key in spec
        }
        algorithm = resolve_algorithm(spec["algorithm"], **options)
        assert algorithm.name == spec["algorithm"], name
        weights = selection_weights(graph, algorithm)
        if spec["algorithm"] != "default":
            assert weights is not None and np.all(np.isfinite(weights)), name
    assert {spec["algorithm"] for spec in specs.values()} <= set(seed_algorithm_names())


@pytest.mark.parametrize(
    "algorithm",
    ["default", "weighted_factor", "community_probabilities_complex_memory"],
)
async def test_seed_20_vertex_graphs_run_to_the_minimum(seed_crs, launcher, algorithm):
    paths = find_seed_graphs(seed_crs / "graphs" / "examples-test-series")
    assert len(paths) == 10
    options = {"factor": 2.0} if algorithm == "weighted_factor" else {}
    if "memory" in algorithm:
        options["priorPartnerFactor"] = 0.3
    for path in paths:
        graph = load_graph({"resource": str(path)})
        assert graph.n == 20 and graph.initial_values is not None
        results = await simulate(
            graph,
            resolve_algorithm(algorithm, **options),
            settings=RunSettings(max_rounds=200, history_every=1),
            run_ids=["rep-0", "rep-1", "rep-2"],
            launcher=launcher,
        )
        for result in results:
            assert result.converged, path.name
            final = result.history[-1][1]
            assert np.all(final == graph.initial_values.min())
            assert 1 <= result.rounds <= 200
