"""Random and regular topologies built straight into CSR arrays.

Why not networkx: its generators build a dict-of-dicts graph at about 1 KB per edge and loop in
Python, so a 1e6-vertex benchmark graph would take minutes and gigabytes before the first round.
These generators draw whole edge arrays with numpy and hand them to :meth:`Graph.from_edges`,
which sorts, symmetrises and deduplicates them.

Every random generator takes ``seed`` and draws only from ``np.random.default_rng(seed)``, so a
graph is a pure function of its parameters. The names and parameters match the networkx
functions of the same name where one exists, so a spec written for networkx keeps working; the
results are the same distributions, not the same graphs. Vertices are always ``0..n-1``
(``grid_2d_graph`` numbers vertex ``(i, j)`` as ``i * n + j`` instead of networkx's tuples).
"""

from __future__ import annotations

import numpy as np

from gossipsim.common.graphs.graph import Graph, IntArray

__all__ = [
    "complete_graph",
    "cycle_graph",
    "fast_gnp_random_graph",
    "gnm_random_graph",
    "grid_2d_graph",
    "path_graph",
    "random_k_out_graph",
]


def random_k_out_graph(n: int, k: int, seed: int | None = None) -> Graph:
    """Each vertex picks ``k`` distinct others uniformly at random; edges are undirected.

    This is the benchmark workload: every vertex has degree at least ``k`` and the mean degree
    is just under ``2k`` (a pair that picked each other counts once).
    """
    _require(n >= 1, f"n must be at least 1, got {n}")
    _require(0 <= k < n, f"k must lie in 0..n-1 = 0..{n - 1}, got {k}")
    rng = np.random.default_rng(seed)
    offsets = _distinct_per_row(rng, rows=n, k=k, span=n - 1)
    src = np.repeat(np.arange(n, dtype=np.int64), k)
    # Offsets 1..n-1 from the vertex itself: uniform over the others, never a self loop.
    dst = (src + 1 + offsets.ravel()) % n
    return Graph.from_edges(n, src, dst, name=f"random_k_out-n{n}-k{k}")


def complete_graph(n: int) -> Graph:
    """Every pair of the ``n`` vertices is joined."""
    _require(n >= 1, f"n must be at least 1, got {n}")
    src, dst = np.triu_indices(n, k=1)
    return Graph.from_edges(n, src, dst, name=f"complete-n{n}")


def cycle_graph(n: int) -> Graph:
    """A ring ``0 - 1 - … - (n-1) - 0``."""
    _require(n >= 1, f"n must be at least 1, got {n}")
    src = np.arange(n, dtype=np.int64)
    return Graph.from_edges(n, src, (src + 1) % n, name=f"cycle-n{n}")


def path_graph(n: int) -> Graph:
    """A line ``0 - 1 - … - (n-1)``."""
    _require(n >= 1, f"n must be at least 1, got {n}")
    src = np.arange(n - 1, dtype=np.int64)
    return Graph.from_edges(n, src, src + 1, name=f"path-n{n}")


def grid_2d_graph(m: int, n: int, periodic: bool = False) -> Graph:
    """An ``m`` × ``n`` lattice; ``periodic`` wraps rows and columns longer than two (a torus)."""
    _require(m >= 1 and n >= 1, f"m and n must be at least 1, got m={m}, n={n}")
    ids = np.arange(m * n, dtype=np.int64).reshape(m, n)
    pairs = [(ids[:, :-1], ids[:, 1:]), (ids[:-1, :], ids[1:, :])]
    if periodic and n > 2:
        pairs.append((ids[:, -1], ids[:, 0]))
    if periodic and m > 2:
        pairs.append((ids[-1, :], ids[0, :]))
    src = np.concatenate([a.ravel() for a, _ in pairs])
    dst = np.concatenate([b.ravel() for _, b in pairs])
    return Graph.from_edges(m * n, src, dst, name=f"grid_2d-{m}x{n}")


def gnm_random_graph(n: int, m: int, seed: int | None = None) -> Graph:
    """Exactly ``m`` edges chosen uniformly among all ``n(n-1)/2`` pairs (Erdős–Rényi G(n, m))."""
    _require(n >= 1, f"n must be at least 1, got {n}")
    pairs = n * (n - 1) // 2
    _require(0 <= m <= pairs, f"m must lie in 0..n(n-1)/2 = 0..{pairs}, got {m}")
    rng = np.random.default_rng(seed)
    src, dst = _pairs_from_ranks(_sample_ranks(rng, pairs, m), n)
    return Graph.from_edges(n, src, dst, name=f"gnm-n{n}-m{m}")


def fast_gnp_random_graph(n: int, p: float, seed: int | None = None) -> Graph:
    """Each pair is joined independently with probability ``p`` (Erdős–Rényi G(n, p)).

    Drawn as G(n, M) with ``M ~ Binomial(n(n-1)/2, p)``: given its edge count a G(n, p) graph
    is uniform, so this is the same distribution at O(M) cost instead of O(n²).
    """
    _require(n >= 1, f"n must be at least 1, got {n}")
    _require(0.0 <= p <= 1.0, f"p must lie in [0, 1], got {p}")
    rng = np.random.default_rng(seed)
    pairs = n * (n - 1) // 2
    m = int(rng.binomial(pairs, p))
    src, dst = _pairs_from_ranks(_sample_ranks(rng, pairs, m), n)
    return Graph.from_edges(n, src, dst, name=f"gnp-n{n}-p{p:g}")


def _distinct_per_row(rng: np.random.Generator, *, rows: int, k: int, span: int) -> IntArray:
    """``rows`` × ``k`` values from ``0..span-1``, distinct within each row, uniform as sets.

    Draws with replacement and redraws only the repeated entries. The procedure treats every
    value alike, so the resulting set is a uniform k-subset; when ``k`` is over half of
    ``span`` the complement is drawn instead, which keeps every redraw likely to succeed.
    """
    if k == 0:
        return np.empty((rows, 0), dtype=np.int64)
    if 2 * k > span:
        return _complement_per_row(_distinct_per_row(rng, rows=rows, k=span - k, span=span), span)
    values = np.sort(rng.integers(0, span, size=(rows, k), dtype=np.int64), axis=1)
    while True:
        repeated = np.zeros(values.shape, dtype=bool)
        repeated[:, 1:] = values[:, 1:] == values[:, :-1]
        count = int(repeated.sum())
        if count == 0:
            return values
        values[repeated] = rng.integers(0, span, size=count, dtype=np.int64)
        values.sort(axis=1)


def _complement_per_row(excluded: IntArray, span: int) -> IntArray:
    """For each row, the values of ``0..span-1`` that the row does not contain."""
    rows = excluded.shape[0]
    keep = np.ones((rows, span), dtype=bool)
    keep[np.arange(rows)[:, None], excluded] = False
    return np.nonzero(keep)[1].reshape(rows, span - excluded.shape[1]).astype(np.int64)


def _sample_ranks(rng: np.random.Generator, population: int, size: int) -> IntArray:
    """``size`` distinct integers from ``0..population-1``, in no particular order."""
    return rng.choice(population, size=size, replace=False).astype(np.int64)


def _pairs_from_ranks(ranks: IntArray, n: int) -> tuple[IntArray, IntArray]:
    """Decode ranks of pairs ``u < v`` (listed row by row) into their endpoints.

    Row ``u`` starts at ``u(2n-u-1)/2``; the float square root gives the row to within one,
    and the integer check afterwards makes it exact for any ``n`` numpy can index.
    """
    if len(ranks) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    b = 2 * n - 1
    u = np.floor((b - np.sqrt(float(b) * b - 8.0 * ranks)) / 2).astype(np.int64)
    u = np.clip(u, 0, n - 2)
    u -= ranks < _row_start(u, n)
    u += ranks >= _row_start(u + 1, n)
    v = ranks - _row_start(u, n) + u + 1
    return u, v


def _row_start(u: IntArray, n: int) -> IntArray:
    return u * (2 * n - u - 1) // 2


def _require(condition: bool, message: str) -> None:
    """Generators are called with checked parameters; this guards direct callers."""
    if not condition:
        raise ValueError(message)
