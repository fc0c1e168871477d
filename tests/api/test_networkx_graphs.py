"""networkx graphs wherever a graph is taken: load_graph, simulate, and a spec's graphs (as
GraphML objects that keep labels and values)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from gossipsim.api.inline_graphs import inline_graphs
from gossipsim.common.errors import GraphError
from gossipsim.common.graphs.inputs import GraphInputs
from gossipsim.common.graphs.limits import GraphLimits
from gossipsim.common.graphs.sources import load_graph
from gossipsim.common.model.algorithms import resolve_algorithm
from gossipsim.runner.driver import RunSettings
from gossipsim.runner.simulate import simulate


def labelled() -> nx.Graph:
    graph = nx.Graph(name="labelled")
    graph.add_edges_from([("x", "y"), ("y", "z"), ("z", "w"), ("w", "x")])
    nx.set_node_attributes(graph, {"x": 1.0, "y": 2.0, "z": 3.0, "w": 4}, "value")
    return graph


def test_load_graph_takes_a_networkx_graph_with_its_labels_and_values():
    graph = load_graph(labelled())
    assert (graph.name, graph.n, graph.num_edges) == ("labelled", 4, 4)
    assert graph.labels == ("x", "y", "z", "w")
    assert list(graph.initial_values) == [1.0, 2.0, 3.0, 4.0]
    assert load_graph(nx.path_graph(3)).name == "graph"  # a graph without a name


def test_load_graph_checks_a_networkx_graph_against_the_limits():
    with pytest.raises(GraphError, match="vertices"):
        load_graph(nx.path_graph(50), limits=GraphLimits(max_vertices=10, max_edges=100))
    with pytest.raises(GraphError, match="no vertices"):
        load_graph(nx.Graph())


def test_a_spec_graph_becomes_an_object_that_builds_the_same_graph(tmp_path):
    spec = {
        "graphs": [
            labelled(),
            {"name": "k", "graph": nx.karate_club_graph()},
            {"generator": "cycle_graph"},
        ]
    }
    rewritten, objects = inline_graphs(spec)
    first, second, untouched = rewritten["graphs"]
    assert untouched == {"generator": "cycle_graph"}
    assert first["name"] == "labelled" and second["name"] == "k"
    assert set(objects) == {first["object"], second["object"]}
    assert all(key.startswith("graphs/inline-") and key.endswith(".graphml") for key in objects)
    files = {}
    for key, data in objects.items():
        path = tmp_path / key.replace("/", "_")
        path.write_bytes(data)
        files[key] = path
    inputs = GraphInputs(roots=None, objects=files)
    for entry, original in ((first, labelled()), (second, nx.karate_club_graph())):
        built, direct = load_graph(entry, inputs=inputs), load_graph(original)
        assert built.labels == direct.labels and built.n == direct.n
        assert np.array_equal(built.indptr, direct.indptr)
        assert np.array_equal(built.indices, direct.indices)
        if direct.initial_values is None:
            assert built.initial_values is None
        else:
            assert np.array_equal(built.initial_values, direct.initial_values)
    # the same graph is the same object, so the same spec is the same simulation
    assert inline_graphs(spec) == (rewritten, objects)
    assert inline_graphs({"graphs": [{"generator": "x"}]}) == ({"graphs": [{"generator": "x"}]}, {})


async def test_simulate_takes_a_networkx_graph():
    (result,) = await simulate(
        nx.cycle_graph(12), resolve_algorithm(rule="min"), settings=RunSettings(max_rounds=50)
    )
    assert result.converged and result.aggregates[0].count == 12
