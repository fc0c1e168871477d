"""Graph sources: every form of a graph description, the seed fixtures, native generators."""

from __future__ import annotations

import gzip
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import yaml

from gossipsim.common.errors import GraphError
from gossipsim.common.graphs import csr_generators as gg
from gossipsim.common.graphs.graph import Graph
from gossipsim.common.graphs.sources import (
    NETWORKX_MAX_VERTICES,
    GraphLimits,
    find_seed_graphs,
    load_graph,
    load_seed_graph_resource,
    parse_value_list,
)
from gossipsim.common.runtime.settings import ServiceSettings

BARAB_20 = "graphs/examples-test-series/barab-n20-e1.0.yaml"
GNUTELLA_20 = "graphs/examples-gnutella-n20/gnutella-n20-0.yaml"


def edge_set(graph: Graph) -> set[tuple[int, int]]:
    rows = np.repeat(np.arange(graph.n), graph.degrees)
    return {(int(u), int(v)) for u, v in zip(rows, graph.indices, strict=True) if u < v}


def assert_valid_csr(graph: Graph) -> None:
    """The Graph invariants: symmetric, sorted rows, no loops, no duplicates."""
    rows = np.repeat(np.arange(graph.n), graph.degrees)
    assert not np.any(rows == graph.indices)
    for v in range(min(graph.n, 200)):
        assert np.all(np.diff(graph.neighbors(v)) > 0)
    forward = set(zip(rows.tolist(), graph.indices.tolist(), strict=True))
    assert forward == {(v, u) for u, v in forward}


# --- seed resources ---------------------------------------------------------------------


def test_resource_without_value_list_has_no_values(seed_crs: Path) -> None:
    graph = load_graph({"resource": str(seed_crs / GNUTELLA_20)})
    assert (graph.n, graph.num_edges, graph.initial_values) == (20, 19, None)
    assert graph.labels is not None and graph.labels[0] == "159"


def test_seed_resource_loads_with_its_value_list(seed_crs: Path) -> None:
    graph = load_graph({"resource": str(seed_crs / BARAB_20)})
    assert (graph.name, graph.n, graph.num_edges) == ("barab-n20-e1.0", 20, 19)
    assert graph.labels is None
    assert graph.neighbors(0).tolist() == [1, 4, 7]
    assert graph.neighbors(8).tolist() == [1, 14, 16]
    assert graph.initial_values is not None
    assert graph.initial_values.dtype == np.float64
    assert graph.initial_values[:4].tolist() == [51, 14, 98, 3]
    assert_valid_csr(graph)


def test_resource_path_is_relative_to_base_dir(seed_crs: Path) -> None:
    graph = load_graph({"resource": BARAB_20}, base_dir=seed_crs)
    assert graph.num_edges == 19


def test_non_contiguous_integer_labels_sort_numerically_and_carry_values(
    full_seed_crs: Path,
) -> None:
    """The seed operator sorts integer labels and gives valueList entry i to the i-th."""
    path = full_seed_crs / "graphs/gnutella-series/gnutella-n1000-0.yaml"
    doc = yaml.safe_load(path.read_text())
    graph = load_seed_graph_resource(doc)
    labels = sorted({int(t) for line in doc["spec"]["adjacencyList"] for t in line[:-1].split()})
    assert graph.labels == tuple(str(label) for label in labels)
    values = [float(v) for v in doc["spec"]["valueList"].split(",")]
    assert graph.initial_values is not None
    assert graph.initial_values.tolist() == values
    first = doc["spec"]["adjacencyList"][0][:-1].split()
    u = labels.index(int(first[0]))
    assert {graph.label(int(v)) for v in graph.neighbors(u)} >= set(first[1:])


def test_every_seed_graph_fixture_loads(full_seed_crs: Path) -> None:
    paths = find_seed_graphs(full_seed_crs / "graphs")
    assert len(paths) >= 500
    for path in paths:
        doc = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
        graph = load_seed_graph_resource(doc)
        properties = doc["spec"]["graphProperties"]
        assert graph.n == int(properties.get("nodeCount", graph.n)), path.name
        assert graph.name == doc["metadata"]["name"]
        if "valueList" in doc["spec"]:
            assert graph.initial_values is not None and len(graph.initial_values) == graph.n


@pytest.mark.parametrize(
    ("fixture", "relative"),
    [
        ("seed_crs", BARAB_20),
        ("seed_crs", GNUTELLA_20),
        ("seed_crs", "graphs/series1/series1_mod05_1.yaml"),
        ("full_seed_crs", "graphs/series2/barab-n1000-e2.0_2.yaml"),
        ("full_seed_crs", "graphs/gnutella-series/gnutella-n1000-7.yaml"),
    ],
)
def test_seed_adjacency_matches_networkx_parse(
    request: pytest.FixtureRequest, fixture: str, relative: str
) -> None:
    resources: Path = request.getfixturevalue(fixture)
    doc = yaml.safe_load((resources / relative).read_text())
    expected = nx.parse_adjlist([line.rstrip(",") for line in doc["spec"]["adjacencyList"]])
    graph = load_seed_graph_resource(doc)
    assert graph.n == expected.number_of_nodes()
    assert graph.num_edges == expected.number_of_edges() - nx.number_of_selfloops(expected)
    assert_valid_csr(graph)


def test_find_seed_graphs_filters_by_label(seed_crs: Path) -> None:
    test_series = find_seed_graphs(seed_crs, {"series": "test-series"})
    assert len(test_series) == 10
    assert test_series == sorted(test_series)
    assert all(p.parent.name == "examples-test-series" for p in test_series)
    gnutella = find_seed_graphs(seed_crs / "graphs", {"series": "gnutella-series"})
    assert [p.parent.name for p in gnutella] == ["examples-gnutella-n20"] * 3
    assert find_seed_graphs(seed_crs, {"series": "no-such-series"}) == []


def test_find_seed_graphs_skips_other_kinds_and_takes_globs(seed_crs: Path) -> None:
    assert find_seed_graphs(seed_crs / "simulations") == []
    matched = find_seed_graphs(str(seed_crs / "graphs" / "**" / "barab-n20-*.yaml"))
    assert len(matched) == 10
    assert find_seed_graphs(seed_crs / BARAB_20) == [seed_crs / BARAB_20]


def test_find_seed_graphs_reports_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(GraphError, match="neither a directory"):
        find_seed_graphs(tmp_path / "missing")


def test_seed_spec_can_be_given_inline(seed_crs: Path) -> None:
    spec = yaml.safe_load((seed_crs / BARAB_20).read_text())["spec"]
    graph = load_graph(
        {"adjacencyList": spec["adjacencyList"], "valueList": spec["valueList"], "name": "x"}
    )
    assert (graph.name, graph.n, graph.num_edges) == ("x", 20, 19)
    assert graph.initial_values is not None and graph.initial_values[0] == 51


# --- generators -------------------------------------------------------------------------


def test_networkx_generator_is_built_and_deterministic_for_its_seed() -> None:
    spec = {"generator": "barabasi_albert_graph", "params": {"n": 100, "m": 2}, "seed": 7}
    first, again = load_graph(spec), load_graph(spec)
    other = load_graph({**spec, "seed": 8})
    assert (first.n, first.num_edges) == (100, 196)
    assert np.array_equal(first.indices, again.indices)
    assert not np.array_equal(first.indices, other.indices)
    assert_valid_csr(first)


def test_seed_is_passed_only_to_generators_that_take_one() -> None:
    graph = load_graph({"generator": "karate_club_graph", "seed": 3, "name": "karate"})
    assert (graph.name, graph.n, graph.num_edges) == ("karate", 34, 78)


def test_native_generator_takes_precedence_over_networkx() -> None:
    graph = load_graph({"generator": "random_k_out_graph", "params": {"n": 500, "k": 3}, "seed": 1})
    expected = gg.random_k_out_graph(500, 3, seed=1)
    assert np.array_equal(graph.indices, expected.indices)


def test_gnp_aliases_are_native_and_allowed_above_the_networkx_cap() -> None:
    n = NETWORKX_MAX_VERTICES + 1
    graph = load_graph({"generator": "erdos_renyi_graph", "params": {"n": n, "p": 2.0 / n}})
    assert graph.n == n
    assert 0.8 * n < graph.num_edges < 1.2 * n


def test_generators_returning_directed_multigraphs_become_simple_undirected() -> None:
    graph = load_graph({"generator": "scale_free_graph", "params": {"n": 60}, "seed": 2})
    assert graph.n == 60
    assert_valid_csr(graph)


def test_random_k_out_graph_degrees_and_determinism() -> None:
    graph = gg.random_k_out_graph(5000, 4, seed=3)
    assert graph.degrees.min() >= 4
    assert 7.9 < graph.degrees.mean() <= 8.0
    assert_valid_csr(graph)
    assert np.array_equal(graph.indices, gg.random_k_out_graph(5000, 4, seed=3).indices)
    assert not np.array_equal(graph.indices, gg.random_k_out_graph(5000, 4, seed=4).indices)


@pytest.mark.parametrize(("n", "k"), [(2, 1), (5, 4), (10, 7), (10, 3), (1, 0)])
def test_random_k_out_graph_picks_k_distinct_others_even_when_dense(n: int, k: int) -> None:
    graph = gg.random_k_out_graph(n, k, seed=0)
    assert graph.n == n and graph.degrees.min() >= k
    if k == n - 1:
        assert graph.num_edges == n * (n - 1) // 2


def test_random_k_out_graph_builds_a_million_vertices_as_csr() -> None:
    graph = gg.random_k_out_graph(1_000_000, 4, seed=1)
    assert graph.n == 1_000_000 and graph.degrees.min() == 4
    assert graph.indices.dtype == np.int32 and 7.9 < graph.indices.size / graph.n < 8.0


def test_regular_native_generators_have_the_right_shape() -> None:
    complete = gg.complete_graph(10)
    assert complete.num_edges == 45 and set(complete.degrees.tolist()) == {9}
    cycle = gg.cycle_graph(7)
    assert cycle.num_edges == 7 and set(cycle.degrees.tolist()) == {2}
    path = gg.path_graph(7)
    assert path.num_edges == 6 and path.degrees.tolist() == [1, 2, 2, 2, 2, 2, 1]
    grid = gg.grid_2d_graph(3, 4)
    assert (grid.n, grid.num_edges) == (12, 3 * 3 + 2 * 4)
    assert edge_set(grid) == edge_set(Graph.from_networkx(nx.grid_2d_graph(3, 4), name="g"))
    torus = gg.grid_2d_graph(3, 4, periodic=True)
    assert set(torus.degrees.tolist()) == {4}
    assert gg.cycle_graph(2).num_edges == 1 and gg.path_graph(1).n == 1


def test_gnm_and_gnp_random_graphs() -> None:
    gnm = gg.gnm_random_graph(2000, 7000, seed=5)
    assert (gnm.n, gnm.num_edges) == (2000, 7000)
    assert_valid_csr(gnm)
    assert gg.gnm_random_graph(6, 15, seed=0).num_edges == 15
    gnp = gg.fast_gnp_random_graph(2000, 0.01, seed=5)
    expected = 0.01 * 2000 * 1999 / 2
    assert abs(gnp.num_edges - expected) < 5 * np.sqrt(expected)
    assert np.array_equal(gnp.indices, gg.fast_gnp_random_graph(2000, 0.01, seed=5).indices)


def test_gnm_pair_decoding_covers_every_pair_once() -> None:
    graph = gg.gnm_random_graph(30, 435, seed=1)
    assert graph.num_edges == 435


# --- adjacency and files ------------------------------------------------------------------


def test_adjacency_text_with_vertices_only_as_neighbours_and_isolated_ones() -> None:
    graph = load_graph({"adjacency": "0 1 2,\n# comment\n\n1 4,\n3,", "valueList": "5,6,7,8,9,"})
    assert graph.n == 5 and graph.num_edges == 3
    assert graph.degrees.tolist() == [2, 2, 1, 0, 1]
    assert graph.initial_values is not None
    assert graph.initial_values.tolist() == [5, 6, 7, 8, 9]


def test_string_labels_keep_first_appearance_order() -> None:
    graph = load_graph({"adjacency": ["b a c,", "c d,"], "values": [1, 2, 3, 4.5]})
    assert graph.labels == ("b", "a", "c", "d")
    assert graph.neighbors(0).tolist() == [1, 2]
    assert graph.initial_values is not None and graph.initial_values[3] == 4.5


def test_edge_list_file_with_comments_and_weights(tmp_path: Path) -> None:
    (tmp_path / "g.edges").write_text("# a comment\n0 1 0.5\n1 2\n\n2 0 7\n5 6\n")
    graph = load_graph({"file": "g.edges"}, base_dir=tmp_path)
    assert graph.name == "g"
    assert graph.n == 5 and graph.num_edges == 4
    assert graph.labels == ("0", "1", "2", "5", "6")


def test_csv_file_with_a_header_and_a_gzipped_edge_list(tmp_path: Path) -> None:
    (tmp_path / "g.csv").write_text("source,target\n0,1\n1,2\n")
    assert load_graph({"file": str(tmp_path / "g.csv")}).num_edges == 2
    with gzip.open(tmp_path / "h.edgelist.gz", "wt") as stream:
        stream.write("0 1\n1 2\n2 3\n")
    assert load_graph({"file": str(tmp_path / "h.edgelist.gz")}).num_edges == 3


def test_adjlist_file_and_explicit_format(tmp_path: Path) -> None:
    (tmp_path / "g.adjlist").write_text("0 1 2\n1 2\n")
    assert load_graph({"file": str(tmp_path / "g.adjlist")}).num_edges == 3
    (tmp_path / "g.dat").write_text("0 1\n")
    assert load_graph({"file": str(tmp_path / "g.dat"), "format": "edgelist"}).num_edges == 1


@pytest.mark.parametrize(
    ("suffix", "write"),
    [("graphml", nx.write_graphml), ("gexf", nx.write_gexf), ("gml", nx.write_gml)],
)
def test_networkx_file_formats_keep_order_and_values(tmp_path: Path, suffix: str, write) -> None:
    source = nx.path_graph(4)
    nx.set_node_attributes(source, {v: float(10 + v) for v in source}, "value")
    write(source, tmp_path / f"g.{suffix}")
    graph = load_graph({"file": str(tmp_path / f"g.{suffix}")})
    assert (graph.n, graph.num_edges, graph.labels) == (4, 3, None)
    assert graph.initial_values is not None
    assert graph.initial_values.tolist() == [10.0, 11.0, 12.0, 13.0]


def test_explicit_values_override_file_values(tmp_path: Path) -> None:
    source = nx.path_graph(3)
    nx.set_node_attributes(source, 1.0, "value")
    nx.write_graphml(source, tmp_path / "g.graphml")
    graph = load_graph({"file": str(tmp_path / "g.graphml"), "values": [7, 8, 9]})
    assert graph.initial_values is not None and graph.initial_values.tolist() == [7, 8, 9]


def test_parse_value_list_accepts_the_seed_string() -> None:
    assert parse_value_list("1, 2,3,", n=3, field="v").tolist() == [1.0, 2.0, 3.0]


# --- bad input ----------------------------------------------------------------------------


def _write_tmp(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


BAD_SOURCES = [
    ({"generator": "barabasi_albert", "params": {"n": 9}}, "unknown generator 'barabasi_albert'"),
    ({"generator": "barabasi_albert_graph", "params": {"n": 9, "mm": 2}}, "unknown parameter 'mm'"),
    ({"generator": "barabasi_albert_graph", "params": {"n": 9}}, "needs m"),
    ({"generator": "barabasi_albert_graph", "params": {"n": -3, "m": 2}}, "n must be"),
    ({"generator": "barabasi_albert_graph", "params": {"n": 9, "m": 9}}, "m must lie in"),
    ({"generator": "erdos_renyi_graph", "params": {"n": 9, "p": 1.5}}, "p is a probability"),
    ({"generator": "watts_strogatz_graph", "params": {"n": 9, "k": 2, "p": -0.1}}, "probability"),
    ({"generator": "random_k_out_graph", "params": {"n": 9, "k": 9}}, "k must be less than n"),
    ({"generator": "gnm_random_graph", "params": {"n": 4, "m": 7}}, "m must be at most"),
    ({"generator": "watts_strogatz_graph", "params": {"n": 9, "k": 20, "p": 0.1}}, "failed"),
    ({"generator": "cycle_graph", "params": {"n": 5}, "seed": -1}, "seed must be"),
    ({"generator": "cycle_graph", "params": {"n": "five"}}, "n must be"),
    ({"generator": "line_graph"}, "transforms a graph"),
    ({"generator": "write_gml"}, "unknown generator 'write_gml'"),
    ({"generator": "is_regular_expander"}, "unknown generator"),
    ({"generator": "graph_atlas_g"}, "unknown generator"),
    (
        {"generator": "barabasi_albert_graph", "params": {"n": 300_000, "m": 2}},
        "limited to 200,000 vertices",
    ),
    (
        {"generator": "random_k_out_graph", "params": {"n": 20_000_000, "k": 2}},
        "GOSSIPSIM_MAX_VERTICES",
    ),
    ({"generator": "complete_graph", "params": {"n": 20_000}}, "GOSSIPSIM_MAX_EDGES"),
    ({"generator": "hypercube_graph", "params": {"n": 40}}, "over the limit"),
    ({"adjacency": ["0 1,", "1 2, 3,"]}, "line 2 cannot be parsed: expected vertex labels"),
    ({"adjacency": "0 1,\n,\n"}, "line 2"),
    ({"adjacency": ["0 1,", None]}, "line 2 is a NoneType"),
    ({"adjacency": 17}, "expected a list of lines"),
    ({"adjacency": ["0 1,"], "valueList": "1,2,3"}, "has 3 values for a graph of 2 vertices"),
    ({"adjacency": ["0 1,"], "valueList": "1,x"}, "value 2 is not a number"),
    ({"adjacency": ["0 1,"], "values": [1, float("nan")]}, "finite"),
    ({"adjacency": ["0 1,"], "values": [1, 2], "valueList": "1,2"}, "not both"),
    ({"adjacency": ["0 1,"], "name": ""}, "name must be"),
    ({"adjacency": []}, "no vertices"),
    ({"file": "/no/such/file.edges"}, "no such file"),
    ({}, "give exactly one of"),
    ({"generator": "cycle_graph", "adjacency": ["0 1,"]}, "found generator, adjacency"),
    ({"adjacency": ["0 1,"], "params": {}}, "unknown key 'params'"),
]


@pytest.mark.parametrize(("source", "message"), BAD_SOURCES)
def test_bad_source_raises_graph_error_naming_the_problem(source: dict, message: str) -> None:
    with pytest.raises(GraphError) as raised:
        load_graph(source)
    assert message in str(raised.value)
    assert raised.value.field is not None and raised.value.field.startswith("graph")


def test_unknown_generator_suggests_close_names() -> None:
    with pytest.raises(GraphError, match="did you mean barabasi_albert_graph"):
        load_graph({"generator": "barabasi_albert"})


def test_error_fields_point_at_the_parameter() -> None:
    with pytest.raises(GraphError) as raised:
        load_graph({"generator": "erdos_renyi_graph", "params": {"n": 9, "p": 2}}, field="g[3]")
    assert raised.value.field == "g[3].params.p"


def test_graph_over_the_edge_limit_after_building_is_refused() -> None:
    with pytest.raises(GraphError, match="3 edges, over the limit of 2"):
        load_graph({"adjacency": ["0 1 2 3,"]}, limits=GraphLimits(max_edges=2))
    with pytest.raises(GraphError, match="4 vertices, over the limit of 3"):
        load_graph({"adjacency": ["0 1 2 3,"]}, limits=GraphLimits(max_vertices=3))


def test_graph_limits_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="max_vertices"):
        GraphLimits(max_vertices=0)


def test_graph_limits_from_the_environment_default_what_is_unset() -> None:
    assert ServiceSettings.from_env({}).limits == GraphLimits()
    limits = ServiceSettings.from_env({"GOSSIPSIM_MAX_VERTICES": "500", "OTHER": "x"}).limits
    assert limits == GraphLimits(max_vertices=500)
    env = {"GOSSIPSIM_MAX_VERTICES": "7", "GOSSIPSIM_MAX_EDGES": " 9 "}
    limits = ServiceSettings.from_env(env).limits
    assert (limits.max_vertices, limits.max_edges) == (7, 9)


@pytest.mark.parametrize("raw", ["lots", "1e6", "2.5", "0", "-3"])
@pytest.mark.parametrize("variable", ["GOSSIPSIM_MAX_VERTICES", "GOSSIPSIM_MAX_EDGES"])
def test_graph_limits_from_the_environment_name_the_bad_variable(variable: str, raw: str) -> None:
    with pytest.raises(ValueError, match=variable):
        ServiceSettings.from_env({variable: raw})


def test_bad_files(tmp_path: Path) -> None:
    cases = [
        ({"file": _write_tmp(tmp_path, "a.edges", "0 1\n2\n")}, "line 2 of "),
        ({"file": _write_tmp(tmp_path, "a2.edges", "0 1\n2\n")}, "expected two vertex labels"),
        ({"file": _write_tmp(tmp_path, "b.graphml", "<graphml><oops")}, "not a valid graphml"),
        ({"file": _write_tmp(tmp_path, "c.xyz", "0 1\n")}, "cannot tell the format"),
        ({"file": _write_tmp(tmp_path, "d.edges", "0 1\n"), "format": "pdf"}, "unknown format"),
        ({"file": str(tmp_path)}, "no such file"),
    ]
    for source, message in cases:
        with pytest.raises(GraphError) as raised:
            load_graph(source)
        assert message in str(raised.value), source


def test_bad_resources(tmp_path: Path, seed_crs: Path) -> None:
    graph_doc = yaml.safe_load((seed_crs / BARAB_20).read_text())
    short_values = {**graph_doc, "spec": {**graph_doc["spec"], "valueList": "1,2,3"}}
    cases = [
        (seed_crs / "simulations/series1/series1-default.yaml", "kind is not 'Graph'"),
        (
            _write_tmp(tmp_path, "v.yaml", yaml.safe_dump({**graph_doc, "apiVersion": "v2"})),
            "apiVersion is not 'gossip.io/v1'",
        ),
        (_write_tmp(tmp_path, "s.yaml", yaml.safe_dump(short_values)), "has 3 values for a"),
        (_write_tmp(tmp_path, "two.yaml", yaml.safe_dump_all([graph_doc, graph_doc])), "2 Graph"),
        (_write_tmp(tmp_path, "bad.yaml", "kind: [unclosed"), "not valid YAML"),
        (_write_tmp(tmp_path, "empty.yaml", ""), "no Graph resource"),
        (tmp_path / "missing.yaml", "no such file"),
    ]
    for path, message in cases:
        with pytest.raises(GraphError) as raised:
            load_graph({"resource": str(path)})
        assert message in str(raised.value), path


def test_load_seed_graph_resource_validates_the_document() -> None:
    with pytest.raises(GraphError, match="kind is not 'Graph'"):
        load_seed_graph_resource({"apiVersion": "gossip.io/v1", "kind": "Simulation"})
    with pytest.raises(GraphError, match=r"metadata\.name"):
        load_seed_graph_resource({"apiVersion": "gossip.io/v1", "kind": "Graph"})
    with pytest.raises(GraphError, match="adjacencyList"):
        load_seed_graph_resource(
            {"apiVersion": "gossip.io/v1", "kind": "Graph", "metadata": {"name": "x"}, "spec": {}}
        )
