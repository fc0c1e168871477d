"""networkx graphs in a spec given from Python, turned into graph objects of the results store.

A spec travels as JSON (its id is a digest of it, and the runners build each graph again from
its source), so a networkx object cannot stay in it. Each one becomes a GraphML file under
``graphs/`` of the results store, named by a digest of its content
(``graphs/inline-<16 hex>.graphml``: the same graph is the same object, and the same spec the
same simulation id), and the entry becomes an ``object`` source (docs/spec.md) that embedded
mode reads from the results directory. GraphML keeps what the graph sources read from a
networkx graph: the vertex labels (as text, numbered by the rule of
:mod:`gossipsim.common.graphs.labels`), isolated vertices, and a numeric, finite ``value`` on
every vertex as the initial values. Other attributes are left out; directed and multi-edges
become undirected simple edges, as every graph source makes them.

A ``graphs`` item may be a networkx graph, named by its ``name`` (or ``inline-<8 hex>``
without one), or ``{"graph": G, "name": …}`` with any other keys of a graph source
(``values``, ``largest_component``).
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Mapping
from typing import Any

import networkx as nx

from gossipsim.common.graphs.inputs import GRAPH_OBJECT_PREFIX

__all__ = ["graph_object", "inline_graphs"]


def inline_graphs(spec: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """``spec`` with every networkx graph in ``graphs`` replaced by an object source, and the
    objects to store (key -> GraphML bytes). A spec without one comes back as it was."""
    graphs = spec.get("graphs")
    if not isinstance(graphs, list) or not any(_is_inline(item) for item in graphs):
        return dict(spec), {}
    objects: dict[str, bytes] = {}
    entries = []
    for item in graphs:
        if not _is_inline(item):
            entries.append(item)
            continue
        rest = dict(item) if isinstance(item, Mapping) else {}
        graph = rest.pop("graph", item)
        key, data = graph_object(graph)
        objects[key] = data
        name = rest.pop("name", None) or graph.name or key.rsplit("/", 1)[1][:15]
        entries.append({"name": name, "object": key, **rest})
    return {**spec, "graphs": entries}, objects


def _is_inline(item: object) -> bool:
    return isinstance(item, nx.Graph) or (
        isinstance(item, Mapping) and isinstance(item.get("graph"), nx.Graph)
    )


def graph_object(graph: nx.Graph) -> tuple[str, bytes]:
    """The graph as GraphML and the object key its content names."""
    data = _graphml(graph)
    digest = hashlib.blake2b(data, digest_size=8).hexdigest()
    return f"{GRAPH_OBJECT_PREFIX}inline-{digest}.graphml", data


def _graphml(graph: nx.Graph) -> bytes:
    nodes = list(graph.nodes)
    values = [graph.nodes[node].get("value") for node in nodes]
    numeric = bool(values) and all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )
    clean = nx.Graph()
    for node, value in zip(nodes, values, strict=True):
        clean.add_node(node, **({"value": float(value)} if numeric else {}))
    clean.add_edges_from((u, v) for u, v in graph.edges() if u != v)
    buffer = io.BytesIO()
    nx.write_graphml(clean, buffer)
    return buffer.getvalue()
