"""The per-simulation plots: written by the collector beside the tables, listed in the
manifest, decodable PNGs of the expected size; sweep.png only for a sweep."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from PIL import Image

import gossipsim
from gossipsim.collector import plots, service

SPEC: dict[str, Any] = {
    "name": "plots-ring",
    "seed": 11,
    "graphs": [{"name": "ring-24", "generator": "cycle_graph", "params": {"n": 24}}],
    "algorithms": [
        "default",
        {"rule": "average", "mode": "synchronous"},
        {"rule": "rumor_push_pull", "mode": "synchronous"},
    ],
    "repetitions": 3,
    "max_rounds": 60,
    "epsilon": 1e-3,
}
SWEEP: dict[str, Any] = {
    "name": "plots-sweep",
    "seed": 5,
    "graphs": [
        {
            "name": "ws-30",
            "generator": "watts_strogatz_graph",
            "params": {"n": 30, "k": 4, "p": [0.1, 0.5]},
            "seed": 1,
        }
    ],
    "algorithms": ["default", {"rule": "rumor_push_pull", "mode": "synchronous"}],
    "repetitions": 2,
    "max_rounds": 60,
}


def size_of(png: Path | bytes) -> tuple[int, int]:
    data = png.read_bytes() if isinstance(png, Path) else png
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # decodes every pixel: a truncated file fails here
        assert image.format == "PNG"
        return image.size


def pixels(inches: tuple[float, float]) -> tuple[int, int]:
    return round(inches[0] * plots.DPI), round(inches[1] * plots.DPI)


def test_a_simulation_gets_its_convergence_and_rounds_plots_and_no_sweep_plot(tmp_path):
    run = gossipsim.run(SPEC, out=tmp_path)
    folder = Path(run.location)

    # min/max, averaging and rumors: three panels, one configuration (one legend line) each
    assert size_of(folder / "plots" / "convergence.png") == pixels(plots.panels_size(3, 1))
    size = (plots.ROUNDS_WIDTH, plots.rounds_height(3))
    assert size_of(folder / "plots" / "rounds.png") == pixels(size)
    assert not (folder / "plots" / "sweep.png").exists()
    files = run.manifest["files"]
    assert files[5:] == [
        "plots/convergence.png",
        "plots/rounds.png",
        "report.html",
        "runs/<run>/result.json",
        "runs/<run>/rounds.jsonl",
    ]
    stored = orjson.loads((folder / "manifest.json").read_bytes())
    assert stored["files"] == files


def test_a_sweep_gets_a_sweep_plot_with_a_line_per_graph_and_algorithm(tmp_path):
    run = gossipsim.run(SWEEP, out=tmp_path)
    folder = Path(run.location)

    assert "plots/sweep.png" in run.manifest["files"]
    # one swept parameter (p): one panel, a line per graph × algorithm
    assert size_of(folder / "plots" / "sweep.png") == pixels(plots.panels_size(1, 2))
    # four configurations (two values of p × two algorithms), all of one panel's family or other
    size = (plots.ROUNDS_WIDTH, plots.rounds_height(4))
    assert size_of(folder / "plots" / "rounds.png") == pixels(size)


def test_a_plot_that_cannot_be_drawn_leaves_the_tables_and_manifest_whole(tmp_path, monkeypatch):
    def broken(*arguments: Any) -> dict[str, bytes]:
        raise RuntimeError("no canvas")

    monkeypatch.setattr(service.plots, "render", broken)
    run = gossipsim.run(SPEC, out=tmp_path)

    assert not (Path(run.location) / "plots").exists()
    assert not any(name.startswith("plots/") for name in run.manifest["files"])
    assert len(run.summary) == 9 and "summary.parquet" in run.manifest["files"]


# -- from hand-made rows ------------------------------------------------------------------


def result(run_id: str, rule: str, label: str, **parameters: Any) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "status": "completed",
        "plan": {
            "graph": "g",
            "algorithm": {"rule": rule},
            "algorithm_label": label,
            "parameters": parameters,
        },
    }


def test_a_stopped_run_keeps_its_last_value_in_the_mean_of_later_rounds():
    runs = [result("a", "min", "min"), result("b", "min", "min"), result("c", "rumor_push", "r")]
    curves = plots.Curves(runs)
    fast = [{"min": 0.0, "max": 1.0}, {"min": 1.0, "max": 1.0}]  # spread 1, then 0
    slow = [{"min": 0.0, "max": 1.0}, {"min": 0.5, "max": 1.0}, {"min": 0.5, "max": 1.0}]
    curves.add(runs[0], fast)
    curves.add(runs[1], slow)
    curves.add(runs[2], [{"mean": 0.25}, {"mean": 1.0}])

    families = curves.by_family()
    mean, sd = families[plots.SPREAD_MIN_MAX]["g · min"].mean_and_sd()
    informed, _ = families[plots.INFORMED]["g · r"].mean_and_sd()

    np.testing.assert_allclose(mean, [1.0, 0.25, 0.25])
    np.testing.assert_allclose(sd, [0.0, np.sqrt(0.125), np.sqrt(0.125)])
    np.testing.assert_allclose(informed, [0.25, 1.0])


def test_only_the_configurations_drawn_are_kept():
    runs = [result(f"r{i}", "average", "avg", k=i) for i in range(plots.MAX_LINES + 8)]
    curves = plots.Curves(runs)
    for run in runs:
        curves.add(run, [{"min": 0.0, "max": 1.0}])

    kept = curves.by_family()[plots.SPREAD_AVERAGING]
    assert len(kept) == plots.MAX_LINES
    assert curves.totals == {plots.SPREAD_AVERAGING: plots.MAX_LINES + 8}
    assert size_of(plots.convergence_png(curves)) == pixels(plots.panels_size(1, plots.MAX_LINES))


def summary_row(run_id: str, algorithm: str, rounds: int, converged: bool) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "graph": "g",
        "algorithm": algorithm,
        "status": "completed",
        "rounds": rounds,
        "converged": converged,
    }


def test_rounds_plot_marks_configurations_that_never_converged_and_caps_their_number():
    columns = ["run_id", "graph", "algorithm", "status", "rounds", "converged"]
    never = [summary_row("n0", "never", 100, False)]
    few = [summary_row(f"a{i}", "a", 10 + i, True) for i in range(3)] + never
    many = [summary_row(f"m{i}", f"alg-{i:02d}", 5, True) for i in range(plots.MAX_BOXES + 5)]

    assert size_of(plots.rounds_png(columns, few)) == pixels((8.0, plots.rounds_height(2)))
    capped = plots.rounds_png(columns, many)
    assert size_of(capped) == pixels((8.0, plots.rounds_height(plots.MAX_BOXES)))


@pytest.mark.parametrize(
    ("values", "swept"),
    [([0.1, 0.1], []), ([0.1, 0.5], ["param_p"]), (["", 0.5], [])],
)
def test_a_parameter_is_swept_when_it_takes_several_values(values, swept):
    columns = ["graph", "algorithm", "param_p", "mean_rounds"]
    averaged = [{"graph": "g", "algorithm": "a", "param_p": v, "mean_rounds": 3} for v in values]

    assert plots.swept_parameters(columns, averaged) == swept
    assert (plots.sweep_png(columns, averaged) is None) == (not swept)
