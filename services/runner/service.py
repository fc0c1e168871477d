"""The runner service: takes run.start commands off the runs queue and runs them on node shards.

A run.start is not taken on trust: anyone who can reach the broker can publish one, past the
scheduler. Before any work (before run.started, before a node starts) its plan is checked as
the scheduler checks a spec: the graph is built by the same ``load_graph`` with this runner's
limits, gossip must be able to run on it (``check_runnable``), and the execution settings must
fit the graph and the limits (:func:`~gossipsim.common.spec.plan_checks.check_settings_for_graph`).
A plan that fails is impossible (below): dead-lettered with the field named.

Node shards are configured once per (graph, algorithm, shards) and reused for every run that
shares them — pooled, not started per run — so a sweep of thousands of small runs costs a
Reset and a RunRounds call each. Built graphs and warm sessions are kept within a memory budget
(``cache_bytes``; :mod:`gossipsim.runner.graph_cache`), least recently used out first. Round
telemetry goes out in parts (run.round messages of at most ``telemetry_batch`` rounds, each
under the message cap: :mod:`gossipsim.runner.telemetry`), then run.completed; the command is
acked only after those events are published (confirmed), so a runner that dies mid-run leaves
the command to be redelivered.

What happens to a command that does not complete, by the error tree of
:mod:`gossipsim.common.errors`:

* impossible (:class:`InvalidInput`: invalid graph, algorithm or settings, the same on every
  try) — dead-lettered at once with the reason; the scheduler sees the dead letter and fails
  the run;
* its results cannot be reported (:class:`TelemetryTooLarge`: one round's telemetry over the
  message cap, which the spec check's history cap prevents) — run.failed, not retryable;
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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import structlog

from gossipsim.common.errors import InvalidInput, RunAborted
from gossipsim.common.graphs.drawing import GraphDrawing, graph_drawing
from gossipsim.common.graphs.graph import Graph
from gossipsim.common.graphs.inputs import SERVICE_INPUTS, GraphInputs
from gossipsim.common.graphs.limits import DEFAULT_LIMITS, GraphLimits
from gossipsim.common.graphs.metrics import compute_metrics
from gossipsim.common.graphs.runnable import check_runnable
from gossipsim.common.graphs.sources import load_graph
from gossipsim.common.messaging.bus import Bus, Consumer, Delivery, QueueSpec
from gossipsim.common.messaging.consuming import message_context, message_or_dead_letter
from gossipsim.common.messaging.messages import (
    MAX_MESSAGE_BYTES,
    Message,
    RunCompleted,
    RunFailed,
    RunGraph,
    RunHeartbeat,
    RunRound,
    RunStart,
    RunStarted,
    SimulationCompleted,
    encode,
)
from gossipsim.common.messaging.publishing import publish_message
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.model.algorithms import Algorithm
from gossipsim.common.runtime.variables import (
    CALL_TIMEOUT_SECONDS,
    DRAIN_SECONDS,
    HEARTBEAT_SECONDS,
    RUN_ACK_AFTER_SECONDS,
    RUNNER_CACHE_BYTES,
)
from gossipsim.common.spec.plan_checks import PLAN_FIELDS, check_settings_for_graph
from gossipsim.common.spec.run_plan import DEFAULT_MAX_SHARDS, ExecutionSettings, RunPlan
from gossipsim.common.storage.graph_objects import fetched_graph_inputs
from gossipsim.common.storage.store import ObjectStore
from gossipsim.runner.driver import RunResult, RunSettings, ShardSession
from gossipsim.runner.graph_cache import (
    BudgetCache,
    LoadedGraph,
    drawing_footprint,
    graph_footprint,
    session_footprint,
)
from gossipsim.runner.launcher import NodeLauncher
from gossipsim.runner.simulate import selection_weights
from gossipsim.runner.telemetry import (
    TelemetryPart,
    TelemetryTooLarge,
    part_budget,
    telemetry_parts,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunnerSettings:
    name: str = "runner"
    prefetch: int = 1
    telemetry_batch: int = 100  # rounds per run.round message, at most (and under the cap)
    sessions_kept: int = 4  # configured shard sets kept warm, at most (and within cache_bytes)
    cache_bytes: int = RUNNER_CACHE_BYTES  # graphs and sessions kept between runs (estimated)
    max_shards: int = DEFAULT_MAX_SHARDS  # the most shards a run.start may ask for
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
    UNREPORTABLE = "unreportable"  # TelemetryTooLarge: run.failed, not retryable
    BUG = "bug"  # any other exception: requeue, dead-letter at the delivery limit
    SIMULATION_FINISHED = "simulation finished"  # cancelled while it ran


@dataclass(frozen=True, slots=True)
class RunOutcome:
    outcome: Outcome
    error: str = ""


_GRAPH = "graph|"  # cache keys of built graphs
_SESSION = "session|"  # cache keys of warm shard sessions
_DRAWING = "drawing|"  # cache keys of graph drawings (visualize)
Kept: TypeAlias = LoadedGraph | ShardSession | GraphDrawing  # what a runner keeps between runs


async def _release(values: Iterable[Kept]) -> None:
    """Let go of what the cache evicted: a session's nodes go back to the launcher."""
    for value in values:
        if isinstance(value, ShardSession):
            await value.__aexit__(None, None, None)


class _SessionPool:
    """Configured ShardSessions by (graph, algorithm, shards), kept in the runner's cache (at
    most ``size`` of them), least recently used out first. A session too large for the cache is
    used for its run and closed after it."""

    def __init__(
        self, launcher: NodeLauncher, cache: BudgetCache[Kept], size: int, call_timeout: float
    ) -> None:
        self._launcher = launcher
        self._cache = cache
        self._size = size
        self._call_timeout = call_timeout

    async def get(
        self, key: str, graph: Graph, algorithm: Algorithm, shards: int, seed: int
    ) -> ShardSession:
        cached = self._cache.get(_SESSION + key)
        if isinstance(cached, ShardSession):
            return cached
        footprint = session_footprint(graph)
        # room first: the nodes of evicted sessions go back before new ones are acquired
        await _release(self._cache.reserve(footprint))
        await self._keep_at_most(self._size - 1)
        session = ShardSession(
            graph=graph,
            algorithm=algorithm,
            launcher=self._launcher,
            shards=shards,
            edge_weights=selection_weights(graph, algorithm, seed=seed),
            call_timeout=self._call_timeout,
        )
        await session.__aenter__()
        await _release(self._cache.put(_SESSION + key, session, footprint).evicted)
        return session

    async def done(self, key: str, session: ShardSession, *, failed: bool = False) -> None:
        """After a run on ``session``: closed if the run failed (its nodes failed or are
        mid-call) or if it was too large to keep; kept warm otherwise."""
        if failed:
            self._cache.pop(_SESSION + key)
        if _SESSION + key not in self._cache:
            await session.__aexit__(None, None, None)

    async def _keep_at_most(self, count: int) -> None:
        sessions = [key for key in self._cache if key.startswith(_SESSION)]
        for key in sessions[: max(0, len(sessions) - count)]:
            await _release([value] if (value := self._cache.pop(key)) is not None else [])

    async def close(self) -> None:
        await _release(self._cache.clear())


def _check_echo_fits(command: RunStart) -> None:
    """InvalidInput unless run.completed and run.failed, which carry the command's plan, will
    fit a message: a run whose outcome cannot be sent is not started."""
    size, budget = len(encode(command)), part_budget(MAX_MESSAGE_BYTES)
    if size > budget:
        raise InvalidInput(
            f"the run.start takes {size:,} bytes; its outcome, which carries the same plan, would"
            f" not fit a message ({budget:,} bytes): sample fewer vertices, give a large graph"
            " as a file or store object rather than inline",
            field="plan",
        )


def _run_settings(settings: ExecutionSettings, call_timeout: float) -> RunSettings:
    """The driver's settings for a run: the plan's, as they are (decoding checked them; the
    defaults are the spec's alone), and this runner's call timeout."""
    vertices = settings.history_vertices
    return RunSettings(
        max_rounds=settings.max_rounds,
        until_converged=settings.until_converged,
        epsilon=settings.epsilon,
        initialization=settings.initialization,
        source_vertex=settings.source_vertex,
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
        inputs: GraphInputs = SERVICE_INPUTS,
        graph_store: ObjectStore | None = None,
    ) -> None:
        """``inputs``: which local graph files a plan may name (none, unless the deployment
        sets roots; embedded mode passes any); ``graph_store``: where ``{object: graphs/…}``
        sources are fetched from."""
        self._bus = bus
        self._topology = topology
        self._settings = settings
        self._limits = limits
        self._inputs = inputs
        self._graph_store = graph_store
        self._cache: BudgetCache[Kept] = BudgetCache(settings.cache_bytes)
        self._pool = _SessionPool(
            launcher, self._cache, settings.sessions_kept, settings.call_timeout
        )
        self._consumer: Consumer | None = None
        self._feed: Consumer | None = None
        self._lock = asyncio.Lock()
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._drawings_sent: OrderedDict[tuple[str, str, str], None] = OrderedDict()
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

    async def _checked_graph(self, plan: RunPlan) -> tuple[str, LoadedGraph]:
        """The plan's graph with its metrics, checked as the scheduler checks a spec's graphs
        and its settings; :class:`InvalidInput` naming the plan's field if it is not runnable.

        Built off the event loop (a large graph takes seconds: heartbeats and health checks
        go on meanwhile), then kept in the cache by a digest of the source's canonical JSON."""
        key = plan.graph.key
        loaded = self._cache.get(_GRAPH + key)
        if isinstance(loaded, LoadedGraph):
            self._check_plan(plan, loaded.graph)
            return key, loaded
        async with fetched_graph_inputs(
            plan.graph.source, self._inputs, self._graph_store, field="plan.graph.source"
        ) as inputs:
            loaded = await asyncio.to_thread(self._build_graph, plan, inputs)
        await _release(self._cache.put(_GRAPH + key, loaded, graph_footprint(loaded)).evicted)
        return key, loaded

    def _build_graph(self, plan: RunPlan, inputs: GraphInputs) -> LoadedGraph:
        """Build a run.start's graph and check it and the plan's settings, then compute its
        metrics (the costly part, left for a plan that passed): nothing taken on trust."""
        graph = load_graph(
            plan.graph.source, limits=self._limits, field="plan.graph.source", inputs=inputs
        )
        check_runnable(graph, field="plan.graph.source")
        self._check_plan(plan, graph)
        return LoadedGraph(graph=graph, metrics=compute_metrics(graph).to_dict())

    def _check_plan(self, plan: RunPlan, graph: Graph) -> None:
        """The plan's execution settings against its graph, as the scheduler checks a spec
        (the graph itself is checked where it is built: :meth:`_build_graph`)."""
        check_settings_for_graph(
            plan.settings,
            graph_name=plan.graph.name,
            vertices=graph.n,
            has_values=graph.initial_values is not None,
            max_shards=self._settings.max_shards,
            fields=PLAN_FIELDS,
        )

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
        if result.outcome in (Outcome.IMPOSSIBLE, Outcome.UNREPORTABLE):
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
        started = time.perf_counter()
        try:
            _check_echo_fits(command)
            key, loaded = await self._checked_graph(plan)  # before any work: nothing on trust
            await self._send_drawing(command, key, loaded.graph)
            await self._publish(
                RunStarted(
                    simulation_id=command.simulation_id,
                    run_id=command.run_id,
                    attempt=command.attempt,
                    runner=self._settings.name,
                )
            )
            result = await self._run_on_shards(command, key, loaded.graph)
            parts = self._telemetry_parts(command, result)
        except TelemetryTooLarge as error:
            bound.warning("run cannot report its results", error=str(error))
            return RunOutcome(Outcome.UNREPORTABLE, f"{error}")
        except InvalidInput as error:
            bound.warning("run is impossible", error=str(error))
            return RunOutcome(Outcome.IMPOSSIBLE, f"{error}")
        except RunAborted as error:
            bound.warning("run failed", error=str(error))
            return RunOutcome(Outcome.NODES_FAILED, f"{error}")
        except Exception as error:  # a bug, whatever its type: never taken for bad input
            bound.exception("run raised")
            return RunOutcome(Outcome.BUG, f"{error!r}")
        duration = time.perf_counter() - started
        await self._publish_result(command, loaded.metrics, result, parts, duration)
        return RunOutcome(Outcome.COMPLETED)

    async def _send_drawing(self, command: RunStart, graph_key: str, graph: Graph) -> None:
        """run.graph for a run with ``visualize`` on a graph small enough to draw, once per
        simulation, graph and layout (the collector keeps one per graph): before any telemetry
        of the run, so the collector has the drawing when the run completes. The drawing is
        computed once per graph and layout and kept with the graph (seconds at 2000 vertices)."""
        visualize = command.plan.settings.visualize
        if visualize is None or visualize.not_drawn(graph.n, graph.num_edges) is not None:
            return
        sent = (command.simulation_id, graph_key, visualize.layout)
        if sent in self._drawings_sent:
            return
        cache_key = f"{_DRAWING}{graph_key}|{visualize.layout}"
        drawing = self._cache.get(cache_key)
        if not isinstance(drawing, GraphDrawing):
            drawing = await asyncio.to_thread(graph_drawing, graph, visualize.layout)
            footprint = drawing_footprint(drawing)
            await _release(self._cache.put(cache_key, drawing, footprint).evicted)
        await self._publish(
            RunGraph(
                simulation_id=command.simulation_id,
                run_id=command.run_id,
                attempt=command.attempt,
                graph_key=graph_key,
                drawing=drawing,
            )
        )
        self._drawings_sent[sent] = None
        while len(self._drawings_sent) > self._settings.finished_kept:
            self._drawings_sent.popitem(last=False)

    async def _run_on_shards(self, command: RunStart, graph_key: str, graph: Graph) -> RunResult:
        """The run on a warm (or new) session of its graph, algorithm and shard count."""
        plan = command.plan
        algorithm = plan.resolve_algorithm()
        shards = plan.settings.shards
        session_key = f"{graph_key}|{algorithm!r}|{shards}"
        session = await self._pool.get(session_key, graph, algorithm, shards, plan.seed)
        settings = _run_settings(plan.settings, self._settings.call_timeout)
        failed = False
        try:
            return await session.run(run_id=command.run_id, seed=plan.seed, settings=settings)
        except (RunAborted, asyncio.CancelledError):
            failed = True  # its nodes failed or are mid-call: not to be used again
            raise
        finally:
            await self._pool.done(session_key, session, failed=failed)

    def _failed(self, command: RunStart, error: str, *, retryable: bool) -> RunFailed:
        return RunFailed(
            simulation_id=command.simulation_id,
            run_id=command.run_id,
            attempt=command.attempt,
            error=error,
            retryable=retryable,
            plan=command.plan,
        )

    def _telemetry_parts(self, command: RunStart, result: RunResult) -> list[TelemetryPart]:
        """The run's rounds (with their history) in parts that each fit a run.round message:
        worked out before anything is published, so a run that cannot report its telemetry
        fails whole rather than leave part of it behind (:class:`TelemetryTooLarge`)."""
        rounds: list[dict[str, Any]] = [a.to_dict() for a in result.aggregates]
        for r, sample in result.history:
            rounds[r]["history"] = sample.tolist()
        empty = RunRound(
            simulation_id=command.simulation_id,
            run_id=command.run_id,
            attempt=command.attempt,
            first_round=len(rounds),  # the most digits a part's first round can have
            rounds=[],
        )
        return telemetry_parts(
            rounds,
            max_rounds=self._settings.telemetry_batch,
            max_bytes=part_budget(MAX_MESSAGE_BYTES),
            overhead=len(encode(empty)),
        )

    async def _publish_result(
        self,
        command: RunStart,
        metrics: dict[str, Any],
        result: RunResult,
        parts: list[TelemetryPart],
        duration: float,
    ) -> None:
        for part in parts:
            await self._publish(
                RunRound(
                    simulation_id=command.simulation_id,
                    run_id=command.run_id,
                    attempt=command.attempt,
                    first_round=part.first_round,
                    rounds=part.rounds,
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
