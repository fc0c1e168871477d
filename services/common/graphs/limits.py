"""How big a graph a source may build, checked before anything big is allocated.

A mistyped ``n`` should fail in milliseconds with the parameter's name, not after minutes of
swapping, so every graph source asks :class:`GraphLimits` first: generators from their
parameters, files from their line counts, and :func:`~gossipsim.common.graphs.sources.load_graph`
once more on the finished graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeGuard

import numpy as np

from gossipsim.common.errors import GraphError
from gossipsim.common.graphs.graph import Graph

__all__ = ["DEFAULT_LIMITS", "GraphLimits", "is_int"]


def is_int(value: object) -> TypeGuard[int]:
    """An integer from YAML, JSON or numpy; ``True`` is not a vertex count."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphLimits:
    """Largest graph a source may build; guards the machine against a typo in ``n``.

    The defaults fit a 16 GB machine with room for the simulation itself; the settings
    ``GOSSIPSIM_MAX_VERTICES`` and ``GOSSIPSIM_MAX_EDGES`` raise them (read by
    :mod:`gossipsim.common.runtime.variables`).
    """

    max_vertices: int = 10_000_000
    max_edges: int = 100_000_000

    def __post_init__(self) -> None:
        for name in ("max_vertices", "max_edges"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise ValueError(f"GraphLimits.{name} must be a positive integer, got {value!r}")

    def check_vertices(self, n: int, *, field: str) -> None:
        if n > self.max_vertices:
            raise GraphError(
                f"the graph would have {n:,} vertices, over the limit of {self.max_vertices:,};"
                " raise it with the setting GOSSIPSIM_MAX_VERTICES if the machine has the memory",
                field=field,
            )

    def check_edges(self, m: int, *, field: str) -> None:
        if m > self.max_edges:
            raise GraphError(
                f"the graph would have {m:,} edges, over the limit of {self.max_edges:,};"
                " raise it with the setting GOSSIPSIM_MAX_EDGES if the machine has the memory",
                field=field,
            )

    def check(self, graph: Graph, *, field: str) -> None:
        self.check_vertices(graph.n, field=field)
        self.check_edges(graph.num_edges, field=field)


DEFAULT_LIMITS = GraphLimits()
"""The limits of a source given none; frozen, so this one instance serves every call."""
