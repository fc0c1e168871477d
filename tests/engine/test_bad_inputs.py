"""Bad inputs give an error that names the problem; nothing runs."""

from __future__ import annotations

import pytest

from gossipsim.common.errors import AlgorithmError, GraphError, InvalidInput
from gossipsim.common.graphs.sources import GraphLimits, load_graph
from gossipsim.common.model.algorithms import resolve_algorithm
from gossipsim.runner.driver import RunSettings


@pytest.mark.parametrize(
    ("make", "error", "names"),
    [
        (lambda: resolve_algorithm("gossip_harder"), AlgorithmError, "unknown algorithm"),
        (lambda: resolve_algorithm(rule="median"), AlgorithmError, "rule"),
        (lambda: resolve_algorithm(mode="parallel"), AlgorithmError, "mode"),
        (lambda: resolve_algorithm("weighted_factor", factor=-1), AlgorithmError, "factor"),
        (
            lambda: resolve_algorithm("default_memory", priorPartnerFactor=float("nan")),
            AlgorithmError,
            "priorPartnerFactor",
        ),
        (
            lambda: resolve_algorithm("betweenness_weighted", weightingParamA=1.5),
            AlgorithmError,
            "weightingParamA",
        ),
        (lambda: resolve_algorithm("default", speed=3), AlgorithmError, "speed"),
        (lambda: RunSettings(max_rounds=0), InvalidInput, "max_rounds"),
        (lambda: RunSettings(max_rounds=10**9), InvalidInput, "max_rounds"),
        (lambda: RunSettings(epsilon=-0.1), InvalidInput, "epsilon"),
        (
            lambda: load_graph({"generator": "no_such_graph", "params": {"n": 5}}),
            GraphError,
            "no_such_graph",
        ),
        (lambda: load_graph({"generator": "complete_graph", "params": {"n": -5}}), GraphError, "n"),
        (lambda: load_graph({"adjacency": ["0 1 2,", "1, 3,"]}), GraphError, "line 2"),
        (
            lambda: load_graph(
                {"generator": "complete_graph", "params": {"n": 5000}},
                limits=GraphLimits(max_vertices=1000),
            ),
            GraphError,
            "limit",
        ),
    ],
)
def test_bad_input_names_the_problem(make, error, names):
    with pytest.raises(error) as raised:
        make()
    assert names in str(raised.value)
