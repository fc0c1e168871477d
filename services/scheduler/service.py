"""The scheduler: validates submitted simulations, publishes their runs, follows them to the end.

A submitted spec is parsed and expanded into runs with deterministic ids; an invalid one is
answered with simulation.rejected naming the field. A run that fails with a retryable error is
published again (attempt + 1) until ``max_attempts``; a run command that was dead-lettered
(impossible, or past the delivery limit) has failed for good. When every run has completed or
finally failed, simulation.completed goes out and the collector writes the tables. Events of
attempts that were superseded, and of simulations it does not know, are acked and ignored.

With a state store (distributed mode) every change is stored before its event is acked, and
a restarted scheduler resumes the unfinished simulations from their status documents
(state.py): commands are published before the state that records them is stored, so a crash
in between publishes a command twice at worst (the collector and this scheduler ignore the
second outcome), never zero times.

Long runs: a runner acks its command early and sends run.heartbeat; the scheduler holds a
lease per such run and starts it again (as a retryable failure) when heartbeats stop for
``lease_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from gossipsim.common.errors import InvalidInput
from gossipsim.common.messaging.bus import REASON_HEADER, Bus, Consumer, Delivery
from gossipsim.common.messaging.consuming import message_context, message_or_dead_letter
from gossipsim.common.messaging.messages import (
    Message,
    MessageError,
    ResultsStored,
    RunCompleted,
    RunFailed,
    RunHeartbeat,
    RunStart,
    RunStarted,
    SimulationAccepted,
    SimulationCancel,
    SimulationCompleted,
    SimulationRejected,
    SimulationSubmit,
    decode,
)
from gossipsim.common.messaging.publishing import publish_message
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.runtime.variables import LEASE_TIMEOUT_SECONDS, MAX_ATTEMPTS
from gossipsim.common.spec.ids import RunId
from gossipsim.common.spec.simulation_spec import (
    RunPlan,
    expand_runs,
    parse_spec,
    simulation_id_for,
)
from gossipsim.common.storage.store import ObjectStore
from gossipsim.scheduler.state import TERMINAL, RunStatus, SimulationState, now_iso
from gossipsim.scheduler.state_store import StateStore

__all__ = ["RunStatus", "SchedulerService", "SchedulerSettings", "SimulationState"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulerSettings:
    max_attempts: int = MAX_ATTEMPTS  # the defaults are a deployment's (runtime/variables.py)
    prefetch: int = 64  # events in hand at once: one state write covers many (group commit)
    lease_timeout: float = LEASE_TIMEOUT_SECONDS  # without heartbeat: the run starts again
    drain: float = 10.0  # seconds for in-flight events on shutdown


class SchedulerService:
    def __init__(
        self,
        *,
        bus: Bus,
        topology: Topology,
        settings: SchedulerSettings = SchedulerSettings(),
        store: ObjectStore | None = None,
        base_dir: Path | None = None,
    ) -> None:
        self._bus = bus
        self._topology = topology
        self._settings = settings
        self._states = StateStore(store) if store is not None else None
        self._base_dir = base_dir
        self._consumer: Consumer | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self.simulations: dict[str, SimulationState] = {}
        self.rejections: dict[str, SimulationRejected] = {}

    async def start(self) -> None:
        await self._resume()
        self._consumer = await self._bus.consume(
            self._topology.scheduler_queue, self.handle, prefetch=self._settings.prefetch
        )
        self._watchdog = asyncio.create_task(self._watch_leases())

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        if self._consumer is not None:
            await self._consumer.cancel(drain=self._settings.drain)

    async def _publish(self, message: Message) -> None:
        await publish_message(self._bus, self._topology, message)

    async def _save(self, state: SimulationState | None) -> None:
        if state is not None and self._states is not None:
            await self._states.save(state)

    # -- events ------------------------------------------------------------------------------

    async def handle(self, delivery: Delivery) -> None:
        if REASON_HEADER in delivery.envelope.headers:
            await self._dead_lettered_run(delivery)
            return
        message = await message_or_dead_letter(delivery)
        if message is None:
            return
        with message_context(message):
            await self._handle_event(message)
        await delivery.ack()

    async def _handle_event(self, message: Message) -> None:
        if isinstance(message, SimulationSubmit):
            await self._submit(message)
        elif isinstance(message, SimulationCancel):
            await self._cancel(message)
        elif isinstance(message, RunStarted):
            state = self._current(message.simulation_id, message.run_id, message.attempt)
            if state is not None:
                state.status[message.run_id] = RunStatus.RUNNING  # not worth a write alone
        elif isinstance(message, RunHeartbeat):
            await self._heartbeat(message)
        elif isinstance(message, RunCompleted):
            await self._run_completed(message)
        elif isinstance(message, RunFailed):
            await self._run_failed(
                message.simulation_id,
                message.run_id,
                message.attempt,
                message.error,
                retryable=message.retryable,
            )
        elif isinstance(message, ResultsStored):
            await self._results_stored(message)

    async def _dead_lettered_run(self, delivery: Delivery) -> None:
        """A run.start the broker or a runner gave up on: that run has failed for good.

        run.failed is published on the run's behalf, so the collector records the failure
        and this scheduler handles it like any other (and ignores it if the run is done)."""
        reason = str(delivery.envelope.headers[REASON_HEADER])
        try:
            command = decode(delivery.envelope.body)
        except MessageError:
            command = None  # garbage sent as run.start: nothing to fail
        if isinstance(command, RunStart) and command.simulation_id in self.simulations:
            log.warning(
                "run dead-lettered",
                simulation_id=command.simulation_id,
                run_id=command.run_id,
                reason=reason,
            )
            await self._publish(
                RunFailed(
                    simulation_id=command.simulation_id,
                    run_id=command.run_id,
                    attempt=command.attempt,
                    error=f"dead-lettered: {reason}",
                    retryable=False,
                    plan=command.plan,
                )
            )
        await delivery.ack()  # never dead-letter a dead letter again

    async def _submit(self, message: SimulationSubmit) -> None:
        simulation_id = message.simulation_id or simulation_id_for(message.spec)
        if simulation_id in self.simulations or (
            self._states is not None and await self._states.known(simulation_id)
        ):
            state = self.simulations.get(simulation_id)
            if state is not None and not state.published:
                # redelivered after publishing its runs failed half-way: finish publishing
                await self._publish_pending(state)
            else:
                log.info("duplicate submission ignored", simulation_id=simulation_id)
                await self._save(state)
            return
        try:
            name, plans = self._expand(message.spec, message.graphs_dir)
        except InvalidInput as error:
            rejection = SimulationRejected(
                simulation_id=simulation_id, field=error.field or "", reason=str(error)
            )
            self.rejections[simulation_id] = rejection
            if self._states is not None:
                await self._states.save_rejection(simulation_id, rejection.field, rejection.reason)
            await self._publish(rejection)
            return
        state = SimulationState(
            simulation_id=simulation_id,
            plans=plans,
            name=name,
            spec=message.spec,
            graphs_dir=message.graphs_dir,
        )
        for run_id in plans:
            state.status[run_id] = RunStatus.QUEUED
            state.attempts[run_id] = 1
        self.simulations[simulation_id] = state
        if self._states is not None:
            await self._states.mark_active(simulation_id)
        await self._publish(
            SimulationAccepted(
                simulation_id=simulation_id,
                runs_total=len(plans),
                name=name,
                spec=message.spec,
            )
        )
        await self._publish_pending(state)

    def _expand(self, spec: dict[str, Any], graphs_dir: str) -> tuple[str, dict[RunId, RunPlan]]:
        """The spec's name and its runs by id (the one place plans are built: expand_runs)."""
        parsed = parse_spec(
            spec,
            base_dir=self._base_dir,
            graphs_dir=Path(graphs_dir) if graphs_dir else None,
        )
        return parsed.name, expand_runs(parsed)

    async def _publish_pending(self, state: SimulationState) -> None:
        """Publish run.start for every run that has no outcome yet, then record that."""
        for run_id, plan in state.plans.items():
            if state.status[run_id] not in TERMINAL:
                await self._start(state, run_id, plan, attempt=state.attempts[run_id])
        state.published = True
        await self._save(state)
        if not state.completed and state.done_count == len(state.plans):
            await self._complete(state)

    async def _start(
        self, state: SimulationState, run_id: RunId, plan: RunPlan, *, attempt: int
    ) -> None:
        state.status[run_id] = RunStatus.QUEUED
        state.attempts[run_id] = attempt
        state.leases.pop(run_id, None)
        await self._publish(
            RunStart(simulation_id=state.simulation_id, run_id=run_id, attempt=attempt, plan=plan)
        )

    def _current(self, simulation_id: str, run_id: str, attempt: int) -> SimulationState | None:
        """The simulation, if this event belongs to the run's current attempt."""
        state = self.simulations.get(simulation_id)
        if state is None or state.completed or run_id not in state.plans:
            return None
        if state.attempts.get(run_id) != attempt or state.status.get(run_id) in TERMINAL:
            return None
        return state

    async def _heartbeat(self, message: RunHeartbeat) -> None:
        state = self._current(message.simulation_id, message.run_id, message.attempt)
        if state is None:
            return
        first = message.run_id not in state.leases
        state.leases[message.run_id] = time.monotonic()
        state.status[message.run_id] = RunStatus.RUNNING
        if first:  # the lease must survive a scheduler restart
            await self._save(state)

    async def _run_completed(self, message: RunCompleted) -> None:
        state = self._current(message.simulation_id, message.run_id, message.attempt)
        if state is not None:
            state.status[message.run_id] = RunStatus.COMPLETED
            state.leases.pop(message.run_id, None)
            state.rounds_done += message.rounds
            await self._maybe_complete(state)
        await self._save(self.simulations.get(message.simulation_id))

    async def _run_failed(
        self, simulation_id: str, run_id: RunId, attempt: int, error: str, *, retryable: bool
    ) -> None:
        state = self._current(simulation_id, run_id, attempt)
        if state is not None:
            if retryable and attempt < self._settings.max_attempts:
                log.warning(
                    "retrying run",
                    simulation_id=simulation_id,
                    run_id=run_id,
                    attempt=attempt + 1,
                    error=error,
                )
                await self._start(state, run_id, state.plans[run_id], attempt=attempt + 1)
            else:
                state.status[run_id] = RunStatus.FAILED
                state.errors[run_id] = error
                state.leases.pop(run_id, None)
                await self._maybe_complete(state)
        await self._save(self.simulations.get(simulation_id))

    async def _results_stored(self, message: ResultsStored) -> None:
        state = self.simulations.get(message.simulation_id)
        if state is None:
            return
        state.results_location = message.location
        await self._save(state)
        if self._states is not None:
            await self._states.mark_finished(state.simulation_id)
        state.finished.set()

    async def _maybe_complete(self, state: SimulationState) -> None:
        if not state.completed and state.done_count == len(state.plans):
            await self._complete(state)

    async def _complete(self, state: SimulationState) -> None:
        state.completed = True
        state.finished_at = now_iso()
        state.leases.clear()
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
        log.info("simulation cancelled", reason=message.reason)
        state.cancelled = True
        await self._complete(state)
        await self._save(state)

    # -- leases and restarts -------------------------------------------------------------

    async def _watch_leases(self) -> None:
        """Restart leased runs whose runner stopped sending heartbeats."""
        timeout = self._settings.lease_timeout
        while True:
            await asyncio.sleep(max(timeout / 4, 0.05))
            try:
                await self._expire_leases(timeout)
            except Exception:  # e.g. the broker away too long: try again next round
                log.exception("could not restart runs whose lease expired")

    async def _expire_leases(self, timeout: float) -> None:
        now = time.monotonic()
        for state in list(self.simulations.values()):
            expired = [r for r, seen in state.leases.items() if now - seen > timeout]
            for run_id in expired:
                await self._run_failed(
                    state.simulation_id,
                    run_id,
                    state.attempts[run_id],
                    f"runner lost: no heartbeat for {timeout:.0f} s",
                    retryable=True,
                )

    async def _resume(self) -> None:
        """Rebuild unfinished simulations from their status documents (after a restart)."""
        if self._states is None:
            return
        for document in await self._states.load_active():
            simulation_id = str(document["simulation_id"])
            try:
                _, plans = self._expand(document["spec"], str(document.get("graphs_dir", "")))
                state = SimulationState.from_document(document, plans, lease_start=time.monotonic())
            except InvalidInput as error:
                log.error("cannot resume simulation", simulation_id=simulation_id, error=str(error))
                continue
            self.simulations[simulation_id] = state
            log.info(
                "simulation resumed",
                simulation_id=simulation_id,
                done=state.done_count,
                total=len(state.plans),
            )
            if not state.published:
                await self._publish_pending(state)  # the crash came while publishing
            elif state.completed and not state.results_location:
                await self._complete(state)  # the crash came before results were stored
            else:
                await self._maybe_complete(state)
