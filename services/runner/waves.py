"""Dependency waves of a sequential round: the batching that keeps exact sequential semantics.

A sequential round is a sequence of pairwise exchanges (i_k, j_k). Exchange k only depends on
the earlier exchanges that touch i_k or j_k, so its wave is one more than the latest wave of
those; exchanges of one wave touch disjoint vertices and commute, and executing the waves in
order gives every vertex the same operands in the same order as the plain sequence —
bit-identical results with about e·ln N waves per round instead of one turn per change of
shard along the order. Possible only when partners do not depend on state (no memory).

numba-compiled, and imported only where a runner drives sequential shards.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def sequential_waves(initiators: np.ndarray, partners: np.ndarray, num_vertices: int) -> np.ndarray:
    """Wave of each exchange (initiator k contacts partner k), in round order."""
    last = np.full(num_vertices, -1, dtype=np.int64)
    waves = np.empty(initiators.shape[0], dtype=np.int64)
    for k in range(initiators.shape[0]):
        i = initiators[k]
        j = partners[k]
        wave = max(last[i], last[j]) + 1
        waves[k] = wave
        last[i] = wave
        last[j] = wave
    return waves
