"""Counter-based draws for numba kernels: the same bits as :mod:`gossipsim.common.model.rng`.

Kept apart so that only processes that run kernels (node shards) import numba, whose first
use costs about 60 MB of resident memory.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gossipsim.common.model.rng import (
    SHIFT_11,
    SHIFT_27,
    SHIFT_30,
    SHIFT_31,
    SPLITMIX_GAMMA,
    SPLITMIX_M1,
    SPLITMIX_M2,
    STREAM_ORDER,
    TWO_POW_MINUS_53,
)


@njit(cache=True, inline="always")
def mix64(z: np.uint64) -> np.uint64:
    """SplitMix64's finalizer: a bijection on 64-bit words with full avalanche."""
    z = np.uint64(z)
    z = (z + SPLITMIX_GAMMA) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = (z ^ (z >> SHIFT_30)) * SPLITMIX_M1
    z = (z ^ (z >> SHIFT_27)) * SPLITMIX_M2
    return z ^ (z >> SHIFT_31)


@njit(cache=True, inline="always")
def draw_u64(rkey: np.uint64, vertex: int | np.uint64, stream: np.uint64) -> np.uint64:
    """A uniform 64-bit word for (round key, vertex, stream)."""
    return mix64(mix64(np.uint64(rkey) ^ np.uint64(vertex)) ^ np.uint64(stream))


@njit(cache=True, inline="always")
def draw_unit(rkey: np.uint64, vertex: int | np.uint64, stream: np.uint64) -> float:
    """A uniform float in [0, 1) with 53 random bits."""
    return float(draw_u64(rkey, vertex, stream) >> SHIFT_11) * TWO_POW_MINUS_53


@njit(cache=True)
def shuffled_order(rkey: np.uint64, n: int) -> np.ndarray:
    """A uniformly random permutation of 0..n-1 (Fisher-Yates over counter-based draws).

    O(n), unlike sorting random keys, which matters: sequential rounds of 1e5 vertices have a
    budget of ~20 ms each.
    """
    order = np.arange(n, dtype=np.int64)
    for i in range(n - 1, 0, -1):
        j = int(draw_unit(rkey, i, STREAM_ORDER) * (i + 1))
        order[i], order[j] = order[j], order[i]
    return order
