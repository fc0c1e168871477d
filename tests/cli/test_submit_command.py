"""``gossipsim submit`` against a deployment of real services (RabbitMQ, S3, service processes):
a spec is checked here first, exactly as ``gossipsim run`` checks it, and its local graph
files travel inline, so a relative path means what it means to ``run``.

Each test has its own prefix on the broker and in the session's bucket (the ``cluster``
fixture); the CLI runs as a subprocess, as a user would run it.
"""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.distributed.harness import CLI, Cluster, Tap

NOT_COMPARED = ("simulation_id", "duration_s")  # the id differs by design, durations by chance
QUIET = {"GOSSIPSIM_LOG_LEVEL": "warning"}  # as a user's shell: no service logs on stderr


def gossipsim(cluster: Cluster, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        env={**cluster.env, **QUIET, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def rows_of(text: str) -> dict[str, dict[str, str]]:
    """summary.csv by run id, without the columns that may differ between two runs."""
    rows = csv.DictReader(io.StringIO(text))
    return {r["run_id"]: {k: v for k, v in r.items() if k not in NOT_COMPARED} for r in rows}


def write(path: Path, content: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


SPEC = {"algorithms": ["default"], "repetitions": 2, "max_rounds": 200}
INVALID_SPECS = {
    "several-fields.yaml": {
        **SPEC,
        "graphs": [{"generator": "cycle_graph", "params": {"n": 6}}],
        "epsilon": -1,
        "max_rounds": 0,
    },
    "typo.yaml": {**SPEC, "graphs": [{"file": "net.edgelist"}], "algorithms": ["defualt"]},
    "missing-file.yaml": {**SPEC, "graphs": [{"file": "data/nowhere.edgelist"}]},
    "malformed-file.yaml": {**SPEC, "graphs": [{"file": "data/broken.edgelist"}]},
    "missing-object.yaml": {**SPEC, "graphs": [{"object": "graphs/not-uploaded.edgelist"}]},
    "seed-without-graphs.yaml": {
        "apiVersion": "gossip.io/v1",
        "kind": "Simulation",
        "metadata": {"name": "s"},
        "spec": {"graphSelector": {"matchLabels": {"series": "x"}}},
    },
    "not-a-mapping.yaml": "- just\n- a list\n",
}


async def test_an_invalid_spec_exits_2_with_runs_message_and_publishes_nothing(
    cluster: Cluster, tmp_path: Path
):
    folder = tmp_path / "specs"
    write(folder / "net.edgelist", "a b\nb c\nc a\n")
    write(folder / "data" / "broken.edgelist", "0 1\n1 2\n3\n")
    for name, spec in INVALID_SPECS.items():
        write(folder / name, spec)
    async with cluster.store():
        pass  # the deployment's bucket exists (its services create it), without the object

    async with Tap(cluster.broker_url, cluster.prefix) as tap:
        for name in INVALID_SPECS:
            spec = str(folder / name)
            run = gossipsim(cluster, "run", spec, "--out", str(tmp_path / "out"))
            submit = gossipsim(cluster, "submit", spec)

            assert submit.returncode == run.returncode == 2, (name, run.stderr, submit.stderr)
            assert submit.stderr == run.stderr, name
            assert submit.stderr.startswith("invalid spec: "), (name, submit.stderr)
            assert submit.stdout == "", name
        await asyncio.sleep(1)  # what was published would have reached the tap by now

    assert tap.messages == []


@pytest.mark.timeout(600)
async def test_a_relative_file_path_works_through_submit_with_the_results_of_run(
    cluster: Cluster, tmp_path: Path
):
    """An edge list next to the spec, a GML file in the deployment's store and a generator:
    the services (which read no local files: GOSSIPSIM_GRAPH_ROOTS is unset) run exactly the
    runs ``gossipsim run`` runs, with the same results."""
    folder = tmp_path / "study"
    words = [(f"n{k}", f"n{(k + 1) % 15}") for k in range(15)] + [("n0", "n7"), ("n2", "n11")]
    write(folder / "data" / "net.edgelist", "".join(f"{u} {v}\n" for u, v in words))
    gml = "graph [\n" + "".join(f'  node [ id {k} label "p{k}" ]\n' for k in range(6))
    gml += "".join(f"  edge [ source {k} target {(k + 1) % 6} ]\n" for k in range(6)) + "]\n"
    write(tmp_path / "out" / "graphs" / "hexagon.gml", gml)  # `run`'s store is its --out
    async with cluster.store() as store:
        await store.put("graphs/hexagon.gml", gml.encode())
    spec = write(
        folder / "study.yaml",
        {
            "name": "study",
            "seed": 9,
            "graphs": [
                {"file": "data/net.edgelist"},
                {"object": "graphs/hexagon.gml"},
                {"name": "ring", "generator": "cycle_graph", "params": {"n": 9}},
            ],
            "algorithms": ["default", {"rule": "average", "mode": "synchronous"}],
            "repetitions": 2,
            "max_rounds": 400,
        },
    )
    for service in ("scheduler", "collector", "runner"):
        cluster.start(service)

    submitted = gossipsim(cluster, "submit", str(spec))
    assert submitted.returncode == 0, submitted.stderr
    simulation_id = submitted.stdout.strip()
    manifest = await cluster.wait_for_results(simulation_id)
    async with cluster.store() as store:
        by_submit = rows_of((await store.get(f"simulations/{simulation_id}/summary.csv")).decode())
    again = gossipsim(cluster, "submit", str(spec))
    run = gossipsim(cluster, "run", str(spec), "--out", str(tmp_path / "out"), "--json")

    assert manifest["runs_succeeded"] == 12, manifest
    assert run.returncode == 0, run.stderr
    (simulation,) = (tmp_path / "out" / "simulations").iterdir()
    by_run = rows_of((simulation / "summary.csv").read_text())
    assert by_submit == by_run
    assert {row["graph"] for row in by_run.values()} == {"net", "hexagon", "ring"}
    assert again.returncode == 0 and again.stdout.strip() == simulation_id  # one simulation


async def test_graph_objects_are_checked_in_the_store_and_an_unreadable_store_is_named(
    cluster: Cluster, tmp_path: Path
):
    spec = write(tmp_path / "objects.yaml", {**SPEC, "graphs": [{"object": "graphs/net.edgelist"}]})
    plain = write(
        tmp_path / "plain.yaml",
        {**SPEC, "graphs": [{"generator": "cycle_graph", "params": {"n": 5}}]},
    )
    nowhere = str(tmp_path / "no-store")

    unreadable = gossipsim(cluster, "submit", str(spec), GOSSIPSIM_STORE=nowhere)
    without_objects = gossipsim(cluster, "submit", str(plain), GOSSIPSIM_STORE=nowhere)

    assert unreadable.returncode == 1 and unreadable.stdout == ""
    assert unreadable.stderr.startswith(
        "gossipsim submit: the spec names graph objects, which are checked in the"
        f" deployment's store: the store directory {nowhere!r} does not exist"
    )
    assert without_objects.returncode == 0, without_objects.stderr  # the store is not needed
