"""Forged events change nothing: the collector and the scheduler believe what fits what the
scheduler accepted, and a completed simulation's files are never written again.

The scheduler and the collector are the real services on the in-memory bus; the test plays the
runners (answering run.start with telemetry and run.completed) and the forger (publishing
whatever anyone on the broker could). Two wirings: as deployed (the scheduler keeps its state
in the store the collector reads) and as embedded (no scheduler store; the collector asks the
scheduler in the process).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio

from gossipsim.cli import status_view
from gossipsim.collector import service as collector_service
from gossipsim.common.contracts import status_document
from gossipsim.common.contracts.status_document import read_runs, status_key
from gossipsim.common.messaging.bus import Delivery, Envelope, QueueSpec
from gossipsim.common.messaging.memory_bus import InMemoryBus
from gossipsim.common.messaging.messages import (
    Message,
    ResultsStored,
    RunCompleted,
    RunFailed,
    RunRound,
    RunStart,
    SimulationAccepted,
    SimulationCompleted,
    SimulationRejected,
    SimulationSubmit,
    decode,
    encode,
)
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.spec.simulation_spec import expand_runs, parse_spec
from gossipsim.common.storage.local_store import LocalDirectoryStore
from gossipsim.scheduler import service as scheduler_service
from gossipsim.scheduler import state as scheduler_state
from gossipsim.scheduler.service import SchedulerService, SchedulerSettings
from gossipsim.scheduler.state import SimulationState
from gossipsim.scheduler.state_store import StateStore
from tests.common.bus_contract import Inbox
from tests.support.captured_logs import captured_logs

SPEC = {
    "name": "forged",
    "graphs": [{"name": "k4", "generator": "complete_graph", "params": {"n": 4}}],
    "algorithms": ["default"],
    "repetitions": 3,
}
CANARY = "CANARY-7f3a-payload"  # in every forged payload; never in a log line
RUN_IDS = ["k4.default.r0", "k4.default.r1", "k4.default.r2"]


class Deployment:
    """The scheduler and the collector on one bus, a tap on every message, and the runners
    played by the test: each run.start is answered at once, or held while ``hold`` is set."""

    def __init__(self, root: Path, *, stored: bool) -> None:
        self.topology = Topology(prefix="forged-test")
        self.bus = InMemoryBus()
        self.store = LocalDirectoryStore(root)
        self.stored = stored
        self.published = Inbox()
        self.hold = False
        self.held: list[RunStart] = []
        self.scheduler = self.new_scheduler()
        plans = None if stored else self.scheduler  # default: the scheduler's documents
        self.collector = collector_service.CollectorService(
            bus=self.bus, topology=self.topology, store=self.store, plans=plans
        )

    def new_scheduler(self, **settings: Any) -> SchedulerService:
        return SchedulerService(
            bus=self.bus,
            topology=self.topology,
            store=self.store if self.stored else None,
            settings=SchedulerSettings(**settings),
        )

    async def start(self) -> None:
        await self.topology.declare(self.bus)
        await self.bus.declare_queue(QueueSpec(name="forged-test.tap"))
        for exchange in (self.topology.commands, self.topology.events):
            await self.bus.bind("forged-test.tap", exchange, "#")
        await self.bus.consume("forged-test.tap", self.published.handler, prefetch=1000)
        await self.bus.consume(self.topology.runs_queue, self._runner, prefetch=100)
        await self.scheduler.start()
        await self.collector.start()

    async def close(self) -> None:
        await self.collector.close()
        await self.scheduler.close()
        await self.bus.close()

    async def _runner(self, delivery: Delivery) -> None:
        start = decode(delivery.envelope.body)
        assert isinstance(start, RunStart)
        if self.hold:
            self.held.append(start)
        else:
            await self.answer(start)
        await delivery.ack()

    async def answer(self, start: RunStart) -> None:
        ids = {"simulation_id": start.simulation_id, "run_id": start.run_id}
        await self.send(
            RunRound(**ids, attempt=start.attempt, first_round=0, rounds=[{"mean": 1.0}] * 2)
        )
        await self.send(
            RunCompleted(**ids, attempt=start.attempt, rounds=1, converged=True, plan=start.plan)
        )

    async def release(self) -> None:
        self.hold = False
        held, self.held = self.held, []
        for start in held:
            await self.answer(start)

    async def send(self, message: Message) -> None:
        """Publish as anyone on the broker can: any kind, to the exchange it belongs to."""
        envelope = Envelope(body=encode(message), routing_key=message.kind)
        await self.bus.publish(self.topology.exchange_for(message.kind), envelope)

    def messages(self, kind: str) -> list[Message]:
        return [
            decode(d.envelope.body)
            for d in self.published.deliveries
            if d.envelope.routing_key == kind
        ]

    async def until(self, predicate: Callable[[], bool], what: str) -> None:
        for _ in range(1000):
            if predicate():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}")

    def _busy(self) -> bool:
        queues = (self.topology.scheduler_queue, self.topology.collector_queue)
        return any(
            self.bus.queue_depth(name) or any(c._unsettled for c in self.bus._queue(name).consumers)
            for name in (*queues, self.topology.runs_queue)
        )

    async def quiet(self) -> None:
        """Until the scheduler and the collector have settled everything sent so far."""
        calm = 0
        for _ in range(1000):
            calm = 0 if self._busy() else calm + 1
            if calm == 5:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the services never settled")

    async def completed(self, simulation_id: str) -> None:
        await self.until(
            lambda: (
                (s := self.scheduler.simulations.get(simulation_id)) is not None
                and s.finished.is_set()
            ),
            f"{simulation_id}'s results stored",
        )
        await self.quiet()

    async def hashes(self) -> dict[str, str]:
        """Every object in the store, by key: its content's digest."""
        return {
            key: hashlib.sha256(await self.store.get(key)).hexdigest()
            for key in await self.store.list("")
        }

    async def json(self, key: str) -> Any:
        return orjson.loads(await self.store.get(key))


@pytest_asyncio.fixture(params=["stored", "in-process"])
async def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Deployment]:
    setup = Deployment(tmp_path, stored=request.param == "stored")
    await setup.start()
    yield setup
    await setup.close()


def forged_run(simulation_id: str, run_id: str, *, attempt: int = 1) -> list[Message]:
    """What a forger sends to make a run appear: telemetry, a completion and a failure."""
    ids = {"simulation_id": simulation_id, "run_id": run_id, "attempt": attempt}
    return [
        RunRound(**ids, first_round=0, rounds=[{CANARY: 1.0}, {CANARY: 2.0}]),
        RunCompleted(**ids, rounds=1, converged=True, final={CANARY: 1.0}),
        RunFailed(**ids, error=CANARY, retryable=False),
    ]


def forged_end(simulation_id: str) -> list[Message]:
    return [
        SimulationCompleted(simulation_id=simulation_id, runs_total=999, succeeded=999, failed=0),
        SimulationAccepted(
            simulation_id=simulation_id, runs_total=999, name=CANARY, spec={"name": CANARY}
        ),
        ResultsStored(simulation_id=simulation_id, location=f"s3://{CANARY}/elsewhere"),
    ]


def summary_run_ids(csv_text: bytes) -> list[str]:
    return [line.split(",")[0] for line in csv_text.decode().splitlines()[1:]]


def no_canary_logged(logs: list[dict[str, Any]]) -> None:
    assert not [entry for entry in logs if CANARY in repr(entry)]


LOGGERS = (collector_service, scheduler_service)


# -- the collector ------------------------------------------------------------------------


async def test_events_of_a_simulation_never_accepted_write_nothing(deployment, monkeypatch):
    with captured_logs(monkeypatch, *LOGGERS) as logs:
        for message in [*forged_run("ghost", "k4.default.r0"), *forged_end("ghost")]:
            await deployment.send(message)
        await deployment.quiet()
    assert await deployment.store.list("") == []
    ignored = [e for e in logs if e["log_level"] == "warning" and e.get("simulation_id") == "ghost"]
    collector = [e for e in ignored if "never accepted" in e["event"]]
    assert {e["kind"] for e in collector} == {
        "run.round",
        "run.completed",
        "run.failed",
        "simulation.completed",
        "simulation.accepted",
    }
    assert {e.get("run_id") for e in collector if e["kind"].startswith("run.")} == {"k4.default.r0"}
    scheduler = {e["event"] for e in ignored} - {e["event"] for e in collector}
    assert scheduler == {
        "event of an unknown simulation ignored",
        "results.stored for no completed simulation ignored",
    }
    no_canary_logged(logs)


async def test_a_run_not_in_the_plan_is_ignored_and_not_in_the_tables(deployment, monkeypatch):
    deployment.hold = True
    await deployment.send(SimulationSubmit(spec=SPEC, simulation_id="sim-a"))
    await deployment.until(lambda: len(deployment.held) == 3, "the run commands")
    with captured_logs(monkeypatch, *LOGGERS) as logs:
        for message in forged_run("sim-a", "k4.default.r99"):
            await deployment.send(message)
        await deployment.quiet()
    assert not await deployment.store.list("simulations/sim-a/runs/")
    unplanned = [e for e in logs if e["event"] == "event of a run not in the plan"]
    assert {e["kind"] for e in unplanned} == {"run.round", "run.completed", "run.failed"}
    assert {(e["simulation_id"], e["run_id"]) for e in unplanned} == {("sim-a", "k4.default.r99")}
    scheduler = [e for e in logs if e["event"] == "event of a run not in the plan ignored"]
    assert {e["run_id"] for e in scheduler} == {"k4.default.r99"}
    no_canary_logged(logs)

    await deployment.release()
    await deployment.completed("sim-a")
    summary = await deployment.store.get("simulations/sim-a/summary.csv")
    assert summary_run_ids(summary) == RUN_IDS
    manifest = await deployment.json("simulations/sim-a/manifest.json")
    assert (manifest["runs_total"], manifest["runs_succeeded"], manifest["runs_failed"]) == (
        3,
        3,
        0,
    )


async def test_nothing_forged_after_completion_changes_a_single_byte(deployment, monkeypatch):
    await deployment.send(SimulationSubmit(spec=SPEC, simulation_id="sim-b"))
    await deployment.completed("sim-b")
    before = await deployment.hashes()
    assert "simulations/sim-b/manifest.json" in before
    location = deployment.scheduler.simulations["sim-b"].results_location

    with captured_logs(monkeypatch, *LOGGERS) as logs:
        for run_id in (*RUN_IDS, "k4.default.r7"):
            for attempt in (1, 2):
                for message in forged_run("sim-b", run_id, attempt=attempt):
                    await deployment.send(message)
        for message in forged_end("sim-b"):
            await deployment.send(message)
        await deployment.quiet()

    assert await deployment.hashes() == before
    manifest = await deployment.json("simulations/sim-b/manifest.json")
    assert (manifest["runs_total"], manifest["runs_succeeded"]) == (3, 3)
    assert deployment.scheduler.simulations["sim-b"].results_location == location
    completed = [e for e in logs if e["event"] == "event of a completed simulation"]
    kinds = {"run.round", "run.completed", "run.failed", "simulation.accepted"}
    assert {e["kind"] for e in completed} == kinds
    no_canary_logged(logs)


async def test_an_early_completion_finalizes_nothing_and_the_manifest_tells_the_truth(
    deployment, monkeypatch
):
    deployment.hold = True
    await deployment.send(SimulationSubmit(spec=SPEC, simulation_id="sim-c"))
    await deployment.until(lambda: len(deployment.held) == 3, "the run commands")
    with captured_logs(monkeypatch, *LOGGERS) as logs:
        for message in forged_end("sim-c"):
            await deployment.send(message)
        await deployment.quiet()
    keys = await deployment.store.list("simulations/sim-c/")
    assert keys == ["simulations/sim-c/submitted.json"]
    assert not deployment.scheduler.simulations["sim-c"].finished.is_set()
    (early,) = [
        e for e in logs if e["event"] == "simulation.completed of a simulation not finished"
    ]
    assert early["phase"] == "running"

    await deployment.release()
    await deployment.completed("sim-c")
    manifest = await deployment.json("simulations/sim-c/manifest.json")
    assert manifest["runs_total"] == 3 and manifest["runs_succeeded"] == 3
    assert manifest["runs_failed"] == 0 and manifest["cancelled"] is False
    submitted = await deployment.json("simulations/sim-c/submitted.json")
    assert submitted["spec"] == SPEC and submitted["runs_total"] == 3
    assert CANARY not in repr(manifest) + repr(submitted)


# -- the scheduler ------------------------------------------------------------------------


async def test_another_spec_under_an_id_in_use_is_rejected_and_changes_nothing(deployment):
    await deployment.send(SimulationSubmit(spec=SPEC, simulation_id="sim-d"))
    await deployment.completed("sim-d")
    before = await deployment.hashes()
    other = {**SPEC, "repetitions": 4}

    await deployment.send(SimulationSubmit(spec=other, simulation_id="sim-d"))
    await deployment.send(SimulationSubmit(spec=SPEC, simulation_id="sim-d", graphs_dir="/x"))
    await deployment.until(lambda: len(deployment.messages("simulation.rejected")) == 2, "refusal")
    await deployment.quiet()

    for rejection in deployment.messages("simulation.rejected"):
        assert isinstance(rejection, SimulationRejected)
        assert rejection.simulation_id == "sim-d" and rejection.field == "simulation_id"
        assert rejection.reason.startswith("id in use")
    assert await deployment.hashes() == before
    assert len(deployment.messages("run.start")) == 3
    state = deployment.scheduler.simulations["sim-d"]
    assert len(state.plans) == 3 and "sim-d" not in deployment.scheduler.rejections


async def test_the_same_spec_submitted_again_is_idempotent(deployment):
    await deployment.send(SimulationSubmit(spec=SPEC, simulation_id="sim-e"))
    await deployment.completed("sim-e")
    before = await deployment.hashes()
    await deployment.send(
        SimulationSubmit(spec=dict(reversed(SPEC.items())), simulation_id="sim-e")
    )
    await deployment.quiet()
    assert await deployment.hashes() == before
    assert not deployment.messages("simulation.rejected")
    assert len(deployment.messages("run.start")) == 3


async def test_a_restarted_scheduler_tells_another_spec_from_a_redelivery(tmp_path):
    """After a restart the id is known from the stored summary alone."""
    setup = Deployment(tmp_path, stored=True)
    await setup.start()
    await setup.send(SimulationSubmit(spec=SPEC, simulation_id="sim-f"))
    await setup.completed("sim-f")
    await setup.scheduler.close()
    setup.scheduler = setup.new_scheduler()
    await setup.scheduler.start()
    assert "sim-f" not in setup.scheduler.simulations  # finished: not resumed
    await setup.send(SimulationSubmit(spec=SPEC, simulation_id="sim-f"))
    await setup.send(SimulationSubmit(spec={**SPEC, "repetitions": 1}, simulation_id="sim-f"))
    await setup.until(lambda: bool(setup.messages("simulation.rejected")), "the refusal")
    await setup.quiet()
    (rejection,) = setup.messages("simulation.rejected")
    assert rejection.reason.startswith("id in use")  # type: ignore[attr-defined]
    assert len(setup.messages("run.start")) == 3
    await setup.close()


async def test_a_forged_results_stored_does_not_finish_a_running_simulation(deployment):
    deployment.hold = True
    await deployment.send(SimulationSubmit(spec=SPEC, simulation_id="sim-g"))
    await deployment.until(lambda: len(deployment.held) == 3, "the run commands")
    await deployment.send(ResultsStored(simulation_id="sim-g", location="s3://elsewhere/x"))
    await deployment.quiet()
    state = deployment.scheduler.simulations["sim-g"]
    assert state.results_location == "" and not state.finished.is_set()
    if deployment.stored:
        assert await deployment.store.exists("scheduler/active/sim-g")
    await deployment.release()
    await deployment.completed("sim-g")
    assert state.results_location.endswith("simulations/sim-g")


# -- the scheduler's counts and its documents ---------------------------------------------


def recounted(state: SimulationState) -> Counter[status_document.RunStatus]:
    return Counter(state.status.values())


def test_counts_follow_every_transition_without_walking_the_runs():
    spec = {**SPEC, "repetitions": 2500}
    plans = expand_runs(parse_spec(spec))
    state = SimulationState(simulation_id="c", plans=plans, spec=spec)
    run_ids = list(plans)
    assert state.take_dirty_chunks() == {0, 1, 2}  # all of it, unsaved
    steps: list[tuple[int, Callable[[Any], object]]] = [
        (0, state.mark_running),
        (1, lambda r: state.lease(r, 1.0)),
        (1, lambda r: state.fail(r, "boom")),
        (2, lambda r: state.queue(r, 2)),
        (0, lambda r: state.complete(r, 3)),
        (1001, lambda r: state.complete(r, 3)),
        (2499, lambda r: state.fail(r, "boom")),
        (2498, lambda r: state.lease(r, 1.0)),
        (2498, lambda r: state.queue(r, 2)),
        (2498, lambda r: state.complete(r, 3)),
        (2499, lambda r: state.fail(r, "boom")),  # twice: counted once
    ]
    for position, transition in steps:
        transition(run_ids[position])
        assert +state.counts == recounted(state)  # (+ drops the zero counts)
        assert state.take_dirty_chunks() == {position // 1000}
    assert (state.count(status_document.RunStatus.COMPLETED), state.count_failed()) == (3, 2)
    assert state.done_count == 5 and not state.all_done
    assert list(state.to_document()["failed_runs"]) == [run_ids[1], run_ids[2499]]
    assert state.attempts[run_ids[2498]] == 2 and state.rounds_done == 9


async def test_counts_stay_right_through_retries_failures_and_late_events(tmp_path):
    setup = Deployment(tmp_path, stored=True)
    setup.scheduler = setup.new_scheduler(max_attempts=3)
    setup.hold = True
    await setup.start()
    await setup.send(SimulationSubmit(spec=SPEC, simulation_id="sim-h"))
    await setup.until(lambda: len(setup.held) == 3, "the run commands")
    state = setup.scheduler.simulations["sim-h"]
    first = {start.run_id: start for start in setup.held}
    r0, r1, r2 = (first[run_id] for run_id in RUN_IDS)
    ids = lambda s: {"simulation_id": s.simulation_id, "run_id": s.run_id}  # noqa: E731

    await setup.send(RunFailed(**ids(r0), attempt=1, error="node lost", retryable=True))
    await setup.send(RunFailed(**ids(r1), attempt=1, error="impossible", retryable=False))
    await setup.until(lambda: len(setup.held) == 4, "r0 again")
    await setup.quiet()
    assert state.counts == recounted(state)
    await setup.send(RunFailed(**ids(r0), attempt=2, error="node lost", retryable=True))
    await setup.until(lambda: len(setup.held) == 5, "r0 a third time")
    await setup.send(RunFailed(**ids(r0), attempt=1, error="late copy", retryable=False))
    await setup.answer(setup.held[-1])  # r0 attempt 3 completes
    await setup.answer(r2)
    await setup.answer(r2)  # a redelivered completion
    await setup.until(lambda: bool(setup.messages("simulation.completed")), "the end")
    await setup.quiet()

    assert state.counts == recounted(state)
    (outcome,) = setup.messages("simulation.completed")
    assert (outcome.succeeded, outcome.failed) == (2, 1)  # type: ignore[attr-defined]
    summary = await setup.json(status_key("sim-h"))
    assert summary["counts"] == {"queued": 0, "running": 0, "completed": 2, "failed": 1}
    assert summary["failed_runs"] == {r1.run_id: {"attempt": 1, "error": "impossible"}}
    runs = await read_runs(setup.store, summary)
    assert runs[r0.run_id] == {"status": "completed", "attempt": 3, "error": "", "leased": False}
    manifest = await setup.json("simulations/sim-h/manifest.json")
    assert (manifest["runs_succeeded"], manifest["runs_failed"]) == (2, 1)
    await setup.close()


class CountingStore(LocalDirectoryStore):
    """Counts the writes per key."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.writes: Counter[str] = Counter()

    async def put(self, key: str, data: bytes, *, content_type: str = "") -> None:
        self.writes[key] += 1
        await super().put(key, data, content_type=content_type)


async def test_a_restarted_scheduler_resumes_from_the_chunked_run_table(tmp_path, monkeypatch):
    """Chunks of 4 runs: 10 runs make 3 chunks; a chunk no event touched is written once
    (at acceptance), and a resumed scheduler writes nothing until something changes."""
    monkeypatch.setattr(status_document, "RUN_CHUNK_SIZE", 4)
    monkeypatch.setattr(scheduler_state, "RUN_CHUNK_SIZE", 4)
    setup = Deployment(tmp_path, stored=True)
    setup.store = CountingStore(tmp_path)
    setup.scheduler = setup.new_scheduler()
    setup.collector = collector_service.CollectorService(
        bus=setup.bus, topology=setup.topology, store=setup.store
    )
    setup.hold = True
    await setup.start()
    await setup.send(SimulationSubmit(spec={**SPEC, "repetitions": 10}, simulation_id="sim-i"))
    await setup.until(lambda: len(setup.held) == 10, "the run commands")
    held = sorted(setup.held, key=lambda s: int(s.run_id.rpartition(".r")[2]))
    for start in held[:5]:  # r0..r4: chunks 0 and 1
        await setup.answer(start)
    await setup.until(lambda: setup.scheduler.simulations["sim-i"].done_count == 5, "5 done")
    await setup.quiet()
    chunk = lambda k: status_document.run_chunk_key("sim-i", k)  # noqa: E731
    assert setup.store.writes[chunk(2)] == 1
    assert setup.store.writes[chunk(0)] > 1 and setup.store.writes[chunk(1)] > 1
    assert setup.store.writes[status_document.spec_key("sim-i")] == 1

    await setup.scheduler.close()  # a restart: what is left is in the store
    writes = sum(setup.store.writes.values())
    setup.scheduler = setup.new_scheduler()
    await setup.scheduler.start()
    resumed = setup.scheduler.simulations["sim-i"]
    assert resumed.done_count == 5 and resumed.counts == recounted(resumed)
    assert sum(setup.store.writes.values()) == writes  # resuming wrote nothing
    for start in held[5:]:
        await setup.answer(start)
    await setup.completed("sim-i")
    summary = await setup.json(status_key("sim-i"))
    assert summary["counts"]["completed"] == 10 and summary["run_table"]["chunks"] == 3
    assert len(setup.messages("run.start")) == 10  # nothing published twice
    manifest = await setup.json("simulations/sim-i/manifest.json")
    assert (manifest["runs_total"], manifest["runs_succeeded"]) == (10, 10)
    await setup.close()


@pytest.mark.parametrize("layout", ["inline", "chunked"])
async def test_status_readers_take_both_layouts(tmp_path, layout):
    """`gossipsim status` and the collector read a document of the earlier layout (spec and
    runs inline) as well as the current one."""
    store = LocalDirectoryStore(tmp_path)
    plans = expand_runs(parse_spec(SPEC))
    state = SimulationState(simulation_id="sim-j", plans=plans, spec=SPEC)
    state.fail(RUN_IDS[1], "ShardFailed: gone")
    if layout == "chunked":
        await StateStore(store).save(state)
    else:
        document = {**state.to_document(), "spec": SPEC, "runs": {}}
        del document["run_table"], document["failed_runs"], document["spec_digest"]
        document["runs"] = {r: state.chunk_document(0)["runs"][r] for r in plans}
        await store.put(status_key("sim-j"), orjson.dumps(document))
    status = await status_view.load_status(store, "sim-j")
    assert status is not None and status.counts["failed"] == 1
    detail = status_view.format_detail(status)
    assert "failed runs (1):" in detail and f"{RUN_IDS[1]} after 1 attempt: ShardFailed" in detail
    plan = await status_document.read_accepted_plan(store, "sim-j")
    assert plan is not None and set(plan.run_ids) == set(RUN_IDS) and plan.spec == SPEC
    digest = await StateStore(store).accepted_digest("sim-j")
    assert digest == status_document.spec_digest(SPEC, "")
