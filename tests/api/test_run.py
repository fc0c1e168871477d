"""``gossipsim.run``: a whole spec from Python, from a script, from inside a running event
loop and awaited, with networkx graphs in it; its DataFrames are the CSVs on disk."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import gossipsim
from gossipsim import embedded
from gossipsim.common.errors import InvalidInput

SPEC: dict[str, Any] = {
    "name": "api-ring",
    "seed": 5,
    "graphs": [{"name": "ring-30", "generator": "cycle_graph", "params": {"n": 30}}],
    "algorithms": ["default", {"rule": "average", "mode": "synchronous"}],
    "repetitions": 3,
    "max_rounds": 60,
    "epsilon": 1e-3,
}


def assert_matches_the_files(results: gossipsim.Results) -> None:
    """The DataFrames are what pandas reads from the CSVs the collector wrote."""
    folder = Path(results.location)
    assert folder.parent.name == "simulations" and folder.name == results.simulation_id
    assert_frame_equal(results.summary, pd.read_csv(folder / "summary.csv"))
    assert_frame_equal(results.averaged, pd.read_csv(folder / "averaged.csv"))
    parts = sorted((folder / "rounds").glob("part-*.csv"))
    listed = [name for name in results.manifest["files"] if name.startswith("rounds/")]
    assert parts and listed == [f"rounds/{p.name}" for p in parts]
    files = pd.concat([pd.read_csv(part) for part in parts], ignore_index=True)
    assert_frame_equal(results.rounds, files)


def test_run_from_plain_python_returns_the_tables_as_dataframes(tmp_path):
    results = gossipsim.run(SPEC, out=tmp_path)
    assert_matches_the_files(results)
    assert results.simulation_id.startswith("api-ring-") and results.name == "api-ring"
    assert len(results.summary) == 6 and set(results.summary["status"]) == {"completed"}
    assert len(results.averaged) == 2 and list(results.averaged["runs"]) == [3, 3]
    assert len(results.rounds) == int((results.summary["rounds"] + 1).sum())
    assert results.manifest["runs_total"] == 6 and results.runs_failed == 0


def test_run_inside_a_running_event_loop_blocks_on_a_worker_thread(tmp_path):
    """As in Jupyter, where a loop runs in the kernel's thread: asyncio.run would refuse."""
    threads: list[str] = []

    async def notebook_cell() -> gossipsim.Results:
        threads.append(threading.current_thread().name)
        return gossipsim.run(SPEC, out=tmp_path)

    results = asyncio.run(notebook_cell())
    assert_matches_the_files(results)
    assert len(results.summary) == 6 and threads == [threading.main_thread().name]


async def test_run_async_is_awaited_in_the_callers_loop(tmp_path):
    results = await gossipsim.run_async({**SPEC, "repetitions": 1}, out=tmp_path)
    assert_matches_the_files(results)
    assert len(results.summary) == 2


def test_networkx_graphs_stand_in_the_spec_with_their_values(tmp_path):
    valued = nx.path_graph(["a", "b", "c", "d", "e"])  # labels that are no numbers
    nx.set_node_attributes(valued, {"a": 9.0, "b": 7.0, "c": 4.0, "d": 8.0, "e": 6.0}, "value")
    spec = {
        **SPEC,
        "graphs": [nx.karate_club_graph(), {"name": "valued-path", "graph": valued}],
        "algorithms": ["default"],  # min; auto initialization takes a graph's own values
        "repetitions": 1,
    }
    results = gossipsim.run(spec, out=tmp_path)
    assert_matches_the_files(results)
    summary = results.summary.set_index("graph")
    assert list(summary.index) == ["Zachary's Karate Club", "valued-path"]
    assert list(summary["graph_nodes"]) == [34, 5] and list(summary["graph_edges"]) == [78, 4]
    assert set(summary["status"]) == {"completed"}
    path_rounds = results.rounds[results.rounds["graph"] == "valued-path"]
    first, last = path_rounds.iloc[0], path_rounds.iloc[-1]
    assert (first["min"], first["max"], first["sum"]) == (4.0, 9.0, 34.0)  # the values given
    assert (last["min"], last["max"], bool(last["converged"])) == (4.0, 4.0, True)
    stored = sorted(p.name for p in (tmp_path / "graphs").iterdir())
    assert len(stored) == 2 and all(p.startswith("inline-") for p in stored)


def test_a_spec_file_resolves_its_graph_files_from_its_folder(tmp_path, monkeypatch):
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "square.edgelist").write_text("0 1\n1 2\n2 3\n3 0\n")
    (folder / "spec.yaml").write_text(
        "graphs: [{file: square.edgelist}]\nalgorithms: [default]\nmax_rounds: 20\n"
    )
    monkeypatch.chdir(tmp_path)  # elsewhere than the spec
    results = gossipsim.run(folder / "spec.yaml", out=tmp_path / "out")
    assert results.name == "spec"  # a spec file without a name is named after the file
    assert list(results.summary["graph"]) == ["square"]
    assert list(results.summary["graph_nodes"]) == [4]


def test_an_invalid_spec_raises_with_the_field_and_runs_nothing(tmp_path):
    with pytest.raises(gossipsim.InvalidSpec) as raised:
        gossipsim.run({**SPEC, "max_rounds": 0}, out=tmp_path)
    assert isinstance(raised.value, InvalidInput)
    assert raised.value.field == "max_rounds"
    assert "max_rounds" in str(raised.value) and raised.value.reason == str(raised.value)
    assert not (tmp_path / "simulations").exists()
    with pytest.raises(gossipsim.InvalidSpec, match="no such spec file"):
        gossipsim.run(tmp_path / "missing.yaml", out=tmp_path)
    with pytest.raises(gossipsim.InvalidSpec, match="a spec is a mapping"):
        gossipsim.run(42, out=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="runners"):
        gossipsim.run(SPEC, out=tmp_path, runners=0)


def test_a_spec_that_completed_before_in_out_is_not_run_again(tmp_path, monkeypatch):
    spec = {**SPEC, "repetitions": 1}
    first = gossipsim.run(spec, out=tmp_path)

    def no_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("ran again")

    monkeypatch.setattr(embedded, "run_embedded", no_run)
    again = gossipsim.run(spec, out=tmp_path)
    assert again.simulation_id == first.simulation_id
    assert_frame_equal(again.summary, first.summary)


def test_rerun_runs_a_completed_spec_again_and_replaces_its_results(tmp_path):
    spec = {**SPEC, "repetitions": 1}
    first = gossipsim.run(spec, out=tmp_path)
    marker = Path(first.location) / "stale.txt"
    marker.write_text("from the first run")
    again = gossipsim.run(spec, out=tmp_path, rerun=True)
    assert again.simulation_id == first.simulation_id
    assert not marker.exists()  # the folder was replaced, not added to
    assert_frame_equal(
        again.summary.drop(columns="duration_s"), first.summary.drop(columns="duration_s")
    )


def test_every_problem_of_a_spec_is_in_the_reason_once(tmp_path):
    bad = {**SPEC, "graphs": [{"generator": "nope"}], "epsilon": -1, "max_rounds": 0}
    with pytest.raises(gossipsim.InvalidSpec) as raised:
        gossipsim.run(bad, out=tmp_path)
    lines = raised.value.reason.splitlines()
    assert lines[0] == "3 problems:"
    assert sorted(line.split(":")[0].strip() for line in lines[1:]) == [
        "epsilon",
        "graphs[0].generator",
        "max_rounds",
    ]
    assert raised.value.field == "max_rounds"  # the first, for code that wants one


def test_a_disconnected_graph_runs_with_its_warning_on_the_results(tmp_path):
    two_triangles = {"name": "two", "adjacency": ["0 1 2,", "1 2,", "3 4 5,", "4 5,"]}
    spec = {"name": "disc", "graphs": [two_triangles], "algorithms": ["default"], "max_rounds": 20}
    results = gossipsim.run(spec, out=tmp_path)
    (warning,) = results.warnings
    assert warning.startswith("graphs[0]: graph 'two' is not connected: 2 components")
    assert "largest_component: true" in warning
    assert list(results.summary["converged"]) == [False]
