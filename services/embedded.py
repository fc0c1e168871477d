"""Embedded mode: the four services in one process, on the in-memory bus and a local store.

The same service classes that run as separate processes over RabbitMQ and S3; only the bus,
the store and the node launcher implementations differ (docs/design.md, Architecture).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from gossipsim.collector.service import CollectorService
from gossipsim.common.graphs.inputs import LOCAL_INPUTS, GraphInputs
from gossipsim.common.graphs.limits import DEFAULT_LIMITS, GraphLimits
from gossipsim.common.messaging.bus import REASON_HEADER, Delivery
from gossipsim.common.messaging.memory_bus import InMemoryBus
from gossipsim.common.messaging.messages import MessageError, SimulationRejected, SimulationSubmit
from gossipsim.common.messaging.publishing import publish_message
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.spec.ids import SimulationId
from gossipsim.common.spec.run_plan import DEFAULT_MAX_SHARDS
from gossipsim.common.spec.simulation_spec import simulation_id_for
from gossipsim.common.storage.local_store import LocalDirectoryStore
from gossipsim.runner.local_launcher import LocalProcessLauncher
from gossipsim.runner.service import RunnerService, RunnerSettings
from gossipsim.scheduler.service import SchedulerService, SchedulerSettings, SimulationState
from gossipsim.scheduler.spec_check import SpecCheckSettings

Progress = Callable[[int, int, int, float], None]  # runs done, total, rounds done, seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class EmbeddedOutcome:
    simulation_id: str
    rejection: SimulationRejected | None = None
    state: SimulationState | None = None
    location: str = ""


async def run_embedded(
    spec: Mapping[str, Any],
    *,
    out_dir: Path,
    graphs_dir: Path | None = None,
    base_dir: Path | None = None,
    runners: int = 1,
    progress: Progress | None = None,
    inputs: GraphInputs = LOCAL_INPUTS,
    limits: GraphLimits = DEFAULT_LIMITS,
    max_shards: int = DEFAULT_MAX_SHARDS,
) -> EmbeddedOutcome:
    """Submit one simulation to freshly wired services and wait until its results are stored.

    ``inputs``: any local graph file by default (the user's own machine); ``{object: graphs/…}``
    sources come from ``out_dir``, the store results go to."""
    topology = Topology(prefix="gossipsim")
    bus = InMemoryBus()
    await topology.declare(bus)
    store = LocalDirectoryStore(out_dir)
    scheduler = SchedulerService(
        bus=bus,
        topology=topology,
        base_dir=base_dir,
        inputs=inputs,
        graph_store=store,
        # the user's own machine: the spec check in a thread, off the loop, without a worker
        settings=SchedulerSettings(
            check=SpecCheckSettings(limits=limits, max_shards=max_shards, isolation="thread")
        ),
    )
    # no store for the scheduler here: the collector asks it what it accepted
    collector = CollectorService(bus=bus, topology=topology, store=store, plans=scheduler)
    async with LocalProcessLauncher() as launcher:
        runner_services = [
            RunnerService(
                bus=bus,
                topology=topology,
                launcher=launcher,
                settings=RunnerSettings(name=f"runner-{k}", max_shards=max_shards),
                limits=limits,
                inputs=inputs,
                graph_store=store,
            )
            for k in range(runners)
        ]
        await scheduler.start()
        await collector.start()
        for runner in runner_services:
            await runner.start()
        simulation_id = simulation_id_for(spec)
        submit = SimulationSubmit(
            spec=dict(spec),
            simulation_id=simulation_id,
            graphs_dir=str(graphs_dir) if graphs_dir else "",
        )
        dead_letters = _DeadLetteredSubmissions()
        await bus.consume(topology.dead_letters_queue, dead_letters.handle, prefetch=16)
        started = time.monotonic()
        try:
            await publish_message(bus, topology, submit)
            outcome = await _wait(scheduler, simulation_id, started, progress, dead_letters)
        except MessageError as error:  # refused before it was published: too large
            outcome = _rejected(simulation_id, str(error))
        finally:
            for runner in runner_services:
                await runner.close()
            await collector.close()
            await scheduler.close()
            await bus.close()
    return outcome


class _DeadLetteredSubmissions:
    """Submissions the scheduler dead-lettered (unreadable, or failing past the delivery
    limit): without this, waiting for their simulation would never end."""

    def __init__(self) -> None:
        self.reasons: dict[str, str] = {}

    async def handle(self, delivery: Delivery) -> None:
        envelope = delivery.envelope
        if envelope.routing_key == "simulation.submit":
            try:
                body = orjson.loads(envelope.body)
            except orjson.JSONDecodeError:
                body = None
            simulation_id = body.get("simulation_id") if isinstance(body, dict) else None
            if isinstance(simulation_id, str):
                self.reasons[simulation_id] = str(envelope.headers.get(REASON_HEADER, ""))
        await delivery.ack()


# The bus's and services' reasons, in the words of one process where no queue is to be seen:
# in embedded mode "dead-lettered" and "deliveries" name machinery the user never set up.
_PLAIN_WORDS = (
    (re.compile(r"^dead-lettered: "), ""),
    (re.compile(r"\bfailed on (\d+) deliveries"), r"failed \1 times"),
    (re.compile(r"\bgave up after (\d+) deliveries"), r"gave up after \1 attempts"),
    (re.compile(r"\bdelivery limit of (\d+) reached"), r"failed \1 times"),
)


def plain_reason(reason: str) -> str:
    """Why a run or the submission failed, without queue jargon (for ``gossipsim run``):
    ``dead-lettered: failed on 5 deliveries; last error: …`` -> ``failed 5 times; last error:
    …``. The deployment's records keep the original, where the dead-letter queue is real."""
    for pattern, words in _PLAIN_WORDS:
        reason = pattern.sub(words, reason)
    return reason


def _rejected(simulation_id: SimulationId, reason: str) -> EmbeddedOutcome:
    return EmbeddedOutcome(
        simulation_id=simulation_id,
        rejection=SimulationRejected(simulation_id=simulation_id, field="", reason=reason),
    )


async def _wait(
    scheduler: SchedulerService,
    simulation_id: SimulationId,
    started: float,
    progress: Progress | None,
    dead_letters: _DeadLetteredSubmissions,
) -> EmbeddedOutcome:
    """Until the simulation is rejected, its submission given up on (dead-lettered: the
    scheduler failed on it at every delivery), or its results are stored; progress every
    0.2 s."""
    while True:
        if simulation_id in scheduler.rejections:
            return EmbeddedOutcome(
                simulation_id=simulation_id, rejection=scheduler.rejections[simulation_id]
            )
        if simulation_id in dead_letters.reasons:
            reason = plain_reason(dead_letters.reasons[simulation_id]) or "no reason given"
            return _rejected(simulation_id, f"the scheduler could not take it: {reason}")
        state = scheduler.simulations.get(simulation_id)
        if state is not None:
            if progress is not None:
                elapsed = time.monotonic() - started
                progress(state.done_count, len(state.plans), state.rounds_done, elapsed)
            if state.finished.is_set():
                return EmbeddedOutcome(
                    simulation_id=simulation_id, state=state, location=state.results_location
                )
        await asyncio.sleep(0.2)
