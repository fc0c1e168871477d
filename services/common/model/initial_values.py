"""Where a run starts: the initial value of every vertex.

``auto`` does what a user of each rule expects: rumors start with one informed vertex (picked
by the run's randomness), other rules take the graph's own values (the seed ``valueList``) or,
when it has none, random integers 0..100 as the seed simulator's ``randomInitialization`` did.
"""

from __future__ import annotations

import enum

import numpy as np

from gossipsim.common.errors import InvalidInput
from gossipsim.common.graphs.graph import Graph
from gossipsim.common.model.algorithms import Rule
from gossipsim.common.model.rng import STREAM_INIT, draw_units, round_key

_INIT_ROUND = 0  # initial values use round 0's key; rounds proper start at 1


class Initialization(enum.Enum):
    AUTO = "auto"
    GRAPH = "graph"  # the graph's values (valueList)
    RANDOM_INT = "random_int"  # integers 0..100 (the seed's randomInitialization)
    UNIFORM = "uniform"  # floats in [0, 1)
    SINGLE_SOURCE = "single_source"  # one informed vertex (given, or drawn), the others 0


def initial_values(
    graph: Graph,
    rule: Rule,
    initialization: Initialization,
    run_key: int,
    *,
    source_vertex: int | None = None,
) -> np.ndarray:
    """Every vertex's value at round 0. ``source_vertex``: with ``single_source``, the informed
    vertex; None draws one from the run's randomness."""
    if initialization is Initialization.AUTO:
        if rule.is_rumor:
            initialization = Initialization.SINGLE_SOURCE
        elif graph.initial_values is not None:
            initialization = Initialization.GRAPH
        else:
            initialization = Initialization.RANDOM_INT
    draws = draw_units(round_key(run_key, _INIT_ROUND), graph.n, STREAM_INIT)
    if initialization is Initialization.GRAPH:
        if graph.initial_values is None:
            raise InvalidInput(
                f"graph {graph.name!r} has no initial values; use another initialization",
                field="initialization",
            )
        return graph.initial_values.astype(np.float64)
    if initialization is Initialization.RANDOM_INT:
        return np.floor(draws * 101.0)
    if initialization is Initialization.UNIFORM:
        return draws
    values = np.zeros(graph.n)
    if source_vertex is not None:
        if not 0 <= source_vertex < graph.n:
            raise InvalidInput(
                f"vertex {source_vertex} is not in graph {graph.name!r}, which has ids"
                f" 0..{graph.n - 1}",
                field="initialization",
            )
        values[source_vertex] = 1.0
    else:
        values[min(int(draws[0] * graph.n), graph.n - 1)] = 1.0
    return values
