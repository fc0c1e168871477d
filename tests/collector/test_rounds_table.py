"""The long table of rounds: one row per run and round with what identifies the run, the
round's aggregates and the convergence measure, cut into parts of whole runs."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import pytest

from gossipsim.collector.results import (
    rounds_columns,
    rounds_parts,
    rounds_rows,
    rows_to_csv,
    spread,
)
from gossipsim.common.contracts.results_layout import ROWS_PER_ROUNDS_PART, RUNS_PER_ROUNDS_PART


def result(
    run_id: str,
    *,
    rule: str = "min",
    epsilon: float = 1e-3,
    rounds: int = 2,
    status: str = "completed",
    graph: str = "ring",
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "simulation_id": "sim",
        "status": status,
        "rounds": rounds,
        "plan": {
            "graph": graph,
            "algorithm": {"rule": rule},
            "algorithm_label": f"{rule}/uniform",
            "parameters": {"factor": 2.0},
            "sweep": {"p": 0.25},
            "graph_seed": 3,
            "repetition": 1,
            "settings": {"epsilon": epsilon},
        },
    }


def line(number: int, low: float, high: float, **more: Any) -> dict[str, Any]:
    return {
        "round": number,
        "count": 4,
        "mean": (low + high) / 2,
        "variance": 0.5,
        "min": low,
        "max": high,
        "sum": 2 * (low + high),
        "mass": 2 * (low + high),
        "weight": 4.0,
        **more,
    }


def written(results: list[dict[str, Any]], lines: list[list[dict[str, Any]]]) -> list[dict]:
    columns = rounds_columns(results)
    parameters = [c.removeprefix("param_") for c in columns if c.startswith("param_")]
    rows = [
        row for r, ls in zip(results, lines, strict=True) for row in rounds_rows(r, ls, parameters)
    ]
    return list(csv.DictReader(io.StringIO(rows_to_csv(columns, rows).decode())))


def test_every_row_carries_its_run_and_the_aggregates_but_not_the_history():
    results = [result("ring.min.r1")]
    history = {"history": [[0, 1.0], [1, 5.0]]}
    (first, last) = written(results, [[line(0, 1.0, 5.0, **history), line(1, 1.0, 1.0)]])
    assert list(first) == [
        "simulation_id", "run_id", "graph", "algorithm", "param_factor", "param_p",
        "repetition", "graph_seed", "round", "count", "mean", "variance", "min", "max", "sum",
        "mass", "weight", "spread", "converged",
    ]  # fmt: skip
    assert (first["simulation_id"], first["run_id"], first["graph"]) == (
        "sim",
        "ring.min.r1",
        "ring",
    )
    assert (first["algorithm"], first["param_factor"], first["param_p"]) == (
        "min/uniform",
        "2.0",
        "0.25",
    )
    assert (first["repetition"], first["graph_seed"], first["round"]) == ("1", "3", "0")
    assert (float(first["min"]), float(first["max"]), float(first["mean"])) == (1.0, 5.0, 3.0)
    assert float(first["spread"]) == pytest.approx(0.8)
    assert (first["converged"], last["converged"]) == ("False", "True")
    assert float(last["spread"]) == 0.0


@pytest.mark.parametrize(
    ("rule", "low", "high", "converged"),
    [
        ("min", 2.0, 2.0, True),
        ("min", 2.0, 2.0000001, False),  # min and max converge exactly
        ("average", 1.0, 1.0005, True),  # spread 5e-4 <= epsilon 1e-3
        ("average", 1.0, 1.002, False),
        ("push_sum", -1.0, -1.0005, True),
        ("rumor_push", 1.0, 1.0, True),  # everyone informed
        ("rumor_push", 0.0, 1.0, False),
        ("rumor_pull", 0.0, 0.0, False),  # no one informed: spread 0, yet not converged
        ("average", 0.0, 0.0, True),
    ],
)
def test_converged_is_the_runners_test_with_the_runs_rule_and_epsilon(rule, low, high, converged):
    (row,) = written([result("r.r0", rule=rule)], [[line(0, low, high)]])
    assert row["converged"] == str(converged)


def test_spread_is_relative_to_the_larger_magnitude_and_zero_for_zeros():
    assert spread(0.0, 0.0) == 0.0
    assert spread(-2.0, 2.0) == 2.0
    assert spread(90.0, 100.0) == pytest.approx(0.1)
    assert spread(-100.0, -90.0) == pytest.approx(0.1)
    assert math.isnan(spread(None, 1.0))


def test_a_round_without_min_and_max_has_no_measure():
    (row,) = written([result("r.r0")], [[{"round": 0, "mean": 1.0}]])
    assert (row["min"], row["spread"], row["converged"]) == ("", "nan", "")


def test_identifying_cells_are_escaped_for_spreadsheets():
    (row,) = written([result("r.r0", graph="=cmd()")], [[line(0, 1.0, 1.0)]])
    assert row["graph"] == "'=cmd()"


def test_parts_hold_whole_completed_runs_in_run_id_order():
    results = [result(f"run-{k:05d}") for k in reversed(range(2 * RUNS_PER_ROUNDS_PART + 5))]
    results.append(result("run-failed", status="failed"))
    parts = rounds_parts(results)
    assert [len(part) for part in parts] == [RUNS_PER_ROUNDS_PART, RUNS_PER_ROUNDS_PART, 5]
    ids = [r["run_id"] for part in parts for r in part]
    assert ids == sorted(ids) and "run-failed" not in ids


def test_a_part_is_closed_once_it_holds_enough_rows():
    rows_per_run = ROWS_PER_ROUNDS_PART // 2  # rounds + 1 rows each
    results = [result(f"long-{k}", rounds=rows_per_run - 1) for k in range(5)]
    assert [len(part) for part in rounds_parts(results)] == [2, 2, 1]
    huge = [result("huge", rounds=3 * ROWS_PER_ROUNDS_PART), result("small")]
    assert [[r["run_id"] for r in part] for part in rounds_parts(huge)] == [["huge"], ["small"]]


def test_a_simulation_without_completed_runs_has_one_empty_part():
    assert rounds_parts([result("f.r0", status="failed")]) == [[]]
    assert rounds_parts([]) == [[]]
