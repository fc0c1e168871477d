"""Counter-based randomness: every draw is a pure function of (key, round, vertex, stream).

Why not a generator object: results must be bit-identical whatever the number of shards, the
order of messages and the backend (docs/design.md, Execution semantics). A draw that depends
only on its coordinates gives that for free: any shard can compute any vertex's draw, in any
order. The hash is the
SplitMix64 finalizer chained over the coordinates (each step a bijective 64-bit mix, the
construction of counter-based generators such as Random123), which passes BigCrush as a
counter-based stream.

This module is plain numpy (the runner never pays for numba); the numba versions that node
kernels call per vertex are in :mod:`gossipsim.common.model.rng_kernels` and give the same bits.
"""

from __future__ import annotations

import hashlib

import numpy as np

# Stream ids: one per kind of decision, so that two decisions about the same vertex in the
# same round never share a draw.
STREAM_SELECT = np.uint64(1)  # which neighbour a vertex contacts
STREAM_ORDER = np.uint64(2)  # the shuffled initiation order of a sequential round
STREAM_COIN = np.uint64(3)  # active/passive role in a synchronous random matching
STREAM_PRIORITY = np.uint64(4)  # tie-break among proposals to the same vertex
STREAM_INIT = np.uint64(5)  # random initial values

SPLITMIX_GAMMA = np.uint64(0x9E3779B97F4A7C15)
SPLITMIX_M1 = np.uint64(0xBF58476D1CE4E5B9)
SPLITMIX_M2 = np.uint64(0x94D049BB133111EB)
SHIFT_30 = np.uint64(30)
SHIFT_27 = np.uint64(27)
SHIFT_31 = np.uint64(31)
SHIFT_11 = np.uint64(11)
TWO_POW_MINUS_53 = 1.0 / 9007199254740992.0


def _mix64_array(z: np.ndarray) -> np.ndarray:
    """``mix64`` over a uint64 array with numpy (uint64 arithmetic wraps, as in numba)."""
    with np.errstate(over="ignore"):
        z = z + SPLITMIX_GAMMA
        z = (z ^ (z >> SHIFT_30)) * SPLITMIX_M1
        z = (z ^ (z >> SHIFT_27)) * SPLITMIX_M2
    mixed: np.ndarray = z ^ (z >> SHIFT_31)
    return mixed


def draw_units(rkey: np.uint64, n: int, stream: np.uint64) -> np.ndarray:
    """``draw_unit`` for vertices 0..n-1 at once, bit-identical to the numba version.

    Plain numpy on purpose: the runner calls it for initial values, and the first numba call
    in a process costs ~60 MB of resident memory that the runner otherwise never needs.
    """
    vertices = np.arange(n, dtype=np.uint64)
    words = _mix64_array(_mix64_array(np.uint64(rkey) ^ vertices) ^ np.uint64(stream))
    return (words >> SHIFT_11).astype(np.float64) * TWO_POW_MINUS_53


def round_key(run_key: int, round_number: int) -> np.uint64:
    """The key of one round of one run; computed once per round, not per vertex.

    Returned as ``np.uint64`` so that numba types it as unsigned (a Python int above 2**63
    would not fit its default int64).
    """
    first = _mix64_array(np.array([run_key], dtype=np.uint64))
    return np.uint64(_mix64_array(first ^ np.uint64(round_number))[0])


def run_key(simulation_seed: int, run_id: str) -> int:
    """The 64-bit key of a run: from the simulation seed and the run's deterministic id.

    A cryptographic hash keeps keys of different runs (and repetitions) independent even when
    their ids differ in one character.
    """
    digest = hashlib.blake2b(f"{simulation_seed}:{run_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")
