"""The runner service: takes run.start commands off the runs queue and runs them on node shards.

Node shards are configured once per (graph, algorithm, shards) and reused for every run that
shares them — pooled, not started per run — so a sweep of thousands of small runs costs a
Reset and a RunRounds call each. Round telemetry goes out in batches (one run.round message per
``telemetry_batch`` rounds), then run.completed; the command is acked only after those events
are published (confirmed), so a runner that dies mid-run leaves the command to be redelivered.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import structlog

from gossipsim.common.algorithms import Algorithm, resolve_algorithm
from gossipsim.common.bus import Bus, Consumer, Delivery
from gossipsim.common.consuming import message_or_dead_letter
from gossipsim.common.errors import GossipsimError, InvalidInput
from gossipsim.common.errors import RunFailed as RunFailedError
from gossipsim.common.graph import Graph
from gossipsim.common.graph_limits import DEFAULT_LIMITS, GraphLimits
from gossipsim.common.graph_metrics import compute_metrics
from gossipsim.common.graph_sources import load_graph
from gossipsim.common.initial_values import Initialization
from gossipsim.common.messages import (
    Message,
    RunCompleted,
    RunFailed,
    RunRound,
    RunStart,
    RunStarted,
)
from gossipsim.common.publishing import publish_message
from gossipsim.common.topology import Topology
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
    call_timeout: float = 300.0


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


def _run_settings(settings: dict[str, Any], call_timeout: float) -> RunSettings:
    vertices = settings.get("history_vertices")
    return RunSettings(
        max_rounds=int(settings.get("max_rounds", 1000)),
        until_converged=bool(settings.get("until_converged", True)),
        epsilon=float(settings.get("epsilon", 1e-6)),
        initialization=Initialization(settings.get("initialization", "auto")),
        history_every=int(settings.get("history_every", 0)),
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
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._consumer = await self._bus.consume(
            self._topology.runs_queue, self.handle, prefetch=self._settings.prefetch
        )

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.cancel()
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

    async def handle(self, delivery: Delivery) -> None:
        message = await message_or_dead_letter(delivery, (RunStart,))
        if not isinstance(message, RunStart):
            return
        async with self._lock:  # one run at a time per runner: node shards are not shared
            await self._run(message)
        await delivery.ack()

    async def _run(self, command: RunStart) -> None:
        bound = log.bind(
            simulation=command.simulation_id, run=command.run_id, attempt=command.attempt
        )
        plan = {
            "graph": command.graph_name,
            "algorithm": command.algorithm,
            "parameters": command.parameters,
            "repetition": command.repetition,
            "seed": command.seed,
        }
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
            key, graph, metrics = self._graph(command.graph)
            algorithm = resolve_algorithm(**command.algorithm, **command.parameters)
            plan["algorithm_label"] = algorithm.label
            shards = int(command.settings.get("shards", 1))
            session_key = f"{key}|{algorithm!r}|{shards}"
            session = await self._pool.get(session_key, graph, algorithm, shards, command.seed)
            settings = _run_settings(command.settings, self._settings.call_timeout)
            try:
                result = await session.run(
                    run_id=command.run_id, seed=command.seed, settings=settings
                )
            except RunFailedError:
                await self._pool.discard(session_key)  # its nodes failed: fresh ones next time
                raise
        except (InvalidInput, ValueError, TypeError) as error:
            bound.warning("run is impossible", error=str(error))
            await self._publish(self._failed(command, plan, f"{error}", retryable=False))
            return
        except GossipsimError as error:
            bound.warning("run failed", error=str(error))
            await self._publish(self._failed(command, plan, f"{error}", retryable=True))
            return
        except Exception as error:  # a bug or an unforeseen failure: report it, let it retry
            bound.exception("run raised")
            await self._publish(self._failed(command, plan, f"{error!r}", retryable=True))
            return
        await self._publish_result(command, plan, metrics, result, time.perf_counter() - started)

    def _failed(
        self, command: RunStart, plan: dict[str, Any], error: str, *, retryable: bool
    ) -> RunFailed:
        return RunFailed(
            simulation_id=command.simulation_id,
            run_id=command.run_id,
            attempt=command.attempt,
            error=error,
            retryable=retryable,
            plan=plan,
        )

    async def _publish_result(
        self,
        command: RunStart,
        plan: dict[str, Any],
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
                plan=plan,
                metrics=metrics,
            )
        )
