"""Base peer-selection weights of the seed's strategies, one per CSR entry
(docs/design.md, Execution semantics).

Computed once per graph and algorithm by the runner and shipped to the shards, which only
multiply them (memory) and sample from them.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from gossipsim.common.graphs.graph import Graph
from gossipsim.common.model.algorithms import Algorithm, Selection


def _rows(graph: Graph) -> np.ndarray:
    return np.repeat(np.arange(graph.n), graph.degrees)


def _row_normalized(graph: Graph, values: np.ndarray) -> np.ndarray:
    rows = _rows(graph)
    sums = np.bincount(rows, weights=values, minlength=graph.n)
    normalized: np.ndarray = np.divide(
        values, sums[rows], out=np.zeros_like(values), where=sums[rows] != 0
    )
    return normalized


def _count_in_community(graph: Graph, communities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per entry: how many of the row's neighbours share that neighbour's community; and
    per row: how many distinct communities its neighbours belong to."""
    rows = _rows(graph)
    keys = rows * (int(communities.max()) + 1) + communities[graph.indices]
    unique, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    distinct = np.bincount(unique // (int(communities.max()) + 1), minlength=graph.n)
    return counts[inverse].astype(np.float64), distinct.astype(np.float64)


def weighted_factor(graph: Graph, communities: np.ndarray, factor: float) -> np.ndarray:
    """1 for a neighbour in the own community, ``factor`` for any other."""
    rows = _rows(graph)
    same = communities[rows] == communities[graph.indices]
    return np.where(same, 1.0, factor)


def community_probabilities(graph: Graph, communities: np.ndarray) -> np.ndarray:
    """1/p, p the share of the vertex's neighbours in that neighbour's community."""
    in_community, _ = _count_in_community(graph, communities)
    probabilities: np.ndarray = graph.degrees[_rows(graph)] / in_community
    return probabilities


def community_based(graph: Graph, communities: np.ndarray) -> np.ndarray:
    """(1 / #neighbouring communities) × (1 / #neighbours in that community)."""
    in_community, distinct = _count_in_community(graph, communities)
    weights: np.ndarray = 1.0 / distinct[_rows(graph)] / in_community
    return weights


EXACT_BETWEENNESS_LIMIT = 2000


def centrality(graph: Graph, kind: str, *, seed: int = 0) -> np.ndarray:
    """networkx betweenness, eigenvector or HITS hub score, one value per vertex.

    Betweenness is exact up to 2000 vertices (the seed's graphs have 1000) and estimated
    from 500 sampled sources above, where exact costs O(n·m).
    """
    nxg = graph.to_networkx()
    if kind == "betweenness":
        sample = None if graph.n <= EXACT_BETWEENNESS_LIMIT else 500
        scores = nx.betweenness_centrality(nxg, k=sample, seed=seed)
    elif kind == "eigenvector":
        scores = nx.eigenvector_centrality_numpy(nxg)
    else:
        scores, _ = nx.hits(nxg, max_iter=1000, normalized=True)
    return np.array([scores[v] for v in range(graph.n)], dtype=np.float64)


def edge_weights(
    graph: Graph, algorithm: Algorithm, communities: np.ndarray, *, seed: int = 0
) -> np.ndarray | None:
    """The base weight of every CSR entry, or None for uniform selection."""
    selection = algorithm.selection
    if selection is Selection.UNIFORM:
        return None
    if selection is Selection.COMMUNITY_BASED:
        return community_based(graph, communities)
    if "weighted" in selection.name.lower():
        base = weighted_factor(graph, communities, algorithm.factor)
    else:
        base = community_probabilities(graph, communities)
    kind = selection.centrality
    if kind is None:
        return base
    scores = centrality(graph, kind, seed=seed)[graph.indices]
    a = algorithm.weighting_param_a
    return a * _row_normalized(graph, base) + (1.0 - a) * _row_normalized(graph, scores)
