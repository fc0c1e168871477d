"""The ``edges`` graph source: a graph as built, inline; what ``gossipsim submit`` sends in place
of a local file, so it must rebuild every graph exactly, and refuse bad input by position."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import orjson
import pytest

from gossipsim.common.errors import GraphError
from gossipsim.common.graphs.graph import Graph
from gossipsim.common.graphs.sources import GraphLimits, edges_source, load_graph

SECRET = "s3cr3t-label"  # a label standing for someone's data: never in a message


def assert_same_graph(built: Graph, original: Graph) -> None:
    assert built.name == original.name
    assert np.array_equal(built.indptr, original.indptr)
    assert np.array_equal(built.indices, original.indices)
    assert built.labels == original.labels
    if original.initial_values is None:
        assert built.initial_values is None
    else:
        assert built.initial_values is not None
        assert np.array_equal(built.initial_values, original.initial_values)


def rebuilt(graph: Graph) -> Graph:
    """Through JSON, as in a message."""
    return load_graph(orjson.loads(orjson.dumps(edges_source(graph))))


def write_graphml_with_values(path: Path) -> None:
    graph = nx.Graph()
    graph.add_nodes_from([("x", {"value": 0.1}), ("y", {"value": 2.5e-17}), ("z", {"value": 3})])
    graph.add_edges_from([("x", "y"), ("y", "z"), ("z", "x")])
    nx.write_graphml(graph, path)


@pytest.mark.parametrize(
    "name, write",
    [
        ("words.edgelist", lambda p: p.write_text("alice bob\nbob carol\ncarol alice\ncarol d\n")),
        ("sparse.edges", lambda p: p.write_text("10 30\n30 7\n7 10\n10 1000\n")),
        ("net.adjlist.gz", lambda p: p.write_bytes(gzip.compress(b"0 1 2\n1 2\n2 3\n"))),
        ("valued.graphml", write_graphml_with_values),
    ],
)
def test_a_file_graph_is_rebuilt_exactly_from_its_edges_source(tmp_path: Path, name, write):
    path = tmp_path / name
    write(path)
    original = load_graph({"file": str(path)})

    assert_same_graph(rebuilt(original), original)


def test_names_and_explicit_values_survive(tmp_path: Path):
    path = tmp_path / "g.edgelist"
    path.write_text("0 1\n1 2\n2 0\n")
    original = load_graph({"file": str(path), "name": "mine", "valueList": "5,3,9"})

    source = edges_source(original)

    assert source == {
        "name": "mine",
        "vertices": 3,
        "edges": "0 1\n0 2\n1 2",
        "values": [5.0, 3.0, 9.0],
    }
    assert_same_graph(rebuilt(original), original)


def test_seed_resource_graph_is_rebuilt_exactly(seed_crs: Path):
    original = load_graph(
        {"resource": str(seed_crs / "graphs/examples-test-series/barab-n20-e1.0.yaml")}
    )
    assert_same_graph(rebuilt(original), original)


@pytest.mark.parametrize(
    "edges", [[[2, 0], [0, 1], [1, 2], [1, 1], [0, 1]], "2 0\n0 1\n 1 2\r\n1\t1\n\n0 1\n"]
)
def test_a_written_edges_graph_numbers_vertices_as_given(edges: object):
    graph = load_graph({"edges": edges, "name": "t"})

    assert graph.n == 3 and graph.num_edges == 3  # the loop and the repeat dropped
    assert [list(graph.neighbors(v)) for v in range(3)] == [[1, 2], [0, 2], [0, 1]]
    assert graph.labels is None and graph.name == "t"


def test_a_written_edges_graph_with_names():
    with_labels = load_graph({"edges": [[0, 1]], "vertices": 2, "labels": ["b", "a"]})
    assert with_labels.labels == ("b", "a") and with_labels.name == "edges"


def test_vertices_counts_vertices_without_edges():
    graph = load_graph({"edges": [[0, 1]], "vertices": 4})
    assert graph.n == 4 and list(graph.degrees) == [1, 1, 0, 0]


@pytest.mark.parametrize(
    "source, field, expected",
    [
        ({"edges": {"0": 1}}, "graph.edges", "expected a list of pairs [u, v] or lines"),
        ({"edges": b"0 1"}, "graph.edges", "expected a list of pairs [u, v] or lines"),
        ({"edges": [[0, SECRET]]}, "graph.edges[0]", "expected a pair of vertex numbers"),
        ({"edges": f"0 1\n1 {SECRET}"}, "graph.edges[1]", "expected a pair of vertex numbers"),
        ({"edges": "0 1\n1 2 3"}, "graph.edges", "5 vertex numbers, an odd count"),
        ({"edges": "0 1\n1 -2"}, "graph.edges[1]", "expected a pair"),
        ({"edges": "0 1\n1 2.5"}, "graph.edges[1]", "expected a pair"),
        ({"edges": "0 1\n1 \u0663"}, "graph.edges", "ASCII digits"),
        ({"edges": "0 " + "9" * 30}, "graph.edges[0]", "expected a pair"),
        ({"edges": "0 1\n2 1\n3 0", "vertices": 3}, "graph.edges[2]", "in 0..2"),
        ({"edges": [[0, 1], [1, 2, 3]]}, "graph.edges[1]", "expected a pair"),
        ({"edges": [[0, 1], [True, 1]]}, "graph.edges[1]", "expected a pair"),
        ({"edges": [[0, 1.5]]}, "graph.edges[0]", "expected a pair"),
        ({"edges": [[0, -1]]}, "graph.edges[0]", "expected a pair"),
        ({"edges": [[0, 1], [1, 5]], "vertices": 3}, "graph.edges[1]", "in 0..2"),
        ({"edges": [[0, 1]], "vertices": 0}, "graph.vertices", "an integer >= 1"),
        ({"edges": [[0, 1]], "vertices": "2"}, "graph.vertices", "an integer >= 1"),
        ({"edges": [[0, 1]], "labels": "ab"}, "graph.labels", "list of 2 vertex names"),
        ({"edges": [[0, 1]], "labels": [SECRET]}, "graph.labels", "1 labels for a graph of 2"),
        ({"edges": [[0, 1]], "labels": [SECRET, 7]}, "graph.labels[1]", "a vertex name"),
        ({"edges": [[0, 1]], "labels": [SECRET, SECRET]}, "graph.labels[1]", "repeats"),
        ({"edges": [[0, 1]], "directed": True}, "graph.directed", "unknown key 'directed'"),
        ({"edges": []}, "graph", "no vertices"),
        ({"edges": " \n"}, "graph", "no vertices"),
    ],
)
def test_malformed_edges_are_refused_by_position_without_echoing_content(
    source: dict[str, Any], field: str, expected: str
):
    with pytest.raises(GraphError) as caught:
        load_graph(source)

    assert caught.value.field == field
    assert expected in str(caught.value)
    assert SECRET not in str(caught.value)


def test_limits_are_checked_before_the_edges_are_read():
    limits = GraphLimits(max_vertices=10, max_edges=3)
    many = [[0, 1]] * 3 + [["not even looked at"]]

    with pytest.raises(GraphError, match="4 edges, over the limit of 3") as edges:
        load_graph({"edges": many}, limits=limits)
    with pytest.raises(GraphError, match="4 edges, over the limit of 3"):
        load_graph({"edges": "0 1\n1 2\n2 3\nx y"}, limits=limits)
    with pytest.raises(GraphError, match="11 vertices, over the limit of 10") as vertices:
        load_graph({"edges": [[0, 1]], "vertices": 11}, limits=limits)
    with pytest.raises(GraphError, match=r"in 0\.\.9") as implied:
        load_graph({"edges": [[0, 10]]}, limits=limits)

    assert (edges.value.field, vertices.value.field) == ("graph.edges", "graph.vertices")
    assert implied.value.field == "graph.edges[0]"


def test_the_memory_budget_is_checked_before_building():
    limits = GraphLimits(memory_bytes=1000)
    with pytest.raises(GraphError, match="GOSSIPSIM_CHECK_MEMORY_BYTES"):
        load_graph({"edges": [[0, 1]], "vertices": 1000}, limits=limits)
