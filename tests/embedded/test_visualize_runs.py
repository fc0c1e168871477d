"""``visualize``: per run a Gephi file, frames, an animation and the history as Parquet, written
by the collector from the runner's drawing of the graph, in the results layout; a graph too
large to draw completes without drawings and the manifest says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import networkx as nx
import orjson
import pandas as pd
from PIL import Image

from gossipsim.common.contracts import results_layout as layout
from gossipsim.embedded import run_embedded

SPEC: dict[str, Any] = {
    "name": "visualize-50",
    "seed": 3,
    "graphs": [
        {"name": "ba-50", "generator": "barabasi_albert_graph", "params": {"n": 50, "m": 2}}
    ],
    "algorithms": ["default"],
    "repetitions": 1,
    "visualize": True,
}


async def simulate(tmp_path: Path, spec: dict[str, Any], **kwargs: Any) -> Path:
    outcome = await run_embedded(spec, out_dir=tmp_path, **kwargs)
    assert outcome.state is not None and outcome.state.count_failed() == 0
    return Path(outcome.location)


def run_folders(folder: Path) -> list[Path]:
    return sorted(path for path in (folder / "runs").iterdir() if path.is_dir())


def result_of(run: Path) -> dict[str, Any]:
    result: dict[str, Any] = orjson.loads((run / layout.RESULT).read_bytes())
    return result


async def test_a_visualized_run_writes_gexf_frames_animation_and_history(tmp_path):
    folder = await simulate(tmp_path, SPEC)
    (run,) = run_folders(folder)
    result = result_of(run)
    sampled = result["rounds"] + 1  # every round, 0 included (every: 1)

    graph = nx.read_gexf(run / layout.GEXF, version="1.3")
    assert graph.number_of_nodes() == 50 and graph.number_of_edges() == 96
    assert b'version="1.3"' in (run / layout.GEXF).read_bytes()[:400]
    for _, data in graph.nodes(data=True):
        spells = data["value"]
        assert [start for _, start, _ in spells] == list(range(sampled))
        assert {"community", "degree", "clustering"} <= set(data)

    frames = sorted((run / "frames").glob("round-*.png"))
    assert [p.name for p in frames] == [f"round-{r:04d}.png" for r in range(sampled)]
    for path in frames:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == (640, 640)
    with Image.open(run / layout.ANIMATION) as gif:
        assert gif.format == "GIF" and gif.n_frames == sampled

    history = pd.read_parquet(run / layout.HISTORY)
    assert len(history) == 50 * sampled
    assert list(history.columns) == ["run", "round", "vertex", "value"]
    assert set(history["run"]) == {run.name}
    # the last sampled round is the final state: min propagation leaves every vertex at the min
    last = history[history["round"] == result["rounds"]]
    assert sorted(last["vertex"]) == list(range(50))
    assert last["value"].nunique() == 1 and last["value"].iloc[0] == result["final"]["min"]

    lines = [orjson.loads(line) for line in (run / layout.ROUNDS).read_bytes().splitlines()]
    assert len(lines) == sampled and not any("history" in line for line in lines)
    assert result["visualization"]["drawn"] is True
    assert result["visualization"]["frames"] == list(range(sampled))
    assert set(result["files"]) == {layout.HISTORY, layout.GEXF, layout.ANIMATION}

    manifest = orjson.loads((folder / layout.MANIFEST).read_bytes())
    assert manifest["visualize"] == {"runs_drawn": 1, "runs_not_drawn": 0, "not_drawn": {}}
    for name in (layout.HISTORY, layout.GEXF, "frames/round-NNNN.png", layout.ANIMATION):
        assert f"runs/<run>/{name}" in manifest["files"]
    page = (folder / layout.REPORT).read_text()
    assert f"runs/{run.name}/animation.gif" in page and f"runs/{run.name}/graph.gexf" in page
    drawings = list((folder / "drawings").glob("*.json"))
    assert len(drawings) == 1  # one per graph, however many runs


async def test_every_k_samples_and_draws_every_kth_round_with_one_layout_per_graph(tmp_path):
    spec = {**SPEC, "name": "visualize-every", "repetitions": 2, "visualize": {"every": 2}}
    folder = await simulate(tmp_path, spec)
    runs = run_folders(folder)
    assert len(runs) == 2
    positions = []
    for run in runs:
        result = result_of(run)
        expected = list(range(0, result["rounds"] + 1, 2))
        assert result["visualization"]["frames"] == expected
        history = pd.read_parquet(run / layout.HISTORY)
        assert sorted(set(history["round"])) == expected
        with Image.open(run / layout.ANIMATION) as gif:
            assert gif.n_frames == len(expected)
        graph = nx.read_gexf(run / layout.GEXF, version="1.3")
        positions.append({v: d["viz"]["position"] for v, d in graph.nodes(data=True)})
    assert positions[0] == positions[1]  # one layout per graph: frames compare across runs


async def test_a_graph_above_max_vertices_completes_without_drawings_and_the_manifest_says_why(
    tmp_path,
):
    spec = {**SPEC, "name": "visualize-large", "visualize": {"max_vertices": 20}}
    folder = await simulate(tmp_path, spec)
    (run,) = run_folders(folder)
    result = result_of(run)
    assert result["status"] == "completed" and result["converged"] is True
    assert result["visualization"]["drawn"] is False
    assert "50 vertices, over visualize.max_vertices (20)" in result["visualization"]["reason"]
    assert sorted(p.name for p in run.iterdir()) == ["parts", "result.json", "rounds.jsonl"]
    manifest = orjson.loads((folder / layout.MANIFEST).read_bytes())
    assert manifest["visualize"]["runs_drawn"] == 0
    assert "max_vertices" in manifest["visualize"]["not_drawn"]["ba-50"]
    assert not any("gexf" in name or "frames" in name for name in manifest["files"])
    assert not (folder / "drawings").exists()
    page = (folder / layout.REPORT).read_text()
    assert "<b>ba-50</b>: not drawn: the graph has 50 vertices, over visualize.max_vertices" in page


async def test_a_seed_simulation_with_visualize_draws_each_run_of_the_test_series(
    tmp_path, seed_crs
):
    simulation = {
        "apiVersion": "gossip.io/v1",
        "kind": "Simulation",
        "metadata": {"name": "test-series-visualize"},
        "spec": {
            "graphSelector": {"matchLabels": {"series": "test-series"}},
            "algorithm": "default",
            "visualize": True,
            "randomInitialization": False,
            "repetitions": 1,
        },
    }
    graphs = seed_crs / "graphs" / "examples-test-series"
    folder = await simulate(tmp_path / "out", simulation, graphs_dir=graphs)
    runs = run_folders(folder)
    assert len(runs) == len(list(graphs.glob("*.yaml"))) == 10
    for run in runs:
        result = result_of(run)
        sampled = result["rounds"] + 1
        assert result["visualization"]["drawn"] is True
        graph = nx.read_gexf(run / layout.GEXF, version="1.3")
        assert graph.number_of_nodes() == 20
        labels = {data["label"] for _, data in graph.nodes(data=True)}
        assert labels == {str(v) for v in range(20)}  # the resource's own vertex names
        assert len(pd.read_parquet(run / layout.HISTORY)) == 20 * sampled
        with Image.open(run / layout.ANIMATION) as gif:
            assert gif.n_frames == sampled


async def test_without_visualize_a_run_has_only_its_result_and_rounds(tmp_path):
    folder = await simulate(tmp_path, {**SPEC, "name": "plain", "visualize": False})
    (run,) = run_folders(folder)
    assert sorted(p.name for p in run.iterdir()) == ["parts", "result.json", "rounds.jsonl"]
    assert "visualization" not in result_of(run) and result_of(run)["files"] == []
    manifest = orjson.loads((folder / layout.MANIFEST).read_bytes())
    assert "visualize" not in manifest
