"""The runner service: takes run.start commands off the runs queue and runs them on node shards.

Node shards are configured once per (graph, algorithm, shards) and reused for every run that
shares them — pooled, not started per run — so a sweep of thousands of small runs costs a
Reset and a RunRounds call each. Round telemetry goes out in batches (one run.round message per
``telemetry_batch`` rounds), then run.completed; the command is acked only after those events
are published (confirmed), so a runner that dies mid-run leaves the command to be redelivered.

What happens to a command that does not complete, by the error tree of
:mod:`gossipsim.common.errors`:

* impossible (:class:`InvalidInput`: invalid graph, algorithm or settings, the same on every
  try) — dead-lettered at once with the reason; the scheduler sees the dead letter and fails
  the run;
* its node services failed (:class:`RunAborted`) — run.failed (retryable): the scheduler starts
  it again, and this runner discards those nodes, so the next attempt gets fresh ones;
* any other exception (``ValueError``, ``KeyError`` …: a bug, never taken for bad input) —
  logged with its traceback and requeued for another delivery, and dead-lettered with the last
  error once the queue's delivery limit is reached, so a poison command cannot loop forever;
* its simulation finished (cancelled) — skipped, or stopped mid-run: each runner follows
  simulation.completed on a private feed queue.

Every log line written while a command is handled carries its ``simulation_id`` and ``run_id``
(bound once in :meth:`RunnerService.handle`; the run task inherits them).

A run still going after ``ack_after`` seconds has its command acked early, so RabbitMQ's
consumer timeout (30 minutes by default) cannot cut it off, and from then on it is covered by
run.heartbeat messages: the scheduler restarts it if they stop (see the scheduler's lease).
On SIGTERM the runner stops taking commands and finishes its run (up to ``drain`` seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import structlog

from gossipsim.common.errors import InvalidInput, RunAborted
from gossipsim.common.graphs.graph import Graph
from gossipsim.common.graphs.limits import DEFAULT_LIMITS, GraphLimits
from gossipsim.common.graphs.metrics import compute_metrics
from gossipsim.common.graphs.sources import load_graph
from gossipsim.common.messaging.bus import Bus, Consumer, Delivery, QueueSpec
from gossipsim.common.messaging.consuming import message_context, message_or_dead_letter
from gossipsim.common.messaging.messages import (
    Message,
    RunCompleted,
    RunFailed,
    RunHeartbeat,
    RunRound,
    RunStart,
    RunStarted,
    SimulationCompleted,
)
from gossipsim.common.messaging.publishing import publish_message
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.model.algorithms import Algorithm
from gossipsim.common.runtime.variables import (
    CALL_TIMEOUT_SECONDS,
    DRAIN_SECONDS,
    HEARTBEAT_SECONDS,
    RUN_ACK_AFTER_SECONDS,
)
from gossipsim.common.spec.run_plan import ExecutionSettings
from gossipsim.runner.driver import RunResult, RunSettings, ShardSession
from gossipsim.runner.launcher import NodeLauncher
from gossipsim.runner.simulate import selection_weights

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunnerSettings:
    name: str = "runner"
    prefetch: int = 1
    telemetry_batch: int = 100  # rounds per run.round message
    sessions_kept: int = 4  # configured shard sets kept warm
    # The defaults are a deployment's (common/runtime/variables.py), so both modes behave alike.
    call_timeout: float = CALL_TIMEOUT_SECONDS  # seconds one node call may take
    ack_after: float = RUN_ACK_AFTER_SECONDS  # before a long run's command is acked (heartbeats)
    heartbeat: float = HEARTBEAT_SECONDS  # seconds between run.heartbeat messages of such a run
    drain: float = DRAIN_SECONDS  # seconds the run in progress may take to finish on shutdown
    finished_kept: int = 10_000  # finished simulations remembered, to skip their runs


class Outcome(enum.Enum):
    COMPLETED = "completed"  # results published
    IMPOSSIBLE = "impossible"  # InvalidInput: the same on every try
    NODES_FAILED = "nodes failed"  # RunAborted: retry on fresh nodes
    BUG = "bug"  # any other exception: requeue, dead-letter at the delivery limit
    SIMULATION_FINISHED = "simulation finished"  # cancelled while it ran


@dataclass(frozen=True, slots=True)
class RunOutcome:
    outcome: Outcome
    error: str = ""


class _SessionPool:
    """Configured ShardSessions by (graph, algorithm, shards), least recently used out first."""

    def __init__(self, launcher: NodeLauncher, size: int, call_timeout: float) -> None:
        self._launcher = launcher
        self._size = size
        self._call_timeout = call_timeout
        self._sessions: OrderedDict[str, ShardSession] = OrderedDict()

    async def get(
        self, key: str, graph: Graph, algorithm: Algorithm, shards: int, seed: int
    ) -> ShardSession:
        session = self._sessions.pop(key, None)
        if session is None:
            while len(self._sessions) >= self._size:
                _, oldest = self._sessions.popitem(last=False)
                await oldest.__aexit__(None, None, None)
            session = ShardSession(
                graph=graph,
                algorithm=algorithm,
                launcher=self._launcher,
                shards=shards,
                edge_weights=selection_weights(graph, algorithm, seed=seed),
                call_timeout=self._call_timeout,
            )
            await session.__aenter__()
        self._sessions[key] = session
        return session

    async def discard(self, key: str) -> None:
        session = self._sessions.pop(key, None)
        if session is not None:
            await session.__aexit__(None, None, None)

    async def close(self) -> None:
        while self._sessions:
            _, session = self._sessions.popitem()
            await session.__aexit__(None, None, None)


def _run_settings(settings: ExecutionSettings, call_timeout: float) -> RunSettings:
    """The driver's settings for a run: the plan's, as they are (decoding checked them; the
    defaults are the spec's alone), and this runner's call timeout."""
    vertices = settings.history_vertices
    return RunSettings(
        max_rounds=settings.max_rounds,
        until_converged=settings.until_converged,
        epsilon=settings.epsilon,
        initialization=settings.initialization,
        history_every=settings.history_every,
        history_vertices=None if vertices is None else np.asarray(vertices, dtype=np.int64),
        call_timeout=call_timeout,
    )


class RunnerService:
    def __init__(
        self,
        *,
        bus: Bus,
        topology: Topology,
        launcher: NodeLauncher,
        settings: RunnerSettings = RunnerSettings(),
        limits: GraphLimits = DEFAULT_LIMITS,
    ) -> None:
        self._bus = bus
        self._topology = topology
        self._settings = settings
        self._limits = limits
        self._pool = _SessionPool(launcher, settings.sessions_kept, settings.call_timeout)
        self._graphs: dict[str, tuple[Graph, dict[str, Any]]] = {}
        self._consumer: Consumer | None = None
        self._feed: Consumer | None = None
        self._lock = asyncio.Lock()
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._in_flight: tuple[str, asyncio.Task[RunOutcome]] | None = None

    async def start(self) -> None:
        feed = QueueSpec(
            name=self._topology.runner_feed(f"{self._settings.name}-{uuid.uuid4().hex[:6]}"),
            transient=True,
        )
        await self._bus.declare_queue(feed)
        await self._bus.bind(feed.name, self._topology.events, "simulation.completed")
        self._feed = await self._bus.consume(feed.name, self._simulation_finished, prefetch=16)
        self._consumer = await self._bus.consume(
            self._topology.runs_queue, self.handle, prefetch=self._settings.prefetch
        )

    async def close(self) -> None:
        """Stop taking commands, let the run in progress finish (``drain``), then stop."""
        if self._consumer is not None:
            await self._consumer.cancel(drain=self._settings.drain)
        if self._feed is not None:
            await self._feed.cancel()
        await self._pool.close()

    async def _publish(self, message: Message) -> None:
        await publish_message(self._bus, self._topology, message)

    def _graph(self, source: dict[str, Any]) -> tuple[str, Graph, dict[str, Any]]:
        """Load (once) a graph and its metrics; the source's canonical JSON is the cache key."""
        key = orjson.dumps(source, option=orjson.OPT_SORT_KEYS).decode()
        if key not in self._graphs:
            graph = load_graph(source, limits=self._limits)
            self._graphs[key] = (graph, compute_metrics(graph).to_dict())
        graph, metrics = self._graphs[key]
        return key, graph, metrics

    async def _simulation_finished(self, delivery: Delivery) -> None:
        """simulation.completed: skip that simulation's queued runs, stop its running one."""
        message = await message_or_dead_letter(delivery, (SimulationCompleted,))
        if not isinstance(message, SimulationCompleted):
            return
        with message_context(message):
            self._finished[message.simulation_id] = None
            while len(self._finished) > self._settings.finished_kept:
                self._finished.popitem(last=False)
            running = self._running_run_of(message.simulation_id)
            if running is not None:
                log.info("stopping a run: simulation finished")
                running.cancel()
            await delivery.ack()

    def _running_run_of(self, simulation_id: str) -> asyncio.Task[RunOutcome] | None:
        """The run task in progress, if it belongs to ``simulation_id`` and is not done."""
        if self._in_flight is None or self._in_flight[0] != simulation_id:
            return None
        task = self._in_flight[1]
        return None if task.done() else task

    async def handle(self, delivery: Delivery) -> None:
        command = await message_or_dead_letter(delivery, (RunStart,))
        if not isinstance(command, RunStart):
            return
        with message_context(command):
            await self._handle_command(command, delivery)

    async def _handle_command(self, command: RunStart, delivery: Delivery) -> None:
        if command.simulation_id in self._finished:
            log.info("skipping a run of a finished simulation")
            await delivery.ack()
            return
        async with self._lock:  # one run at a time per runner: node shards are not shared
            task = asyncio.create_task(self._run(command))
            self._in_flight = (command.simulation_id, task)
            try:
                acked = await self._await_run(command, delivery, task)
            finally:
                self._in_flight = None
        result = RunOutcome(Outcome.SIMULATION_FINISHED) if task.cancelled() else task.result()
        await self._settle(command, delivery, result, acked=acked)

    async def _await_run(
        self, command: RunStart, delivery: Delivery, task: asyncio.Task[RunOutcome]
    ) -> bool:
        """Wait for the run; past ``ack_after`` ack the command and send heartbeats instead.
        Returns whether the command was acked. A shutdown that cancels this handler stops the
        run; a run acked early is then reported failed (retryable) so it restarts promptly."""
        acked = False
        heartbeats: asyncio.Task[None] | None = None
        try:
            await asyncio.wait({task}, timeout=self._settings.ack_after)
            if not task.done():
                await delivery.ack()
                acked = True
                heartbeats = asyncio.create_task(self._heartbeats(command))
                await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if acked:
                await asyncio.shield(
                    self._publish(
                        self._failed(command, "the runner stopped mid-run", retryable=True)
                    )
                )
            raise
        finally:
            if heartbeats is not None:
                heartbeats.cancel()
        return acked

    async def _heartbeats(self, command: RunStart) -> None:
        while True:
            await self._publish(
                RunHeartbeat(
                    simulation_id=command.simulation_id,
                    run_id=command.run_id,
                    attempt=command.attempt,
                    runner=self._settings.name,
                )
            )
            await asyncio.sleep(self._settings.heartbeat)

    async def _settle(
        self, command: RunStart, delivery: Delivery, result: RunOutcome, *, acked: bool
    ) -> None:
        """Ack, requeue, dead-letter or report the command, by how its run ended."""
        if result.outcome is Outcome.IMPOSSIBLE and not acked:
            await delivery.dead_letter(f"impossible run: {result.error}")
            return
        if result.outcome is Outcome.IMPOSSIBLE:
            await self._publish(self._failed(command, result.error, retryable=False))
        elif result.outcome is Outcome.NODES_FAILED or (result.outcome is Outcome.BUG and acked):
            await self._publish(self._failed(command, result.error, retryable=True))
        elif result.outcome is Outcome.BUG:
            limit = self._topology.delivery_limit
            if delivery.delivery_count >= limit:
                await delivery.dead_letter(
                    f"failed on {delivery.delivery_count} deliveries; last error: {result.error}"
                )
            else:
                await delivery.nack(requeue=True)
            return
        if not acked:
            await delivery.ack()

    async def _run(self, command: RunStart) -> RunOutcome:
        bound = log.bind(attempt=command.attempt)  # the ids are in the message context
        plan = command.plan
        await self._publish(
            RunStarted(
                simulation_id=command.simulation_id,
                run_id=command.run_id,
                attempt=command.attempt,
                runner=self._settings.name,
            )
        )
        started = time.perf_counter()
        try:
            key, graph, metrics = self._graph(plan.graph.source)
            algorithm = plan.resolve_algorithm()
            shards = plan.settings.shards
            session_key = f"{key}|{algorithm!r}|{shards}"
            session = await self._pool.get(session_key, graph, algorithm, shards, plan.seed)
            settings = _run_settings(plan.settings, self._settings.call_timeout)
            try:
                result = await session.run(run_id=command.run_id, seed=plan.seed, settings=settings)
            except (RunAborted, asyncio.CancelledError):
                await self._pool.discard(session_key)  # its nodes failed or are mid-call
                raise
        except InvalidInput as error:
            bound.warning("run is impossible", error=str(error))
            return RunOutcome(Outcome.IMPOSSIBLE, f"{error}")
        except RunAborted as error:
            bound.warning("run failed", error=str(error))
            return RunOutcome(Outcome.NODES_FAILED, f"{error}")
        except Exception as error:  # a bug, whatever its type: never taken for bad input
            bound.exception("run raised")
            return RunOutcome(Outcome.BUG, f"{error!r}")
        await self._publish_result(command, metrics, result, time.perf_counter() - started)
        return RunOutcome(Outcome.COMPLETED)

    def _failed(self, command: RunStart, error: str, *, retryable: bool) -> RunFailed:
        return RunFailed(
            simulation_id=command.simulation_id,
            run_id=command.run_id,
            attempt=command.attempt,
            error=error,
            retryable=retryable,
            plan=command.plan,
        )

    async def _publish_result(
        self,
        command: RunStart,
        metrics: dict[str, Any],
        result: RunResult,
        duration: float,
    ) -> None:
        rounds = [a.to_dict() for a in result.aggregates]
        for r, sample in result.history:
            rounds[r]["history"] = sample.tolist()
        batch = self._settings.telemetry_batch
        for first in range(0, len(rounds), batch):
            await self._publish(
                RunRound(
                    simulation_id=command.simulation_id,
                    run_id=command.run_id,
                    attempt=command.attempt,
                    first_round=first,
                    rounds=rounds[first : first + batch],
                )
            )
        await self._publish(
            RunCompleted(
                simulation_id=command.simulation_id,
                run_id=command.run_id,
                attempt=command.attempt,
                rounds=result.rounds,
                converged=result.converged,
                final=result.aggregates[-1].to_dict(),
                duration_s=duration,
                plan=command.plan,
                metrics=metrics,
            )
        )
