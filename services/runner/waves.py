"""Dependency waves of a sequential round: the batching that keeps exact sequential semantics.

A sequential round is a sequence of pairwise exchanges (i_k, j_k). Exchange k only depends on
the earlier exchanges that touch i_k or j_k, so its wave is one more than the latest wave of
those; exchanges of one wave touch disjoint vertices and commute, and executing the waves in
order gives every vertex the same operands in the same order as the plain sequence —
bit-identical results with about e·ln N waves per round instead of one turn per change of
shard along the order. Possible only when partners do not depend on state (no memory).

Plain numpy (the runner does not load numba): the longest-path recurrence is relaxed level by
level, each pass a few vectorized operations, as many passes as there are waves.
"""

from __future__ import annotations

import numpy as np


def _previous_exchange(initiators: np.ndarray, partners: np.ndarray) -> tuple[np.ndarray, ...]:
    """For each exchange, the latest earlier exchange touching its initiator / partner (-1)."""
    count = len(initiators)
    vertices = np.concatenate([initiators, partners])
    exchanges = np.concatenate([np.arange(count), np.arange(count)])
    order = np.lexsort((exchanges, vertices))
    previous = np.full(2 * count, -1, dtype=np.int64)
    same_vertex = vertices[order][1:] == vertices[order][:-1]
    previous[order[1:][same_vertex]] = exchanges[order[:-1][same_vertex]]
    return previous[:count], previous[count:]


def sequential_waves(initiators: np.ndarray, partners: np.ndarray) -> np.ndarray:
    """Wave of each exchange (initiator k contacts partner k), in round order."""
    before_initiator, before_partner = _previous_exchange(initiators, partners)
    waves = np.zeros(len(initiators), dtype=np.int64)
    padded = np.empty(len(initiators) + 1, dtype=np.int64)
    padded[-1] = -1  # index -1: no earlier exchange
    while True:
        padded[:-1] = waves
        relaxed = np.maximum(padded[before_initiator], padded[before_partner]) + 1
        if np.array_equal(relaxed, waves):
            return waves
        waves = relaxed
