"""What a run's pictures need of its graph: a layout, the edges and per-vertex attributes.

The runner has the graph; the collector, which draws and writes the files, has only the run's
plan. So the runner computes a :class:`GraphDrawing` once per graph (the layout is the costly
part: seconds at 2000 vertices), keeps it with the graph, and sends it to the collector in a
run.graph message; the collector stores it beside the simulation's results and draws every run
of that graph with the same layout, so frames of different runs compare position by position.

Everything is deterministic: the layouts are seeded, the communities are the metrics' Louvain
(seed 0), so the same graph always gets the same drawing.

A drawing is checked on construction (it arrives from the broker): lengths agree, edges name
vertices of the graph, positions are finite, and sizes stay within the drawing caps of
:data:`MAX_DRAWN_VERTICES` and :data:`MAX_DRAWN_EDGES` (the ceilings of the spec's
``visualize``: :class:`~gossipsim.common.spec.run_plan.Visualization`).
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass

import igraph
import networkx as nx
import numpy as np

from gossipsim.common.errors import InvalidInput
from gossipsim.common.graphs.graph import Graph
from gossipsim.common.graphs.metrics import LOUVAIN_LIMIT, louvain_communities

__all__ = [
    "DEFAULT_DRAWN_VERTICES",
    "LAYOUTS",
    "MAX_DRAWN_EDGES",
    "MAX_DRAWN_VERTICES",
    "VERTEX_ATTRIBUTES",
    "GraphDrawing",
    "graph_drawing",
]

LAYOUTS = ("spring", "kamada_kawai", "spectral", "circular")
"""Layouts a drawing may use: force-directed (Fruchterman-Reingold, the default),
energy-minimising (Kamada-Kawai: seconds above ~1000 vertices), by the Laplacian's
eigenvectors, or on a circle. The first two are python-igraph's (compiled: 0.23 s for a
2000-vertex BA graph where networkx's spring layout takes 17 s), the others networkx's."""
DEFAULT_DRAWN_VERTICES = 2000
MAX_DRAWN_VERTICES = 20_000
"""The ceiling of ``visualize.max_vertices``: every sampled round of every vertex is history,
and each frame draws every vertex and edge."""
MAX_DRAWN_EDGES = 100_000
"""Edges a drawing holds at most: the drawing travels to the collector in one message."""

VERTEX_ATTRIBUTES = ("community", "degree", "clustering", "core", "pagerank")
"""Per-vertex attributes a drawing carries (Gephi shows them; frames do not use them):
the Louvain community (-1 above the Louvain limit), the degree, the local clustering
coefficient, the k-core number and the PageRank."""

POSITION_DIGITS = 5  # positions lie in [-1, 1]; 5 decimals are below a pixel at any size


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphDrawing:
    """A graph's layout, edges and vertex attributes, by vertex id ``0..n-1``."""

    layout: str
    labels: tuple[str, ...]
    x: tuple[float, ...]
    y: tuple[float, ...]
    sources: tuple[int, ...]  # each undirected edge once, sources[k] < targets[k]
    targets: tuple[int, ...]
    attributes: dict[str, tuple[float, ...]]  # VERTEX_ATTRIBUTES by name, one value per vertex

    @property
    def n(self) -> int:
        return len(self.labels)

    def __post_init__(self) -> None:
        n = len(self.labels)
        if self.layout not in LAYOUTS:
            raise InvalidInput(f"unknown layout {self.layout!r}", field="layout")
        if not 1 <= n <= MAX_DRAWN_VERTICES:
            raise InvalidInput(f"must hold 1..{MAX_DRAWN_VERTICES:,} vertices", field="labels")
        for name in ("x", "y"):
            values = getattr(self, name)
            if len(values) != n:
                raise InvalidInput(f"must hold one position per vertex ({n})", field=name)
            if not all(math.isfinite(v) for v in values):
                raise InvalidInput("must hold finite numbers", field=name)
        if len(self.sources) != len(self.targets):
            raise InvalidInput("must be as long as sources", field="targets")
        if len(self.sources) > MAX_DRAWN_EDGES:
            raise InvalidInput(f"must hold at most {MAX_DRAWN_EDGES:,} edges", field="sources")
        for name in ("sources", "targets"):
            ends = getattr(self, name)
            if ends and not (min(ends) >= 0 and max(ends) < n):
                raise InvalidInput(f"must name vertices 0..{n - 1}", field=name)
        for name, values in self.attributes.items():
            if name not in VERTEX_ATTRIBUTES:
                raise InvalidInput(
                    f"unknown attribute; expected one of: {', '.join(VERTEX_ATTRIBUTES)}",
                    field=f"attributes.{name}",
                )
            if len(values) != n:
                raise InvalidInput(
                    f"must hold one value per vertex ({n})", field=f"attributes.{name}"
                )


def graph_drawing(graph: Graph, layout: str = "spring") -> GraphDrawing:
    """The drawing of ``graph`` with the networkx ``layout`` (one of LAYOUTS), scaled to
    [-1, 1], and its vertex attributes. Seconds at a few thousand vertices: call it once per
    graph (the runner keeps it with the graph)."""
    if layout not in LAYOUTS:
        raise InvalidInput(f"unknown layout {layout!r}; expected one of: {', '.join(LAYOUTS)}")
    nxg = graph.to_networkx()
    positions = _positions(nxg, layout)
    rows = np.repeat(np.arange(graph.n), graph.degrees)
    once = rows < graph.indices
    communities = (
        louvain_communities(graph, seed=0)
        if graph.n <= LOUVAIN_LIMIT
        else np.full(graph.n, -1, dtype=np.int64)
    )
    clustering = nx.clustering(nxg)
    core = nx.core_number(nxg)
    pagerank = nx.pagerank(nxg) if graph.num_edges else dict.fromkeys(nxg, 1.0 / graph.n)
    vertices = range(graph.n)
    return GraphDrawing(
        layout=layout,
        labels=tuple(graph.label(v) for v in vertices),
        x=tuple(round(float(positions[v][0]), POSITION_DIGITS) for v in vertices),
        y=tuple(round(float(positions[v][1]), POSITION_DIGITS) for v in vertices),
        sources=tuple(int(v) for v in rows[once]),
        targets=tuple(int(v) for v in graph.indices[once]),
        attributes={
            "community": tuple(float(c) for c in communities),
            "degree": tuple(float(d) for d in graph.degrees),
            "clustering": tuple(float(clustering[v]) for v in vertices),
            "core": tuple(float(core[v]) for v in vertices),
            "pagerank": tuple(float(pagerank[v]) for v in vertices),
        },
    )


_IGRAPH_RANDOM = threading.Lock()  # igraph's random generator is one for the process


def _positions(nxg: nx.Graph, layout: str) -> dict[int, np.ndarray]:
    """The layout's positions, seeded where it is random, rescaled to fill [-1, 1]."""
    n = nxg.number_of_nodes()
    if n == 1:
        return {0: np.zeros(2)}
    if layout in ("spring", "kamada_kawai"):
        coordinates = _igraph_layout(nxg, layout)
    else:
        found = nx.spectral_layout(nxg) if layout == "spectral" else nx.circular_layout(nxg)
        coordinates = np.array([found[v] for v in range(n)], dtype=float)
    scaled = nx.rescale_layout(np.nan_to_num(coordinates), scale=1.0)
    return {v: scaled[v] for v in range(n)}


def _igraph_layout(nxg: nx.Graph, layout: str) -> np.ndarray:
    """python-igraph's Fruchterman-Reingold or Kamada-Kawai layout, from seeded starting
    positions and with igraph's generator seeded (under a lock: it is global), so the same
    graph always gets the same layout."""
    n = nxg.number_of_nodes()
    graph = igraph.Graph(n=n, edges=list(nxg.edges()))
    # igraph's own start: a square of side sqrt(n) (a smaller one crowds its grid: 15x slower)
    half = math.sqrt(n) / 2
    start = np.random.default_rng(0).uniform(-half, half, size=(n, 2)).tolist()
    with _IGRAPH_RANDOM:
        igraph.set_random_number_generator(random.Random(0))
        try:
            if layout == "spring":
                found = graph.layout_fruchterman_reingold(seed=start)
            else:
                found = graph.layout_kamada_kawai(seed=start)
        finally:
            igraph.set_random_number_generator(random)
    return np.array(found.coords, dtype=float)
