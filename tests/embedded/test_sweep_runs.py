"""Sweeps run end to end in one process (docs/spec.md, Sweeps): a graph-parameter sweep with a
fresh graph per repetition gives the right runs, distinct realizations, the same results on
every run of the spec; a chosen source is the one informed vertex at round 0; a disconnected
graph runs with a warning, or converges once cut to its largest component."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import gossipsim
from gossipsim.cli import main as cli
from gossipsim.common.spec.simulation_spec import realization_seed

PUSH_PULL = {"rule": "rumor_push_pull", "mode": "synchronous"}
SWEEP: dict[str, Any] = {
    "name": "ws-sweep",
    "seed": 11,
    "graphs": [
        {
            "name": "ws-40",
            "generator": "watts_strogatz_graph",
            "params": {"n": 40, "k": 4, "p": [0.0, 0.5]},
        }
    ],
    "algorithms": [PUSH_PULL],
    "graph_realizations": "per_repetition",
    "repetitions": 3,
    "max_rounds": 60,
}
# a 5-cycle with a chord and a triangle: two components
TWO_PARTS = [[1, 3], [3, 4], [4, 6], [6, 7], [7, 1], [1, 4], [0, 2], [2, 5], [5, 0]]


@pytest.fixture(scope="module")
def sweep_results(tmp_path_factory: pytest.TempPathFactory) -> gossipsim.Results:
    """SWEEP run once for the module (a run of it takes seconds)."""
    return gossipsim.run(SWEEP, out=tmp_path_factory.mktemp("sweep"))


def test_a_graph_sweep_with_a_graph_per_repetition_runs_every_realization(
    sweep_results: gossipsim.Results,
) -> None:
    results = sweep_results
    summary = results.summary
    assert len(summary) == 2 * 3 and set(summary["status"]) == {"completed"}
    assert list(summary["graph"]) == ["ws-40.p=0.0"] * 3 + ["ws-40.p=0.5"] * 3
    assert list(summary["param_p"]) == [0.0] * 3 + [0.5] * 3
    assert list(summary["run_id"])[3] == "ws-40.p=0.5.rumor_push_pull-uniform.synchronous.r0"
    assert summary["converged"].all()
    for p in (0.0, 0.5):
        runs = summary[summary["param_p"] == p]
        # the generator's seed 0 (the default) and the repetition make each realization's seed
        assert list(runs["graph_seed"]) == [realization_seed(0, rep) for rep in range(3)]
    rewired = summary[summary["param_p"] == 0.5]
    assert rewired["graph_average_clustering"].nunique() == 3  # three different graphs
    assert rewired["graph_assortativity"].nunique() == 3
    lattice = summary[summary["param_p"] == 0.0]  # p = 0 rewires nothing: one ring lattice
    assert lattice["graph_average_clustering"].nunique() == 1
    averaged = results.averaged
    assert list(averaged["graph"]) == ["ws-40.p=0.0", "ws-40.p=0.5"]
    assert list(averaged["param_p"]) == [0.0, 0.5] and list(averaged["runs"]) == [3, 3]
    assert list(averaged["algorithm"]) == ["rumor_push_pull/uniform"] * 2
    rounds = results.rounds
    assert set(rounds["graph_seed"]) == set(summary["graph_seed"])
    assert len(rounds) == int((summary["rounds"] + 1).sum())


def test_the_same_spec_gives_the_same_runs_in_another_folder(
    sweep_results: gossipsim.Results, tmp_path: Path
) -> None:
    first = sweep_results.summary
    second = gossipsim.run(SWEEP, out=tmp_path).summary
    assert Path(sweep_results.location).parent.parent != tmp_path and len(second) == 6
    pd.testing.assert_frame_equal(
        first.drop(columns=["duration_s"]), second.drop(columns=["duration_s"])
    )


def test_a_chosen_source_is_the_one_informed_vertex_at_round_0(tmp_path: Path) -> None:
    spec = {
        "name": "sources",
        "seed": 4,
        "graphs": [{"name": "ring-30", "generator": "cycle_graph", "params": {"n": 30}}],
        "algorithms": [{"rule": "rumor_push", "mode": "synchronous"}],
        "initialization": {"single_source": {"vertex": [17, 3]}},
        "history": {"every": 1, "vertices": [3, 17]},
        "repetitions": 2,
        "max_rounds": 40,
    }
    results = gossipsim.run(spec, out=tmp_path)
    summary = results.summary
    assert list(summary["param_source"]) == [17, 17, 3, 3]
    assert summary["run_id"][0] == "ring-30.rumor_push-uniform.synchronous.source=17.r0"
    start = results.rounds[results.rounds["round"] == 0]
    assert list(start["sum"]) == [1.0] * 4 and list(start["param_source"]) == [17, 17, 3, 3]
    runs = Path(results.location) / "runs"
    for run_id, source in zip(summary["run_id"], summary["param_source"], strict=True):
        history = pd.read_parquet(runs / run_id / "history.parquet")
        start = history[history["round"] == 0]
        # vertices 3 and 17 are sampled: only the chosen one is informed at round 0
        assert dict(zip(start["vertex"], start["value"], strict=True)) == {
            3: 1.0 if source == 3 else 0.0,
            17: 1.0 if source == 17 else 0.0,
        }


def write_spec(folder: Path, doc: dict[str, Any]) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{doc['name']}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def disconnected(**graph: Any) -> dict[str, Any]:
    return {
        "name": "parts",
        "graphs": [{"name": "two-parts", "edges": TWO_PARTS, **graph}],
        "algorithms": [PUSH_PULL],
        "repetitions": 2,
        "max_rounds": 25,
    }


def test_a_disconnected_graph_runs_with_the_documented_warning(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    code = cli.main(["run", write_spec(tmp_path, disconnected()), "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (
        "warning: graphs[0]: graph 'two-parts' is not connected: 2 components, the largest has"
        " 5 of 8 vertices." in captured.err
    )
    assert "add largest_component: true to the graph" in captured.err
    summary = pd.read_csv(Path(json.loads(captured.out)["results"]) / "summary.csv")
    # the rumor never crosses to the other component: every run stops at max_rounds
    assert list(summary["converged"]) == [False, False] and list(summary["rounds"]) == [25, 25]


def test_its_largest_component_runs_to_convergence_without_a_warning(tmp_path, capsys) -> None:
    doc = disconnected(largest_component=True)
    code = cli.main(["run", write_spec(tmp_path, doc), "--out", str(tmp_path / "out"), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "warning" not in captured.err
    summary = pd.read_csv(Path(json.loads(captured.out)["results"]) / "summary.csv")
    assert list(summary["converged"]) == [True, True] and list(summary["graph_nodes"]) == [5, 5]


def test_run_reports_every_problem_of_a_spec_at_once(tmp_path, capsys) -> None:
    doc = {
        "name": "bad",
        "graphs": [{"generator": "nope"}],
        "algorithms": ["default"],
        "epsilon": -1,
        "max_rounds": 0,
    }
    code = cli.main(["run", write_spec(tmp_path, doc), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.splitlines()
    assert code == 2
    assert err[0] == "invalid spec: 3 problems:"
    assert err[1] == "  max_rounds: must be an integer in 1..1,000,000; got 0"
    assert err[2] == "  epsilon: must lie in [0, 1), got -1"
    assert err[3].startswith("  graphs[0].generator: ")
