"""Every generator accepted by name has an estimate of its size, and the estimate bounds what
it builds; every other networkx generator is refused by name before anything runs."""

from __future__ import annotations

import inspect
import time
from typing import Any

import networkx as nx
import pytest

from gossipsim.common.errors import GraphError
from gossipsim.common.graphs.limits import GraphLimits
from gossipsim.common.graphs.source_generator import (
    ACCEPTED_GENERATORS,
    NATIVE_GENERATORS,
    estimate_size,
)
from gossipsim.common.graphs.sources import load_graph

SAMPLES: dict[str, dict[str, Any]] = {
    "random_k_out_graph": {"n": 50, "k": 3},
    "complete_graph": {"n": 12},
    "cycle_graph": {"n": 12},
    "path_graph": {"n": 12},
    "grid_2d_graph": {"m": 4, "n": 5},
    "gnm_random_graph": {"n": 30, "m": 60},
    "dense_gnm_random_graph": {"n": 30, "m": 60},
    "fast_gnp_random_graph": {"n": 60, "p": 0.2},
    "gnp_random_graph": {"n": 60, "p": 0.2},
    "erdos_renyi_graph": {"n": 60, "p": 0.2},
    "binomial_graph": {"n": 60, "p": 0.2},
    "balanced_tree": {"r": 3, "h": 4},
    "barbell_graph": {"m1": 5, "m2": 3},
    "binomial_tree": {"n": 5},
    "chordal_cycle_graph": {"p": 13},
    "circulant_graph": {"n": 20, "offsets": [1, 3, 5]},
    "circular_ladder_graph": {"n": 9},
    "dorogovtsev_goltsev_mendes_graph": {"n": 4},
    "empty_graph": {"n": 5},
    "full_rary_tree": {"r": 3, "n": 40},
    "generalized_petersen_graph": {"n": 8, "k": 3},
    "graph_atlas": {"i": 1000},
    "hkn_harary_graph": {"k": 5, "n": 21},
    "hnm_harary_graph": {"n": 20, "m": 50},
    "hypercube_graph": {"n": 5},
    "kneser_graph": {"n": 8, "k": 3},
    "ladder_graph": {"n": 9},
    "LCF_graph": {"n": 14, "shift_list": [5, -5], "repeats": 7},
    "lollipop_graph": {"m": 6, "n": 4},
    "margulis_gabber_galil_graph": {"n": 5},
    "mycielski_graph": {"n": 5},
    "null_graph": {},
    "paley_graph": {"p": 13},
    "star_graph": {"n": 9},
    "sudoku_graph": {"n": 2},
    "tadpole_graph": {"m": 5, "n": 3},
    "trivial_graph": {},
    "turan_graph": {"n": 13, "r": 4},
    "wheel_graph": {"n": 9},
    "hexagonal_lattice_graph": {"m": 3, "n": 4},
    "triangular_lattice_graph": {"m": 3, "n": 4},
    "caveman_graph": {"l": 4, "k": 5},
    "connected_caveman_graph": {"l": 4, "k": 5},
    "relaxed_caveman_graph": {"l": 4, "k": 5, "p": 0.3},
    "ring_of_cliques": {"num_cliques": 4, "clique_size": 5},
    "windmill_graph": {"n": 4, "k": 5},
    "planted_partition_graph": {"l": 4, "k": 10, "p_in": 0.5, "p_out": 0.05},
    "random_partition_graph": {"sizes": [10, 15, 20], "p_in": 0.5, "p_out": 0.05},
    "stochastic_block_model": {"sizes": [10, 20], "p": [[0.5, 0.1], [0.1, 0.4]]},
    "barabasi_albert_graph": {"n": 60, "m": 3},
    "dual_barabasi_albert_graph": {"n": 60, "m1": 2, "m2": 4, "p": 0.5},
    "extended_barabasi_albert_graph": {"n": 60, "m": 3, "p": 0.2, "q": 0.2},
    "powerlaw_cluster_graph": {"n": 60, "m": 3, "p": 0.3},
    "watts_strogatz_graph": {"n": 60, "k": 4, "p": 0.2},
    "newman_watts_strogatz_graph": {"n": 60, "k": 4, "p": 0.2},
    "connected_watts_strogatz_graph": {"n": 60, "k": 4, "p": 0.2},
    "random_regular_graph": {"d": 3, "n": 40},
    "random_labeled_tree": {"n": 30},
    "gn_graph": {"n": 30},
    "gnr_graph": {"n": 30, "p": 0.3},
    "scale_free_graph": {"n": 60},
    "random_geometric_graph": {"n": 80, "radius": 0.2},
    "navigable_small_world_graph": {"n": 6},
    "random_cograph": {"n": 5},
    "configuration_model": {"deg_sequence": [3, 3, 2, 2, 2, 1, 1]},
    "havel_hakimi_graph": {"deg_sequence": [3, 3, 2, 2, 2, 1, 1]},
    "degree_sequence_tree": {"deg_sequence": [3, 2, 2, 1, 1, 1]},
    "expected_degree_graph": {"w": [3.0, 2.0, 2.0, 1.0, 1.0, 2.5]},
}

SMALL_NAMED = sorted(set(ACCEPTED_GENERATORS) - set(SAMPLES))
LARGE = GraphLimits(max_vertices=10**7, max_edges=10**8)


def test_every_accepted_generator_has_a_sample_here_or_is_a_small_named_graph() -> None:
    for name in SMALL_NAMED:
        graph = getattr(nx, name)()
        assert graph.number_of_nodes() <= 100 and graph.number_of_edges() <= 300, name


def test_every_accepted_name_is_a_native_or_networkx_generator() -> None:
    for name in ACCEPTED_GENERATORS:
        assert name in NATIVE_GENERATORS or inspect.isfunction(getattr(nx, name, None)), name


@pytest.mark.parametrize(("name", "params"), SAMPLES.items(), ids=SAMPLES)
def test_the_estimate_bounds_the_built_graph(name: str, params: dict[str, Any]) -> None:
    estimate = estimate_size(name, params)
    if name == "null_graph":
        with pytest.raises(GraphError, match="no vertices"):
            load_graph({"generator": name, "params": params})
        return
    graph = load_graph({"generator": name, "params": params, "seed": 3}, limits=LARGE)
    assert graph.n <= estimate.vertices
    assert graph.num_edges <= estimate.edges


def networkx_generators() -> list[str]:
    return [
        name
        for name in dir(nx)
        if inspect.isfunction(getattr(nx, name))
        and getattr(nx, name).__module__.startswith("networkx.generators")
        and not name.startswith("is_")
        and "G" not in inspect.signature(getattr(nx, name)).parameters
    ]


def test_networkx_generators_without_an_estimate_are_refused_by_name() -> None:
    refused = [name for name in networkx_generators() if name not in ACCEPTED_GENERATORS]
    assert "duplication_divergence_graph" in refused and "waxman_graph" in refused
    for name in refused:
        started = time.perf_counter()
        with pytest.raises(GraphError) as caught:
            load_graph({"generator": name, "params": {"n": 10**9}})
        assert caught.value.field == "graph.generator", name
        assert time.perf_counter() - started < 0.1


@pytest.mark.parametrize(
    ("name", "params", "words"),
    [
        ("kneser_graph", {"n": 10**6, "k": 500_000}, "more than 10^30 vertices"),
        ("kneser_graph", {"n": 2**64 - 1, "k": 2**63}, "more than 10^30 vertices"),
        ("random_cograph", {"n": 2**63}, "more than 10^30 vertices"),
        ("hypercube_graph", {"n": 10**18}, "more than 10^30 vertices"),
        ("balanced_tree", {"r": 10**18, "h": 10**18}, "more than 10^30 vertices"),
        ("mycielski_graph", {"n": 10**18}, "more than 10^30 vertices"),
        ("sudoku_graph", {"n": 2**40}, "vertices, over the limit"),
        ("navigable_small_world_graph", {"n": 2**32, "dim": 2**32}, "more than 10^30"),
        ("turan_graph", {"n": 10**18, "r": 7}, "vertices, over the limit"),
        ("turan_graph", {"n": 100, "r": 101}, "r must lie in 1..n"),
        ("LCF_graph", {"n": 10, "shift_list": [3, -3], "repeats": 10**18}, "edges, over"),
        ("circulant_graph", {"n": 10, "offsets": list(range(2000))}, "at most 1,000 entries"),
        ("stochastic_block_model", {"sizes": [5, 5], "p": [[0.1, 0.2]]}, "must have 2 rows"),
        ("connected_watts_strogatz_graph", {"n": 50, "k": 4, "p": 0.1, "tries": 10**9}, "tries"),
        ("random_geometric_graph", {"n": 100, "radius": 0.1, "dim": 1000}, "dim may be"),
        ("scale_free_graph", {"n": 100, "alpha": 0.0, "gamma": 0.0, "beta": 1.0}, "alpha + gamma"),
        ("barabasi_albert_graph", {"n": 200_000, "m": 9}, "GOSSIPSIM_CHECK_MEMORY_BYTES"),
        ("random_k_out_graph", {"n": 1000, "k": "10"}, "k must be"),
    ],
)
def test_huge_and_malformed_parameters_are_refused_in_no_time(
    name: str, params: dict[str, Any], words: str
) -> None:
    started = time.perf_counter()
    with pytest.raises(GraphError) as caught:
        load_graph({"generator": name, "params": params})
    assert words in str(caught.value)
    assert caught.value.field is not None and caught.value.field.startswith("graph.params")
    assert time.perf_counter() - started < 0.05


def test_a_native_build_over_the_memory_budget_is_refused_with_the_setting_named() -> None:
    small = GraphLimits(memory_bytes=64 * 1024 * 1024)
    with pytest.raises(GraphError, match="over the budget of 64 MiB") as caught:
        load_graph(
            {"generator": "random_k_out_graph", "params": {"n": 100_000, "k": 10}}, limits=small
        )
    assert "GOSSIPSIM_CHECK_MEMORY_BYTES" in str(caught.value)
    load_graph({"generator": "random_k_out_graph", "params": {"n": 10_000, "k": 10}}, limits=small)
