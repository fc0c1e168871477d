"""runs/<run>/graph.gexf: a run's graph with its layout, vertex attributes and values over time,
for Gephi.

GEXF 1.3, written by networkx (``nx.write_gexf(..., version="1.3")``), never by hand. Each
vertex carries its label, the drawing's attributes (community as an integer; degree,
clustering, core and PageRank as floats), a position (the drawing's [-1, 1] layout scaled to
:data:`POSITION_SCALE` units, Gephi's usual range) and a size by degree. Its value is a
dynamic attribute, one spell per sampled round: from that round to the next sampled one, the
last to one round after it. The spell bounds are floats, so networkx declares
``timeformat="double"``, which GEXF 1.3 allows (it has no "long", which networkx writes for
integer bounds). A vertex the run did not sample has no value spells.

GEXF bounds are closed unless marked open, which networkx cannot write: the round where one
spell ends and the next begins lies in both.
"""

from __future__ import annotations

import io
from typing import Any

import networkx as nx
import numpy as np

from gossipsim.collector.history_table import RunHistory, check_vertices
from gossipsim.common.graphs.drawing import GraphDrawing

__all__ = ["MAX_SIZE", "MIN_SIZE", "POSITION_SCALE", "gexf_bytes"]

GEXF_VERSION = "1.3"
POSITION_SCALE = 400.0  # Gephi units per unit of the drawing's [-1, 1] layout
MIN_SIZE = 4.0
MAX_SIZE = 24.0
"""A vertex's viz size: MIN_SIZE for the lowest degree, MAX_SIZE for the highest, linear in
between (all MIN_SIZE when every degree is the same)."""


def gexf_bytes(drawing: GraphDrawing, history: RunHistory | None, *, graph_name: str) -> bytes:
    """graph.gexf of a run: its graph ``graph_name`` as ``drawing`` lays it out, with the
    sampled values of ``history`` (none without one) as the dynamic attribute ``value``."""
    graph = nx.Graph(name=graph_name)
    if history is not None:
        graph.graph["mode"] = "dynamic"
    sizes = _sizes(drawing)
    spells = _value_spells(drawing, history) if history is not None else {}
    for v in range(drawing.n):
        data: dict[str, Any] = {
            "label": drawing.labels[v],
            "viz": {
                "position": {
                    "x": round(drawing.x[v] * POSITION_SCALE, 2),
                    "y": round(drawing.y[v] * POSITION_SCALE, 2),
                    "z": 0.0,
                },
                "size": sizes[v],
            },
        }
        for name, values in drawing.attributes.items():
            data[name] = int(values[v]) if name == "community" else float(values[v])
        if v in spells:
            data["value"] = spells[v]
        graph.add_node(v, **data)
    graph.add_edges_from(zip(drawing.sources, drawing.targets, strict=True))
    buffer = io.BytesIO()
    nx.write_gexf(graph, buffer, version=GEXF_VERSION)
    return buffer.getvalue()


def _sizes(drawing: GraphDrawing) -> list[float]:
    """Viz sizes by degree (counted from the drawing's edges: every drawing has those)."""
    degrees = np.bincount(
        np.asarray(drawing.sources + drawing.targets, dtype=np.int64), minlength=drawing.n
    ).astype(np.float64)
    low, high = float(degrees.min()), float(degrees.max())
    if high == low:
        return [MIN_SIZE] * drawing.n
    scaled = MIN_SIZE + (MAX_SIZE - MIN_SIZE) * (degrees - low) / (high - low)
    return [round(float(size), 2) for size in scaled]


def _value_spells(
    drawing: GraphDrawing, history: RunHistory
) -> dict[int, list[tuple[float, float, float]]]:
    """Per sampled vertex its (value, start, end) spells: [round, next sampled round), the
    last [round, round + 1). Float bounds: networkx then declares timeformat "double"."""
    check_vertices(history, drawing.n)
    rounds = [float(r) for r in history.rounds]
    ends = [*rounds[1:], rounds[-1] + 1.0] if rounds else []
    columns = history.values.T.tolist()  # per sampled vertex, its values by round
    return {
        int(vertex): [
            (float(value), start, end)
            for value, start, end in zip(column, rounds, ends, strict=True)
        ]
        for vertex, column in zip(history.vertices, columns, strict=True)
    }
