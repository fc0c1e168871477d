"""A run.start published straight to the runs queue gets no further than one the scheduler sent.

Anyone who can reach the broker can publish run.start, past every check of the scheduler. The
runner checks the plan again before any work: a plan the scheduler would have refused is
dead-lettered at once as impossible, with the plan's field named, before run.started and
before any node starts; a host path is refused without being read. Runs on the in-memory bus
and on the real RabbitMQ (names prefixed per test, removed after).
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import io
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

import pytest
import pytest_asyncio

from gossipsim.common.errors import InvalidInput
from gossipsim.common.graphs.limits import GraphLimits
from gossipsim.common.messaging.bus import REASON_HEADER, Bus, Delivery, Envelope, QueueSpec
from gossipsim.common.messaging.memory_bus import InMemoryBus
from gossipsim.common.messaging.messages import RunStart, decode, encode
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.model.initial_values import Initialization
from gossipsim.common.spec.plan_checks import PLAN_FIELDS, SPEC_FIELDS, check_settings_for_graph
from gossipsim.common.spec.run_plan import GraphPlan, RunPlan
from gossipsim.common.spec.simulation_spec import (
    MAX_HISTORY_VERTICES,
    expand_runs,
    parse_spec,
)
from gossipsim.runner.local_launcher import LocalProcessLauncher
from gossipsim.runner.service import RunnerService, RunnerSettings
from tests.common.test_amqp_bus import connect_or_skip, delete_declared

SIMULATION = "forged-0123456789"
MAX_SHARDS = 8  # this runner's cap (GOSSIPSIM_MAX_SHARDS in a deployment)
MAX_VERTICES = 100_000  # this runner's limit (GOSSIPSIM_MAX_VERTICES)
WAIT = 60.0


def valid_plan() -> RunPlan:
    """A plan as the scheduler builds it: a 50-vertex ring, 5 rounds."""
    spec = {
        "name": "forged",
        "graphs": [{"name": "ring", "generator": "cycle_graph", "params": {"n": 50}}],
        "algorithms": ["default"],
        "max_rounds": 5,
    }
    (plan,) = expand_runs(parse_spec(spec)).values()
    return plan


def forged(*, source: dict[str, Any] | None = None, name: str = "ring", **settings: Any) -> RunPlan:
    """The valid plan with its graph source or settings replaced, as a hostile client would."""
    plan = valid_plan()
    graph = plan.graph if source is None else GraphPlan(name=name, source=source)
    return dataclasses.replace(
        plan, graph=graph, settings=dataclasses.replace(plan.settings, **settings)
    )


@dataclasses.dataclass
class Runner:
    bus: Bus
    topology: Topology
    dead: asyncio.Queue[Delivery]
    events: asyncio.Queue[Delivery]

    async def publish(self, plan: RunPlan, run_id: str) -> None:
        command = RunStart(simulation_id=SIMULATION, run_id=run_id, plan=plan)
        envelope = Envelope(body=encode(command), routing_key=command.kind)
        await self.bus.publish(self.topology.commands, envelope)

    async def dead_letter(self, run_id: str) -> str:
        """The reason the run.start of ``run_id`` was dead-lettered with."""
        letter = await asyncio.wait_for(self.dead.get(), WAIT)
        command = decode(letter.envelope.body)
        assert isinstance(command, RunStart) and command.run_id == run_id
        return str(letter.envelope.headers[REASON_HEADER])

    async def events_until(self, kind: str) -> list[tuple[str, str]]:
        """(run id, kind) of every run event, up to and including the first of ``kind``."""
        seen: list[tuple[str, str]] = []
        while not seen or seen[-1][1] != kind:
            delivery = await asyncio.wait_for(self.events.get(), WAIT)
            message = decode(delivery.envelope.body)
            seen.append((str(getattr(message, "run_id", "")), message.kind))
        return seen


@pytest_asyncio.fixture(params=["memory", "rabbitmq"])
async def runner(request) -> AsyncIterator[Runner]:
    """A runner with a shards cap and a vertex limit, on the in-memory bus or RabbitMQ, with
    taps on the dead letters and the run events."""
    prefix = f"gstest-{uuid4().hex[:8]}"
    topology = Topology(prefix=prefix)
    bus: Bus
    if request.param == "memory":
        bus = InMemoryBus()
    else:
        bus = await connect_or_skip(prefix)
    try:
        await topology.declare(bus)
        dead: asyncio.Queue[Delivery] = asyncio.Queue()
        events: asyncio.Queue[Delivery] = asyncio.Queue()

        async def keep(queue: asyncio.Queue[Delivery], delivery: Delivery) -> None:
            await delivery.ack()
            await queue.put(delivery)

        await bus.declare_queue(QueueSpec(name=f"{prefix}.tap", transient=True))
        await bus.bind(f"{prefix}.tap", topology.events, "run.*")
        taps = [
            await bus.consume(topology.dead_letters_queue, lambda d: keep(dead, d), prefetch=50),
            await bus.consume(f"{prefix}.tap", lambda d: keep(events, d), prefetch=50),
        ]
        async with LocalProcessLauncher() as launcher:
            service = RunnerService(
                bus=bus,
                topology=topology,
                launcher=launcher,
                settings=RunnerSettings(name="runner-under-test", max_shards=MAX_SHARDS),
                limits=GraphLimits(max_vertices=MAX_VERTICES),
            )
            await service.start()
            try:
                yield Runner(bus=bus, topology=topology, dead=dead, events=events)
            finally:
                await service.close()
                for tap in taps:
                    await tap.cancel()
    finally:
        await bus.close()
        if request.param == "rabbitmq":
            await delete_declared(bus, prefix)


@contextmanager
def opened_paths(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every path opened through open(), io.open() or os.open() meanwhile (threads included)."""
    paths: list[str] = []

    def spy(real: Callable[..., Any]) -> Callable[..., Any]:
        def opening(file: Any, *args: Any, **kwargs: Any) -> Any:
            paths.append(os.fsdecode(file) if isinstance(file, str | bytes | os.PathLike) else "")
            return real(file, *args, **kwargs)

        return opening

    monkeypatch.setattr(builtins, "open", spy(builtins.open))
    monkeypatch.setattr(io, "open", spy(io.open))
    monkeypatch.setattr(os, "open", spy(os.open))
    yield paths


async def test_a_host_path_is_dead_lettered_unread(runner: Runner, monkeypatch) -> None:
    with opened_paths(monkeypatch) as paths:
        passwd = {"file": "/etc/passwd", "format": "edgelist"}  # a format: nothing else stops it
        await runner.publish(forged(source=passwd, name="passwd"), "passwd.r0")
        reason = await runner.dead_letter("passwd.r0")
    assert reason.startswith("impossible run: plan.graph.source")
    assert "/etc/passwd" in reason  # the path as given, never what the file holds
    assert "root:" not in reason
    assert not [path for path in paths if "passwd" in path]


BYPASSES = {
    "more shards than the cap": (forged(shards=64), "plan.settings.shards"),
    "more shards than vertices": (
        forged(source={"generator": "cycle_graph", "params": {"n": 4}}, shards=8),
        "plan.settings.shards",
    ),
    "a vertex over the limit": (
        forged(source={"generator": "path_graph", "params": {"n": 10**12}}),
        "plan.graph.source.params",
    ),
    "a sampled vertex outside the graph": (
        forged(history_every=1, history_vertices=(0, 49, 50)),
        "plan.settings.history_vertices[2]",
    ),
    "more history than a run may sample": (
        forged(history_every=1, max_rounds=1_000_000),  # 50 vertices x 1,000,001 rounds
        "plan.settings.history_vertices",
    ),
    "a vertex sampled twice": (
        forged(history_every=1, history_vertices=(3, 3)),
        "plan.settings.history_vertices[1]",
    ),
    "initial values the graph does not have": (
        forged(initialization=Initialization.GRAPH),
        "plan.settings.initialization",
    ),
    "a graph with an isolated vertex": (
        forged(source={"adjacency": ["0 1", "1 0", "2"]}, name="isolated"),
        "plan.graph.source",
    ),
    "an unknown generator": (
        forged(source={"generator": "no_such_graph", "params": {}}),
        "plan.graph.source",
    ),
}


async def test_plans_the_scheduler_would_refuse_are_dead_lettered_before_any_work(
    runner: Runner,
) -> None:
    """Each is refused with its field named, without run.started; a valid run.start published
    after them all runs, so nothing was started for them and the runner is still taking work."""
    for number, (plan, _) in enumerate(BYPASSES.values()):
        await runner.publish(plan, f"bypass{number}.r0")
    for number, (name, (_, field)) in enumerate(BYPASSES.items()):
        reason = await runner.dead_letter(f"bypass{number}.r0")
        assert reason.startswith(f"impossible run: {field}"), (name, reason)
    await runner.publish(valid_plan(), "valid.r0")
    events = await runner.events_until("run.completed")
    assert {run_id for run_id, _ in events} == {"valid.r0"}  # none of any refused run
    assert [kind for _, kind in events] == ["run.started", "run.round", "run.completed"]
    assert runner.dead.empty()


@pytest.mark.parametrize(
    ("fields", "field"),
    [(PLAN_FIELDS, "plan.settings.history_vertices"), (SPEC_FIELDS, "history")],
)
def test_a_sampled_round_over_one_message_is_refused_by_the_shared_check(fields, field) -> None:
    """All vertices of a graph larger than one telemetry message can carry, sampled: refused,
    at the spec's key for the scheduler and at the run.start's field for the runner."""
    settings = dataclasses.replace(valid_plan().settings, history_every=10)
    with pytest.raises(InvalidInput) as caught:
        check_settings_for_graph(
            settings,
            graph_name="big",
            vertices=MAX_HISTORY_VERTICES + 1,
            has_values=False,
            fields=fields,
        )
    assert caught.value.field == field and "per round" in str(caught.value)
