"""``gossipsim.load_results``: a simulation's folder, or a store root (a directory or an
s3:// URL) where the ``latest`` pointers say which simulation to read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from pandas.testing import assert_frame_equal

import gossipsim
from gossipsim.api import NotCompleted, ResultsNotFound, load_results_async
from gossipsim.collector.results import to_csv
from gossipsim.common.errors import InvalidInput
from gossipsim.common.storage.s3_store import S3ObjectStore
from tests.support.s3_server import REGION, S3Server


def spec(name: str, repetitions: int) -> dict[str, Any]:
    return {
        "name": name,
        "graphs": [{"name": "ring", "generator": "cycle_graph", "params": {"n": 12}}],
        "algorithms": ["default"],
        "repetitions": repetitions,
        "max_rounds": 30,
    }


@dataclass(frozen=True)
class Store:
    root: Path
    alpha_first: gossipsim.Results
    alpha_then: gossipsim.Results
    beta: gossipsim.Results


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Three simulations in one results directory, run in this order: two named alpha (two
    specs, two ids), then one named beta."""
    root = tmp_path_factory.mktemp("results")
    return Store(
        root=root,
        alpha_first=gossipsim.run(spec("alpha", 1), out=root),
        alpha_then=gossipsim.run(spec("alpha", 2), out=root),
        beta=gossipsim.run(spec("beta", 1), out=root),
    )


def test_a_store_root_gives_the_latest_simulation_of_a_name_or_of_any(store):
    assert store.alpha_first.simulation_id != store.alpha_then.simulation_id
    by_name = gossipsim.load_results(store.root, "alpha")
    assert by_name.simulation_id == store.alpha_then.simulation_id
    assert_frame_equal(by_name.summary, store.alpha_then.summary)
    assert_frame_equal(by_name.rounds, store.alpha_then.rounds)
    assert gossipsim.load_results(str(store.root)).simulation_id == store.beta.simulation_id
    folder = store.root / "simulations" / store.alpha_first.simulation_id
    assert gossipsim.load_results(folder).simulation_id == store.alpha_first.simulation_id
    assert gossipsim.load_results(folder, "alpha").name == "alpha"


def test_unknown_names_and_places_say_what_there_is(store, tmp_path):
    with pytest.raises(ResultsNotFound, match=r"named 'gamma'.*alpha, beta"):
        gossipsim.load_results(store.root, "gamma")
    with pytest.raises(ResultsNotFound, match="not a directory"):
        gossipsim.load_results(tmp_path / "nowhere")
    with pytest.raises(ResultsNotFound, match="neither a simulation's results folder"):
        gossipsim.load_results(tmp_path)
    (tmp_path / "simulations").mkdir()
    with pytest.raises(ResultsNotFound, match="no latest/ pointers"):
        gossipsim.load_results(tmp_path)
    folder = store.root / "simulations" / store.beta.simulation_id
    with pytest.raises(InvalidInput, match="named 'beta', not 'alpha'"):
        gossipsim.load_results(folder, "alpha")


def write_simulation(folder: Path, *, manifest: bool = True) -> None:
    """A simulation's folder made by hand, with cells the collector escaped."""
    folder.mkdir(parents=True)
    summary = to_csv(
        ["run_id", "graph", "rounds", "error"],
        [
            {"run_id": "a.r0", "graph": "=evil()", "rounds": 3, "error": ""},
            {"run_id": "a.r1", "graph": "-x", "rounds": -1, "error": "@boom"},
        ],
    )
    (folder / "summary.csv").write_bytes(summary)
    (folder / "averaged.csv").write_bytes(to_csv(["graph", "runs"], [{"graph": "+g", "runs": 2}]))
    (folder / "rounds").mkdir()
    (folder / "rounds" / "part-00000.csv").write_bytes(
        to_csv(["run_id", "graph", "round"], [{"run_id": "a.r0", "graph": "=evil()", "round": 0}])
    )
    if manifest:
        files = ["summary.csv", "averaged.csv", "rounds/part-00000.csv"]
        document = {"simulation_id": "hand-made", "name": "hand", "files": files}
        (folder / "manifest.json").write_bytes(orjson.dumps(document))


def test_cells_escaped_for_spreadsheets_come_back_as_they_were(tmp_path):
    write_simulation(tmp_path / "hand-made")
    results = gossipsim.load_results(tmp_path / "hand-made")
    assert list(results.summary["graph"]) == ["=evil()", "-x"]
    assert list(results.summary["rounds"]) == [3, -1]  # numbers stay numbers
    assert list(results.summary["error"].fillna("")) == ["", "@boom"]
    assert list(results.averaged["graph"]) == ["+g"]
    assert list(results.rounds["graph"]) == ["=evil()"]


def test_a_simulation_without_its_manifest_has_not_completed(tmp_path):
    write_simulation(tmp_path / "running", manifest=False)
    with pytest.raises(NotCompleted, match="has not completed"):
        gossipsim.load_results(tmp_path / "running")


async def test_an_s3_store_is_read_like_a_directory(store, s3_server: S3Server, monkeypatch):
    """The deployment's store: the pointers and tables under s3://bucket/prefix."""
    url = f"s3://{s3_server.bucket}/load-results"
    async with S3ObjectStore.open(url, endpoint_url=s3_server.endpoint_url, region=REGION) as s3:
        for path in sorted(store.root.rglob("*")):
            if path.is_file() and path.parts[len(store.root.parts)] in ("simulations", "latest"):
                await s3.put(path.relative_to(store.root).as_posix(), path.read_bytes())
    monkeypatch.setenv("GOSSIPSIM_S3_ENDPOINT", s3_server.endpoint_url)
    latest = await load_results_async(url, "alpha")
    assert latest.simulation_id == store.alpha_then.simulation_id
    assert latest.location == f"{url}/simulations/{latest.simulation_id}"
    assert_frame_equal(latest.summary, store.alpha_then.summary)
    assert_frame_equal(latest.averaged, store.alpha_then.averaged)
    assert_frame_equal(latest.rounds, store.alpha_then.rounds)
    first = await load_results_async(f"{url}/simulations/{store.alpha_first.simulation_id}")
    assert_frame_equal(first.summary, store.alpha_first.summary)
    assert (await load_results_async(url)).simulation_id == store.beta.simulation_id
    with pytest.raises(ResultsNotFound, match="no results at"):
        await load_results_async(f"{url}/simulations/never-was-1234")
