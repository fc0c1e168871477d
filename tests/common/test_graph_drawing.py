"""A graph's drawing: the same graph always gets the same layout, every layout fills [-1, 1],
and a drawing that arrives from the broker is checked before anything is drawn from it."""

from __future__ import annotations

from typing import Any

import networkx as nx
import orjson
import pytest

from gossipsim.common.graphs.drawing import LAYOUTS, VERTEX_ATTRIBUTES, graph_drawing
from gossipsim.common.graphs.graph import Graph
from gossipsim.common.messaging.messages import MessageError, RunGraph, decode, encode


def barabasi(n: int = 60) -> Graph:
    return Graph.from_networkx(nx.barabasi_albert_graph(n, 2, seed=4), name="ba")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_is_deterministic_and_fills_the_unit_square(layout):
    graph = barabasi()
    first, again = graph_drawing(graph, layout), graph_drawing(graph, layout)
    assert first == again
    assert max(max(map(abs, first.x)), max(map(abs, first.y))) == pytest.approx(1.0, abs=1e-4)
    assert len(first.sources) == graph.num_edges
    assert all(s < t for s, t in zip(first.sources, first.targets, strict=True))


def test_a_drawing_carries_the_vertex_attributes_of_the_graph():
    graph = barabasi()
    drawing = graph_drawing(graph)
    assert set(drawing.attributes) == set(VERTEX_ATTRIBUTES)
    assert list(drawing.attributes["degree"]) == [float(d) for d in graph.degrees]
    assert sum(drawing.attributes["pagerank"]) == pytest.approx(1.0)
    assert len(set(drawing.attributes["community"])) > 1
    assert drawing.labels == tuple(str(v) for v in range(graph.n))


def graph_message(**drawing_changes: Any) -> bytes:
    body = {
        "kind": "run.graph",
        "version": 1,
        "simulation_id": "sim-1",
        "run_id": "g.default.r0",
        "graph_key": "ab" * 16,
        "drawing": {**encode_drawing(), **drawing_changes},
    }
    return orjson.dumps(body)


def encode_drawing() -> dict[str, Any]:
    message = RunGraph(
        simulation_id="sim-1",
        run_id="g.default.r0",
        graph_key="ab" * 16,
        drawing=graph_drawing(barabasi(10)),
    )
    drawing: dict[str, Any] = orjson.loads(encode(message))["drawing"]
    return drawing


def test_a_run_graph_message_survives_the_wire():
    message = decode(graph_message())
    assert isinstance(message, RunGraph) and message.drawing == graph_drawing(barabasi(10))


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"sources": [0, 99]}, "drawing.targets", "as long as sources"),
        ({"sources": [0], "targets": [99]}, "drawing.targets", "must name vertices 0..9"),
        ({"sources": [-1], "targets": [1]}, "drawing.sources", "must name vertices"),
        ({"x": [0.0]}, "drawing.x", "one position per vertex"),
        ({"layout": "random"}, "drawing.layout", "unknown layout"),
        ({"attributes": {"colour": [1.0] * 10}}, "drawing.attributes.colour", "unknown"),
        ({"attributes": {"degree": [1.0]}}, "drawing.attributes.degree", "one value per vertex"),
        ({"labels": []}, "drawing.labels", "1..20,000 vertices"),
    ],
)
def test_a_forged_drawing_is_refused_naming_the_field(changes, field, words):
    with pytest.raises(MessageError) as error:
        decode(graph_message(**changes))
    assert error.value.field == field and words in str(error.value)


def test_a_graph_key_that_is_no_digest_is_refused():
    body = orjson.loads(graph_message())
    body["graph_key"] = "../../etc"
    with pytest.raises(MessageError) as error:
        decode(orjson.dumps(body))
    assert error.value.field == "graph_key"
