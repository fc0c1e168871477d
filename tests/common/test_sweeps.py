"""Sweeps in a spec (docs/spec.md, Sweeps): lists expand into named graphs and runs, mistakes
are refused by name and all at once, repetitions may draw their own graph, and a disconnected
graph is accepted with a warning or cut to its largest component."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from gossipsim.common.errors import InvalidInput, SpecProblems
from gossipsim.common.graphs.graph import Graph
from gossipsim.common.graphs.runnable import connectivity_warning
from gossipsim.common.graphs.source_generator import is_list_parameter
from gossipsim.common.graphs.sources import load_graph
from gossipsim.common.model.initial_values import Initialization
from gossipsim.common.spec.plan_checks import (
    PLAN_FIELDS,
    SPEC_FIELDS,
    SettingsFields,
    check_settings_for_graph,
)
from gossipsim.common.spec.run_plan import ExecutionSettings
from gossipsim.common.spec.simulation_spec import (
    expand_runs,
    load_spec_file,
    parse_spec,
    realization_seed,
)
from tests.conftest import REPO

WS = {"name": "ws-60", "generator": "watts_strogatz_graph", "params": {"n": 60, "k": 4}, "seed": 1}
PATH_30 = {"name": "path-30", "generator": "path_graph", "params": {"n": 30}}
SBM_P = [[0.5, 0.1], [0.1, 0.5]]
# two components: {1, 3, 4, 6, 7} (a cycle with a chord) and {0, 2, 5} (a triangle),
# interleaved so that keeping the larger one must renumber its vertices
FIVE_AND_THREE = [[1, 3], [3, 4], [4, 6], [6, 7], [7, 1], [1, 4], [0, 2], [2, 5], [5, 0]]


def spec(**fields: Any) -> dict[str, Any]:
    """A small valid native spec with ``fields`` replaced."""
    return {"name": "sweeps", "graphs": [PATH_30], "algorithms": ["default"], **fields}


def ws(**params: Any) -> dict[str, Any]:
    return {**WS, "params": {**WS["params"], **params}}


def refusal(doc: dict[str, Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_spec(doc)
    return caught.value


# --- graph generator sweeps -------------------------------------------------------------


def test_a_list_in_a_generators_params_makes_one_named_graph_per_value() -> None:
    parsed = parse_spec(spec(graphs=[ws(p=[0.01, 0.1, 0.5])], repetitions=2))
    names = [graph.name for graph in parsed.graphs]
    assert names == ["ws-60.p=0.01", "ws-60.p=0.1", "ws-60.p=0.5"]
    assert [graph.source["params"] for graph in parsed.graphs] == [
        {"n": 60, "k": 4, "p": 0.01},
        {"n": 60, "k": 4, "p": 0.1},
        {"n": 60, "k": 4, "p": 0.5},
    ]
    assert [graph.sweep for graph in parsed.graphs] == [{"p": 0.01}, {"p": 0.1}, {"p": 0.5}]
    assert all(graph.source["seed"] == 1 and graph.vertices == 60 for graph in parsed.graphs)
    assert parsed.runs_total == 3 * 2
    plans = expand_runs(parsed)
    assert list(plans) == [
        f"ws-60.p={p}.default.r{rep}" for p in ("0.01", "0.1", "0.5") for rep in (0, 1)
    ]
    assert plans["ws-60.p=0.1.default.r1"].sweep == {"p": 0.1}


def test_the_ids_of_a_sweep_are_the_same_on_every_parse() -> None:
    doc = spec(
        graphs=[ws(p=[0.1, 0.5])],
        algorithms=["default", "weighted_factor"],
        parameters={"factor": [1.0, 2.0]},
        max_rounds=[50, 100],
        repetitions=2,
    )
    first, second = expand_runs(parse_spec(doc)), expand_runs(parse_spec(doc))
    assert list(first) == list(second) and len(first) == 2 * 2 * (1 + 2) * 2
    assert {run_id: plan.graph.source for run_id, plan in first.items()} == {
        run_id: plan.graph.source for run_id, plan in second.items()
    }


def test_several_lists_and_a_seed_list_expand_to_their_product_named_in_written_order() -> None:
    item = {"generator": "watts_strogatz_graph", "params": {"n": [20, 30], "k": 4, "p": [0.1]}}
    parsed = parse_spec(spec(graphs=[{**item, "seed": [1, 2]}]))
    assert [graph.name for graph in parsed.graphs] == [
        "watts_strogatz_graph.n=20.p=0.1.seed=1",  # no name: the generator's
        "watts_strogatz_graph.n=20.p=0.1.seed=2",
        "watts_strogatz_graph.n=30.p=0.1.seed=1",
        "watts_strogatz_graph.n=30.p=0.1.seed=2",
    ]
    assert [(graph.vertices, graph.source["seed"]) for graph in parsed.graphs] == [
        (20, 1),
        (20, 2),
        (30, 1),
        (30, 2),
    ]
    assert parsed.graphs[3].sweep == {"n": 30, "p": 0.1, "seed": 2}


@pytest.mark.parametrize(
    ("p", "field", "reason"),
    [
        ([], "graphs[0].params.p", "an empty list sweeps nothing"),
        ([0.1, 0.2, 0.1], "graphs[0].params.p[2]", "lists 0.1 twice"),
        ([0.1, [0.2]], "graphs[0].params.p[1]", "a swept value must be a number, got a list"),
    ],
)
def test_a_bad_sweep_list_is_refused_at_its_own_index(p: Any, field: str, reason: str) -> None:
    error = refusal(spec(graphs=[ws(p=p)]))
    assert error.field == field and reason in str(error)


def test_a_list_parameter_by_nature_is_one_value_not_a_sweep() -> None:
    assert is_list_parameter("stochastic_block_model", "sizes")
    assert not is_list_parameter("watts_strogatz_graph", "p")
    sbm = {"name": "sbm", "generator": "stochastic_block_model"}
    parsed = parse_spec(spec(graphs=[{**sbm, "params": {"sizes": [10, 15], "p": SBM_P}}]))
    (graph,) = parsed.graphs
    assert graph.name == "sbm" and graph.vertices == 25 and graph.sweep == {}
    seeded = parse_spec(
        spec(graphs=[{**sbm, "params": {"sizes": [10, 15], "p": SBM_P}, "seed": [1, 2]}])
    )
    assert [(g.name, g.source["params"]["sizes"]) for g in seeded.graphs] == [
        ("sbm.seed=1", [10, 15]),
        ("sbm.seed=2", [10, 15]),
    ]


def test_a_sweep_expanding_to_more_than_a_thousand_graphs_is_refused() -> None:
    item = {"name": "ring", "generator": "cycle_graph", "params": {"n": list(range(3, 1005))}}
    error = refusal(spec(graphs=[item]))
    assert error.field == "graphs[0]" and "more than 1,000 graphs" in str(error)


# --- setting sweeps ---------------------------------------------------------------------


def test_max_rounds_epsilon_and_source_lists_multiply_every_run_after_its_parameters() -> None:
    parsed = parse_spec(
        spec(
            algorithms=["default", "weighted_factor"],
            parameters={"factor": [1.0, 2.0]},
            max_rounds=[50, 100],
            epsilon=[1e-3, 1e-5],
            initialization={"single_source": {"vertex": [17, 3]}},
            repetitions=2,
        )
    )
    assert parsed.runs_total == 1 * (2 * 2 * 2) * (1 + 2) * 2
    plans = expand_runs(parsed)
    plan = plans["path-30.weighted_factor.factor=2.0.max_rounds=100.epsilon=1e-05.source=3.r1"]
    assert plan.parameters == {"factor": 2.0}
    assert plan.sweep == {"max_rounds": 100, "epsilon": 1e-05, "source": 3}
    settings = plan.settings
    assert (settings.max_rounds, settings.epsilon, settings.source_vertex) == (100, 1e-05, 3)
    assert settings.initialization is Initialization.SINGLE_SOURCE
    assert "path-30.default.max_rounds=50.epsilon=0.001.source=17.r0" in plans
    assert {p.settings.source_vertex for p in plans.values()} == {17, 3}


def test_one_source_vertex_or_a_random_one() -> None:
    one = parse_spec(spec(initialization={"single_source": {"vertex": 17}}))
    (plan,) = expand_runs(one).values()
    assert plan.settings.source_vertex == 17 and plan.sweep == {}
    assert list(expand_runs(one)) == ["path-30.default.r0"]  # one value is no sweep
    drawn = parse_spec(spec(initialization={"single_source": {"vertex": "random"}}))
    (plan,) = expand_runs(drawn).values()
    assert plan.settings.source_vertex is None
    assert plan.settings.initialization is Initialization.SINGLE_SOURCE


@pytest.mark.parametrize("vertex", [30, [3, 30]])
def test_a_source_vertex_outside_the_graph_is_refused(vertex: Any) -> None:
    error = refusal(spec(initialization={"single_source": {"vertex": vertex}}))
    assert error.field == "initialization.single_source.vertex"
    assert "vertex 30 is not in graph 'path-30', which has ids 0..29" in str(error)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"max_rounds": []}, "max_rounds"),
        ({"max_rounds": [10, 0]}, "max_rounds[1]"),
        ({"epsilon": [1e-3, 2]}, "epsilon[1]"),
        (
            {"initialization": {"single_source": {"vertex": -1}}},
            "initialization.single_source.vertex",
        ),
        ({"initialization": {"graph": {}}}, "initialization.graph"),
        ({"graph_realizations": "per_rep"}, "graph_realizations"),
    ],
)
def test_a_bad_setting_sweep_names_its_field(doc: dict[str, Any], field: str) -> None:
    assert refusal(spec(**doc)).field == field


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        (SPEC_FIELDS, "initialization.single_source.vertex"),
        (PLAN_FIELDS, "plan.settings.source_vertex"),
    ],
)
def test_a_source_vertex_needs_the_single_source_initialization(
    fields: SettingsFields, field: str
) -> None:
    """The spec cannot say so (a vertex is given only inside single_source), but a run.start
    from anywhere can: the runner's check refuses it."""
    settings = ExecutionSettings(
        max_rounds=10,
        until_converged=True,
        epsilon=1e-6,
        initialization=Initialization.AUTO,
        source_vertex=3,
        history_every=0,
        history_vertices=None,
        shards=1,
    )
    with pytest.raises(InvalidInput, match="initialization must be single_source") as caught:
        check_settings_for_graph(
            settings, graph_name="g", vertices=10, has_values=False, fields=fields
        )
    assert caught.value.field == field


# --- unused parameters ------------------------------------------------------------------


def test_a_parameter_no_algorithm_uses_is_refused_by_name() -> None:
    error = refusal(spec(algorithms=["default"], parameters={"factor": [1.0, 2.0]}))
    assert not isinstance(error, SpecProblems) and error.field == "parameters.factor"
    assert str(error).startswith("parameters.factor: no algorithm of this spec uses factor (")
    assert "the algorithms are default. Remove it, or add an algorithm that uses it" in str(error)


def test_a_factor_list_multiplies_the_algorithms_that_use_it() -> None:
    alone = parse_spec(spec(algorithms=["weighted_factor"], parameters={"factor": [1.0, 2.0]}))
    assert alone.runs_total == 2
    beside = parse_spec(
        spec(algorithms=["default", "weighted_factor"], parameters={"factor": [1.0, 2.0]})
    )
    assert list(expand_runs(beside)) == [
        "path-30.default.r0",
        "path-30.weighted_factor.factor=1.0.r0",
        "path-30.weighted_factor.factor=2.0.r0",
    ]


def test_a_seed_simulation_drops_the_parameters_its_algorithm_ignores(seed_crs: Path) -> None:
    resource = {
        "apiVersion": "gossip.io/v1",
        "kind": "Simulation",
        "metadata": {"name": "seed-default"},
        "spec": {
            "graphSelector": {"matchLabels": {"series": "test-series"}},
            "algorithm": "default",
            "factor": [1.0, 2.0],
            "repetitions": 2,
        },
    }
    parsed = parse_spec(resource, graphs_dir=seed_crs / "graphs" / "examples-test-series")
    assert parsed.parameters == {}
    assert parsed.runs_total == len(parsed.graphs) * 2 == 20


# --- every problem at once --------------------------------------------------------------


def test_every_problem_of_a_spec_is_reported_together() -> None:
    error = refusal(spec(epsilon=-1, max_rounds=0, graphs=[{"generator": "nope"}]))
    assert isinstance(error, SpecProblems)
    assert [problem.field for problem in error.problems] == [
        "max_rounds",
        "epsilon",
        "graphs[0].generator",
    ]
    lines = str(error).splitlines()
    assert lines[0] == "3 problems:"
    assert lines[1] == "  max_rounds: must be an integer in 1..1,000,000; got 0"
    assert lines[2] == "  epsilon: must lie in [0, 1), got -1"
    assert lines[3].startswith("  graphs[0].generator: ")
    assert error.field == "max_rounds"  # the first problem's


def test_problems_of_several_graphs_and_parameters_are_all_listed() -> None:
    error = refusal(
        spec(
            graphs=[ws(p=[]), PATH_30, {"generator": "nope"}],
            algorithms=["default", "community_based"],
            parameters={"factor": 2.0, "priorPartnerFactor": 0.3},
        )
    )
    assert isinstance(error, SpecProblems)
    assert [problem.field for problem in error.problems] == [
        "parameters.factor",
        "parameters.priorPartnerFactor",
        "graphs[0].params.p",
        "graphs[2].generator",
    ]


# --- graph realizations -----------------------------------------------------------------


def realizations_doc(realizations: str, graph: dict[str, Any]) -> dict[str, Any]:
    return spec(
        graphs=[graph],
        algorithms=["default", {"rule": "average", "mode": "synchronous"}],
        repetitions=3,
        graph_realizations=realizations,
    )


def test_per_repetition_draws_each_repetitions_graph_and_shares_it_across_algorithms() -> None:
    plans = expand_runs(parse_spec(realizations_doc("per_repetition", ws(p=0.1))))
    assert len(plans) == 2 * 3
    seeds = {plan.repetition: set() for plan in plans.values()}
    for plan in plans.values():
        assert plan.graph.name == "ws-60" and plan.graph.source["params"]["p"] == 0.1
        seeds[plan.repetition].add(plan.graph.source["seed"])
    # one realization per repetition, the same for both algorithms (a paired comparison)
    assert seeds == {rep: {realization_seed(1, rep)} for rep in range(3)}
    assert len({realization_seed(1, rep) for rep in range(3)}) == 3
    graphs = [load_graph(plans[f"ws-60.default.r{rep}"].graph.source) for rep in range(3)]
    edges = {tuple(graph.indices.tolist()) for graph in graphs}
    assert len(edges) == 3  # three different graphs


def test_realization_seeds_are_derived_as_documented() -> None:
    """docs/spec.md, Graph realizations: a 4-byte blake2b digest of "<seed>:<r>" with its top
    bit cleared; realizations must not change between versions, or old results cannot be
    reproduced."""
    for seed, repetition in ((1, 0), (1, 7), (123456, 2)):
        digest = hashlib.blake2b(f"{seed}:{repetition}".encode(), digest_size=4).digest()
        assert realization_seed(seed, repetition) == int.from_bytes(digest, "big") & 0x7FFFFFFF
    assert realization_seed(1, 0) != realization_seed(2, 0)  # not seed + repetition
    assert realization_seed(1, 1) != realization_seed(2, 0)


def test_fixed_realizations_use_the_one_graph_in_every_repetition() -> None:
    plans = expand_runs(parse_spec(realizations_doc("fixed", ws(p=0.1))))
    assert {plan.graph.source["seed"] for plan in plans.values()} == {1}


def test_per_repetition_leaves_deterministic_and_inline_graphs_alone() -> None:
    ring = {"name": "ring", "generator": "cycle_graph", "params": {"n": 12}}
    inline = {"name": "triangle", "edges": [[0, 1], [1, 2], [2, 0]]}
    for graph in (ring, inline):
        plans = expand_runs(parse_spec(realizations_doc("per_repetition", graph)))
        assert len(plans) == 6
        assert all(plan.graph.source == graph for plan in plans.values())


# --- disconnected graphs ----------------------------------------------------------------


def five_and_three(**extra: Any) -> Graph:
    labels = ("a", "b", "c", "d", "e", "f", "g", "h")
    source = {"name": "x", "edges": FIVE_AND_THREE, "labels": list(labels), **extra}
    return load_graph({**source, "values": [float(v) for v in range(8)]})


def test_largest_component_keeps_its_vertices_edges_labels_and_values() -> None:
    graph = five_and_three()
    count, component = graph.component_labels()
    assert count == 2 and len(set(component[[1, 3, 4, 6, 7]].tolist())) == 1
    largest = graph.largest_component()
    assert largest.n == 5 and largest.name == "x"
    assert largest.labels == ("b", "d", "e", "g", "h")
    assert largest.initial_values is not None
    assert largest.initial_values.tolist() == [1.0, 3.0, 4.0, 6.0, 7.0]
    # the edges of {1, 3, 4, 6, 7} renumbered 0..4 in that order; the triangle is gone
    assert {tuple(sorted((int(u), int(v)))) for u, v in edge_pairs(largest)} == {
        (0, 1), (1, 2), (2, 3), (3, 4), (0, 4), (0, 2),
    }  # fmt: skip
    assert largest.component_labels()[0] == 1
    assert largest.largest_component() is largest  # connected: itself


def test_largest_component_true_in_a_source_keeps_the_largest_component() -> None:
    graph = five_and_three(largest_component=True)
    assert graph.n == 5 and graph.num_edges == 6 and graph.labels == ("b", "d", "e", "g", "h")


def edge_pairs(graph: Graph) -> list[tuple[int, int]]:
    rows = np.repeat(np.arange(graph.n), graph.degrees)
    return [(u, v) for u, v in zip(rows.tolist(), graph.indices.tolist(), strict=True) if u < v]


def test_connectivity_warning_says_what_is_wrong_and_the_way_out() -> None:
    ring = load_graph({"generator": "cycle_graph", "params": {"n": 8}})
    assert connectivity_warning(ring, field="graphs[0]") is None
    warning = connectivity_warning(five_and_three(), field="graphs[0]")
    assert warning is not None
    assert warning.startswith(
        "graphs[0]: graph 'x' is not connected: 2 components, the largest has 5 of 8 vertices."
    )
    assert "add largest_component: true to the graph" in warning


def test_a_disconnected_graph_is_accepted_with_a_warning_or_cut_to_its_largest_part() -> None:
    two_cycles = {"name": "two-cycles", "edges": FIVE_AND_THREE}
    warned = parse_spec(spec(graphs=[PATH_30, two_cycles]))
    (warning,) = warned.warnings
    assert warning.startswith("graphs[1]: graph 'two-cycles' is not connected: 2 components")
    assert [graph.vertices for graph in warned.graphs] == [30, 8]
    cut = parse_spec(spec(graphs=[PATH_30, {**two_cycles, "largest_component": True}]))
    assert cut.warnings == () and [graph.vertices for graph in cut.graphs] == [30, 5]


def test_an_isolated_vertex_is_refused_unless_the_largest_component_is_kept() -> None:
    lonely = {"name": "lonely", "vertices": 4, "edges": [[0, 1], [1, 2], [2, 0]]}
    error = refusal(spec(graphs=[lonely]))
    assert error.field == "graphs[0]" and "largest_component: true" in str(error)
    (graph,) = parse_spec(spec(graphs=[{**lonely, "largest_component": True}])).graphs
    assert graph.vertices == 3


# --- the documented example -------------------------------------------------------------


def test_the_tour_example_is_the_documented_every_field_block_and_runs_220_runs() -> None:
    """docs/spec.md shows examples/tour.yaml and says it runs 220 runs; both stay true."""
    tour = load_spec_file(REPO / "examples" / "tour.yaml")
    text = (REPO / "docs" / "spec.md").read_text()
    block = text.split("## Every field\n\n```yaml\n", 1)[1].split("```", 1)[0]
    assert yaml.safe_load(block) == tour
    parsed = parse_spec(tour, base_dir=REPO / "examples")
    assert len(parsed.graphs) == 11 and parsed.runs_total == 220 and parsed.warnings == ()
    words = " ".join(text.split())
    assert "11 graphs × (1 + 1 + 2) algorithm configurations × 5 repetitions = 220 runs" in words
