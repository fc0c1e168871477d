"""Graph metrics: exact values on known graphs, networkx agreement, estimation on large ones."""

from __future__ import annotations

import json
import math
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import yaml

from gossipsim.common.graphs import csr_generators as gg
from gossipsim.common.graphs import metrics as graph_metrics
from gossipsim.common.graphs.graph import Graph
from gossipsim.common.graphs.metrics import compute_metrics, louvain_communities, modularity
from gossipsim.common.graphs.sources import find_seed_graphs, load_graph


def test_complete_graph() -> None:
    metrics = compute_metrics(gg.complete_graph(10))
    assert (metrics.nodes, metrics.edges, metrics.density) == (10, 45, 1.0)
    assert (metrics.diameter, metrics.average_path_length) == (1, 1.0)
    assert metrics.average_clustering == 1.0
    assert metrics.assortativity is None  # every edge end has degree 9
    assert metrics.algebraic_connectivity == pytest.approx(10.0)
    assert metrics.spectral_gap == pytest.approx(10 / 9)
    assert (metrics.components, metrics.largest_component) == (1, 10)
    assert metrics.estimated == () and metrics.skipped == ()


def test_path_graph() -> None:
    n = 10
    metrics = compute_metrics(gg.path_graph(n))
    assert (metrics.diameter, metrics.average_clustering) == (n - 1, 0.0)
    assert metrics.average_path_length == pytest.approx((n + 1) / 3)
    assert metrics.algebraic_connectivity == pytest.approx(2 * (1 - math.cos(math.pi / n)))
    assert (metrics.degree_min, metrics.degree_max) == (1, 2)


def test_cycle_graph() -> None:
    n = 11
    metrics = compute_metrics(gg.cycle_graph(n))
    assert metrics.diameter == n // 2
    assert metrics.algebraic_connectivity == pytest.approx(2 * (1 - math.cos(2 * math.pi / n)))
    assert metrics.spectral_gap == pytest.approx(1 - math.cos(2 * math.pi / n))
    assert metrics.degree_std == 0.0


def test_edgeless_graph() -> None:
    metrics = compute_metrics(Graph.from_edges(4, [], [], name="empty"))
    assert (metrics.edges, metrics.density, metrics.isolated_vertices) == (0, 0.0, 4)
    assert (metrics.components, metrics.largest_component, metrics.diameter) == (4, 1, 0)
    assert metrics.assortativity is None and metrics.modularity is None
    assert metrics.algebraic_connectivity is None and metrics.spectral_gap is None


def test_agrees_with_networkx_on_a_random_graph_with_isolated_vertices() -> None:
    reference = nx.gnm_random_graph(300, 900, seed=3)
    reference.add_nodes_from(range(300, 305))
    graph = Graph.from_networkx(reference, name="random")
    metrics = compute_metrics(graph, seed=1)
    core = reference.subgraph(max(nx.connected_components(reference), key=len))
    normalized = nx.normalized_laplacian_matrix(core).toarray()
    assert metrics.average_clustering == pytest.approx(nx.average_clustering(reference))
    assert metrics.assortativity == pytest.approx(nx.degree_assortativity_coefficient(reference))
    assert metrics.components == nx.number_connected_components(reference)
    assert metrics.largest_component == core.number_of_nodes()
    assert metrics.diameter == nx.diameter(core)
    assert metrics.average_path_length == pytest.approx(nx.average_shortest_path_length(core))
    assert metrics.algebraic_connectivity == pytest.approx(
        nx.algebraic_connectivity(core, method="lanczos", tol=1e-10), rel=1e-6
    )
    assert metrics.spectral_gap == pytest.approx(np.linalg.eigvalsh(normalized)[1])
    assert metrics.isolated_vertices == 5
    assert metrics.density == pytest.approx(nx.density(reference))


def test_louvain_ids_are_numbered_by_first_vertex_and_match_networkx_modularity() -> None:
    graph = gg.random_k_out_graph(400, 2, seed=5)
    membership = louvain_communities(graph, seed=2)
    assert membership[0] == 0
    firsts = [int(np.flatnonzero(membership == c)[0]) for c in range(membership.max() + 1)]
    assert firsts == sorted(firsts)
    assert np.array_equal(membership, louvain_communities(graph, seed=2))
    sets = [set(np.flatnonzero(membership == c).tolist()) for c in range(membership.max() + 1)]
    assert modularity(graph, membership) == pytest.approx(
        nx.community.modularity(graph.to_networkx(), sets)
    )
    metrics = compute_metrics(graph, seed=2)
    assert metrics.communities == len(sets)


def test_large_graph_estimates_are_close_to_exact_values() -> None:
    graph = gg.random_k_out_graph(3000, 3, seed=9)
    exact = compute_metrics(graph, louvain_limit=0)
    estimated = compute_metrics(graph, exact_limit=100, louvain_limit=0)
    assert set(estimated.estimated) >= {"average_clustering", "diameter", "average_path_length"}
    assert not {"average_clustering", "diameter", "average_path_length"} & set(exact.estimated)
    assert estimated.average_path_length == pytest.approx(exact.average_path_length, rel=0.03)
    assert exact.diameter - 1 <= estimated.diameter <= exact.diameter
    assert abs(estimated.average_clustering - exact.average_clustering) < 0.01


def test_iterative_spectrum_agrees_with_the_dense_one(monkeypatch: pytest.MonkeyPatch) -> None:
    graph = gg.random_k_out_graph(1500, 3, seed=2)
    dense = compute_metrics(graph, louvain_limit=0)
    monkeypatch.setattr(graph_metrics, "DENSE_SPECTRUM_LIMIT", 100)
    iterative = compute_metrics(graph, louvain_limit=0)
    assert {"algebraic_connectivity", "spectral_gap"} <= set(iterative.estimated)
    tolerance = graph_metrics.SPECTRAL_TOLERANCE
    assert iterative.algebraic_connectivity == pytest.approx(
        dense.algebraic_connectivity, rel=tolerance
    )
    assert iterative.spectral_gap == pytest.approx(dense.spectral_gap, rel=tolerance)


def test_unconverged_spectrum_is_skipped_not_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long path has λ2 ≈ 1e-6; LOBPCG cannot pin that down within its budget."""
    monkeypatch.setattr(graph_metrics, "DENSE_SPECTRUM_LIMIT", 100)
    metrics = compute_metrics(gg.path_graph(3000), louvain_limit=0)
    assert metrics.algebraic_connectivity is None and metrics.spectral_gap is None
    assert {"algebraic_connectivity", "spectral_gap"} <= set(metrics.skipped)
    assert "spectral_gap" not in metrics.estimated


def test_louvain_is_skipped_above_its_limit() -> None:
    metrics = compute_metrics(gg.cycle_graph(50), louvain_limit=10)
    assert metrics.communities is None and metrics.modularity is None
    assert {"communities", "modularity"} <= set(metrics.skipped)


def test_to_dict_is_flat_and_json_able() -> None:
    metrics = compute_metrics(gg.grid_2d_graph(4, 5))
    flat = metrics.to_dict()
    assert json.loads(json.dumps(flat)) == flat
    assert all(value is None or isinstance(value, int | float) for value in flat.values())
    assert "estimated" not in flat and flat["nodes"] == 20


def test_thousand_vertex_graph_gets_every_metric_exactly() -> None:
    metrics = compute_metrics(gg.random_k_out_graph(1000, 4, seed=1))
    assert metrics.estimated == () and metrics.skipped == ()


def test_hundred_thousand_vertices_take_the_estimating_path() -> None:
    metrics = compute_metrics(gg.random_k_out_graph(100_000, 4, seed=1))
    assert metrics.components == 1 and metrics.skipped == ("communities", "modularity")
    assert 4 < metrics.average_path_length < 8
    assert metrics.algebraic_connectivity is not None and 1.5 < metrics.algebraic_connectivity < 3


def _seed_properties(path: Path) -> dict[str, str]:
    properties: dict[str, str] = yaml.safe_load(path.read_text())["spec"]["graphProperties"]
    return properties


def test_metrics_match_the_seed_graph_properties_of_the_small_graphs(seed_crs: Path) -> None:
    paths = find_seed_graphs(seed_crs / "graphs", {"series": "test-series"})
    paths += find_seed_graphs(seed_crs / "graphs" / "examples-gnutella-n20")
    assert len(paths) == 13
    for path in paths:
        expected = _seed_properties(path)
        metrics = compute_metrics(load_graph({"resource": str(path)}))
        assert metrics.edges == int(expected["numEdges"]), path.name
        assert metrics.diameter == int(expected["diameter"]), path.name
        for name, key in [
            ("density", "density"),
            ("average_path_length", "averagePathLength"),
            ("average_clustering", "clusterCoefficient"),
            ("assortativity", "assortativity"),
        ]:
            assert round(getattr(metrics, name), 4) == float(expected[key]), (path.name, name)
        assert metrics.modularity is not None
        assert metrics.modularity == pytest.approx(float(expected["modularity"]), abs=0.03)


def test_metrics_roughly_match_a_thousand_vertex_seed_graph(full_seed_crs: Path) -> None:
    path = full_seed_crs / "graphs/gnutella-series/gnutella-n1000-7.yaml"
    expected = _seed_properties(path)
    metrics = compute_metrics(load_graph({"resource": str(path)}))
    assert metrics.nodes == 1000 and metrics.edges == int(expected["numEdges"])
    assert metrics.diameter == int(expected["diameter"])
    assert round(metrics.average_path_length, 4) == float(expected["averagePathLength"])
    assert metrics.modularity == pytest.approx(float(expected["modularity"]), abs=0.03)
