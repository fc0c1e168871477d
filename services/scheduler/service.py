"""The scheduler: validates submitted simulations, publishes their runs, follows them to the end.

A submitted spec is parsed and expanded into runs with deterministic ids; an invalid one is
answered with simulation.rejected naming the field. A run that fails with a retryable error is
published again (attempt + 1) until ``max_attempts``; when every run has completed or finally
failed, simulation.completed goes out and the collector writes the tables. Events of attempts
that were superseded, and of simulations it does not know, are acknowledged and ignored.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from gossipsim.common.bus import Bus, Consumer, Delivery
from gossipsim.common.consuming import message_or_dead_letter
from gossipsim.common.errors import InvalidInput
from gossipsim.common.messages import (
    Message,
    ResultsStored,
    RunCompleted,
    RunFailed,
    RunStart,
    RunStarted,
    SimulationAccepted,
    SimulationCancel,
    SimulationCompleted,
    SimulationRejected,
    SimulationSubmit,
)
from gossipsim.common.publishing import publish_message
from gossipsim.common.spec import RunPlan, expand_runs, parse_spec, simulation_id_for
from gossipsim.common.topology import Topology

log = structlog.get_logger(__name__)


class RunStatus(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(slots=True)
class SimulationState:
    simulation_id: str
    plans: dict[str, RunPlan]
    status: dict[str, RunStatus] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    cancelled: bool = False
    completed: bool = False
    results_location: str = ""
    rounds_done: int = 0
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def done_count(self) -> int:
        return sum(s in (RunStatus.COMPLETED, RunStatus.FAILED) for s in self.status.values())

    def count(self, status: RunStatus) -> int:
        return sum(s is status for s in self.status.values())

    def count_failed(self) -> int:
        return self.count(RunStatus.FAILED)


class SchedulerService:
    def __init__(
        self,
        *,
        bus: Bus,
        topology: Topology,
        max_attempts: int = 3,
        base_dir: Path | None = None,
    ) -> None:
        self._bus = bus
        self._topology = topology
        self._max_attempts = max_attempts
        self._base_dir = base_dir
        self._consumer: Consumer | None = None
        self.simulations: dict[str, SimulationState] = {}
        self.rejections: dict[str, SimulationRejected] = {}

    async def start(self) -> None:
        self._consumer = await self._bus.consume(
            self._topology.scheduler_queue, self.handle, prefetch=16
        )

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.cancel()

    async def _publish(self, message: Message) -> None:
        await publish_message(self._bus, self._topology, message)

    async def handle(self, delivery: Delivery) -> None:
        message = await message_or_dead_letter(delivery)
        if message is None:
            return
        if isinstance(message, SimulationSubmit):
            await self._submit(message)
        elif isinstance(message, SimulationCancel):
            await self._cancel(message)
        elif isinstance(message, RunStarted):
            self._mark(message.simulation_id, message.run_id, message.attempt, RunStatus.RUNNING)
        elif isinstance(message, RunCompleted):
            state = self._current(message.simulation_id, message.run_id, message.attempt)
            if state is not None:
                state.status[message.run_id] = RunStatus.COMPLETED
                state.rounds_done += message.rounds
            await self._maybe_complete(message.simulation_id)
        elif isinstance(message, RunFailed):
            await self._failed(message)
        elif isinstance(message, ResultsStored):
            state = self.simulations.get(message.simulation_id)
            if state is not None:
                state.results_location = message.location
                state.finished.set()
        await delivery.ack()

    async def _submit(self, message: SimulationSubmit) -> None:
        simulation_id = message.simulation_id or simulation_id_for(message.spec)
        if simulation_id in self.simulations:
            log.info("duplicate submission ignored", simulation=simulation_id)
            return
        try:
            spec = parse_spec(
                message.spec,
                base_dir=self._base_dir,
                graphs_dir=Path(message.graphs_dir) if message.graphs_dir else None,
            )
            plans = expand_runs(spec, simulation_id)
        except InvalidInput as error:
            rejection = SimulationRejected(
                simulation_id=simulation_id, field=error.field or "", reason=str(error)
            )
            self.rejections[simulation_id] = rejection
            await self._publish(rejection)
            return
        state = SimulationState(simulation_id=simulation_id, plans={p.run_id: p for p in plans})
        self.simulations[simulation_id] = state
        await self._publish(
            SimulationAccepted(
                simulation_id=simulation_id,
                runs_total=len(plans),
                name=spec.name,
                spec=message.spec,
            )
        )
        for plan in plans:
            await self._start(state, plan, attempt=1)

    async def _start(self, state: SimulationState, plan: RunPlan, *, attempt: int) -> None:
        state.status[plan.run_id] = RunStatus.QUEUED
        state.attempts[plan.run_id] = attempt
        await self._publish(RunStart(attempt=attempt, **plan.message_fields()))

    def _current(self, simulation_id: str, run_id: str, attempt: int) -> SimulationState | None:
        """The simulation, if this event belongs to the run's current attempt."""
        state = self.simulations.get(simulation_id)
        if state is None or state.cancelled or run_id not in state.plans:
            return None
        if state.attempts.get(run_id) != attempt:
            return None
        if state.status.get(run_id) in (RunStatus.COMPLETED, RunStatus.FAILED):
            return None
        return state

    def _mark(self, simulation_id: str, run_id: str, attempt: int, status: RunStatus) -> None:
        state = self._current(simulation_id, run_id, attempt)
        if state is not None:
            state.status[run_id] = status

    async def _failed(self, message: RunFailed) -> None:
        state = self._current(message.simulation_id, message.run_id, message.attempt)
        if state is None:
            return
        if message.retryable and message.attempt < self._max_attempts:
            log.warning(
                "retrying run", run=message.run_id, attempt=message.attempt + 1, error=message.error
            )
            await self._start(state, state.plans[message.run_id], attempt=message.attempt + 1)
            return
        state.status[message.run_id] = RunStatus.FAILED
        state.errors[message.run_id] = message.error
        await self._maybe_complete(message.simulation_id)

    async def _maybe_complete(self, simulation_id: str) -> None:
        state = self.simulations.get(simulation_id)
        if state is None or state.completed or state.done_count < len(state.plans):
            return
        await self._complete(state)

    async def _complete(self, state: SimulationState) -> None:
        state.completed = True
        await self._publish(
            SimulationCompleted(
                simulation_id=state.simulation_id,
                runs_total=len(state.plans),
                succeeded=state.count(RunStatus.COMPLETED),
                failed=state.count(RunStatus.FAILED),
                cancelled=state.cancelled,
            )
        )

    async def _cancel(self, message: SimulationCancel) -> None:
        state = self.simulations.get(message.simulation_id)
        if state is None or state.completed:
            return
        state.cancelled = True
        await self._complete(state)
