"""The scheduler: validates submitted simulations, publishes their runs, follows them to the end.

A submitted spec is parsed and expanded into runs with deterministic ids; an invalid one is
answered with simulation.rejected naming the field. A run that fails with a retryable error is
published again (attempt + 1) until ``max_attempts``; a run command that was dead-lettered
(impossible, or past the delivery limit) has failed for good. When every run has completed or
finally failed, simulation.completed goes out and the collector writes the tables. Events of
attempts that were superseded are acked and ignored; so are events of simulations it does not
know and of runs not in the plan, with a warning (they are forged or misrouted), and a
results.stored for a simulation that is not completed or whose manifest is not stored.

Submitting is idempotent: the same spec and graphs directory under an id in use is a
redelivery and changes nothing; another spec under it gets simulation.rejected ("id in use",
field ``simulation_id``) and the accepted simulation is left as it is.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import structlog

from gossipsim.common.contracts import results_layout
from gossipsim.common.contracts.status_document import AcceptedPlan, spec_digest
from gossipsim.common.errors import InvalidInput
from gossipsim.common.graphs.inputs import SERVICE_INPUTS, GraphInputs
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
from gossipsim.common.spec.ids import RunId, SimulationId
from gossipsim.common.spec.simulation_spec import (
    RunPlan,
    simulation_id_for,
)
from gossipsim.common.storage.graph_objects import fetched_graph_inputs
from gossipsim.common.storage.store import ObjectNotFound, ObjectStore
from gossipsim.scheduler.spec_check import CheckedSpec, SpecChecker, SpecCheckSettings
from gossipsim.scheduler.state import TERMINAL, RunStatus, SimulationState
from gossipsim.scheduler.state_store import StateStore

__all__ = ["RunStatus", "SchedulerService", "SchedulerSettings", "SimulationState"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulerSettings:
    max_attempts: int = MAX_ATTEMPTS  # the defaults are a deployment's (runtime/variables.py)
    prefetch: int = 64  # events in hand at once: one state write covers many (group commit)
    lease_timeout: float = LEASE_TIMEOUT_SECONDS  # without heartbeat: the run starts again
    drain: float = 10.0  # seconds for in-flight events on shutdown
    check: SpecCheckSettings = field(default_factory=SpecCheckSettings)  # limits, budgets


class SchedulerService:
    def __init__(
        self,
        *,
        bus: Bus,
        topology: Topology,
        settings: SchedulerSettings = SchedulerSettings(),
        store: ObjectStore | None = None,
        base_dir: Path | None = None,
        inputs: GraphInputs = SERVICE_INPUTS,
        graph_store: ObjectStore | None = None,
    ) -> None:
        """``inputs``: which local graph files specs may name (none, unless the deployment
        sets roots; embedded mode passes any); ``graph_store``: where ``{object: graphs/…}``
        sources are fetched from (default: ``store``)."""
        self._bus = bus
        self._topology = topology
        self._settings = settings
        self._store = store
        self._states = StateStore(store) if store is not None else None
        self._base_dir = base_dir
        self._inputs = inputs
        self._graph_store = graph_store if graph_store is not None else store
        self._checker = SpecChecker(settings.check)  # off the event loop, within budgets
        self._checking: dict[str, asyncio.Event] = {}  # submissions in hand (being checked)
        self._consumer: Consumer | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self.simulations: dict[str, SimulationState] = {}
        self.rejections: dict[str, SimulationRejected] = {}

    async def start(self) -> None:
        await self._checker.start()
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
        await self._checker.close()

    async def _publish(self, message: Message) -> None:
        await publish_message(self._bus, self._topology, message)

    # -- what the collector may trust (embedded mode: it asks this scheduler directly) -------

    async def accepted_plan(self, simulation_id: str) -> AcceptedPlan | None:
        """The plan of a simulation this scheduler accepted; None for any other."""
        state = self.simulations.get(simulation_id)
        return state.accepted_plan() if state is not None else None

    async def phase_of(self, simulation_id: str) -> str | None:
        """The phase of an accepted simulation (running, completed, cancelled)."""
        state = self.simulations.get(simulation_id)
        return state.phase if state is not None else None

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
                state.mark_running(message.run_id)  # not worth a write alone
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
        if isinstance(command, RunStart) and self._planned(command.simulation_id, command.run_id):
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
        if simulation_id in self._checking:  # a copy is being handled: answer this one after
            await self._after_check(simulation_id)
            await self._submit(message)
            return
        self._checking[simulation_id] = checked = asyncio.Event()  # no await since the test
        try:
            await self._submit_once(message, simulation_id)
        finally:
            del self._checking[simulation_id]
            checked.set()

    async def _submit_once(self, message: SimulationSubmit, simulation_id: SimulationId) -> None:
        """A submission no other copy of which is being handled: answered as a duplicate, an
        id in use, or checked and then accepted or rejected."""
        digest = spec_digest(message.spec, message.graphs_dir)
        accepted = await self._accepted_digest(simulation_id)
        if accepted is not None:
            state = self.simulations.get(simulation_id)
            if accepted != digest:
                await self._refuse_id_in_use(simulation_id)
            elif state is not None and not state.published:
                # redelivered after accepting or publishing failed half-way: finish that
                await self._announce(state)
            else:
                log.info("duplicate submission ignored", simulation_id=simulation_id)
                await self._save(state)
            return
        await self._check_and_accept(message, simulation_id, digest)

    async def _after_check(self, simulation_id: str) -> None:
        """Wait while a submission of this id is checked (off the event loop, for seconds):
        a cancel or a second copy that arrives meanwhile is answered once it is accepted."""
        pending = self._checking.get(simulation_id)
        if pending is not None:
            await pending.wait()

    async def _check_and_accept(
        self, message: SimulationSubmit, simulation_id: SimulationId, digest: str
    ) -> None:
        """Check the spec; reject it naming the field, or accept and announce it."""
        try:
            async with fetched_graph_inputs(
                message.spec, self._inputs, self._graph_store
            ) as inputs:
                checked = await self._expand(message.spec, message.graphs_dir, inputs)
        except InvalidInput as error:
            rejection = SimulationRejected(
                simulation_id=simulation_id, field=error.field or "", reason=str(error)
            )
            self.rejections[simulation_id] = rejection
            if self._states is not None:
                await self._states.save_rejection(simulation_id, rejection.field, rejection.reason)
            await self._publish(rejection)
            return
        for warning in checked.warnings:
            log.info("spec accepted with a warning", warning=warning)
        state = SimulationState(
            simulation_id=simulation_id,
            plans=checked.plans,
            name=checked.name,
            spec=message.spec,
            graphs_dir=message.graphs_dir,
            spec_digest=digest,
            warnings=checked.warnings,
        )
        self.simulations[simulation_id] = state
        await self._announce(state)

    async def _accepted_digest(self, simulation_id: str) -> str | None:
        """The spec digest of the accepted simulation of this id, if there is one."""
        state = self.simulations.get(simulation_id)
        if state is not None:
            return state.spec_digest
        if self._states is not None:
            return await self._states.accepted_digest(simulation_id)
        return None

    async def _refuse_id_in_use(self, simulation_id: SimulationId) -> None:
        """Another spec under the id of an accepted simulation: refused, and the accepted one
        is left as it is (nothing stored; the rejection is only an answer to the submitter)."""
        log.warning("submission refused: id in use by another spec", simulation_id=simulation_id)
        await self._publish(
            SimulationRejected(
                simulation_id=simulation_id,
                field="simulation_id",
                reason=(
                    f"id in use: simulation {simulation_id} was accepted with a different spec"
                    " (or graphs directory); submit this one under another id, or without one"
                    " to have an id derived from the spec"
                ),
            )
        )

    async def _announce(self, state: SimulationState) -> None:
        """Store the accepted simulation (its plan first: the collector checks events
        against it), announce it and publish its runs. Safe to repeat."""
        if self._states is not None:
            await self._states.accept(state)
        await self._publish(
            SimulationAccepted(
                simulation_id=state.simulation_id,
                runs_total=len(state.plans),
                name=state.name,
                spec=state.spec,
                warnings=list(state.warnings),
            )
        )
        await self._publish_pending(state)

    async def _expand(
        self, spec: dict[str, Any], graphs_dir: str, inputs: GraphInputs
    ) -> CheckedSpec:
        """The spec's name, its runs by id (the one place plans are built: expand_runs) and
        its warnings,
        checked off the event loop within the check's budgets (spec_check.py).
        ``inputs``: this scheduler's, with the spec's graph objects fetched."""
        request = self._checker.request(
            spec, graphs_dir=graphs_dir, base_dir=self._base_dir, inputs=inputs
        )
        return await self._checker.check(request)

    async def _publish_pending(self, state: SimulationState) -> None:
        """Publish run.start for every run that has no outcome yet, then record that."""
        for run_id, plan in state.plans.items():
            if state.status[run_id] not in TERMINAL:
                await self._start(state, run_id, plan, attempt=state.attempts[run_id])
        state.published = True
        await self._save(state)
        await self._maybe_complete(state)

    async def _start(
        self, state: SimulationState, run_id: RunId, plan: RunPlan, *, attempt: int
    ) -> None:
        state.queue(run_id, attempt)
        await self._publish(
            RunStart(simulation_id=state.simulation_id, run_id=run_id, attempt=attempt, plan=plan)
        )

    def _planned(self, simulation_id: str, run_id: str) -> bool:
        """Whether the run is one this scheduler planned; logged if not (never the payload)."""
        state = self.simulations.get(simulation_id)
        if state is None:
            log.warning("event of an unknown simulation ignored", run_id=run_id)
            return False
        if run_id not in state.plans:
            log.warning("event of a run not in the plan ignored", run_id=run_id)
            return False
        return True

    def _current(self, simulation_id: str, run_id: str, attempt: int) -> SimulationState | None:
        """The simulation, if this event belongs to the run's current attempt. Events of
        simulations or runs the scheduler never planned are logged: they are forged or
        misrouted (those of superseded attempts and finished simulations are normal)."""
        if not self._planned(simulation_id, run_id):
            return None
        state = self.simulations[simulation_id]
        if state.completed:
            return None
        if state.attempts.get(run_id) != attempt or state.status.get(run_id) in TERMINAL:
            return None
        return state

    async def _heartbeat(self, message: RunHeartbeat) -> None:
        state = self._current(message.simulation_id, message.run_id, message.attempt)
        if state is None:
            return
        first = state.lease(message.run_id, time.monotonic())
        if first:  # the lease must survive a scheduler restart
            await self._save(state)

    async def _run_completed(self, message: RunCompleted) -> None:
        state = self._current(message.simulation_id, message.run_id, message.attempt)
        if state is not None:
            state.complete(message.run_id, message.rounds)
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
                state.fail(run_id, error)
                await self._maybe_complete(state)
        await self._save(self.simulations.get(simulation_id))

    async def _results_stored(self, message: ResultsStored) -> None:
        """Believed only for a completed simulation whose results are not recorded yet and,
        with a store, whose manifest is there: the location is then the scheduler's own."""
        state = self.simulations.get(message.simulation_id)
        if state is None or not state.completed or state.results_location:
            if state is None or not state.completed:
                log.warning("results.stored for no completed simulation ignored")
            return
        location = await self._results_location(state.simulation_id, message.location)
        if location is None:
            log.warning("results.stored without a stored manifest ignored")
            return
        state.results_location = location
        state.results_lost = await self._results_lost(state)
        await self._save(state)
        if self._states is not None:
            await self._states.mark_finished(state.simulation_id)
        state.finished.set()

    async def _results_lost(self, state: SimulationState) -> int:
        """Runs this scheduler saw complete that the manifest counts failed: their telemetry or
        completion never reached the collector (dead-lettered). The status must not call them
        successes. Without a store (embedded mode) the command line reads the manifest itself."""
        if self._store is None:
            return 0
        key = results_layout.simulation_key(state.simulation_id, results_layout.MANIFEST)
        try:
            manifest = orjson.loads(await self._store.get(key))
            counted = int(manifest["runs_failed"])
        except (ObjectNotFound, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return 0
        lost = counted - state.count_failed()
        if lost > 0:
            log.warning("runs completed but their results were lost", runs_lost=lost)
        return max(lost, 0)

    async def _results_location(self, simulation_id: str, reported: str) -> str | None:
        """Where the results are: in embedded mode (no store; the bus is in the process) as
        reported, else in this scheduler's store, once their manifest is there."""
        if self._store is None:
            return reported
        manifest = results_layout.simulation_key(simulation_id, results_layout.MANIFEST)
        if not await self._store.exists(manifest):
            return None
        return self._store.location(results_layout.simulation_prefix(simulation_id).rstrip("/"))

    async def _maybe_complete(self, state: SimulationState) -> None:
        if not state.completed and state.all_done:
            await self._complete(state)

    async def _complete(self, state: SimulationState, *, cancelled: bool = False) -> None:
        """The finished phase is stored before simulation.completed goes out, so the collector
        can check a completion against the stored phase; a crash in between is resumed as a
        completed simulation without results, which publishes this again."""
        state.finish(cancelled=cancelled)
        await self._save(state)
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
        await self._after_check(message.simulation_id)
        state = self.simulations.get(message.simulation_id)
        if state is None or state.completed:
            return
        log.info("simulation cancelled", reason=message.reason)
        await self._complete(state, cancelled=True)

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
        for stored in await self._states.load_active():
            document, spec = stored.document, stored.spec
            simulation_id = str(document["simulation_id"])
            try:
                async with fetched_graph_inputs(spec, self._inputs, self._graph_store) as inputs:
                    checked = await self._expand(spec, str(document.get("graphs_dir", "")), inputs)
                state = SimulationState.from_document(
                    document,
                    checked.plans,
                    spec=spec,
                    runs=stored.runs,
                    lease_start=time.monotonic(),
                )
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
                await self._announce(state)  # the crash came while accepting or publishing
            elif state.completed and not state.results_location:
                await self._complete(state)  # the crash came before results were stored
            else:
                await self._maybe_complete(state)
