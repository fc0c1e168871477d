"""Rounds to convergence per configuration: over converged runs only, never the cap."""

from __future__ import annotations

import csv
import io
import math
import statistics
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import scipy.stats

from gossipsim.collector.results import averaged_rows, to_csv
from gossipsim.collector.round_statistics import RoundStatistics


def result(rounds: int, *, converged: bool, status: str = "completed") -> dict[str, object]:
    return {
        "status": status,
        "rounds": rounds,
        "converged": converged,
        "plan": {"graph": "g", "algorithm_label": "average/uniform", "parameters": {}},
    }


def run_cli(spec: dict[str, object], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``gossipsim run`` of ``spec`` with results under ``tmp_path``."""
    path = tmp_path / "spec.json"
    path.write_bytes(orjson.dumps(spec))
    command = [sys.executable, "-m", "gossipsim.cli.main", "run", str(path)]
    return subprocess.run(
        [*command, "--out", str(tmp_path)], capture_output=True, text=True, timeout=300
    )


def test_capped_runs_are_counted_but_never_averaged_in() -> None:
    converged = [12, 15, 11, 18]
    runs = [result(r, converged=True) for r in converged]
    runs += [result(2000, converged=False), result(2000, converged=False)]
    runs.append(result(0, converged=False, status="failed"))
    _, (row,) = averaged_rows(runs)
    assert row["runs"] == 7 and row["completed"] == 6 and row["converged"] == 4
    assert row["converged_share"] == pytest.approx(4 / 7)
    assert row["mean_rounds"] == pytest.approx(14.0)
    assert row["median_rounds"] == pytest.approx(13.5)
    assert row["std_rounds"] == pytest.approx(statistics.stdev(converged))
    half = scipy.stats.t.ppf(0.975, 3) * statistics.stdev(converged) / math.sqrt(4)
    assert (row["ci95_low"], row["ci95_high"]) == pytest.approx((14.0 - half, 14.0 + half))
    assert (row["min_rounds"], row["max_rounds"]) == (11, 18)
    assert row["mean_rounds_all"] == pytest.approx((56 + 4000) / 6)


def test_a_configuration_that_never_converged_has_no_rounds_to_convergence() -> None:
    _, (row,) = averaged_rows([result(2000, converged=False) for _ in range(3)])
    assert row["converged"] == 0 and row["converged_share"] == 0.0
    assert all(math.isnan(row[k]) for k in ("mean_rounds", "median_rounds", "ci95_low"))
    assert row["min_rounds"] == "" and row["mean_rounds_all"] == 2000.0
    written = list(
        csv.DictReader(io.StringIO(to_csv(*averaged_rows([result(5, converged=False)])).decode()))
    )
    assert written[0]["mean_rounds"] == "nan"


def test_one_converged_run_has_a_mean_but_no_spread() -> None:
    stats = RoundStatistics.of([7])
    assert (stats.converged, stats.mean, stats.median) == (1, 7.0, 7.0)
    assert math.isnan(stats.std) and math.isnan(stats.ci95_low) and math.isnan(stats.ci95_high)


def test_the_run_table_marks_a_configuration_that_never_converged(tmp_path) -> None:
    """Converged and capped runs side by side in `gossipsim run`'s table and averaged.csv."""
    spec = {
        "name": "capped",
        "graphs": [
            {"name": "k8", "generator": "complete_graph", "params": {"n": 8}},
            {"name": "path200", "generator": "path_graph", "params": {"n": 200}},
        ],
        "algorithms": [{"rule": "average", "mode": "synchronous"}],
        "repetitions": 3,
        "max_rounds": 200,
    }
    completed = run_cli(spec, tmp_path)
    assert completed.returncode == 0, completed.stderr
    lines = {line.split()[0]: line for line in completed.stdout.splitlines() if line.strip()}
    assert "3/3" in lines["k8"] and "NEVER CONVERGED" not in lines["k8"]
    assert "0/3" in lines["path200"] and "NEVER CONVERGED" in lines["path200"]
    (simulation,) = (tmp_path / "simulations").iterdir()
    text = (simulation / "averaged.csv").read_text()
    rows = {r["graph"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows["path200"]["converged"] == "0" and rows["path200"]["mean_rounds"] == "nan"
    assert float(rows["path200"]["mean_rounds_all"]) == 200.0
    assert rows["k8"]["converged"] == "3" and float(rows["k8"]["mean_rounds"]) < 200


def test_a_configuration_with_converged_and_capped_runs_end_to_end(tmp_path) -> None:
    """One configuration, some runs converged and some stopped by max_rounds: the table and
    averaged.csv count both and average the converged ones only (recomputed here from
    summary.csv)."""
    spec = {
        "name": "mixed",
        "seed": 5,
        "graphs": [{"name": "ring30", "generator": "cycle_graph", "params": {"n": 30}}],
        "algorithms": [{"rule": "rumor_push", "mode": "synchronous"}],
        "repetitions": 8,
        "max_rounds": 30,  # about the median of this rumor's rounds on this ring
    }
    completed = run_cli(spec, tmp_path)
    assert completed.returncode == 0, completed.stderr
    (simulation,) = (tmp_path / "simulations").iterdir()
    runs = list(csv.DictReader(io.StringIO((simulation / "summary.csv").read_text())))
    converged = [int(r["rounds"]) for r in runs if r["converged"] == "True"]
    capped = [int(r["rounds"]) for r in runs if r["converged"] == "False"]
    assert converged and capped, "the spec must give both kinds of run"
    assert set(capped) == {30}
    (row,) = csv.DictReader(io.StringIO((simulation / "averaged.csv").read_text()))
    assert (int(row["runs"]), int(row["converged"])) == (8, len(converged))
    assert float(row["mean_rounds"]) == pytest.approx(statistics.fmean(converged))
    assert float(row["median_rounds"]) == pytest.approx(statistics.median(converged))
    half = scipy.stats.t.ppf(0.975, len(converged) - 1) * statistics.stdev(converged)
    half /= math.sqrt(len(converged))
    low, high = float(row["ci95_low"]), float(row["ci95_high"])
    assert (low, high) == pytest.approx(
        (statistics.fmean(converged) - half, statistics.fmean(converged) + half)
    )
    assert float(row["mean_rounds_all"]) == pytest.approx(statistics.fmean(converged + capped))
    (line,) = [line for line in completed.stdout.splitlines() if line.startswith("ring30")]
    cells = line.split()
    assert cells[3] == f"{len(converged)}/8"
    assert cells[4:7] == [
        f"{statistics.fmean(converged):.2f}",
        f"{statistics.median(converged):.2f}",
        f"{low:.2f}..{high:.2f}",
    ]
    assert cells[7:9] == [str(min(converged)), str(max(converged))]
