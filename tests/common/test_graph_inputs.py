"""Graph files only from where the operator allows, graphs from the object store, and parsing
that is bounded and never repeats what it read.

A spec names its own graph files, and in a deployment anyone who may submit one writes it:
with roots configured a path counts only if it resolves inside them (symlinks followed, ``..``
applied), with none (the services' default) no local file counts, and ``gossipsim run``
(``LOCAL_INPUTS``) reads any. Files are read up to a byte cap counted after decompression, and
no error quotes a line, a label or a parser's message: a canary written into each kind of file
must never come back.
"""

from __future__ import annotations

import asyncio
import bz2
import gzip
import os
import pickle
import tracemalloc
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from gossipsim.common.errors import GraphError, InvalidInput
from gossipsim.common.graphs.inputs import (
    DEFAULT_MAX_FILE_BYTES,
    LOCAL_INPUTS,
    SERVICE_INPUTS,
    GraphInputs,
    check_object_key,
)
from gossipsim.common.graphs.sources import find_seed_graphs, load_graph
from gossipsim.common.messaging.bus import Envelope
from gossipsim.common.messaging.memory_bus import InMemoryBus
from gossipsim.common.messaging.messages import SimulationSubmit, encode
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.runtime.settings import ServiceSettings, local_graph_inputs
from gossipsim.common.spec.simulation_spec import expand_runs, parse_spec
from gossipsim.common.storage.graph_objects import fetch_graph_objects, fetched_graph_inputs
from gossipsim.common.storage.local_store import LocalDirectoryStore
from gossipsim.scheduler.service import SchedulerService

CANARY = "CANARY-7f3a"
RING = "0 1\n1 2\n2 3\n3 0\n"
GRAPH_RESOURCE = """\
apiVersion: gossip.io/v1
kind: Graph
metadata:
  name: {name}
  labels:
    series: s1
spec:
  adjacencyList: "0 1 2,\\n1 2,\\n"
  valueList: "1,2,3,"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def refused(source: dict[str, Any], inputs: GraphInputs, **kwargs: Any) -> GraphError:
    with pytest.raises(GraphError) as raised:
        load_graph(source, inputs=inputs, **kwargs)
    return raised.value


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The operator's graph directory, with a sibling outside it holding a "secret"."""
    inside = tmp_path / "graphs"
    write(inside / "ring.edgelist", RING)
    write(tmp_path / "outside" / "secret.edgelist", f"0 1\n{CANARY} x\n")
    return inside


# --- roots -----------------------------------------------------------------------------------


def test_a_file_inside_the_roots_is_read(root: Path) -> None:
    inputs = GraphInputs(roots=(root,))
    assert load_graph({"file": str(root / "ring.edgelist")}, inputs=inputs).num_edges == 4
    nested = write(root / "deeper" / "g.edgelist", "0 1\n")
    assert load_graph({"file": str(nested)}, inputs=inputs).n == 2
    relative = load_graph({"file": "ring.edgelist"}, inputs=inputs, base_dir=root)
    assert relative.num_edges == 4


def test_a_root_given_through_a_symlink_still_admits_its_files(root: Path, tmp_path: Path) -> None:
    (tmp_path / "link-to-graphs").symlink_to(root)
    inputs = GraphInputs(roots=(tmp_path / "link-to-graphs",))
    assert load_graph({"file": str(root / "ring.edgelist")}, inputs=inputs).n == 4


@pytest.mark.parametrize("path", ["/etc/passwd", "/proc/self/environ", "/etc"])
def test_host_files_outside_the_roots_are_refused_unread(root: Path, path: str) -> None:
    error = refused({"file": path, "format": "edgelist"}, GraphInputs(roots=(root,)))
    assert error.field == "graph.file"
    assert "outside the graph roots the operator allowed (GOSSIPSIM_GRAPH_ROOTS)" in str(error)
    assert "{object: graphs/" in str(error)
    assert "root:" not in str(error)


def test_dot_dot_cannot_climb_out_of_a_root(root: Path) -> None:
    escape = str(root / "deeper" / ".." / ".." / "outside" / "secret.edgelist")
    error = refused({"file": escape}, GraphInputs(roots=(root,)))
    assert "outside the graph roots" in str(error)
    assert CANARY not in str(error)
    relative = refused(
        {"file": "../outside/secret.edgelist"}, GraphInputs(roots=(root,)), base_dir=root
    )
    assert "outside the graph roots" in str(relative)


def test_a_symlink_inside_a_root_that_leads_out_is_refused(root: Path, tmp_path: Path) -> None:
    (root / "innocent.edgelist").symlink_to(tmp_path / "outside" / "secret.edgelist")
    error = refused({"file": str(root / "innocent.edgelist")}, GraphInputs(roots=(root,)))
    assert "outside the graph roots" in str(error)
    assert "outside/secret" not in str(error)  # never says where the link leads
    assert CANARY not in str(error)


def test_refusal_does_not_tell_whether_a_file_outside_exists(root: Path, tmp_path: Path) -> None:
    inputs = GraphInputs(roots=(root,))
    there = refused({"file": str(tmp_path / "outside" / "secret.edgelist")}, inputs)
    missing = refused({"file": str(tmp_path / "outside" / "nothing.edgelist")}, inputs)
    assert str(there).replace("secret", "X") == str(missing).replace("nothing", "X")
    inside_missing = refused({"file": str(root / "nothing.edgelist")}, inputs)
    assert "no such file" in str(inside_missing)  # inside the roots, existence is no secret


def test_with_no_roots_no_local_file_is_read(root: Path, tmp_path: Path) -> None:
    resource = write(root / "g.yaml", GRAPH_RESOURCE.format(name="g"))
    for source in ({"file": str(root / "ring.edgelist")}, {"resource": str(resource)}):
        error = refused(source, SERVICE_INPUTS)
        assert "local files are not accepted by this deployment" in str(error), source
    with pytest.raises(InvalidInput) as raised:
        parse_spec(
            {"graphs": [{"resources": str(root)}], "algorithms": ["default"]},
            inputs=SERVICE_INPUTS,
        )
    assert raised.value.field == "graphs[0].resources"
    assert "not accepted by this deployment" in str(raised.value)


def test_local_inputs_read_any_file_as_before(tmp_path: Path) -> None:
    path = write(tmp_path / "anywhere" / "g.edgelist", RING)
    assert load_graph({"file": str(path)}, inputs=LOCAL_INPUTS).num_edges == 4
    assert load_graph({"file": str(path)}).num_edges == 4  # the default is gossipsim run's


# --- resources directories and globs ------------------------------------------------------------


def test_resources_inside_the_roots_are_found(root: Path) -> None:
    write(root / "set" / "a.yaml", GRAPH_RESOURCE.format(name="a"))
    write(root / "set" / "sub" / "b.yml", GRAPH_RESOURCE.format(name="b"))
    inputs = GraphInputs(roots=(root,))
    assert [p.name for p in find_seed_graphs(root / "set", {"series": "s1"}, inputs=inputs)] == [
        "a.yaml",
        "b.yml",
    ]
    spec = parse_spec(
        {"graphs": [{"resources": str(root / "set" / "**" / "*.y*ml")}], "algorithms": ["default"]},
        inputs=inputs,
    )
    assert sorted(graph.name for graph in spec.graphs) == ["a", "b"]


def test_resources_at_the_filesystem_root_are_refused(root: Path) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_spec(
            {"graphs": [{"resources": "/"}], "algorithms": ["default"]},
            inputs=GraphInputs(roots=(root,)),
        )
    assert raised.value.field == "graphs[0].resources"
    assert "outside the graph roots" in str(raised.value)


def test_a_resources_directory_with_a_symlink_out_is_refused(root: Path, tmp_path: Path) -> None:
    write(root / "set" / "a.yaml", GRAPH_RESOURCE.format(name="a"))
    secret = write(tmp_path / "outside" / "b.yaml", GRAPH_RESOURCE.format(name=CANARY))
    (root / "set" / "b.yaml").symlink_to(secret)
    with pytest.raises(InvalidInput) as raised:
        parse_spec(
            {"graphs": [{"resources": str(root / "set")}], "algorithms": ["default"]},
            inputs=GraphInputs(roots=(root,)),
        )
    assert raised.value.field == "graphs[0].resources"
    assert "outside the graph roots" in str(raised.value)
    assert CANARY not in str(raised.value)


def test_a_symlinked_directory_in_resources_is_not_entered(root: Path, tmp_path: Path) -> None:
    write(root / "set" / "a.yaml", GRAPH_RESOURCE.format(name="a"))
    write(tmp_path / "outside" / "more" / "b.yaml", GRAPH_RESOURCE.format(name="b"))
    (root / "set" / "more").symlink_to(tmp_path / "outside" / "more")
    found = find_seed_graphs(root / "set", inputs=GraphInputs(roots=(root,)))
    assert [path.name for path in found] == ["a.yaml"]


def test_a_glob_may_not_climb_out_with_dot_dot(root: Path) -> None:
    pattern = str(root / "*" / ".." / ".." / "outside" / "*.edgelist")
    with pytest.raises(GraphError, match=r"may not contain '\.\.'"):
        find_seed_graphs(pattern, inputs=GraphInputs(roots=(root,)))


def test_graphs_dir_outside_the_roots_is_refused(root: Path, tmp_path: Path) -> None:
    simulation = {
        "apiVersion": "gossip.io/v1",
        "kind": "Simulation",
        "metadata": {"name": "s"},
        "spec": {"graphSelector": {"matchLabels": {"series": "s1"}}},
    }
    write(tmp_path / "outside" / "a.yaml", GRAPH_RESOURCE.format(name="a"))
    with pytest.raises(InvalidInput) as raised:
        parse_spec(simulation, graphs_dir=tmp_path / "outside", inputs=GraphInputs(roots=(root,)))
    assert raised.value.field == "graphs_dir"
    assert "outside the graph roots" in str(raised.value)
    write(root / "a.yaml", GRAPH_RESOURCE.format(name="a"))
    spec = parse_spec(simulation, graphs_dir=root, inputs=GraphInputs(roots=(root,)))
    assert [graph.name for graph in spec.graphs] == ["a"]


# --- nothing read is repeated -------------------------------------------------------------------


def _graphml_with_canary(path: Path) -> None:
    write(path, f'<?xml version="1.0"?>\n<graphml><graph><node id="a"/>\n<{CANARY}></graphml>')


CANARY_FILES = {
    "edgelist": ("g.edgelist", f"0 1\n1 2\n{CANARY}\n"),
    "csv": ("g.csv", f"source,target\n0,1\n{CANARY}\n"),
    "adjlist": ("g.adjlist", f"0 1 2\n{CANARY}, 1, 2\n"),
    "gexf": ("g.gexf", f'<?xml version="1.0"?>\n<gexf><graph>{CANARY}</gexf>'),
    "gml": ("g.gml", f"graph [\n node [ id 0 label {CANARY} ]\n edge [ source 0 \n"),
    "gml-unterminated": ("g.gml", f'graph [\n node [ id 0 label "{CANARY} ]\n]\n'),
    "not-utf8": ("g.edgelist", ""),
}


@pytest.mark.parametrize("kind", sorted(CANARY_FILES))
def test_file_errors_never_quote_the_file(kind: str, tmp_path: Path) -> None:
    name, text = CANARY_FILES[kind]
    path = write(tmp_path / name, text)
    if kind == "not-utf8":
        path.write_bytes(f"0 1\n{CANARY} \xff\n".encode("latin-1"))
    error = refused({"file": str(path)}, LOCAL_INPUTS)
    assert CANARY not in str(error), str(error)
    assert str(path) in str(error)  # the source is named


def test_edge_list_errors_name_the_line_and_what_was_expected(tmp_path: Path) -> None:
    path = write(tmp_path / "g.edgelist", f"0 1\n\n{CANARY}\n")
    error = refused({"file": str(path)}, LOCAL_INPUTS)
    assert f"line 3 of {path}: expected two vertex labels" in str(error)
    assert error.field == "graph.file[3]"


def test_graphml_errors_never_quote_the_file(tmp_path: Path) -> None:
    path = tmp_path / "g.graphml"
    _graphml_with_canary(path)
    error = refused({"file": str(path)}, LOCAL_INPUTS)
    assert CANARY not in str(error)
    assert "not a valid graphml file (line 3)" in str(error)
    attribute = write(
        tmp_path / "h.graphml",
        '<?xml version="1.0"?><graphml><key id="d0" for="node" attr.name="value"'
        f' attr.type="{CANARY}"/><graph edgedefault="undirected"><node id="a"/></graph></graphml>',
    )
    assert CANARY not in str(refused({"file": str(attribute)}, LOCAL_INPUTS))


@pytest.mark.parametrize(
    "text",
    [
        f"apiVersion: {CANARY}\nkind: Graph\nmetadata: {{name: g}}\n"
        "spec: {adjacencyList: '0 1,'}\n",
        f"apiVersion: gossip.io/v1\nkind: {CANARY}\nmetadata: {{name: g}}\n",
        "apiVersion: gossip.io/v1\nkind: Graph\nmetadata: {name: g}\n"
        f"spec: {{adjacencyList: '0 1,\\n{CANARY}, 2,'}}\n",
        "apiVersion: gossip.io/v1\nkind: Graph\nmetadata: {name: g}\n"
        f"spec: {{adjacencyList: '0 1,', valueList: '1,{CANARY}'}}\n",
        f"kind: Graph\nspec: [{CANARY}\n",
        f"kind: Graph\nspec: {CANARY}\nspec: other\n",
    ],
    ids=["apiVersion", "kind", "adjacency-line", "value", "yaml-syntax", "duplicate-key"],
)
def test_seed_resource_errors_never_quote_the_file(text: str, tmp_path: Path) -> None:
    path = write(tmp_path / "r.yaml", text)
    error = refused({"resource": str(path)}, LOCAL_INPUTS)
    assert CANARY not in str(error), str(error)
    assert str(path) in str(error)


def test_inline_adjacency_errors_quote_nothing_either() -> None:
    error = refused({"adjacency": ["0 1,", f"{CANARY}, 2,"]}, LOCAL_INPUTS)
    assert CANARY not in str(error)
    assert "line 2 cannot be parsed" in str(error)
    values = refused({"adjacency": ["0 1,"], "valueList": f"1,{CANARY}"}, LOCAL_INPUTS)
    assert CANARY not in str(values) and "value 2 is not a number" in str(values)


# --- byte caps -----------------------------------------------------------------------------------


def _compressed_lines(path: Path, opener: Any, megabytes: int) -> Path:
    with opener(path, "wb") as stream:
        block = b"1 2\n" * (256 * 1024)  # 1 MiB of edge-list lines
        for _ in range(megabytes):
            stream.write(block)
    return path


@pytest.mark.parametrize(("suffix", "opener"), [(".gz", gzip.open), (".bz2", bz2.open)])
def test_a_compression_bomb_is_refused_at_the_cap_in_bounded_memory(
    tmp_path: Path, suffix: str, opener: Any
) -> None:
    bomb = _compressed_lines(tmp_path / f"bomb.edgelist{suffix}", opener, megabytes=16)
    assert bomb.stat().st_size < 100 * 1024  # small on disk, 16 MiB of lines inside
    cap = 1024 * 1024
    tracemalloc.start()
    try:
        error = refused({"file": str(bomb)}, GraphInputs(roots=None, max_file_bytes=cap))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"is larger than {cap:,} bytes once decompressed" in str(error)
    assert "GOSSIPSIM_MAX_FILE_BYTES" in str(error)
    assert peak < 4 * cap, peak  # about the cap, not the 16 MiB inside


def test_a_plain_file_over_the_cap_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "big.edgelist", RING * 1000)
    error = refused({"file": str(path)}, GraphInputs(roots=None, max_file_bytes=1000))
    assert "is larger than 1,000 bytes;" in str(error)
    assert load_graph({"file": str(path)}, inputs=GraphInputs(roots=None)).num_edges == 4


def test_a_compressed_file_under_the_cap_loads(tmp_path: Path) -> None:
    path = _compressed_lines(tmp_path / "g.edgelist.gz", gzip.open, megabytes=1)
    graph = load_graph({"file": str(path)}, inputs=GraphInputs(roots=None, max_file_bytes=2**21))
    assert (graph.n, graph.num_edges) == (2, 1)


def test_a_resource_file_over_the_cap_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "r.yaml", GRAPH_RESOURCE.format(name="r"))
    error = refused({"resource": str(path)}, GraphInputs(roots=None, max_file_bytes=50))
    assert "is larger than 50 bytes" in str(error)


def test_edge_lines_past_the_edge_limit_are_counted_not_kept(tmp_path: Path) -> None:
    from gossipsim.common.graphs.limits import GraphLimits

    path = write(tmp_path / "g.edgelist", "".join(f"{i} {i + 1}\n" for i in range(50)))
    error = refused({"file": str(path)}, LOCAL_INPUTS, limits=GraphLimits(max_edges=10))
    assert "50 edges, over the limit of 10" in str(error)


def test_comment_and_blank_lines_do_not_count_towards_the_edge_limit(tmp_path: Path) -> None:
    from gossipsim.common.graphs.limits import GraphLimits

    lines = "".join(f"# note\n\n  ,\n%x\n{i} {i + 1} # w\n" for i in range(10))
    path = write(tmp_path / "g.edgelist", lines)
    graph = load_graph({"file": str(path)}, inputs=LOCAL_INPUTS, limits=GraphLimits(max_edges=10))
    assert graph.num_edges == 10
    error = refused({"file": str(path)}, LOCAL_INPUTS, limits=GraphLimits(max_edges=9))
    assert "10 edges, over the limit of 9" in str(error)


def test_adjacency_lists_past_the_edge_limit_stop_being_read(tmp_path: Path) -> None:
    from gossipsim.common.graphs.limits import GraphLimits

    path = write(tmp_path / "g.adjlist", "".join(f"{i} {i + 1} {i + 2}\n" for i in range(1000)))
    error = refused({"file": str(path)}, LOCAL_INPUTS, limits=GraphLimits(max_edges=10))
    assert f"of {path} name more than 20 neighbours by line 11" in str(error)
    assert error.field == "graph.file"


# --- objects from the store ---------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> LocalDirectoryStore:
    return LocalDirectoryStore(tmp_path / "store")


def spec_of(*sources: dict[str, Any]) -> dict[str, Any]:
    return {"name": "objects", "graphs": list(sources), "algorithms": ["default"]}


async def test_graph_objects_are_fetched_and_loaded(store: LocalDirectoryStore, tmp_path: Path):
    await store.put("graphs/ring.edgelist", RING.encode())
    await store.put("graphs/sets/path.adjlist.gz", gzip.compress(b"0 1\n1 2\n"))
    spec = spec_of(
        {"object": "graphs/ring.edgelist"},
        {"object": "graphs/sets/path.adjlist.gz", "name": "path"},
        {"object": "graphs/ring.edgelist", "name": "again"},
    )
    fetched = await fetch_graph_objects(spec, store, tmp_path / "fetched", max_bytes=2**20)
    assert sorted(fetched) == ["graphs/ring.edgelist", "graphs/sets/path.adjlist.gz"]
    assert all(path.is_relative_to(tmp_path / "fetched") for path in fetched.values())
    inputs = SERVICE_INPUTS.with_objects(fetched)  # no local files, yet objects load
    parsed = parse_spec(spec, inputs=inputs)
    assert [(g.name, g.vertices) for g in parsed.graphs] == [("ring", 4), ("path", 3), ("again", 4)]
    plan = next(iter(expand_runs(parsed).values()))
    assert plan.graph.source == {"object": "graphs/ring.edgelist"}  # the key travels, not a path
    graph = load_graph({"object": "graphs/ring.edgelist", "values": [1, 2, 3, 4]}, inputs=inputs)
    assert graph.initial_values is not None


async def test_fetched_inputs_live_as_long_as_the_block(store: LocalDirectoryStore):
    await store.put("graphs/ring.edgelist", RING.encode())
    source = {"object": "graphs/ring.edgelist"}
    async with fetched_graph_inputs(source, SERVICE_INPUTS, store) as inputs:
        (path,) = inputs.objects.values()
        assert load_graph(source, inputs=inputs).n == 4
    assert not path.exists()
    async with fetched_graph_inputs({"generator": "cycle_graph"}, SERVICE_INPUTS, None) as same:
        assert same is SERVICE_INPUTS  # nothing to fetch, no store needed
    with pytest.raises(GraphError, match="need an object store") as raised:
        async with fetched_graph_inputs(spec_of(source), SERVICE_INPUTS, None):
            pass
    assert raised.value.field == "graphs[0].object"


@pytest.mark.parametrize(
    "key",
    [
        "../x.edgelist",
        "/etc/passwd",
        "results/simulations/s/manifest.json",
        "graphs/../state/x.json",
        "graphs/./x.edgelist",
        "graphs/.gossipsim-tmp-x",
        "graphs\\x.edgelist",
        "graphs/",
        "graphs//x.edgelist",
        "graphs/a b.edgelist",
        "graphs/" + "x" * 1020,
        17,
    ],
)
async def test_object_keys_outside_graphs_or_odd_are_refused(key: object, store, tmp_path):
    with pytest.raises(GraphError) as raised:
        check_object_key(key, field="graphs[0].object")
    assert raised.value.field == "graphs[0].object"
    with pytest.raises(GraphError) as fetching:
        await fetch_graph_objects(spec_of({"object": key}), store, tmp_path, max_bytes=100)
    assert fetching.value.field == "graphs[0].object"
    assert refused({"object": key}, SERVICE_INPUTS).field == "graph.object"


async def test_a_missing_object_names_its_key_and_field(store: LocalDirectoryStore, tmp_path):
    with pytest.raises(GraphError) as raised:
        await fetch_graph_objects(
            spec_of({"generator": "cycle_graph"}, {"object": "graphs/missing.edgelist"}),
            store,
            tmp_path,
            max_bytes=100,
        )
    assert raised.value.field == "graphs[1].object"
    assert "no object graphs/missing.edgelist in the store" in str(raised.value)


async def test_an_object_over_the_cap_is_refused(store: LocalDirectoryStore, tmp_path: Path):
    await store.put("graphs/big.edgelist", (RING * 100).encode())
    with pytest.raises(GraphError, match="larger than 100 bytes"):
        await fetch_graph_objects(
            spec_of({"object": "graphs/big.edgelist"}), store, tmp_path, max_bytes=100
        )


def test_an_object_not_fetched_is_a_bug_said_so() -> None:
    error = refused({"object": "graphs/ring.edgelist"}, SERVICE_INPUTS)
    assert "was not fetched" in str(error) and error.field == "graph.object"


def test_object_content_errors_name_the_key_not_the_content(tmp_path: Path) -> None:
    local = write(tmp_path / "x", f"0 1\n{CANARY}\n")
    inputs = SERVICE_INPUTS.with_objects({"graphs/bad.edgelist": local})
    error = refused({"object": "graphs/bad.edgelist"}, inputs)
    assert "line 2 of graphs/bad.edgelist" in str(error) and CANARY not in str(error)


# --- the policy as a value, from the settings --------------------------------------------------


def test_graph_inputs_pickle_and_resolve_their_roots(tmp_path: Path) -> None:
    inputs = GraphInputs(roots=(tmp_path / "a" / ".." / "b",), objects={"graphs/x": tmp_path})
    assert inputs.roots == ((tmp_path / "b").resolve(),)
    assert pickle.loads(pickle.dumps(inputs)) == inputs
    with pytest.raises(ValueError, match="max_file_bytes"):
        GraphInputs(roots=None, max_file_bytes=0)


def test_settings_read_the_roots_and_the_cap() -> None:
    default = ServiceSettings.from_env({}).graph_inputs
    assert default.roots == ()
    assert default.max_file_bytes == DEFAULT_MAX_FILE_BYTES == 268_435_456
    env = {
        "GOSSIPSIM_GRAPH_ROOTS": f"/data/a{os.pathsep}/data/b, /data/c",
        "GOSSIPSIM_MAX_FILE_BYTES": "4096",
    }
    inputs = ServiceSettings.from_env(env).graph_inputs
    assert [str(root) for root in inputs.roots or ()] == [
        os.path.realpath(p) for p in ("/data/a", "/data/b", "/data/c")
    ]
    assert inputs.max_file_bytes == 4096
    local = local_graph_inputs({"GOSSIPSIM_MAX_FILE_BYTES": "4096"})
    assert (local.roots, local.max_file_bytes) == (None, 4096)
    with pytest.raises(ValueError, match="GOSSIPSIM_GRAPH_ROOTS"):
        ServiceSettings.from_env({"GOSSIPSIM_GRAPH_ROOTS": "relative/dir"})
    with pytest.raises(ValueError, match="GOSSIPSIM_MAX_FILE_BYTES"):
        ServiceSettings.from_env({"GOSSIPSIM_MAX_FILE_BYTES": "lots"})


# --- the scheduler ---------------------------------------------------------------------------


async def _submitted(scheduler: SchedulerService, bus: InMemoryBus, topology: Topology, spec):
    submit = SimulationSubmit(spec=spec, simulation_id="hostile-1")
    await bus.publish(topology.commands, Envelope(body=encode(submit), routing_key=submit.kind))
    for _ in range(250):
        if "hostile-1" in scheduler.rejections or "hostile-1" in scheduler.simulations:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the scheduler neither accepted nor rejected the submission")


async def test_the_scheduler_rejects_a_host_file_naming_the_field(tmp_path: Path) -> None:
    topology = Topology(prefix="graph-inputs-test")
    bus = InMemoryBus()
    await topology.declare(bus)
    scheduler = SchedulerService(bus=bus, topology=topology)  # a service's default: no files
    await scheduler.start()
    try:
        await _submitted(scheduler, bus, topology, spec_of({"file": "/etc/passwd"}))
        rejection = scheduler.rejections["hostile-1"]
        assert rejection.field == "graphs[0].file"
        assert "not accepted by this deployment" in rejection.reason
        assert "root:" not in rejection.reason
    finally:
        await scheduler.close()
        await bus.close()


async def test_the_scheduler_checks_object_sources_from_its_store(tmp_path: Path) -> None:
    topology = Topology(prefix="graph-inputs-test")
    bus = InMemoryBus()
    await topology.declare(bus)
    store = LocalDirectoryStore(tmp_path / "store")
    await store.put("graphs/ring.edgelist", RING.encode())
    scheduler = SchedulerService(bus=bus, topology=topology, graph_store=store)
    await scheduler.start()
    try:
        await _submitted(scheduler, bus, topology, spec_of({"object": "graphs/ring.edgelist"}))
        assert "hostile-1" in scheduler.simulations, scheduler.rejections
        (plan,) = scheduler.simulations["hostile-1"].plans.values()
        assert plan.graph.source == {"object": "graphs/ring.edgelist"}
    finally:
        await scheduler.close()
        await bus.close()


async def test_gossipsim_run_takes_graphs_from_objects_under_its_out_dir(tmp_path: Path) -> None:
    from gossipsim.embedded import run_embedded

    out = tmp_path / "out"
    await LocalDirectoryStore(out).put("graphs/k5.graphml", _graphml_bytes(nx.complete_graph(5)))
    spec = {**spec_of({"object": "graphs/k5.graphml"}), "max_rounds": 20}
    outcome = await run_embedded(spec, out_dir=out)
    assert outcome.rejection is None, outcome.rejection
    assert outcome.state is not None
    assert outcome.state.count_failed() == 0
    assert (Path(outcome.location) / "manifest.json").is_file()


def _graphml_bytes(graph: nx.Graph) -> bytes:
    import io

    buffer = io.BytesIO()
    nx.write_graphml(graph, buffer)
    return buffer.getvalue()
