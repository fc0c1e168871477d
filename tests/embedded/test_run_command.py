"""`gossipsim run`: the four services in one process, results on disk."""

from __future__ import annotations

import csv
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml

from gossipsim.cli import main as cli
from tests.conftest import REPO


def gossipsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gossipsim.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_quickstart_writes_the_results_layout(tmp_path):
    completed = gossipsim("run", str(REPO / "examples" / "quickstart.yaml"), "--out", str(tmp_path))
    assert completed.returncode == 0, completed.stderr
    (simulation,) = (tmp_path / "simulations").iterdir()
    for name in ("manifest.json", "summary.csv", "averaged.csv"):
        assert (simulation / name).is_file(), name
    summary = read_csv(simulation / "summary.csv")
    assert len(summary) == 45 and len({row["run_id"] for row in summary}) == 45
    assert len(read_csv(simulation / "averaged.csv")) == 9  # 3 graphs × 3 algorithms
    run = simulation / "runs" / summary[0]["run_id"]
    result = orjson.loads((run / "result.json").read_bytes())
    lines = (run / "rounds.jsonl").read_text().splitlines()
    assert len(lines) == result["rounds"] + 1
    manifest = orjson.loads((simulation / "manifest.json").read_bytes())
    assert manifest["runs_total"] == 45 and manifest["runs_succeeded"] == 45
    assert str(simulation) in completed.stdout


def test_seed_series1_default_simulation_runs_on_its_graphs(tmp_path, seed_crs):
    graphs = tmp_path / "graphs"
    graphs.mkdir()
    for path in sorted((seed_crs / "graphs" / "series1").glob("series1_mod0[19]_1.yaml")):
        shutil.copy(path, graphs)
    simulation_file = seed_crs / "simulations" / "series1" / "series1-default.yaml"
    completed = gossipsim(
        "run",
        str(simulation_file),
        "--graphs",
        str(graphs),
        "--out",
        str(tmp_path / "out"),
        "--json",
    )
    assert completed.returncode == 0, completed.stderr
    outcome = orjson.loads(completed.stdout)
    assert outcome["runs_total"] == 20 and outcome["runs_failed"] == 0
    folder = Path(outcome["results"])
    summary = read_csv(folder / "summary.csv")
    averaged = read_csv(folder / "averaged.csv")
    assert {row["graph"] for row in summary} == {"series1-mod01-1", "series1-mod09-1"}
    assert all(row["algorithm"] == "default" and row["converged"] == "True" for row in summary)
    assert len(averaged) == 2
    for row in averaged:
        rounds = [int(r["rounds"]) for r in summary if r["graph"] == row["graph"]]
        assert int(row["runs"]) == 10
        assert float(row["mean_rounds"]) == pytest.approx(statistics.fmean(rounds))
        assert int(row["min_rounds"]) == min(rounds) and int(row["max_rounds"]) == max(rounds)
        assert float(row["converged_share"]) == 1.0
    assert {"graph_nodes", "graph_edges"} <= set(summary[0])


def write_spec(tmp_path: Path, spec: object) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec) if not isinstance(spec, str) else spec)
    return str(path)


GOOD_GRAPH = {"name": "k5", "generator": "complete_graph", "params": {"n": 5}}


def spec_with(**changes: object) -> dict[str, object]:
    spec: dict[str, object] = {"graphs": [GOOD_GRAPH], "algorithms": ["default"]}
    spec.update(changes)
    return {k: v for k, v in spec.items() if v is not None}


BAD_SPECS = [
    (spec_with(colour="blue"), "colour"),
    (spec_with(graphs=[]), "graphs"),
    (spec_with(graphs=None), "graphs"),
    (spec_with(graphs=[{"generator": "no_such_graph", "params": {"n": 5}}]), "graphs[0]"),
    (spec_with(graphs=[{"generator": "complete_graph", "params": {"n": -3}}]), "graphs[0]"),
    (spec_with(graphs=[{"adjacency": ["0 1,", "1, 0"]}]), "graphs[0]"),
    (spec_with(algorithms=["gossip_faster"]), "algorithms[0]"),
    (spec_with(algorithms=[{"rule": "median"}]), "algorithms[0]"),
    (spec_with(algorithms=["weighted_factor"], parameters={"factor": [-1.0]}), "factor"),
    (spec_with(repetitions=0), "repetitions"),
    (spec_with(max_rounds=0), "max_rounds"),
    (spec_with(max_rounds=10**9), "max_rounds"),
    (spec_with(epsilon=2), "epsilon"),
    (spec_with(stop="sometimes"), "stop"),
    (spec_with(history={"every": -1}), "history.every"),
    (spec_with(shards=0), "shards"),
    (spec_with(seed=-1), "seed"),
    (spec_with(initialization="psychic"), "initialization"),
    (spec_with(parameters={"factor": ["two"]}), "parameters.factor"),
]


@pytest.mark.parametrize(("spec", "field"), BAD_SPECS, ids=[f for _, f in BAD_SPECS])
def test_invalid_spec_exits_2_naming_the_field(tmp_path, capsys, spec, field):
    code = cli.main(["run", write_spec(tmp_path, spec), "--out", str(tmp_path / "out")])
    assert code == 2
    assert field in capsys.readouterr().err
    assert not (tmp_path / "out" / "simulations").exists() or not any(
        (tmp_path / "out" / "simulations").glob("*/summary.csv")
    )


def test_unreadable_spec_file_exits_2(tmp_path, capsys):
    code = cli.main(["run", write_spec(tmp_path, "graphs: [unclosed"), "--out", str(tmp_path)])
    assert code == 2
    assert "spec" in capsys.readouterr().err
