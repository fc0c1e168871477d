"""Split a graph into S shards of contiguous vertex ranges with about equal work.

Contiguous ranges make ownership a binary search over S+1 bounds, need no id mapping, and
keep the seed's fixed initiation order to S turns per sequential round. Work per vertex is
1 + its degree, so a hub-heavy range gets fewer vertices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gossipsim.common.errors import InvalidInput
from gossipsim.common.graphs.graph import Graph


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardSlice:
    index: int
    first: int
    stop: int
    indptr: np.ndarray
    neighbors: np.ndarray
    edge_weights: np.ndarray | None


def shard_bounds(graph: Graph, shards: int) -> np.ndarray:
    if shards < 1:
        raise InvalidInput(f"must be at least 1, got {shards}", field="shards")
    if shards > graph.n:
        raise InvalidInput(
            f"{shards} shards for a graph of {graph.n} vertices; use at most one per vertex",
            field="shards",
        )
    cost = np.arange(graph.n + 1, dtype=np.int64) + graph.indptr
    targets = cost[-1] * np.arange(1, shards) / shards
    inner = np.searchsorted(cost, targets, side="left")
    bounds = np.concatenate([[0], inner, [graph.n]]).astype(np.int64)
    # every shard owns at least one vertex
    for k in range(1, shards):
        bounds[k] = min(max(bounds[k], bounds[k - 1] + 1), graph.n - (shards - k))
    return bounds


def shard_slices(
    graph: Graph, bounds: np.ndarray, edge_weights: np.ndarray | None
) -> list[ShardSlice]:
    slices = []
    for k in range(len(bounds) - 1):
        first, stop = int(bounds[k]), int(bounds[k + 1])
        lo, hi = int(graph.indptr[first]), int(graph.indptr[stop])
        slices.append(
            ShardSlice(
                index=k,
                first=first,
                stop=stop,
                indptr=graph.indptr[first : stop + 1] - lo,
                neighbors=graph.indices[lo:hi],
                edge_weights=None if edge_weights is None else edge_weights[lo:hi],
            )
        )
    return slices
