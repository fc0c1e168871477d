"""report.html: written by the collector before the manifest and listed in it, one page that
needs no network (plots as data: URIs), with the averaged rows, and every untrusted text
escaped; ``gossipsim report`` rebuilds the same files from a directory or S3 store."""

from __future__ import annotations

import asyncio
import base64
import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import gossipsim
from gossipsim.cli.main import main
from gossipsim.common.storage.s3_store import S3ObjectStore

HOSTILE = '<script>alert("x")</script>'
SPEC: dict[str, Any] = {
    "name": "report-ring",
    "seed": 3,
    "graphs": [
        {"name": "ring-12", "generator": "cycle_graph", "params": {"n": 12}},
        {"name": HOSTILE, "generator": "path_graph", "params": {"n": 8}},
    ],
    # average on a ring does not reach epsilon in 30 rounds: a never-converged configuration
    "algorithms": ["default", {"rule": "average", "mode": "synchronous"}],
    "repetitions": 2,
    "max_rounds": 30,
    "epsilon": 1e-9,
}
REBUILT = ("report.html", "plots/convergence.png", "plots/rounds.png")


@pytest.fixture(scope="module")
def simulation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, gossipsim.Results]:
    root = tmp_path_factory.mktemp("store")
    return root, gossipsim.run(SPEC, out=root)


def page_of(folder: Path) -> str:
    return (folder / "report.html").read_text(encoding="utf-8")


def test_the_report_is_written_and_listed_in_the_manifest(simulation):
    _, run = simulation
    files = run.manifest["files"]
    assert files.index("report.html") == files.index("plots/rounds.png") + 1
    assert (Path(run.location) / "report.html").is_file()


def test_the_report_holds_the_averaged_rows_and_marks_configurations_never_converged(simulation):
    _, run = simulation
    page = page_of(Path(run.location))
    averaged = run.averaged
    assert len(averaged) == 4
    rows = re.findall(r"<tr(?: class=never)?><td>ring-12</td><td>([^<]*)</td>", page)
    assert sorted(rows) == sorted(averaged.loc[averaged["graph"] == "ring-12", "algorithm"])
    never = averaged[averaged["converged"] == 0]
    assert len(never) >= 1  # the spec is made so: the marking is exercised
    assert page.count("never converged</td>") == len(never)
    assert f"{run.manifest['runs_total']}</dd>" in page


def test_the_report_embeds_its_plots_and_loads_nothing_from_the_network(simulation):
    _, run = simulation
    page = page_of(Path(run.location))
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == 2  # convergence and rounds: no sweep here
    for source in images:
        assert source.startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))) as image:
            image.load()
            assert image.format == "PNG"
    assert not re.search(r"https?://", page)
    assert not re.search(r"<(script|link|iframe|object)\b", page, re.IGNORECASE)
    assert "default-src 'none'" in page
    assert 'href="runs/' in page  # each run's files, relative


def test_a_hostile_graph_name_is_shown_as_text(simulation):
    _, run = simulation
    page = page_of(Path(run.location))
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_report_rebuilds_the_same_files_from_a_directory_store(
    simulation, tmp_path, monkeypatch, capsys
):
    root, run = simulation
    monkeypatch.setenv("GOSSIPSIM_STORE", str(root))
    assert main(["report", run.simulation_id, "--out", str(tmp_path)]) == 0
    rebuilt = Path(capsys.readouterr().out.strip())
    assert rebuilt == tmp_path / run.simulation_id
    for name in REBUILT:
        assert (rebuilt / name).read_bytes() == (Path(run.location) / name).read_bytes(), name


def test_report_without_out_writes_back_into_the_store(tmp_path, monkeypatch):
    root = tmp_path / "store"
    run = gossipsim.run({**SPEC, "name": "report-back", "repetitions": 1}, out=root)
    folder = Path(run.location)
    before = {name: (folder / name).read_bytes() for name in REBUILT}
    for name in REBUILT:
        (folder / name).unlink()
    monkeypatch.setenv("GOSSIPSIM_STORE", str(root))
    assert main(["report", run.simulation_id]) == 0
    assert {name: (folder / name).read_bytes() for name in REBUILT} == before


def test_report_of_an_unknown_simulation_fails_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GOSSIPSIM_STORE", str(tmp_path))
    assert main(["report", "no-such-sim"]) == 1
    assert "has no manifest" in capsys.readouterr().err
    assert main(["report", "Not An Id"]) == 2


async def test_report_rebuilds_the_same_files_from_the_s3_store(
    simulation, s3_server, tmp_path, monkeypatch, capsys
):
    root, run = simulation
    url = f"s3://{s3_server.bucket}/report-test"
    async with S3ObjectStore.open(url, endpoint_url=s3_server.endpoint_url) as store:
        for path in sorted(root.rglob("*")):
            if path.is_file():  # the local store's files, under the same keys
                await store.put(path.relative_to(root).as_posix(), path.read_bytes())
        for name in REBUILT:  # the rebuild must not read what it rebuilds
            await store.delete(f"simulations/{run.simulation_id}/{name}")
    monkeypatch.setenv("GOSSIPSIM_STORE", url)
    monkeypatch.setenv("GOSSIPSIM_S3_ENDPOINT", s3_server.endpoint_url)
    # main runs its own event loop: off this test's loop, as a user's shell would
    assert await asyncio.to_thread(main, ["report", run.simulation_id]) == 0
    async with S3ObjectStore.open(url, endpoint_url=s3_server.endpoint_url) as store:
        for name in REBUILT:
            stored = await store.get(f"simulations/{run.simulation_id}/{name}")
            assert stored == (Path(run.location) / name).read_bytes(), name
    assert run.simulation_id in capsys.readouterr().out
