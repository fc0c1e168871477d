"""The round driver: configure node shards for a graph and algorithm, then drive runs.

One shard runs a whole run in one call (``RunRounds``). Several shards are driven round by
round — synchronous mode in three barriered phases (Propose, Resolve, Settle), sequential mode
as a series of turns, one per stretch of the initiation order that a single shard owns —
and their exact aggregates are merged after each round. Any shard error or timeout ends the
run with :class:`ShardFailed` naming the shard, the phase and the round; nothing waits
forever.

Each session draws a fresh token (common/rpc/auth.py): ``Configure`` carries it with each
node's launch secret, and every later call — and every delivery between the session's nodes —
carries the token, which the nodes check. A message over the message cap fails the run as
impossible (:class:`InvalidInput`): the same graph and shard count would fail again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import structlog
from grpclib import GRPCError
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import StreamTerminatedError

from gossipsim.common.errors import InvalidInput, ShardFailed
from gossipsim.common.graphs.graph import Graph
from gossipsim.common.graphs.runnable import check_runnable
from gossipsim.common.model.aggregates import Aggregates
from gossipsim.common.model.algorithms import Algorithm, Memory, Mode, Order
from gossipsim.common.model.convergence import DEFAULT_EPSILON, is_converged
from gossipsim.common.model.initial_values import Initialization, initial_values
from gossipsim.common.model.rng import run_key
from gossipsim.common.rpc import node_pb2 as pb
from gossipsim.common.rpc.auth import SECRET_HEADER, new_token
from gossipsim.common.rpc.node_grpc import NodeShardStub
from gossipsim.common.rpc.wire import (
    aggregates_from_proto,
    array_from_proto,
    array_to_proto,
)
from gossipsim.common.runtime.memory import release_free_memory
from gossipsim.common.runtime.variables import CALL_TIMEOUT_SECONDS
from gossipsim.runner.launcher import NodeLauncher
from gossipsim.runner.partition import shard_bounds, shard_slices
from gossipsim.runner.waves import sequential_waves

log = structlog.get_logger(__name__)

T = TypeVar("T")

MAX_ROUNDS_LIMIT = 1_000_000
# A sequential round over several shards runs as turns while there are at most this many
# (one call each), else as dependency waves (about e·ln N of them, each a call to every shard).
MAX_TURNS_BEFORE_WAVES = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSettings:
    """How one run proceeds and when it stops."""

    max_rounds: int = 1000
    until_converged: bool = True
    epsilon: float = DEFAULT_EPSILON
    initialization: Initialization = Initialization.AUTO
    source_vertex: int | None = None  # single_source: the informed vertex; None: a random one
    history_every: int = 0  # 0: no history; k: sample values every k rounds
    history_vertices: np.ndarray | None = None  # ids to sample; None: all
    call_timeout: float = CALL_TIMEOUT_SECONDS  # seconds one shard call may take

    def __post_init__(self) -> None:
        if not 1 <= self.max_rounds <= MAX_ROUNDS_LIMIT:
            raise InvalidInput(
                f"must lie in 1..{MAX_ROUNDS_LIMIT}, got {self.max_rounds}", field="max_rounds"
            )
        if not 0.0 <= self.epsilon < 1.0:
            raise InvalidInput(f"must lie in [0, 1), got {self.epsilon}", field="epsilon")
        if self.history_every < 0:
            raise InvalidInput(f"must be >= 0, got {self.history_every}", field="history.every")
        if self.call_timeout <= 0:
            raise InvalidInput(f"must be > 0, got {self.call_timeout}", field="call_timeout")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """What a run produced. ``aggregates[r]`` is the state after round r (0: initial)."""

    run_id: str
    rounds: int
    converged: bool
    aggregates: list[Aggregates]
    history: list[tuple[int, np.ndarray]] = field(default_factory=list)


def _failure_detail(error: BaseException) -> str:
    if isinstance(error, GRPCError):
        return f"{error.status.name}: {error.message}"
    if isinstance(error, asyncio.TimeoutError):
        return "no answer before the deadline"
    return repr(error)


def _over_message_cap(phase: str, where: str, shard: int, error: GRPCError) -> InvalidInput:
    """A run whose messages exceed the cap: impossible as it stands, so not retried."""
    history = phase in ("RunRounds", "GetValues")
    return InvalidInput(
        f"{phase}{where} on node shard {shard} needs a larger gRPC message than node traffic "
        f"allows ({error.message})" + ("; or sample fewer vertices or rounds" if history else ""),
        field="history" if history else "shards",
    )


class ShardSession:
    """Node shards configured for one graph and algorithm; runs many runs on them.

    Use as ``async with ShardSession(...) as session: await session.run(...)``. On exit the
    nodes go back to the launcher — as unhealthy if any run failed, so they are not reused.
    """

    def __init__(
        self,
        *,
        graph: Graph,
        algorithm: Algorithm,
        launcher: NodeLauncher,
        shards: int = 1,
        edge_weights: np.ndarray | None = None,
        call_timeout: float = CALL_TIMEOUT_SECONDS,
    ) -> None:
        check_runnable(graph, field="graph", shards=shards)
        self.graph = graph
        self.algorithm = algorithm
        self.bounds = shard_bounds(graph, shards)
        self._launcher = launcher
        self._edge_weights = edge_weights
        self._call_timeout = call_timeout
        self._configuration_id = uuid.uuid4().hex
        self._token = new_token()  # this session's; the nodes refuse calls without it
        self._addresses: list[str] = []
        self._channels: list[Channel] = []
        self._stubs: list[NodeShardStub] = []
        self._halo_ids: list[np.ndarray] = []
        self._healthy = True

    @property
    def shard_count(self) -> int:
        return len(self.bounds) - 1

    @property
    def addresses(self) -> list[str]:
        return list(self._addresses)

    async def __aenter__(self) -> ShardSession:
        self._addresses = await self._launcher.acquire(
            self.shard_count, run_id=self._configuration_id
        )
        try:
            await self._configure()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._healthy:
                await self._all("Terminate", lambda k, stub: stub.Terminate(pb.Empty()))
        except BaseException as error:  # cancelled, or a node that failed to end its session
            self._healthy = False
            if not isinstance(error, ShardFailed):
                raise
        finally:
            for channel in self._channels:
                channel.close()
            self._channels, self._stubs = [], []
            await self._launcher.release(self._addresses, healthy=self._healthy)

    async def _call(self, shard: int, phase: str, call: Awaitable[T], round_number: int = 0) -> T:
        try:
            return await asyncio.wait_for(call, self._call_timeout)
        except (TimeoutError, GRPCError, OSError, StreamTerminatedError) as error:
            self._healthy = False
            where = f" of round {round_number}" if round_number else " (before round 1)"
            if isinstance(error, GRPCError) and error.status is Status.RESOURCE_EXHAUSTED:
                raise _over_message_cap(phase, where, shard, error) from error
            raise ShardFailed(
                f"node shard {shard} at {self._addresses[shard]} failed during {phase}{where}: "
                f"{_failure_detail(error)}"
            ) from error

    async def _all(
        self,
        phase: str,
        make_call: Callable[[int, NodeShardStub], Awaitable[T]],
        round_number: int = 0,
    ) -> list[T]:
        calls = [
            self._call(k, phase, make_call(k, stub), round_number)
            for k, stub in enumerate(self._stubs)
        ]
        results = await asyncio.gather(*calls, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            # A shard that is gone (connection lost, no answer) is the root cause; shards that
            # report, via a gRPC status, that they could not reach it are its consequences.
            failures.sort(key=lambda failure: isinstance(failure.__cause__, GRPCError))
            raise failures[0]
        return [r for r in results if not isinstance(r, BaseException)]  # all: none failed

    async def _configure(self) -> None:
        transport = self._launcher.transport
        for address in self._addresses:
            channel = transport.channel(address, token=self._token)
            self._channels.append(channel)
            self._stubs.append(NodeShardStub(channel))
        algorithm = pb.AlgorithmConfig(
            rule=int(self.algorithm.rule),
            memory=int(self.algorithm.memory),
            mode=int(self.algorithm.mode),
            order=int(self.algorithm.order),
            prior_partner_factor=self.algorithm.prior_partner_factor,
            weighted=self._edge_weights is not None,
        )
        slices = shard_slices(self.graph, self.bounds, self._edge_weights)

        def configure(k: int, stub: NodeShardStub) -> Awaitable[pb.ConfigureReply]:
            piece = slices[k]
            secret = self._launcher.launch_secret(self._addresses[k])
            return stub.Configure(
                pb.ConfigureRequest(
                    configuration_id=self._configuration_id,
                    shard_index=k,
                    shard_bounds=self.bounds.tolist(),
                    peer_addresses=self._addresses,
                    indptr=array_to_proto(piece.indptr),
                    neighbors=array_to_proto(piece.neighbors),
                    edge_weights=array_to_proto(
                        piece.edge_weights if piece.edge_weights is not None else np.empty(0)
                    ),
                    algorithm=algorithm,
                    num_vertices=self.graph.n,
                ),
                metadata={SECRET_HEADER: secret},
            )

        replies = await self._all("Configure", configure)
        self._halo_ids = [array_from_proto(reply.halo_ids) for reply in replies]
        release_free_memory()  # the serialized shard configurations

    async def run(self, *, run_id: str, seed: int, settings: RunSettings) -> RunResult:
        """One run: reset the shards to fresh initial values, then rounds until the stop."""
        key = run_key(seed, run_id)
        values = initial_values(
            self.graph,
            self.algorithm.rule,
            settings.initialization,
            key,
            source_vertex=settings.source_vertex,
        )
        await self._reset(key, values)
        if self.shard_count == 1:
            return await self._run_single(run_id, settings)
        return await self._run_sharded(run_id, settings)

    async def _reset(self, key: int, values: np.ndarray) -> None:
        def reset(k: int, stub: NodeShardStub) -> Awaitable[Any]:
            first, stop = int(self.bounds[k]), int(self.bounds[k + 1])
            return stub.Reset(
                pb.ResetRequest(
                    configuration_id=self._configuration_id,
                    run_key=key,
                    values=array_to_proto(values[first:stop]),
                    halo_values=array_to_proto(values[self._halo_ids[k]]),
                )
            )

        await self._all("Reset", reset)

    async def _run_single(self, run_id: str, settings: RunSettings) -> RunResult:
        request = pb.RunRoundsRequest(
            configuration_id=self._configuration_id,
            stop=pb.StopCondition(
                max_rounds=settings.max_rounds,
                until_converged=settings.until_converged,
                epsilon=settings.epsilon,
            ),
            history=pb.HistorySampling(
                every=settings.history_every,
                vertices=array_to_proto(_history_ids(self.graph, settings)),
            ),
        )
        reply = await self._call(0, "RunRounds", self._stubs[0].RunRounds(request))
        aggregates = [aggregates_from_proto(a) for a in reply.rounds]
        history = [(h.round, array_from_proto(h.values, default="<f8")) for h in reply.history]
        return RunResult(
            run_id=run_id,
            rounds=len(aggregates) - 1,
            converged=reply.converged,
            aggregates=aggregates,
            history=history,
        )

    async def _run_sharded(self, run_id: str, settings: RunSettings) -> RunResult:
        rule = self.algorithm.rule
        aggregates = [await self._aggregates(0)]
        history = [(0, await self._values(settings))] if settings.history_every else []
        converged = is_converged(rule, aggregates[0], settings.epsilon)
        r = 0
        while r < settings.max_rounds and not (settings.until_converged and converged):
            r += 1
            if self.algorithm.mode is Mode.SYNCHRONOUS:
                await self._synchronous_round(r)
            else:
                await self._sequential_round(r)
            aggregates.append(await self._aggregates(r))
            converged = is_converged(rule, aggregates[-1], settings.epsilon)
            if settings.history_every and r % settings.history_every == 0:
                history.append((r, await self._values(settings)))
        return RunResult(
            run_id=run_id, rounds=r, converged=converged, aggregates=aggregates, history=history
        )

    def _wave(self, round_number: int, wave: int) -> pb.WaveRequest:
        return pb.WaveRequest(
            configuration_id=self._configuration_id, round=round_number, wave=wave
        )

    def _wave_call(
        self, round_number: int, wave: int
    ) -> Callable[[int, NodeShardStub], Awaitable[pb.Empty]]:
        """The call that runs one wave on a shard; a function so that each binds its own wave."""
        return lambda k, stub: stub.Wave(self._wave(round_number, wave))

    def _phase(self, round_number: int) -> pb.PhaseRequest:
        return pb.PhaseRequest(configuration_id=self._configuration_id, round=round_number)

    async def _synchronous_round(self, r: int) -> None:
        await self._all("Propose", lambda k, stub: stub.Propose(self._phase(r)), r)
        await self._all("Resolve", lambda k, stub: stub.Resolve(self._phase(r)), r)

    async def _aggregates(self, r: int) -> Aggregates:
        """Settle round r on every shard (round 0: only report); merge exactly."""
        replies = await self._all("Settle", lambda k, stub: stub.Settle(self._phase(r)), r)
        merged = Aggregates.empty()
        for reply in replies:
            merged = merged.merge(aggregates_from_proto(reply.aggregates))
        return merged

    async def _initiation_order(self, r: int) -> np.ndarray:
        """The round's order: ascending ids, or the permutation every shard computes alike."""
        if self.algorithm.order is Order.FIXED:
            return np.arange(self.graph.n, dtype=np.int64)
        reply = await self._call(
            0, "InitiationOrder", self._stubs[0].InitiationOrder(self._phase(r)), r
        )
        return array_from_proto(reply.order)

    async def _sequential_round(self, r: int) -> None:
        """Turns when they are few (fixed order) or required (memory), waves otherwise.

        Memory makes a vertex's choice depend on its earlier exchanges, so the exchanges of a
        round cannot be known up front and the owner of each initiator must run it in order.
        Without memory, a shuffled order would need a turn almost per vertex, while its
        dependency waves number about a dozen.
        """
        order = await self._initiation_order(r)
        if self._sequential_in_turns:
            owners = np.searchsorted(self.bounds, order, side="right") - 1
            await self._sequential_round_in_turns(r, order, owners)
        else:
            await self._sequential_round_in_waves(r, order)

    @property
    def _sequential_in_turns(self) -> bool:
        """Fixed per configuration: halo copies are kept current by turns only, so a run
        never mixes the two (a fixed order over contiguous shards is one turn per shard)."""
        if self.algorithm.memory is not Memory.NONE:
            return True
        return self.algorithm.order is Order.FIXED and self.shard_count <= MAX_TURNS_BEFORE_WAVES

    async def _sequential_round_in_turns(
        self, r: int, order: np.ndarray, owners: np.ndarray
    ) -> None:
        """One turn per maximal stretch of the order whose initiators share a shard."""
        starts = np.concatenate([[0], np.flatnonzero(np.diff(owners)) + 1])
        stops = np.concatenate([starts[1:], [len(order)]])
        for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
            shard = int(owners[start])
            request = pb.TurnRequest(
                configuration_id=self._configuration_id, round=r, start=start, stop=stop
            )
            await self._call(shard, "SequentialTurn", self._stubs[shard].SequentialTurn(request), r)

    async def _sequential_round_in_waves(self, r: int, initiators: np.ndarray) -> None:
        """Partners first, then the round's exchanges in waves of disjoint pairs (waves.py)."""

        replies = await self._all(
            "SelectPartners", lambda k, stub: stub.SelectPartners(self._phase(r)), r
        )
        partner_of = np.concatenate([array_from_proto(reply.partners) for reply in replies])
        partners = partner_of[initiators]
        waves = sequential_waves(initiators, partners)
        left = np.searchsorted(self.bounds, initiators, side="right") - 1
        right = np.searchsorted(self.bounds, partners, side="right") - 1

        def schedule(k: int, stub: NodeShardStub) -> Awaitable[pb.Empty]:
            mine = (left == k) | (right == k)
            return stub.ScheduleRound(
                pb.ScheduleRequest(
                    configuration_id=self._configuration_id,
                    round=r,
                    initiators=array_to_proto(initiators[mine]),
                    partners=array_to_proto(partners[mine]),
                    waves=array_to_proto(waves[mine]),
                )
            )

        await self._all("ScheduleRound", schedule, r)
        for wave in range(int(waves.max()) + 1 if len(waves) else 0):
            await self._all("Wave", self._wave_call(r, wave), r)

    async def _values(self, settings: RunSettings) -> np.ndarray:
        ids = _history_ids(self.graph, settings)
        owners = np.searchsorted(self.bounds, ids, side="right") - 1

        def get(k: int, stub: NodeShardStub) -> Awaitable[pb.GetValuesReply]:
            mine = ids[owners == k]
            request = pb.GetValuesRequest(vertices=array_to_proto(mine))
            return stub.GetValues(request)

        replies = await self._all("GetValues", get)
        values = np.empty(len(ids))
        for k, reply in enumerate(replies):
            values[owners == k] = array_from_proto(reply.values, default="<f8")
        return values


def _history_ids(graph: Graph, settings: RunSettings) -> np.ndarray:
    if settings.history_vertices is None:
        return np.arange(graph.n, dtype=np.int64)
    ids = np.unique(np.asarray(settings.history_vertices, dtype=np.int64))
    if len(ids) and (ids[0] < 0 or ids[-1] >= graph.n):
        raise InvalidInput(f"vertex ids must lie in 0..{graph.n - 1}", field="history.vertices")
    return ids
