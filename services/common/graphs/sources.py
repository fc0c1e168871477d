"""Turn a graph description from a spec into a :class:`Graph`.

A description is a plain mapping (as parsed from YAML or JSON) with exactly one key that picks
its form, each served by its own module:

- ``generator``: a generator by name with ``params`` and ``seed``
  (:mod:`~gossipsim.common.graphs.source_generator`).
- ``adjacency`` (or ``adjacencyList``, the seed's spelling): lines ``"u v1 v2 …,"``
  (:mod:`~gossipsim.common.graphs.source_text`).
- ``edges``: a graph as built, pairs of vertex numbers with ``vertices`` and ``labels``; what
  ``gossipsim submit`` sends in place of a local file
  (:mod:`~gossipsim.common.graphs.source_edges`).
- ``file``: an edge list, adjacency list, GraphML, GEXF or GML file
  (:mod:`~gossipsim.common.graphs.source_text`).
- ``object``: the same formats as an object of the store under ``graphs/``, fetched beforehand
  (:mod:`gossipsim.common.storage.graph_objects`); the way a deployment gets its graphs.
- ``resource``: a YAML file holding one seed ``kind: Graph`` resource
  (:mod:`~gossipsim.common.graphs.source_seed_resource`).

Which files may be read, and how many bytes of one, is the caller's policy
(:class:`~gossipsim.common.graphs.inputs.GraphInputs`): the services allow only files inside
the operator's roots, ``gossipsim run`` any file (:data:`LOCAL_INPUTS`, the default here).

Every form also takes ``name``, initial values (``values`` as a list or ``valueList`` as the
seed's comma-separated string), and ``largest_component: true``, which keeps only the largest
connected component (values are given for the whole graph, before it is cut).
Everything is checked before anything big is built, because a mistyped ``n`` should fail in
milliseconds with the parameter's name, not after minutes of swapping; errors are
:class:`GraphError` with ``field`` set to the path of the culprit. Vertices are numbered by
the rule of :mod:`~gossipsim.common.graphs.labels`.

This module is the front door: it picks the form and re-exports the public names of the
modules behind it, so callers need only this one import.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx

from gossipsim.common.errors import GraphError
from gossipsim.common.graphs.graph import Graph
from gossipsim.common.graphs.inputs import LOCAL_INPUTS, GraphInputs
from gossipsim.common.graphs.labels import graph_from_networkx
from gossipsim.common.graphs.limits import DEFAULT_LIMITS, GraphLimits
from gossipsim.common.graphs.source_edges import (
    EDGES_FORM_KEYS,
    edges_source,
    graph_from_edge_list,
)
from gossipsim.common.graphs.source_generator import (
    NATIVE_GENERATORS,
    NETWORKX_MAX_VERTICES,
    load_generated,
)
from gossipsim.common.graphs.source_seed_resource import (
    find_seed_graphs,
    load_resource_file,
    load_seed_graph_resource,
    parse_value_list,
)
from gossipsim.common.graphs.source_text import graph_from_adjacency, load_file, load_object

__all__ = [
    "LOCAL_INPUTS",
    "NATIVE_GENERATORS",
    "NETWORKX_MAX_VERTICES",
    "GraphInputs",
    "GraphLimits",
    "edges_source",
    "find_seed_graphs",
    "load_graph",
    "load_seed_graph_resource",
    "parse_value_list",
]

_FORMS = ("generator", "adjacency", "adjacencyList", "edges", "file", "object", "resource")
_COMMON_KEYS = frozenset({"name", "values", "valueList", "largest_component"})
_FORM_KEYS: Mapping[str, frozenset[str]] = {
    "generator": frozenset({"params", "seed"}),
    "edges": EDGES_FORM_KEYS,
    "file": frozenset({"format"}),
    "object": frozenset({"format"}),
}


def load_graph(
    source: Mapping[str, Any] | nx.Graph,
    *,
    limits: GraphLimits = DEFAULT_LIMITS,
    base_dir: Path | None = None,
    field: str = "graph",
    inputs: GraphInputs = LOCAL_INPUTS,
) -> Graph:
    """Build the graph a spec describes; raise :class:`GraphError` naming the bad field.

    ``inputs`` says which local files may be read and holds the fetched store objects; the
    default, any file, is ``gossipsim run``'s: a service passes its own.

    A networkx graph (Python callers) is converted as a GraphML file would be: vertex labels
    by the rule of :mod:`~gossipsim.common.graphs.labels`, a numeric ``value`` on every vertex
    as its initial value, directed and multi-edges as undirected simple edges.
    """
    if isinstance(source, nx.Graph):
        return _from_networkx(source, limits=limits, field=field)
    if not isinstance(source, Mapping):
        raise GraphError(f"expected a mapping, got {type(source).__name__}", field=field)
    form = _select_form(source, field)
    if form == "generator":
        graph = load_generated(source, limits=limits, field=field)
    elif form in ("adjacency", "adjacencyList"):
        graph = graph_from_adjacency(
            source[form], name="adjacency", limits=limits, field=f"{field}.{form}"
        )
    elif form == "edges":
        graph = graph_from_edge_list(source, limits=limits, field=field)
    elif form == "file":
        graph = load_file(source, limits=limits, base_dir=base_dir, field=field, inputs=inputs)
    elif form == "object":
        graph = load_object(source, limits=limits, field=field, inputs=inputs)
    else:
        graph = load_resource_file(
            source["resource"],
            limits=limits,
            base_dir=base_dir,
            field=f"{field}.resource",
            inputs=inputs,
        )
    graph = _apply_overrides(graph, source, field)
    if _flag(source, "largest_component", field):
        graph = graph.largest_component()
    if graph.n == 0:
        raise GraphError("the graph has no vertices", field=field)
    limits.check(graph, field=field)
    return graph


def _from_networkx(source: nx.Graph, *, limits: GraphLimits, field: str) -> Graph:
    """A networkx graph as a Graph, named by its ``name`` (``graph`` when it has none)."""
    limits.check_vertices(source.number_of_nodes(), field=field)
    limits.check_edges(source.number_of_edges(), field=field)
    graph = graph_from_networkx(source, name=str(source.name or "graph"))
    if graph.n == 0:
        raise GraphError("the graph has no vertices", field=field)
    limits.check(graph, field=field)
    return graph


def _select_form(source: Mapping[str, Any], field: str) -> str:
    forms = [key for key in _FORMS if key in source]
    if len(forms) != 1:
        found = f"found {', '.join(forms)}" if forms else "found none"
        raise GraphError(f"give exactly one of {', '.join(_FORMS)}; {found}", field=field)
    allowed = _COMMON_KEYS | _FORM_KEYS.get(forms[0], frozenset()) | {forms[0]}
    for key in source:
        if key not in allowed:
            raise GraphError(
                f"unknown key {key!r} for a {forms[0]} graph;"
                f" allowed: {', '.join(sorted(allowed))}",
                field=f"{field}.{key}",
            )
    return forms[0]


def _flag(source: Mapping[str, Any], key: str, field: str) -> bool:
    value = source.get(key, False)
    if not isinstance(value, bool):
        raise GraphError(f"{key} must be true or false", field=f"{field}.{key}")
    return value


def _apply_overrides(graph: Graph, source: Mapping[str, Any], field: str) -> Graph:
    """``name`` and explicit values given beside any form replace what the form produced."""
    if "name" in source:
        name = source["name"]
        if not isinstance(name, str) or not name:
            raise GraphError("name must be a non-empty string", field=f"{field}.name")
        graph = dataclasses.replace(graph, name=name)
    if "values" in source and "valueList" in source:
        raise GraphError("give values or valueList, not both", field=f"{field}.values")
    for key in ("values", "valueList"):
        if key in source:
            values = parse_value_list(source[key], n=graph.n, field=f"{field}.{key}")
            graph = graph.with_initial_values(values)
    return graph
