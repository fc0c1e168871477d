"""Counter-based randomness: every draw is a pure function of (key, round, vertex, stream).

Why not a generator object: results must be bit-identical whatever the number of shards, the
order of messages and the backend (DESIGN §4). A draw that depends only on its coordinates
gives that for free: any shard can compute any vertex's draw, in any order. The hash is the
SplitMix64 finalizer chained over the coordinates (each step a bijective 64-bit mix, the
construction of counter-based generators such as Random123), which passes BigCrush as a
counter-based stream.

The functions are numba-compiled so the node kernels can call them per vertex; they also work
from Python on ``np.uint64`` scalars.
"""

from __future__ import annotations

import hashlib

import numpy as np
from numba import njit

# Stream ids: one per kind of decision, so that two decisions about the same vertex in the
# same round never share a draw.
STREAM_SELECT = np.uint64(1)  # which neighbour a vertex contacts
STREAM_ORDER = np.uint64(2)  # the shuffled initiation order of a sequential round
STREAM_COIN = np.uint64(3)  # active/passive role in a synchronous random matching
STREAM_PRIORITY = np.uint64(4)  # tie-break among proposals to the same vertex
STREAM_INIT = np.uint64(5)  # random initial values

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO_POW_MINUS_53 = 1.0 / 9007199254740992.0


@njit(cache=True, inline="always")
def mix64(z: np.uint64) -> np.uint64:
    """SplitMix64's finalizer: a bijection on 64-bit words with full avalanche."""
    z = np.uint64(z)
    z = (z + _GOLDEN) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def _round_key(run_key: np.uint64, round_number: np.uint64) -> np.uint64:
    return mix64(mix64(run_key) ^ round_number)


def round_key(run_key: int, round_number: int) -> np.uint64:
    """The key of one round of one run; computed once per round, not per vertex.

    Returned as ``np.uint64`` so that numba types it as unsigned (a Python int above 2**63
    would not fit its default int64).
    """
    return np.uint64(_round_key(np.uint64(run_key), np.uint64(round_number)))


@njit(cache=True, inline="always")
def draw_u64(rkey: np.uint64, vertex: np.uint64, stream: np.uint64) -> np.uint64:
    """A uniform 64-bit word for (round key, vertex, stream)."""
    return mix64(mix64(np.uint64(rkey) ^ np.uint64(vertex)) ^ np.uint64(stream))


@njit(cache=True, inline="always")
def draw_unit(rkey: np.uint64, vertex: np.uint64, stream: np.uint64) -> float:
    """A uniform float in [0, 1) with 53 random bits."""
    return float(draw_u64(rkey, vertex, stream) >> _S11) * _TWO_POW_MINUS_53


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


def run_key(simulation_seed: int, run_id: str) -> int:
    """The 64-bit key of a run: from the simulation seed and the run's deterministic id.

    A cryptographic hash keeps keys of different runs (and repetitions) independent even when
    their ids differ in one character.
    """
    digest = hashlib.blake2b(f"{simulation_seed}:{run_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


@njit(cache=True)
def draw_units(rkey: np.uint64, n: int, stream: np.uint64) -> np.ndarray:
    """``draw_unit`` for vertices 0..n-1 at once."""
    out = np.empty(n, dtype=np.float64)
    for v in range(n):
        out[v] = draw_unit(rkey, v, stream)
    return out
