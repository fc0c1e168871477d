"""How big a graph a source may build, checked before anything big is allocated.

A mistyped ``n`` should fail in milliseconds with the parameter's name, not after minutes of
swapping, and a hostile spec must not be able to take the memory of the service that checks
it, so every graph source asks :class:`GraphLimits` first: generators from their parameters,
files from their sizes and line counts, and :func:`~gossipsim.common.graphs.sources.load_graph`
once more on the finished graph.

How the defaults were derived (docs/configuration.md says the same). The scheduler checks a
spec by building each of its graphs once, in a worker process whose memory is capped at
:data:`CHECK_MEMORY_BYTES` above its baseline; its pod has a 2Gi limit (k8s/base/services/
scheduler.yaml), which leaves about 1 GiB for the scheduler itself, the worker's baseline and
headroom. Building a graph into CSR peaks at about 65-73 bytes per undirected edge plus a few
bytes per vertex (measured: 699 MiB for ``random_k_out_graph`` n = 1M, k = 10 and for n = 5M,
k = 2; 658 MiB for a 2236 x 2236 grid); :func:`csr_build_bytes` takes 80 and 16. The largest
graph the default limits allow, 5M vertices and 10M edges, is then estimated at 880 MB, inside
the 1 GiB budget, and the runner (4Gi, k8s/base/services/runner.yaml) builds the same graph
with the same peak beside its cache of graphs. Raising the limits needs the budget raised
too (``GOSSIPSIM_CHECK_MEMORY_BYTES``), or the estimate refuses the graph by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeGuard

import numpy as np

from gossipsim.common.errors import GraphError
from gossipsim.common.graphs.graph import Graph

__all__ = [
    "CHECK_MEMORY_BYTES",
    "CSR_BYTES_PER_EDGE",
    "CSR_BYTES_PER_VERTEX",
    "DEFAULT_LIMITS",
    "NETWORKX_BYTES_PER_EDGE",
    "NETWORKX_BYTES_PER_VERTEX",
    "GraphLimits",
    "csr_build_bytes",
    "is_int",
    "networkx_build_bytes",
]

CHECK_MEMORY_BYTES = 1024 * 1024 * 1024
"""Default memory budget of building one graph: half the scheduler pod's 2Gi limit."""

CSR_BYTES_PER_EDGE = 80
"""Peak of :meth:`Graph.from_edges` per undirected edge (measured 65-73, with a margin)."""

CSR_BYTES_PER_VERTEX = 16
"""Peak of :meth:`Graph.from_edges` per vertex (row pointers and their search keys)."""

NETWORKX_BYTES_PER_EDGE = 512
"""Peak of a networkx generator and its conversion to CSR per edge (measured 260-370 with
networkx 3.6 for Barabási-Albert, Turán, Harary, caveman and cograph graphs)."""

NETWORKX_BYTES_PER_VERTEX = 1024
"""The same per vertex (measured 500-1,400: a node's dicts, and positions for lattices)."""


def is_int(value: object) -> TypeGuard[int]:
    """An integer from YAML, JSON or numpy; ``True`` is not a vertex count."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def csr_build_bytes(vertices: int, edges: int) -> int:
    """Estimated peak memory of building a graph of this size straight into CSR."""
    return CSR_BYTES_PER_EDGE * edges + CSR_BYTES_PER_VERTEX * vertices


def networkx_build_bytes(vertices: int, edges: int) -> int:
    """Estimated peak memory of building a graph of this size with networkx, then CSR."""
    return NETWORKX_BYTES_PER_EDGE * edges + NETWORKX_BYTES_PER_VERTEX * vertices


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphLimits:
    """Largest graph a source may build, and the memory building one may take.

    Read from ``GOSSIPSIM_MAX_VERTICES``, ``GOSSIPSIM_MAX_EDGES`` and
    ``GOSSIPSIM_CHECK_MEMORY_BYTES`` (:mod:`gossipsim.common.runtime.variables`) by every
    service, so the scheduler's check and the runner agree on what can be built. The defaults
    fit the pods' memory limits in k8s/ (see the module's docstring for the derivation).
    """

    max_vertices: int = 5_000_000
    max_edges: int = 10_000_000
    memory_bytes: int = CHECK_MEMORY_BYTES

    def __post_init__(self) -> None:
        for name in ("max_vertices", "max_edges", "memory_bytes"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise ValueError(f"GraphLimits.{name} must be a positive integer, got {value!r}")

    def check_vertices(self, n: int, *, field: str) -> None:
        if n > self.max_vertices:
            raise GraphError(
                f"the graph would have {_count(n)} vertices, over the limit of"
                f" {self.max_vertices:,}; raise it with the setting GOSSIPSIM_MAX_VERTICES if"
                " the machine has the memory",
                field=field,
            )

    def check_edges(self, m: int, *, field: str) -> None:
        if m > self.max_edges:
            raise GraphError(
                f"the graph would have {_count(m)} edges, over the limit of {self.max_edges:,};"
                " raise it with the setting GOSSIPSIM_MAX_EDGES if the machine has the memory",
                field=field,
            )

    def check_memory(self, needed: int, *, what: str, field: str) -> None:
        """Refuse a build estimated at ``needed`` bytes over the budget; ``what`` says how the
        estimate was made, so the user sees which choice costs the memory."""
        if needed > self.memory_bytes:
            raise GraphError(
                f"building {what} would take about {_mib(needed)} MiB, over the budget of"
                f" {_mib(self.memory_bytes)} MiB; raise it with the setting"
                " GOSSIPSIM_CHECK_MEMORY_BYTES if the machine (or pod) has the memory",
                field=field,
            )

    def check(self, graph: Graph, *, field: str) -> None:
        self.check_vertices(graph.n, field=field)
        self.check_edges(graph.num_edges, field=field)


def _count(value: int) -> str:
    """A count for a message; estimates of astronomical size are capped, not computed."""
    return f"{value:,}" if value < 10**30 else "more than 10^30"


def _mib(value: int) -> str:
    return f"{value / 2**20:,.0f}" if value < 10**30 else "more than 10^24"


DEFAULT_LIMITS = GraphLimits()
"""The limits of a source given none; frozen, so this one instance serves every call."""
