"""The scheduler's resource watcher against the Kubernetes API emulator (tests/support/kube_api.py).

The scheduler and the collector run on the in-memory bus with a local store, as in the embedded
mode; the tests play the runners by publishing their events (except where a seed Simulation
runs for real) and read everything the services publish from a tap queue of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest_asyncio
import yaml

from gossipsim.collector.service import CollectorService
from gossipsim.common.messaging.bus import Envelope, QueueSpec
from gossipsim.common.messaging.memory_bus import InMemoryBus
from gossipsim.common.messaging.messages import (
    Message,
    RunCompleted,
    RunFailed,
    RunRound,
    RunStart,
    SimulationSubmit,
    decode,
    encode,
)
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.storage.local_store import LocalDirectoryStore
from gossipsim.runner.local_launcher import LocalProcessLauncher
from gossipsim.runner.service import RunnerService, RunnerSettings
from gossipsim.scheduler.kubernetes_status import Progress, status_for
from gossipsim.scheduler.kubernetes_watcher import (
    FINALIZER,
    GOSSIP_SIMULATIONS,
    SEED_GRAPHS,
    SEED_SIMULATIONS,
    ResourceWatcher,
    resource_simulation_id,
)
from gossipsim.scheduler.service import SchedulerService
from tests.common.bus_contract import Inbox
from tests.support.kube_api import KubeApi, running_kube_api

NAMESPACE = "sims"
SIMS = f"{GOSSIP_SIMULATIONS.group}/{GOSSIP_SIMULATIONS.version}/{GOSSIP_SIMULATIONS.plural}"
SEED_SIMS = f"{SEED_SIMULATIONS.group}/{SEED_SIMULATIONS.version}/{SEED_SIMULATIONS.plural}"
GRAPHS = f"{SEED_GRAPHS.group}/{SEED_GRAPHS.version}/{SEED_GRAPHS.plural}"

SPEC = {
    "graphs": [{"name": "k4", "generator": "complete_graph", "params": {"n": 4}}],
    "algorithms": ["default"],
    "repetitions": 3,
}


def gossip_simulation(name: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": f"{GOSSIP_SIMULATIONS.group}/{GOSSIP_SIMULATIONS.version}",
        "kind": "GossipSimulation",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec or SPEC,
    }


def applied(path: Path) -> dict[str, Any]:
    """A seed resource file as `kubectl apply -n sims` creates it (the file itself unchanged)."""
    doc = yaml.safe_load(path.read_text())
    return {**doc, "metadata": {**doc["metadata"], "namespace": NAMESPACE}}


class Deployment:
    """Emulated API, bus, store, scheduler and collector; a watcher that can be restarted."""

    def __init__(self, kube: KubeApi, root: Path) -> None:
        self.kube = kube
        self.topology = Topology(prefix="k8s-test")
        self.bus = InMemoryBus()
        self.store = LocalDirectoryStore(root)
        self.tap = Inbox()
        self.collector = CollectorService(bus=self.bus, topology=self.topology, store=self.store)
        self.scheduler = self.new_scheduler()
        self.watcher: ResourceWatcher | None = None

    def new_scheduler(self) -> SchedulerService:
        return SchedulerService(bus=self.bus, topology=self.topology, store=self.store)

    async def start(self) -> None:
        await self.topology.declare(self.bus)
        await self.bus.declare_queue(QueueSpec(name="k8s-test.tap"))
        for exchange in (self.topology.commands, self.topology.events):
            await self.bus.bind("k8s-test.tap", exchange, "#")
        await self.bus.consume("k8s-test.tap", self.tap.handler, prefetch=1000)
        await self.collector.start()
        await self.scheduler.start()
        await self.start_watcher()

    async def start_watcher(self) -> None:
        assert self.kube.client is not None
        self.watcher = ResourceWatcher(
            api=self.kube.client,
            bus=self.bus,
            topology=self.topology,
            scheduler=self.scheduler,
            namespace=NAMESPACE,
            store=self.store,
            status_interval=0.05,
            retry_delay=0.05,
        )
        await self.watcher.start()

    async def stop_watcher(self) -> None:
        assert self.watcher is not None
        await self.watcher.close()

    async def close(self) -> None:
        await self.stop_watcher()
        await self.scheduler.close()
        await self.collector.close()
        await self.bus.close()

    def messages(self, kind: str) -> list[Any]:
        return [
            decode(d.envelope.body) for d in self.tap.deliveries if d.envelope.routing_key == kind
        ]

    async def send(self, message: Message) -> None:
        envelope = Envelope(body=encode(message), routing_key=message.kind)
        await self.bus.publish(self.topology.exchange_for(message.kind), envelope)

    async def complete(self, start: RunStart) -> None:
        """Play the runner: two rounds of telemetry (and round 0), then the run finished."""
        await self.send(
            RunRound(
                simulation_id=start.simulation_id,
                run_id=start.run_id,
                attempt=start.attempt,
                first_round=0,
                rounds=[
                    {"min": 1.0, "max": 3.0},
                    {"min": 1.0, "max": 2.0},
                    {"min": 1.0, "max": 1.0},
                ],
            )
        )
        await self.send(
            RunCompleted(
                simulation_id=start.simulation_id,
                run_id=start.run_id,
                attempt=start.attempt,
                rounds=2,
                converged=True,
                plan=start.plan,
            )
        )

    def status(self, name: str, ref: str = SIMS) -> dict[str, Any]:
        obj = self.kube.find_object(ref, name, namespace=NAMESPACE)
        return dict((obj or {}).get("status") or {})

    def phases(self, name: str, ref: str = SIMS) -> list[str]:
        """The phases the resource went through, in order, from the API's change log."""
        seen: list[str] = []
        for event in self.kube.events:
            if str(event.resource) != str(self.kube.resource(ref)) or event.name != name:
                continue
            phase = (event.object.get("status") or {}).get("phase")
            if phase and (not seen or seen[-1] != phase):
                seen.append(phase)
        return seen


async def until(predicate: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)
    assert predicate(), what


@pytest_asyncio.fixture
async def kube() -> AsyncIterator[KubeApi]:
    async with running_kube_api() as api:
        for kind in (GOSSIP_SIMULATIONS, SEED_SIMULATIONS, SEED_GRAPHS):
            api.register(kind.group, kind.version, kind.plural, kind=kind.kind)
        yield api


@pytest_asyncio.fixture
async def deployment(kube: KubeApi, tmp_path: Path) -> AsyncIterator[Deployment]:
    setup = Deployment(kube, tmp_path)
    await setup.start()
    try:
        yield setup
    finally:
        await setup.close()


# --- pure parts -------------------------------------------------------------------------------


def test_the_simulation_id_of_a_resource_is_stable_and_a_valid_store_key():
    metadata = {"namespace": "Team.A", "name": "sweep.v2", "uid": "0F1E2D3C-aaaa-bbbb"}
    assert resource_simulation_id(metadata) == "team-a-sweep-v2-0f1e2d3c"
    assert resource_simulation_id(dict(metadata)) == resource_simulation_id(metadata)
    recreated = resource_simulation_id({**metadata, "uid": "99999999-0000"})
    assert recreated != resource_simulation_id(metadata)


def test_a_condition_keeps_its_transition_time_until_its_status_changes():
    running = Progress(phase="Running", runs_total=4, runs_succeeded=1)
    first = status_for(running, simulation_id="s", generation=1, previous={})
    stamped = [{**c, "lastTransitionTime": "2020-01-01T00:00:00Z"} for c in first["conditions"]]
    later = status_for(
        Progress(phase="Running", runs_total=4, runs_succeeded=3),
        simulation_id="s",
        generation=1,
        previous={"conditions": stamped},
    )
    assert [c["lastTransitionTime"] for c in later["conditions"]] == ["2020-01-01T00:00:00Z"] * 2
    done = status_for(
        Progress(phase="Succeeded", runs_total=4, runs_succeeded=4, results="r"),
        simulation_id="s",
        generation=1,
        previous={"conditions": stamped},
    )
    accepted, completed = done["conditions"]
    assert accepted["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    assert (
        completed["status"] == "True" and completed["lastTransitionTime"] != "2020-01-01T00:00:00Z"
    )


# --- against the emulated API -----------------------------------------------------------------


async def test_a_created_resource_is_submitted_once_and_its_status_follows_the_runs(deployment):
    created = deployment.kube.create_object(SIMS, gossip_simulation("sweep"))
    simulation_id = resource_simulation_id(created["metadata"])
    await until(lambda: len(deployment.messages("run.start")) == 3, "three run commands")
    await until(lambda: deployment.status("sweep").get("phase") == "Running", "phase Running")
    obj = deployment.kube.read_object(SIMS, "sweep", namespace=NAMESPACE)
    assert FINALIZER in obj["metadata"]["finalizers"]
    assert obj["status"]["runsTotal"] == 3 and obj["status"]["runsSucceeded"] == 0

    starts = deployment.messages("run.start")
    await deployment.complete(starts[0])
    await until(lambda: deployment.status("sweep").get("runsSucceeded") == 1, "one run done")
    for start in starts[1:]:
        await deployment.complete(start)
    await until(lambda: deployment.status("sweep").get("phase") == "Succeeded", "Succeeded")

    (submit,) = deployment.messages("simulation.submit")
    assert submit.simulation_id == simulation_id and submit.spec == {"name": "sweep", **SPEC}
    assert deployment.phases("sweep") == ["Pending", "Running", "Succeeded"]
    status = deployment.status("sweep")
    (stored,) = deployment.messages("results.stored")
    assert status["simulationId"] == simulation_id
    assert (status["runsTotal"], status["runsSucceeded"], status["runsFailed"]) == (3, 3, 0)
    assert status["results"] == stored.location
    assert (Path(stored.location) / "summary.csv").is_file()
    assert status["startedAt"].endswith("Z") and status["finishedAt"] >= status["startedAt"]
    assert status["observedGeneration"] == created["metadata"]["generation"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Accepted"]["status"] == "True"
    assert (conditions["Completed"]["status"], conditions["Completed"]["reason"]) == (
        "True",
        "Succeeded",
    )
    await until(
        lambda: (
            FINALIZER
            not in deployment.kube.read_object(SIMS, "sweep", namespace=NAMESPACE)["metadata"].get(
                "finalizers", []
            )
        ),
        "the finalizer removed from a finished resource",
    )


async def test_a_run_that_fails_for_good_ends_the_resource_failed(deployment):
    deployment.kube.create_object(SIMS, gossip_simulation("flaky"))
    await until(lambda: len(deployment.messages("run.start")) == 3, "three run commands")
    starts = deployment.messages("run.start")
    await deployment.send(
        RunFailed(
            simulation_id=starts[0].simulation_id,
            run_id=starts[0].run_id,
            error="impossible",
            retryable=False,
        )
    )
    for start in starts[1:]:
        await deployment.complete(start)
    await until(lambda: deployment.status("flaky").get("phase") == "Failed", "phase Failed")
    status = deployment.status("flaky")
    assert (status["runsSucceeded"], status["runsFailed"]) == (2, 1)
    assert status["results"]


async def test_deleting_a_resource_cancels_its_simulation(deployment):
    created = deployment.kube.create_object(SIMS, gossip_simulation("doomed"))
    simulation_id = resource_simulation_id(created["metadata"])
    await until(lambda: deployment.status("doomed").get("phase") == "Running", "phase Running")

    deployment.kube.delete_object(SIMS, "doomed", namespace=NAMESPACE)
    await until(
        lambda: deployment.kube.find_object(SIMS, "doomed", namespace=NAMESPACE) is None,
        "the resource gone once the finalizer is removed",
    )
    (cancel,) = deployment.messages("simulation.cancel")
    assert cancel.simulation_id == simulation_id and "deleted" in cancel.reason
    await until(lambda: deployment.scheduler.simulations[simulation_id].cancelled, "cancelled")
    removal = [
        e
        for e in deployment.kube.events
        if e.name == "doomed"
        and e.type == "MODIFIED"
        and e.object["metadata"].get("deletionTimestamp")
    ]
    assert FINALIZER not in removal[-1].object["metadata"].get("finalizers", [])


async def test_a_dropped_watch_resumes_without_duplicate_submissions(deployment):
    kube = deployment.kube
    names = ["first", "second", "third", "fourth"]
    for name, drop in zip(names, ("clean", "abort", "expire", None), strict=True):
        await kube.wait_for_watches(2)  # GossipSimulations and seed Simulations
        kube.create_object(SIMS, gossip_simulation(name))
        await until(lambda name=name: deployment.status(name).get("phase") == "Running", name)
        if drop == "clean":
            kube.drop_watches()  # as a server-side timeout: resume from the last version
        elif drop == "abort":
            kube.drop_watches(abort=True)  # the connection breaks mid-stream
        elif drop == "expire":
            kube.compact()  # the last version seen is gone: 410, list again
            kube.drop_watches()
    await until(lambda: len(deployment.messages("run.start")) == 12, "every run command")
    await asyncio.sleep(0.3)  # time for a duplicate to show up
    submitted = sorted(m.simulation_id for m in deployment.messages("simulation.submit"))
    expected = sorted(
        resource_simulation_id(kube.read_object(SIMS, n, namespace=NAMESPACE)["metadata"])
        for n in names
    )
    assert submitted == expected
    assert len(deployment.messages("run.start")) == 12
    assert deployment.watcher.lists > 2, "the expired watch was replaced by a new list"


async def test_an_invalid_resource_is_rejected_with_the_field_and_reason(deployment):
    """One the CRD's schema lets through: the scheduler finds the fault and names the field."""
    spec = {**SPEC, "algorithms": ["default", "gossip_magic"]}
    deployment.kube.create_object(SIMS, gossip_simulation("broken", spec))
    await until(lambda: deployment.status("broken").get("phase") == "Rejected", "Rejected")
    status = deployment.status("broken")
    accepted = next(c for c in status["conditions"] if c["type"] == "Accepted")
    assert (accepted["status"], accepted["reason"]) == ("False", "InvalidSpec")
    assert accepted["message"].startswith("spec.algorithms[1]: unknown algorithm 'gossip_magic'")
    assert status["message"] == accepted["message"]
    (rejection,) = deployment.messages("simulation.rejected")
    assert rejection.field == "algorithms[1]"
    assert rejection.reason == accepted["message"].removeprefix("spec.")
    assert not deployment.messages("run.start")
    await until(
        lambda: (
            not deployment.kube.read_object(SIMS, "broken", namespace=NAMESPACE)["metadata"].get(
                "finalizers"
            )
        ),
        "no finalizer on a rejected resource",
    )


async def test_a_restarted_scheduler_resumes_without_running_anything_again(deployment):
    deployment.kube.create_object(SIMS, gossip_simulation("long"))
    deployment.kube.create_object(SIMS, gossip_simulation("short", {**SPEC, "repetitions": 1}))
    await until(lambda: len(deployment.messages("run.start")) == 4, "four run commands")
    await until(lambda: deployment.status("long").get("phase") == "Running", "Running")
    starts = deployment.messages("run.start")
    long_runs = [s for s in starts if "-long-" in s.simulation_id]
    (short_run,) = [s for s in starts if "-short-" in s.simulation_id]
    await deployment.complete(long_runs[0])
    await until(lambda: deployment.status("long").get("runsSucceeded") == 1, "one run done")

    await deployment.stop_watcher()  # the scheduler goes down: first its watcher ...
    await deployment.complete(short_run)  # ... "short" finishes meanwhile ...
    await until(lambda: bool(deployment.messages("results.stored")), "short's results")
    await deployment.scheduler.close()  # ... then the scheduler itself
    deployment.scheduler = deployment.new_scheduler()
    await deployment.scheduler.start()
    await deployment.start_watcher()

    await until(lambda: deployment.status("short").get("phase") == "Succeeded", "short done")
    for start in long_runs[1:]:
        await deployment.complete(start)
    await until(lambda: deployment.status("long").get("phase") == "Succeeded", "long done")
    assert len(deployment.messages("simulation.submit")) == 2  # nothing submitted again
    assert len(deployment.messages("run.start")) == 4  # nothing run again
    assert deployment.status("short")["results"] and deployment.status("long")["results"]


async def test_a_seed_simulation_is_rejected_naming_the_seed_field(deployment, full_seed_crs):
    """Its own paths (spec.randomInitialization, spec.graphSelector), not the translation's."""
    kube = deployment.kube
    for path in sorted((full_seed_crs / "graphs" / "examples-gnutella-n20").glob("*.yaml")):
        kube.create_object(GRAPHS, applied(path))  # 20-vertex graphs without a valueList
    simulations = full_seed_crs / "simulations"
    kube.create_object(SEED_SIMS, applied(simulations / "gnutella-series/gnutella-series-cp.yaml"))
    kube.create_object(SEED_SIMS, applied(simulations / "high-mod/high-mod-default.yaml"))

    def message(name: str) -> str:
        status = deployment.status(name, SEED_SIMS)
        if status.get("phase") != "Rejected":
            return ""
        return next(c["message"] for c in status["conditions"] if c["type"] == "Accepted")

    await until(lambda: message("gnutella-series-cp") and message("high-mod-default"), "both")
    assert message("gnutella-series-cp").startswith("spec.randomInitialization: ")
    assert "gnutella-n20-0" in message("gnutella-series-cp")
    assert message("high-mod-default").startswith("spec.graphSelector.matchLabels: ")
    assert "high-mod-series" in message("high-mod-default")


async def test_a_seed_simulation_runs_with_its_graph_resources_inlined(
    deployment, full_seed_crs, launcher: LocalProcessLauncher
):
    kube = deployment.kube
    graphs = full_seed_crs / "graphs"
    series2 = sorted((graphs / "series2").glob("*.yaml"))[:2]
    for path in [*series2, *sorted((graphs / "examples-test-series").glob("*"))]:
        kube.create_object(GRAPHS, applied(path))
    seed = applied(full_seed_crs / "simulations/series2/series2-default.yaml")
    runner = RunnerService(
        bus=deployment.bus,
        topology=deployment.topology,
        launcher=launcher,
        settings=RunnerSettings(name="k8s-test-runner", drain=5.0),
    )
    await runner.start()
    try:
        kube.create_object(SEED_SIMS, seed)
        await until(
            lambda: deployment.status("series2-default", SEED_SIMS).get("phase") == "Succeeded",
            "the seed simulation done",
            timeout=240,
        )
    finally:
        await runner.close()
    (submit,) = deployment.messages("simulation.submit")
    assert isinstance(submit, SimulationSubmit)
    graph_names = [yaml.safe_load(p.read_text())["metadata"]["name"] for p in series2]
    assert [g["name"] for g in submit.spec["graphs"]] == sorted(graph_names)
    assert all("adjacencyList" in g and "valueList" in g for g in submit.spec["graphs"])
    assert submit.spec["repetitions"] == 3 and submit.spec["initialization"] == "graph"
    status = deployment.status("series2-default", SEED_SIMS)
    assert (status["runsTotal"], status["runsSucceeded"], status["runsFailed"]) == (6, 6, 0)
    completed = deployment.messages("run.completed")
    assert len(completed) == 6 and all(m.converged for m in completed)
    assert status["results"] and (Path(status["results"]) / "summary.csv").is_file()


async def test_a_resource_left_pending_by_a_crash_gets_the_outcome_of_its_simulation(deployment):
    """Submitted and finished, but the scheduler went down before the status said so."""
    kube = deployment.kube
    await deployment.stop_watcher()
    spec = {**SPEC, "repetitions": 1}
    created = kube.create_object(SIMS, gossip_simulation("quick", spec))
    simulation_id = resource_simulation_id(created["metadata"])
    kube.patch_object(SIMS, "quick", {"metadata": {"finalizers": [FINALIZER]}}, namespace=NAMESPACE)
    kube.patch_status(
        SIMS, "quick", {"phase": "Pending", "simulationId": simulation_id}, namespace=NAMESPACE
    )
    await deployment.send(
        SimulationSubmit(spec={"name": "quick", **spec}, simulation_id=simulation_id)
    )
    await until(lambda: deployment.messages("run.start"), "the run command")
    await deployment.complete(deployment.messages("run.start")[0])
    await until(lambda: deployment.messages("results.stored"), "the results")
    await deployment.scheduler.close()
    deployment.scheduler = deployment.new_scheduler()  # it does not resume a finished one
    await deployment.scheduler.start()
    await deployment.start_watcher()

    await until(lambda: deployment.status("quick").get("phase") == "Succeeded", "Succeeded")
    assert (
        deployment.status("quick")["results"] == deployment.messages("results.stored")[0].location
    )
    assert len(deployment.messages("run.start")) == 1
    assert len(deployment.messages("simulation.submit")) == 1  # its state was in the store


async def test_a_resource_left_pending_by_a_crash_gets_its_stored_rejection(deployment):
    kube = deployment.kube
    await deployment.stop_watcher()
    spec = {**SPEC, "algorithms": ["gossip_magic"]}
    created = kube.create_object(SIMS, gossip_simulation("bad", spec))
    simulation_id = resource_simulation_id(created["metadata"])
    kube.patch_object(SIMS, "bad", {"metadata": {"finalizers": [FINALIZER]}}, namespace=NAMESPACE)
    kube.patch_status(
        SIMS, "bad", {"phase": "Pending", "simulationId": simulation_id}, namespace=NAMESPACE
    )
    await deployment.send(
        SimulationSubmit(spec={"name": "bad", **spec}, simulation_id=simulation_id)
    )
    await until(lambda: deployment.messages("simulation.rejected"), "the rejection")
    await deployment.scheduler.close()
    deployment.scheduler = deployment.new_scheduler()  # rejections are not kept in memory
    await deployment.scheduler.start()
    await deployment.start_watcher()

    await until(lambda: deployment.status("bad").get("phase") == "Rejected", "Rejected")
    assert deployment.status("bad")["message"].startswith("spec.algorithms[0]: unknown algorithm")
    assert len(deployment.messages("simulation.submit")) == 1


async def test_a_seed_simulation_without_a_status_subresource_still_shows_its_status(
    deployment, full_seed_crs
):
    kube = deployment.kube
    kube.register(
        SEED_SIMULATIONS.group,
        SEED_SIMULATIONS.version,
        SEED_SIMULATIONS.plural,
        kind=SEED_SIMULATIONS.kind,
        status=False,
    )
    high_mod = full_seed_crs / "simulations/high-mod/high-mod-default.yaml"
    kube.create_object(SEED_SIMS, applied(high_mod))
    await until(
        lambda: deployment.status("high-mod-default", SEED_SIMS).get("phase") == "Rejected",
        "Rejected, written on the resource itself",
    )
