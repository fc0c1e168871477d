"""summary.csv and averaged.csv carry the swept values of a run's configuration (the plan's
``sweep``) as param_<name> columns beside the algorithm's parameters, and its graph seed."""

from __future__ import annotations

import csv
import io
from typing import Any

from gossipsim.collector.results import averaged_rows, summary_rows, to_csv


def result(
    run_id: str,
    *,
    sweep: dict[str, Any],
    parameters: dict[str, float] | None = None,
    graph_seed: int | None = 7,
    rounds: int = 10,
    converged: bool = True,
    status: str = "completed",
) -> dict[str, Any]:
    """A result.json as the collector stores it, made by hand."""
    record: dict[str, Any] = {
        "run_id": run_id,
        "simulation_id": "sim",
        "status": status,
        "attempt": 1,
        "plan": {
            "graph": "ws",
            "algorithm": {"rule": "average"},
            "algorithm_label": "average/uniform",
            "parameters": parameters or {},
            "sweep": sweep,
            "graph_seed": graph_seed,
            "repetition": int(run_id.rsplit("r", 1)[1]),
            "seed": 0,
            "settings": {"epsilon": 1e-4},
        },
    }
    if status == "completed":
        record.update(rounds=rounds, converged=converged, duration_s=0.1, metrics={"nodes": 50})
    else:
        record["error"] = "boom"
    return record


def table(columns: list[str], rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(to_csv(columns, rows).decode())))


RESULTS = [
    result("ws.p=0.1.r0", sweep={"p": 0.1, "max_rounds": 500}, graph_seed=11, rounds=20),
    result("ws.p=0.1.r1", sweep={"p": 0.1, "max_rounds": 500}, graph_seed=12, rounds=30),
    result("ws.p=0.5.r0", sweep={"p": 0.5, "max_rounds": 500}, graph_seed=11, rounds=8),
    result("ws.p=0.5.r1", sweep={"p": 0.5, "max_rounds": 500}, graph_seed=12, status="failed"),
    result("ws.p=0.5.f.r0", sweep={"p": 0.5, "max_rounds": 500}, parameters={"factor": 2.0}),
]


def test_summary_has_a_param_column_per_swept_value_and_parameter_and_the_graph_seed():
    columns, rows = summary_rows(RESULTS)
    params = [c for c in columns if c.startswith("param_")]
    assert params == ["param_factor", "param_max_rounds", "param_p"]
    assert columns.index("graph_seed") == columns.index("seed") + 1
    written = {row["run_id"]: row for row in table(columns, rows)}
    assert written["ws.p=0.1.r1"]["param_p"] == "0.1"
    assert written["ws.p=0.1.r1"]["param_max_rounds"] == "500"
    assert written["ws.p=0.1.r1"]["param_factor"] == ""  # not a parameter of this run
    assert written["ws.p=0.1.r1"]["graph_seed"] == "12"
    assert written["ws.p=0.5.f.r0"]["param_factor"] == "2.0"
    assert written["ws.p=0.5.r1"]["status"] == "failed"
    assert written["ws.p=0.5.r1"]["param_p"] == "0.5"  # a failed run keeps its configuration


def test_a_run_without_a_generator_seed_has_an_empty_graph_seed():
    columns, rows = summary_rows([result("f.r0", sweep={}, graph_seed=None)])
    (written,) = table(columns, rows)
    assert written["graph_seed"] == ""
    assert not [c for c in columns if c.startswith("param_")]


def test_averaged_groups_by_swept_values_but_not_by_graph_seed():
    columns, rows = averaged_rows(RESULTS)
    assert "graph_seed" not in columns
    assert [c for c in columns if c.startswith("param_")] == [
        "param_factor",
        "param_max_rounds",
        "param_p",
    ]
    groups = {(row["param_p"], row["param_factor"]): row for row in table(columns, rows)}
    assert set(groups) == {("0.1", ""), ("0.5", ""), ("0.5", "2.0")}
    low = groups[("0.1", "")]  # two repetitions on two graph realizations: one configuration
    assert (low["runs"], low["converged"], float(low["mean_rounds"])) == ("2", "2", 25.0)
    high = groups[("0.5", "")]
    assert (high["runs"], high["completed"], high["converged"]) == ("2", "1", "1")
    assert float(high["mean_rounds"]) == 8.0
    assert groups[("0.5", "2.0")]["runs"] == "1"
    assert all(row["param_max_rounds"] == "500" for row in groups.values())
