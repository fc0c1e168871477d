"""The practical limit: the benchmark workloads as plain numpy loops, no services, no RPC.

Synchronous averaging uses the same random-matching rule as the engine (coin per vertex,
active vertices propose to a uniformly chosen neighbour, a passive vertex accepts its
lowest-priority proposer, each matched pair averages).
"""

from __future__ import annotations

import numpy as np

from gossipsim.common.graphs.graph import Graph


def synchronous_averaging(graph: Graph, values: np.ndarray, rounds: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = values.astype(np.float64).copy()
    starts = graph.indptr[:-1]
    degrees = np.diff(graph.indptr)
    variances = []
    for _ in range(rounds):
        active = rng.random(graph.n) >= 0.5
        pick = graph.indices[starts + (rng.random(graph.n) * degrees).astype(np.int64)]
        proposers = np.flatnonzero(active & ~active[pick])
        targets = pick[proposers]
        priority = rng.random(len(proposers))
        order = np.lexsort((priority, targets))
        sorted_targets = targets[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = sorted_targets[1:] != sorted_targets[:-1]
        winners = order[first]
        i, j = proposers[winners], targets[winners]
        mean = (x[i] + x[j]) * 0.5
        x[i] = mean
        x[j] = mean
        variances.append(x.var())
    return np.array(variances)


def sequential_averaging(graph: Graph, values: np.ndarray, rounds: int, seed: int) -> np.ndarray:
    """PeerSim's model in plain Python/numpy: inherently a per-vertex loop."""
    rng = np.random.default_rng(seed)
    x = values.astype(np.float64).copy()
    indptr, indices = graph.indptr, graph.indices
    for _ in range(rounds):
        order = rng.permutation(graph.n)
        picks = rng.random(graph.n)
        for position, i in enumerate(order.tolist()):
            lo, hi = indptr[i], indptr[i + 1]
            j = indices[lo + int(picks[position] * (hi - lo))]
            mean = (x[i] + x[j]) * 0.5
            x[i] = mean
            x[j] = mean
    return x
