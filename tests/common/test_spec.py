"""Simulation specs: valid ones expand into the right runs, invalid ones name the field."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gossipsim.common.errors import InvalidInput
from gossipsim.common.graphs.sources import load_graph
from gossipsim.common.model.algorithms import Memory, Mode, Order, Rule, Selection
from gossipsim.common.model.convergence import DEFAULT_EPSILON
from gossipsim.common.model.initial_values import Initialization
from gossipsim.common.spec.run_plan import AlgorithmPlan, ExecutionSettings
from gossipsim.common.spec.simulation_spec import (
    expand_runs,
    load_spec_file,
    parse_spec,
    simulation_id_for,
)

RUN_ID = re.compile(r"[A-Za-z0-9._=-]+")
BA_200 = {"name": "ba-200", "generator": "barabasi_albert_graph", "params": {"n": 200, "m": 2}}
PATH_30 = {"name": "path-30", "generator": "path_graph", "params": {"n": 30}}
TEST_SERIES = {"resources": "graphs/examples-test-series", "selector": {"series": "test-series"}}


def spec(**fields: Any) -> dict[str, Any]:
    """A small valid native spec with ``fields`` replaced (None removes a field)."""
    doc: dict[str, Any] = {"name": "small", "graphs": [PATH_30], "algorithms": ["default"]}
    doc.update(fields)
    return {key: value for key, value in doc.items() if value is not None}


def seed_simulation(seed_crs: Path, series: str, name: str) -> dict[str, Any]:
    return load_spec_file(seed_crs / "simulations" / series / f"{name}.yaml")


# --- valid specs ------------------------------------------------------------------------


def test_parameters_multiply_only_the_algorithms_that_use_them(seed_crs: Path) -> None:
    doc = spec(
        graphs=[BA_200, TEST_SERIES],
        algorithms=[
            "default",
            {"rule": "average", "mode": "synchronous"},
            "weighted_factor_memory",
            "betweenness_weighted",
        ],
        parameters={"factor": [1, 2.0], "priorPartnerFactor": 0.3, "weightingParamA": [0, 0.5]},
        repetitions=3,
    )
    parsed = parse_spec(doc, base_dir=seed_crs)
    runs = list(expand_runs(parsed).values())

    graphs = 1 + 10
    per_graph = 1 + 1 + 2 * 1 + 2 * 2  # default, average, factor × ppf, factor × a
    assert parsed.runs_total == len(runs) == graphs * per_graph * 3
    default_runs = [run for run in runs if run.algorithm.name == "default"]
    assert len(default_runs) == graphs * 3
    assert all(run.parameters == {} for run in default_runs)
    memory_runs = [run for run in runs if run.algorithm.label == "weighted_factor_memory"]
    assert {tuple(run.parameters.items()) for run in memory_runs} == {
        (("factor", 1.0), ("priorPartnerFactor", 0.3)),
        (("factor", 2.0), ("priorPartnerFactor", 0.3)),
    }
    centrality = {tuple(sorted(r.parameters)) for r in runs if "betweenness" in r.algorithm.label}
    assert centrality == {("factor", "weightingParamA")}
    assert {run.repetition for run in runs} == {0, 1, 2}


def test_run_ids_are_readable_unique_and_deterministic(seed_crs: Path) -> None:
    doc = spec(
        graphs=[BA_200, TEST_SERIES],
        algorithms=["default", "weighted_factor", {"rule": "average", "mode": "synchronous"}],
        parameters={"factor": [1.0, 2.5]},
        repetitions=2,
    )
    ids = list(expand_runs(parse_spec(doc, base_dir=seed_crs)))
    again = list(expand_runs(parse_spec(doc, base_dir=seed_crs)))
    assert ids == again
    assert len(set(ids)) == len(ids)
    assert all(RUN_ID.fullmatch(run_id) for run_id in ids)
    assert "ba-200.default.r0" in ids
    assert "ba-200.weighted_factor.factor=2.5.r1" in ids
    assert "barab-n20-e1.0.average-uniform.synchronous.r1" in ids


def test_ids_are_stable_across_processes(seed_crs: Path) -> None:
    """Nothing in an id depends on the interpreter (``hash()`` randomization, ordering)."""
    doc = spec(graphs=[BA_200], algorithms=["weighted_factor"], parameters={"factor": [1, 3]})
    script = (
        "import json, sys\n"
        "from gossipsim.common.spec.simulation_spec import (\n"
        "    expand_runs, parse_spec, simulation_id_for)\n"
        "doc = json.loads(sys.argv[1])\n"
        "sid = simulation_id_for(doc)\n"
        "print(json.dumps([sid] + list(expand_runs(parse_spec(doc)))))\n"
    )
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", script, json.dumps(doc)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        outputs.append(json.loads(done.stdout))
    sid = simulation_id_for(doc)
    assert outputs[0] == outputs[1] == [sid, *expand_runs(parse_spec(doc))]


def test_runs_carry_everything_a_run_start_needs(seed_crs: Path) -> None:
    doc = spec(
        graphs=[TEST_SERIES],
        algorithms=[{"name": "weighted_factor", "order": "shuffled"}],
        parameters={"factor": 2},
        seed=7,
        max_rounds=50,
        stop="max_rounds",
        epsilon=0.001,
        initialization="uniform",
        history={"every": 2, "vertices": 100},
        visualize=False,  # true samples a history of its own, refused beside history
        shards=2,
        mode="synchronous",
    )
    ((run_id, run),) = list(expand_runs(parse_spec(doc, base_dir=seed_crs)).items())[:1]
    assert run.algorithm == AlgorithmPlan(
        name="weighted_factor",
        rule=Rule.MIN,
        selection=Selection.WEIGHTED_FACTOR,
        memory=Memory.NONE,
        mode=Mode.SYNCHRONOUS,
        order=Order.SHUFFLED,
    )
    assert run.algorithm.label == "weighted_factor"
    assert run_id == "barab-n20-e1.0.weighted_factor.synchronous.shuffled.factor=2.0.r0"
    assert run.seed == 7 and run.parameters == {"factor": 2.0}
    assert run.settings == ExecutionSettings(
        max_rounds=50,
        until_converged=False,
        epsilon=0.001,
        initialization=Initialization.UNIFORM,
        history_every=2,
        history_vertices=tuple(range(20)),  # a count beyond the graph's size takes all
        shards=2,
    )
    graph = load_graph(run.graph.source)
    assert graph.name == run.graph.name and Path(run.graph.source["resource"]).is_absolute()


def test_the_parser_holds_the_only_defaults_of_the_execution_settings() -> None:
    (run,) = expand_runs(parse_spec(spec())).values()
    assert run.settings == ExecutionSettings(
        max_rounds=1000,
        until_converged=True,
        epsilon=DEFAULT_EPSILON,
        initialization=Initialization.AUTO,
        history_every=0,
        history_vertices=None,
        shards=1,
    )


def test_derived_ids_are_normalised_to_their_alphabets() -> None:
    doc = spec(name="Ünïcode Sweep/../x", graphs=[{**PATH_30, "name": "_tmp graph"}])
    assert re.fullmatch(r"[a-z0-9][a-z0-9.-]*", simulation_id_for(doc))
    assert list(expand_runs(parse_spec(doc))) == ["tmp-graph.default.r0"]


def test_a_graph_name_too_long_for_a_run_id_is_rejected() -> None:
    doc = spec(graphs=[{**PATH_30, "name": "g" * 250}])
    with pytest.raises(InvalidInput, match="shorter name") as error:
        parse_spec(doc)
    assert error.value.field == "graphs"


def test_spec_mode_completes_mappings_but_not_seed_names() -> None:
    doc = spec(algorithms=["default", {"rule": "max"}], mode="synchronous")
    first, second = parse_spec(doc).algorithms
    assert first.spec == {"name": "default"} and first.algorithm.mode.name == "SEQUENTIAL"
    assert second.spec == {"rule": "max", "mode": "synchronous"}


def test_relative_file_paths_are_made_absolute(tmp_path: Path) -> None:
    (tmp_path / "ring.edges").write_text("0 1\n1 2\n2 0\n")
    parsed = parse_spec(spec(graphs=[{"file": "ring.edges"}]), base_dir=tmp_path)
    (graph,) = parsed.graphs
    assert graph.source == {"file": str(tmp_path / "ring.edges")}
    assert (graph.name, graph.vertices) == ("ring", 3)


def test_seed_series1_default_runs_100_graphs_10_times(full_seed_crs: Path) -> None:
    doc = seed_simulation(full_seed_crs, "series1", "series1-default")
    parsed = parse_spec(doc, graphs_dir=full_seed_crs / "graphs")
    runs = list(expand_runs(parsed).values())
    assert parsed.name == "series1-default"
    assert (len(parsed.graphs), parsed.repetitions, len(runs)) == (100, 10, 1000)
    assert {run.algorithm.name for run in runs} == {"default"}
    assert {run.settings.initialization.value for run in runs} == {"graph"}
    assert len(expand_runs(parsed)) == 1000


def test_seed_parameter_lists_expand(full_seed_crs: Path) -> None:
    doc = seed_simulation(full_seed_crs, "gnutella-series", "gnutella-series-cp-cm")
    graphs_dir = full_seed_crs / "graphs" / "gnutella-series"
    runs = list(expand_runs(parse_spec(doc, graphs_dir=graphs_dir)).values())
    assert len(runs) == 50 * 3 * 10
    assert {run.parameters["priorPartnerFactor"] for run in runs} == {0.1, 0.3, 0.5}
    assert {run.algorithm.label for run in runs} == {"community_probabilities_complex_memory"}


def test_seed_centrality_simulation_uses_all_three_parameters(seed_crs: Path) -> None:
    doc = seed_simulation(seed_crs, "gnutella-series", "gnutella-series-bn-wf-cm")
    doc["spec"]["graphSelector"]["matchLabels"] = {"series": "test-series"}
    runs = list(expand_runs(parse_spec(doc, graphs_dir=seed_crs / "graphs")).values())
    assert len(runs) == 10 * 3 * 10
    assert {tuple(sorted(run.parameters)) for run in runs} == {
        ("factor", "priorPartnerFactor", "weightingParamA")
    }


def test_simulation_id_is_deterministic_and_order_independent() -> None:
    doc = spec(name="My Sweep!", repetitions=2)
    reordered = dict(reversed(list(doc.items())))
    assert simulation_id_for(doc) == simulation_id_for(reordered)
    assert re.fullmatch(r"my-sweep-[0-9a-f]{10}", simulation_id_for(doc))
    assert simulation_id_for(doc) != simulation_id_for(spec(name="My Sweep!", repetitions=3))
    assert simulation_id_for({"graphs": []}).startswith("simulation-")


def test_spec_files_load_as_yaml_or_json(tmp_path: Path) -> None:
    body = {"graphs": [PATH_30], "algorithms": ["default"]}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(body))
    (tmp_path / "other.json").write_text(json.dumps({**body, "name": "given"}))
    assert load_spec_file(tmp_path / "sweep.yaml") == {**body, "name": "sweep"}
    assert load_spec_file(tmp_path / "other.json")["name"] == "given"
    assert parse_spec(load_spec_file(tmp_path / "sweep.yaml")).name == "sweep"


@pytest.mark.parametrize(
    ("content", "word"),
    [(None, "no such"), ("a: [1", "YAML"), ('{"a": ', "JSON"), ("- 1\n- 2\n", "mapping")],
)
def test_unreadable_spec_files_are_refused(tmp_path: Path, content: str | None, word: str) -> None:
    path = tmp_path / "bad.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InvalidInput, match=word):
        load_spec_file(path)


# --- invalid specs ----------------------------------------------------------------------

GEN = {"generator": "path_graph", "params": {"n": 5}}
INVALID = {
    "unknown key": (spec(graph=[PATH_30]), "graph", "did you mean 'graphs'"),
    "empty graphs": (spec(graphs=[]), "graphs", "non-empty"),
    "no algorithms": (spec(algorithms=None), "algorithms", "non-empty"),
    "bad generator": (
        spec(graphs=[GEN, {"generator": "nope_graph"}]),
        "graphs[1].generator",
        "unknown",
    ),
    "bad generator param": (
        spec(graphs=[GEN, {"generator": "path_graph", "params": {"n": -1}}]),
        "graphs[1].params.n",
        "at least 1",
    ),
    "bad adjacency line": (
        spec(graphs=[{"adjacency": ["0 1,", "1 2, 3,"]}]),
        "graphs[0].adjacency[2]",
        "cannot be parsed",
    ),
    "unknown algorithm": (
        spec(algorithms=["default", "gossip_fast"]),
        "algorithms[1]",
        "unknown algorithm",
    ),
    "unknown rule": (
        spec(algorithms=[{"rule": "median"}]),
        "algorithms[0].rule",
        "expected one of",
    ),
    "repeated algorithm": (
        spec(algorithms=["default", {"name": "default"}]),
        "algorithms[1]",
        "repeats",
    ),
    "negative factor": (spec(parameters={"factor": [1, -2]}), "parameters.factor[1]", ">= 0"),
    "weightingParamA above 1": (
        spec(parameters={"weightingParamA": 2}),
        "parameters.weightingParamA",
        "[0, 1]",
    ),
    "parameter string": (spec(parameters={"factor": ["high"]}), "parameters.factor[0]", "number"),
    "unknown parameter": (
        spec(parameters={"factr": [1]}),
        "parameters.factr",
        "did you mean 'factor'",
    ),
    "repetitions 0": (spec(repetitions=0), "repetitions", "1..10,000"),
    "max_rounds 0": (spec(max_rounds=0), "max_rounds", "1..1,000,000"),
    "max_rounds 1e9": (spec(max_rounds=10**9), "max_rounds", "1..1,000,000"),
    "epsilon 2": (spec(epsilon=2), "epsilon", "[0, 1)"),
    "stop sometimes": (spec(stop="sometimes"), "stop", "converged, max_rounds"),
    "history every -1": (spec(history={"every": -1}), "history.every", "integer"),
    "history vertex outside": (
        spec(history={"vertices": [0, 30]}),
        "history.vertices[1]",
        "not in graph",
    ),
    "shards 0": (spec(shards=0), "shards", "1..1,024"),
    "seed -1": (spec(seed=-1), "seed", "integer"),
    "unknown initialization": (spec(initialization="zeros"), "initialization", "random_int"),
    "graph values missing": (spec(initialization="graph"), "initialization", "no initial values"),
    "duplicate graph name": (
        spec(graphs=[PATH_30, {**GEN, "name": "path-30"}]),
        "graphs[1]",
        "taken",
    ),
    "visualize not bool": (spec(visualize="yes"), "visualize", "true or false"),
    "unknown mode": (spec(mode="parallel"), "mode", "synchronous"),
}


@pytest.mark.parametrize(("doc", "field", "word"), INVALID.values(), ids=INVALID.keys())
def test_invalid_spec_names_field_and_reason(doc: dict[str, Any], field: str, word: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_spec(doc)
    assert caught.value.field == field
    assert word in str(caught.value)


def test_selector_matching_nothing_names_the_selector(seed_crs: Path) -> None:
    doc = spec(graphs=[{"resources": "graphs", "selector": {"series": "no-such-series"}}])
    with pytest.raises(InvalidInput, match="no-such-series") as caught:
        parse_spec(doc, base_dir=seed_crs)
    assert caught.value.field == "graphs[0].selector"


def test_seed_simulation_without_graphs_dir_is_refused(seed_crs: Path) -> None:
    doc = seed_simulation(seed_crs, "series1", "series1-default")
    with pytest.raises(InvalidInput, match="graphs_dir") as caught:
        parse_spec(doc)
    assert caught.value.field == "spec.graphSelector"


@pytest.mark.parametrize(
    ("change", "field", "word"),
    [
        ({"repetitions": 0}, "spec.repetitions", "integer"),
        ({"factor": [1, -1]}, "spec.factor[1]", ">= 0"),
        ({"algorithm": "fastest"}, "spec.algorithm", "unknown algorithm"),
        (
            {"graphSelector": {"matchLabels": {"series": "nothing"}}},
            "spec.graphSelector",
            "nothing",
        ),
        ({"randomInitialization": "no"}, "spec.randomInitialization", "true or false"),
        ({"algorithmm": "default"}, "spec.algorithmm", "did you mean 'algorithm'"),
    ],
)
def test_seed_simulation_errors_use_the_resource_paths(
    seed_crs: Path, change: dict[str, Any], field: str, word: str
) -> None:
    doc = seed_simulation(seed_crs, "series1", "series1-default")
    doc["spec"].update(change)
    with pytest.raises(InvalidInput) as caught:
        parse_spec(doc, graphs_dir=seed_crs / "graphs" / "examples-test-series")
    assert (caught.value.field, word in str(caught.value)) == (field, True)


def test_seed_simulation_takes_execution_settings_beside_its_spec(seed_crs: Path) -> None:
    doc = seed_simulation(seed_crs, "series1", "series1-default")
    doc["spec"]["graphSelector"]["matchLabels"] = {"series": "test-series"}
    doc["gossipsim"] = {"shards": 2, "seed": 5, "max_rounds": 300}
    parsed = parse_spec(doc, graphs_dir=seed_crs / "graphs")
    assert (parsed.shards, parsed.seed, parsed.max_rounds) == (2, 5, 300)
    doc["gossipsim"] = {"shards": 0}
    with pytest.raises(InvalidInput) as caught:
        parse_spec(doc, graphs_dir=seed_crs / "graphs")
    assert caught.value.field == "gossipsim.shards"
    doc["gossipsim"] = {"repetitions": 3}
    with pytest.raises(InvalidInput, match="unknown key") as caught:
        parse_spec(doc, graphs_dir=seed_crs / "graphs")
    assert caught.value.field == "gossipsim.repetitions"


# --- graphs gossip can never run on are refused when the spec is checked ---------------------


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        ({"name": "one", "adjacency": ["0,"]}, "has 1 vertex; gossip needs at least two"),
        ({"name": "loop", "adjacency": ["0 0,"]}, "has 1 vertex"),
        ({"name": "empty", "generator": "empty_graph", "params": {"n": 5}}, "has no edges"),
        (
            {"name": "island", "adjacency": ["0 1,", "2,", "3 4,"]},
            r"has an isolated vertex \(number 2\)",
        ),
    ],
)
def test_a_graph_gossip_can_never_run_on_is_refused_at_check_time(
    graph: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        parse_spec(spec(graphs=[graph]))
    assert caught.value.field == "graphs[0]"


def test_isolated_vertices_are_named_by_number_never_by_label(tmp_path: Path) -> None:
    """Labels come from the file, which could be anybody's secrets."""
    edges = tmp_path / "net.edgelist"
    edges.write_text("a b\nb c\nSECRET-LABEL\n")
    with pytest.raises(InvalidInput, match="has an isolated vertex") as caught:
        parse_spec(spec(graphs=[{"name": "net", "file": str(edges), "format": "adjlist"}]))
    assert "SECRET-LABEL" not in str(caught.value)


def test_more_shards_than_vertices_is_refused_at_check_time() -> None:
    with pytest.raises(InvalidInput, match="30 vertices, fewer than the 31 shards") as caught:
        parse_spec(spec(shards=31), max_shards=64)
    assert caught.value.field == "shards"
    assert parse_spec(spec(shards=30), max_shards=64).shards == 30


def test_shards_are_capped_by_the_setting() -> None:
    with pytest.raises(InvalidInput, match="over the limit of 16") as caught:
        parse_spec(spec(shards=17))
    assert caught.value.field == "shards"
    assert "GOSSIPSIM_MAX_SHARDS" in str(caught.value)
