"""Small graphs and shortcuts for engine tests."""

from __future__ import annotations

import numpy as np

from gossipsim.common.graphs.graph import Graph


def complete_graph(n: int) -> Graph:
    src, dst = np.triu_indices(n, 1)
    return Graph.from_edges(n, src, dst, name=f"K{n}")


def random_graph(n: int, edges: int, seed: int) -> Graph:
    """A connected random graph: a ring plus random chords."""
    rng = np.random.default_rng(seed)
    ring = np.arange(n)
    src = np.concatenate([ring, rng.integers(0, n, edges)])
    dst = np.concatenate([(ring + 1) % n, rng.integers(0, n, edges)])
    return Graph.from_edges(n, src, dst, name=f"random-{n}-{seed}")
