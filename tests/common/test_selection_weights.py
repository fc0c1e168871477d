"""The seed's peer-selection weights, on a graph small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from gossipsim.common.errors import AlgorithmError
from gossipsim.common.graphs.csr_generators import random_k_out_graph
from gossipsim.common.graphs.graph import Graph
from gossipsim.common.model.algorithms import resolve_algorithm
from gossipsim.common.model.peer_weights import edge_weights
from gossipsim.runner.simulate import selection_weights

# Vertex 0 has neighbours 1, 2 (community 0) and 3 (community 1).
STAR = Graph.from_edges(4, [0, 0, 0], [1, 2, 3], name="star")
COMMUNITIES = np.array([0, 0, 0, 1])


def row(weights: np.ndarray, vertex: int) -> list[float]:
    return weights[STAR.indptr[vertex] : STAR.indptr[vertex + 1]].tolist()


def test_weighted_factor_weighs_other_communities_by_the_factor():
    weights = edge_weights(STAR, resolve_algorithm("weighted_factor", factor=4.0), COMMUNITIES)
    assert row(weights, 0) == [1.0, 1.0, 4.0]


def test_community_probabilities_weigh_by_inverse_share():
    weights = edge_weights(STAR, resolve_algorithm("community_probabilities"), COMMUNITIES)
    assert row(weights, 0) == pytest.approx([1.5, 1.5, 3.0])


def test_community_based_splits_evenly_over_communities_then_members():
    weights = edge_weights(STAR, resolve_algorithm("community_based"), COMMUNITIES)
    assert row(weights, 0) == pytest.approx([0.25, 0.25, 0.5])


def test_centrality_strategies_blend_normalized_weights_with_a():
    algorithm = resolve_algorithm("betweenness_weighted", factor=2.0, weightingParamA=0.5)
    weights = edge_weights(STAR, algorithm, COMMUNITIES)
    # base [1, 1, 2] / 4; leaves have betweenness 0, so the blend is a * base
    assert row(weights, 0) == pytest.approx([0.125, 0.125, 0.25])
    assert row(weights, 1) == pytest.approx([0.5 * 1.0 + 0.5 * 1.0])


def test_uniform_selection_needs_no_weights():
    assert edge_weights(STAR, resolve_algorithm("default_memory"), COMMUNITIES) is None


def test_community_strategies_refuse_graphs_too_large_for_louvain():
    graph = random_k_out_graph(30_000, 2, seed=1)
    with pytest.raises(AlgorithmError, match="Louvain"):
        selection_weights(graph, resolve_algorithm("weighted_factor"))
