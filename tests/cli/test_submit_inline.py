"""What ``gossipsim submit`` sends in place of local graph files: the graphs as built, inline.

The spec as submitted must run exactly what ``gossipsim run`` runs for the spec as written —
the same run ids and the same results row for row — while reading no file at all (it is run
here with the services' default inputs, which refuse every local path).
"""

from __future__ import annotations

import csv
import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import networkx as nx
import orjson
import pytest
import yaml

from gossipsim.cli.deployment import CommandError
from gossipsim.cli.inline_graphs import TooLargeToInline, inline_local_graphs
from gossipsim.cli.submit import _check_run_starts_fit
from gossipsim.common.graphs.inputs import LOCAL_INPUTS, SERVICE_INPUTS
from gossipsim.common.graphs.limits import DEFAULT_LIMITS
from gossipsim.common.messaging.messages import MAX_MESSAGE_BYTES, SimulationSubmit
from gossipsim.common.spec.run_plan import GraphPlan
from gossipsim.common.spec.simulation_spec import (
    expand_runs,
    load_spec_file,
    parse_spec,
    simulation_id_for,
)
from gossipsim.embedded import run_embedded

NOT_COMPARED = ("simulation_id", "duration_s")  # the id differs by design, durations by chance


def summary(location: str) -> dict[str, dict[str, str]]:
    """summary.csv by run id, without the columns that may differ between two runs."""
    with (Path(location) / "summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return {row["run_id"]: {k: v for k, v in row.items() if k not in NOT_COMPARED} for row in rows}


def inline(spec: dict[str, Any], base_dir: Path | None, graphs_dir: Path | None = None) -> Any:
    return inline_local_graphs(
        spec,
        base_dir=base_dir,
        graphs_dir=graphs_dir,
        inputs=LOCAL_INPUTS,
        limits=DEFAULT_LIMITS,
        max_bytes=MAX_MESSAGE_BYTES,
    )


def write_local_graphs(folder: Path, seed_crs: Path) -> None:
    """A folder of graph files of every local form, next to where the spec will be."""
    data = folder / "data"
    (data / "seeds").mkdir(parents=True)
    ring = [(f"v{k}", f"v{(k + 1) % 12}") for k in range(12)] + [("v0", "v6"), ("v3", "v9")]
    (data / "words.edgelist").write_text("".join(f"{u} {v}\n" for u, v in ring))
    valued = nx.cycle_graph(10)
    nx.set_node_attributes(valued, {v: float(v * v) / 7 for v in valued}, "value")
    valued.add_edge(0, 5)
    nx.write_graphml(valued, data / "valued.graphml")
    shutil.copy(seed_crs / "graphs/examples-test-series/barab-n20-e1.0.yaml", data / "barab.yaml")
    for name in ("gnutella-n20-0.yaml", "gnutella-n20-1.yaml"):
        shutil.copy(seed_crs / "graphs/examples-gnutella-n20" / name, data / "seeds" / name)


NATIVE_SPEC = {
    "name": "local-files",
    "seed": 11,
    "graphs": [
        {"file": "data/words.edgelist"},
        {"file": "data/valued.graphml", "name": "valued"},
        {"resource": "data/barab.yaml"},
        {"resources": "data/seeds", "selector": {"series": "gnutella-series"}},
        {"name": "ring", "generator": "cycle_graph", "params": {"n": 8}},
    ],
    "algorithms": ["default", {"rule": "average", "mode": "synchronous"}],
    "repetitions": 2,
    "max_rounds": 300,
}


async def test_a_spec_with_local_files_runs_the_same_inline_without_reading_files(
    tmp_path: Path, seed_crs: Path
):
    write_local_graphs(tmp_path, seed_crs)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(NATIVE_SPEC))
    written = load_spec_file(spec_file)

    inlined = inline(written, tmp_path)
    as_run = await run_embedded(written, out_dir=tmp_path / "run", base_dir=tmp_path)
    as_submitted = await run_embedded(
        orjson.loads(orjson.dumps(inlined.spec)),  # through JSON, as in the message
        out_dir=tmp_path / "submitted",
        inputs=SERVICE_INPUTS,  # as a deployment's services: no local file may be read
    )

    assert inlined.inlined == ("words", "valued", "barab-n20-e1.0", "gnutella-n20-0",
                               "gnutella-n20-1")  # fmt: skip
    graphs = inlined.spec["graphs"]
    assert not any(key in g for g in graphs for key in ("file", "resource", "resources"))
    assert graphs[-1] == NATIVE_SPEC["graphs"][-1]  # a generator stays as it is
    assert as_run.rejection is None and as_submitted.rejection is None, as_submitted.rejection
    rows = summary(as_run.location)
    assert len(rows) == 6 * 2 * 2
    assert summary(as_submitted.location) == rows
    assert {row["status"] for row in rows.values()} == {"completed"}


async def test_a_seed_simulation_with_its_graph_folder_runs_the_same_inline(
    tmp_path: Path, seed_crs: Path
):
    graphs_dir = tmp_path / "graphs"
    graphs_dir.mkdir()
    for name in ("series1_mod01_1.yaml", "series1_mod09_1.yaml"):
        shutil.copy(seed_crs / "graphs/series1" / name, graphs_dir / name)
    simulation = {
        "apiVersion": "gossip.io/v1",
        "kind": "Simulation",
        "metadata": {"name": "seed-sim"},
        "spec": {
            "graphSelector": {"matchLabels": {"series": "series1"}},
            "algorithm": "weighted_factor",
            "randomInitialization": False,
            "repetitions": 2,
            "factor": [1.5, 3.0],
            "priorPartnerFactor": [0.2],  # weighted_factor ignores it, as the seed did
        },
        "gossipsim": {"seed": 5, "max_rounds": 200},
    }

    inlined = inline(simulation, None, graphs_dir)
    as_run = await run_embedded(simulation, out_dir=tmp_path / "run", graphs_dir=graphs_dir)
    as_submitted = await run_embedded(
        inlined.spec, out_dir=tmp_path / "submitted", inputs=SERVICE_INPUTS
    )

    assert inlined.spec["name"] == "seed-sim" and "kind" not in inlined.spec
    assert inlined.spec["parameters"] == {"factor": [1.5, 3.0]}
    assert as_run.rejection is None and as_submitted.rejection is None, as_submitted.rejection
    rows = summary(as_run.location)
    assert len(rows) == 2 * 2 * 2
    assert summary(as_submitted.location) == rows


def test_the_same_files_give_the_same_spec_and_id(tmp_path: Path, seed_crs: Path):
    write_local_graphs(tmp_path, seed_crs)
    first = inline(dict(NATIVE_SPEC), tmp_path).spec
    again = inline(dict(NATIVE_SPEC), tmp_path).spec
    (tmp_path / "data" / "words.edgelist").write_text("a b\nb c\nc a\n")
    changed = inline(dict(NATIVE_SPEC), tmp_path).spec

    assert simulation_id_for(first) == simulation_id_for(again)
    assert simulation_id_for(changed) != simulation_id_for(first)


def test_a_spec_without_local_files_is_submitted_as_written():
    spec = {k: v for k, v in NATIVE_SPEC.items() if k != "graphs"}
    spec["graphs"] = [NATIVE_SPEC["graphs"][-1], {"object": "graphs/net.edgelist"}]

    inlined = inline(spec, Path("/nowhere"))

    assert inlined.spec == spec and inlined.inlined == ()
    assert simulation_id_for(inlined.spec) == simulation_id_for(spec)


def test_a_graph_with_more_edges_than_a_message_can_hold_is_refused_before_it_is_written(
    tmp_path: Path,
):
    (tmp_path / "g.edgelist").write_text("".join(f"{k} {k + 1}\n" for k in range(999)))
    spec = {"name": "x", "graphs": [{"file": "g.edgelist"}], "algorithms": ["default"]}

    with pytest.raises(TooLargeToInline) as refused:
        inline_local_graphs(
            spec, base_dir=tmp_path, graphs_dir=None, inputs=LOCAL_INPUTS,
            limits=DEFAULT_LIMITS, max_bytes=4_000,
        )  # fmt: skip

    assert str(refused.value) == (
        "graph 'g' has 999 edges: inline they take at least 4,995 bytes, over the 4,000 bytes"
        " a message may have"
    )


def test_a_graph_whose_runs_would_not_fit_a_message_is_refused():
    """The submission fits (just), but each run.start carries the graph again, and its
    outcome repeats the plan: a runner would refuse every run."""
    spec = {"name": "x", "graphs": [{"generator": "cycle_graph", "params": {"n": 4}}],
            "algorithms": ["default"], "repetitions": 2}  # fmt: skip
    plans = expand_runs(parse_spec(spec))
    lines = MAX_MESSAGE_BYTES * 31 // 32 // 5  # "0 1\n", 5 bytes in JSON: 7.75 MiB in all
    big = {"name": "cycle_graph", "edges": "0 1\n" * lines}
    with_big = {r: dataclasses.replace(p, graph=GraphPlan(name=p.graph.name, source=big))
                for r, p in plans.items()}  # fmt: skip
    message = SimulationSubmit(spec=spec, simulation_id=simulation_id_for(spec))

    _check_run_starts_fit(message, plans)  # the small graph fits
    with pytest.raises(CommandError) as refused:
        _check_run_starts_fit(message, with_big)

    assert refused.value.code == 2
    (name,) = {plan.graph.name for plan in plans.values()}
    assert f"graph {name!r} inline makes each of its runs' run.start a message of 8,12" in str(
        refused.value
    )
    assert "{object: graphs/" in str(refused.value)


def test_submit_of_a_graph_too_large_to_inline_says_so_and_publishes_nothing(tmp_path: Path):
    """600,000 edges of six-digit vertex numbers: ~9 MB inline, over the 8 MiB of a message.
    The broker named is unreachable, so an attempt to publish would fail with exit 1."""
    n = 300_000
    with (tmp_path / "big.edgelist").open("w") as handle:
        handle.writelines(f"{k} {(k + 1) % n}\n{k} {(k + 7919) % n}\n" for k in range(n))
    spec = tmp_path / "big.yaml"
    spec.write_text("name: big\ngraphs:\n  - file: big.edgelist\nalgorithms: [default]\n")

    completed = subprocess.run(
        [sys.executable, "-m", "gossipsim.cli.main", "submit", str(spec)],
        env={**os.environ, "GOSSIPSIM_BROKER_URL": "amqp://guest:guest@127.0.0.1:9/"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 2, completed.stderr
    assert completed.stdout == ""
    assert completed.stderr.startswith("gossipsim submit: the spec with its graph files inline")
    assert "over the 8,388,608 bytes a message may have (largest graphs: 'big'" in completed.stderr
    assert "under graphs/ (GOSSIPSIM_STORE" in completed.stderr
    assert "{object: graphs/net.edgelist}" in completed.stderr
    assert "Traceback" not in completed.stderr
