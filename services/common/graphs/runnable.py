"""Whether gossip can run on a graph at all, checked when a spec is checked and again by the
runner before any node starts.

Every rule needs each vertex to have a neighbour to pick, so a graph with one vertex, no edges
or an isolated vertex can never run; nor can it be split into more shards than it has vertices.
Finding that out at check time turns a run-time failure (exit 1, a dead letter) into a
rejected spec (exit 2) that names the field.

Errors name vertices by their number, never by their label: labels come from the graph's
source, which may be a file whose content must not be echoed.
"""

from __future__ import annotations

import numpy as np

from gossipsim.common.errors import GraphError
from gossipsim.common.graphs.graph import Graph

__all__ = ["check_runnable", "connectivity_warning"]


def check_runnable(graph: Graph, *, field: str, shards: int = 1) -> None:
    """GraphError (at ``field``) unless gossip can run on ``graph`` split into ``shards``."""
    if graph.n < 2:
        raise GraphError(
            f"graph {graph.name!r} has {graph.n} vertex; gossip needs at least two", field=field
        )
    if graph.num_edges == 0:
        raise GraphError(f"graph {graph.name!r} has no edges; gossip needs some", field=field)
    isolated = np.flatnonzero(graph.degrees == 0)
    if len(isolated):
        numbers = ", ".join(str(int(v)) for v in isolated[:5])
        more = f" and {len(isolated) - 5} more" if len(isolated) > 5 else ""
        which = (
            f"an isolated vertex (number {numbers})"
            if len(isolated) == 1
            else f"{len(isolated)} isolated vertices (numbers {numbers}{more})"
        )
        raise GraphError(
            f"graph {graph.name!r} has {which}; every rule needs a neighbour to pick. Remove"
            " isolated vertices, or add largest_component: true to the graph to keep its"
            " largest connected component.",
            field=field,
        )
    if shards > graph.n:
        raise GraphError(
            f"graph {graph.name!r} has {graph.n} vertices, fewer than the {shards} shards asked"
            " for; use at most one shard per vertex",
            field="shards",
        )


def connectivity_warning(graph: Graph, *, field: str) -> str | None:
    """What to tell a user whose graph is not connected, or None when it is.

    Such a graph can run, but no value crosses from one component to another: min/max and
    averaging runs can converge only if the components happen to agree, rumors never reach
    the other components, and runs go on to ``max_rounds``. Nothing is wrong with the spec,
    so this is a warning, not a rejection, with the way out."""
    count, component = graph.component_labels()
    if count <= 1:
        return None
    largest = int(np.bincount(component).max())
    return (
        f"{field}: graph {graph.name!r} is not connected: {count} components, the largest"
        f" has {largest:,} of {graph.n:,} vertices. No value crosses between components, so"
        " runs on it will likely stop at max_rounds without converging; add"
        " largest_component: true to the graph to keep only its largest component."
    )
