"""The node service over gRPC: one :class:`ShardEngine`, and channels to its peer shards.

Expected errors (a phase out of order, bad arrays, an unreachable peer) become gRPC status
codes with a message that names the shard and the problem; the runner turns them into a
failed run. The event loop runs the numba kernels directly: a shard serves one runner, and
a kernel call is the work itself, not something to interleave with.

The node answers only its runner (common/rpc/auth.py): ``Configure`` must carry the secret the
node was started with and the new session's token; every other call, the runner's and the
peers' deliveries alike, must carry that token, or it is refused with UNAUTHENTICATED before
its message is read. The node connects only to the peer addresses of its configuration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import numpy as np
import structlog
from grpclib import GRPCError
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import StreamTerminatedError
from grpclib.server import Stream

from gossipsim.common.errors import InvalidInput, ProtocolMisuse
from gossipsim.common.model.algorithms import Memory, Mode, Order, Rule
from gossipsim.common.rpc import node_pb2 as pb
from gossipsim.common.rpc.auth import (
    MIN_CREDENTIAL_CHARACTERS,
    SECRET_HEADER,
    TOKEN_HEADER,
    matches,
    presented,
)
from gossipsim.common.rpc.node_grpc import NodeShardBase, NodeShardStub
from gossipsim.common.rpc.transport import NodeTransport, parse_address
from gossipsim.common.rpc.wire import (
    aggregates_to_proto,
    array_from_proto,
    array_to_proto,
)
from gossipsim.common.runtime.memory import release_free_memory
from gossipsim.node.shard import ShardEngine
from gossipsim.node.shard_state import Batch, ShardAlgorithm
from gossipsim.node.synchronous_phases import REPLIES, REQUESTS

log = structlog.get_logger(__name__)

Request = TypeVar("Request")
Reply = TypeVar("Reply")

_KIND_NAMES = {pb.REQUESTS: REQUESTS, pb.REPLIES: REPLIES}


def _batch_to_request(
    batch: Batch,
    *,
    configuration_id: str,
    round_number: int,
    kind: pb.DeliveryKind,
    from_shard: int,
) -> pb.DeliverRequest:
    return pb.DeliverRequest(
        configuration_id=configuration_id,
        round=round_number,
        kind=kind,
        from_shard=from_shard,
        ids=array_to_proto(batch.ids),
        partners=array_to_proto(batch.partners),
        x=array_to_proto(batch.x),
        w=array_to_proto(batch.w),
        priority=array_to_proto(batch.priority),
        event_targets=array_to_proto(batch.event_targets),
        event_partners=array_to_proto(batch.event_partners),
        event_changed=array_to_proto(batch.event_changed),
    )


def _batch_from_request(request: pb.DeliverRequest) -> Batch:
    return Batch(
        ids=array_from_proto(request.ids),
        partners=array_from_proto(request.partners),
        x=array_from_proto(request.x, default="<f8"),
        w=array_from_proto(request.w, default="<f8"),
        priority=array_from_proto(request.priority, default="<u8"),
        event_targets=array_from_proto(request.event_targets),
        event_partners=array_from_proto(request.event_partners),
        event_changed=array_from_proto(request.event_changed, default="|b1"),
    )


def _refuse(message: str) -> GRPCError:
    return GRPCError(Status.UNAUTHENTICATED, message)


class NodeShardService(NodeShardBase):
    """Serves one shard at a time; Configure replaces it, Terminate drops it.

    ``secret`` is the launch secret a Configure must carry; ``transport`` says how to reach
    the peers (TLS, the message cap).
    """

    def __init__(
        self,
        *,
        secret: str,
        transport: NodeTransport | None = None,
        peer_timeout: float = 120.0,
    ) -> None:
        if len(secret) < MIN_CREDENTIAL_CHARACTERS:
            raise ValueError(f"a node's secret must be at least {MIN_CREDENTIAL_CHARACTERS} long")
        self._secret = secret
        self._transport = transport or NodeTransport()
        self._token: str | None = None  # the configured session's; None: no session
        self._engine: ShardEngine | None = None
        self._configuration_id = ""
        self._peers: list[NodeShardStub | None] = []
        self._channels: list[Channel] = []
        self._peer_addresses: list[str] = []
        self._peer_timeout = peer_timeout

    async def close(self) -> None:
        for channel in self._channels:
            channel.close()
        self._channels = []
        self._peers = []

    # --- helpers ---------------------------------------------------------------------------

    def _admit_session(self, stream: Stream[Any, Any]) -> None:
        """Let a call through only if it carries the configured session's token."""
        if self._token is None:
            raise _refuse("this node has no session; its runner must call Configure first")
        if not matches(presented(stream.metadata, TOKEN_HEADER), self._token):
            log.warning("call refused: no valid session token", peer=_peer(stream))
            raise _refuse(f"a call needs the {TOKEN_HEADER} of the node's current session")

    def _admit_configure(self, stream: Stream[Any, Any]) -> str:
        """Let a Configure through only with the launch secret; return its new session token."""
        if not matches(presented(stream.metadata, SECRET_HEADER), self._secret):
            log.warning("Configure refused: no valid launch secret", peer=_peer(stream))
            raise _refuse(f"Configure needs the {SECRET_HEADER} the node was started with")
        token = presented(stream.metadata, TOKEN_HEADER)
        if token is None or len(token) < MIN_CREDENTIAL_CHARACTERS:
            raise _refuse(
                f"Configure needs the new session's {TOKEN_HEADER} "
                f"(at least {MIN_CREDENTIAL_CHARACTERS} characters)"
            )
        return token

    async def _handle(
        self,
        stream: Stream[Request, Reply],
        work: Callable[[Request], Awaitable[Reply]],
        *,
        admitted: bool = False,
    ) -> None:
        """Check the caller (unless ``admitted`` already), then receive, work and reply.

        Credentials are checked before the message is read, so a refused caller's bytes are
        never parsed, and again once it has arrived: a Configure may have ended the session
        while it did.
        """
        if not admitted:
            self._admit_session(stream)
        request = await stream.recv_message()
        assert request is not None
        if not admitted:
            self._admit_session(stream)
        try:
            reply = await work(request)
        except (ProtocolMisuse, InvalidInput) as error:
            raise GRPCError(Status.FAILED_PRECONDITION, str(error)) from error
        except ValueError as error:
            raise GRPCError(Status.INVALID_ARGUMENT, str(error)) from error
        except GRPCError:
            raise
        except Exception as error:
            log.exception("shard error", configuration=self._configuration_id)
            raise GRPCError(Status.INTERNAL, f"node shard error: {error!r}") from error
        await stream.send_message(reply)

    def _require(self, configuration_id: str) -> ShardEngine:
        if self._engine is None:
            raise ProtocolMisuse("this node has no shard configured; call Configure first")
        if configuration_id != self._configuration_id:
            raise ProtocolMisuse(
                f"this node serves configuration {self._configuration_id!r}, "
                f"not {configuration_id!r}"
            )
        return self._engine

    async def _send_to_peers(
        self,
        outgoing: dict[int, Batch],
        *,
        round_number: int,
        kind: pb.DeliveryKind,
        wave: int = 0,
    ) -> None:
        """Deliver each peer its batch, all at once; fail naming the peer that did not answer."""
        engine = self._engine
        assert engine is not None
        for peer in outgoing:
            if not 0 <= peer < len(self._peers) or self._peers[peer] is None:
                raise GRPCError(
                    Status.PERMISSION_DENIED,
                    f"shard {engine.index} was to deliver to shard {peer}, which is not a peer "
                    "of its configuration; nothing was sent",
                )

        async def deliver(peer: int, batch: Batch) -> None:
            stub = self._peers[peer]
            assert stub is not None
            request = _batch_to_request(
                batch,
                configuration_id=self._configuration_id,
                round_number=round_number,
                kind=kind,
                from_shard=engine.index,
            )
            request.wave = wave
            try:
                await stub.Deliver(request, timeout=self._peer_timeout)
            except (TimeoutError, GRPCError, OSError, StreamTerminatedError) as error:
                detail = getattr(error, "message", None) or repr(error)
                raise GRPCError(
                    Status.UNAVAILABLE,
                    f"shard {engine.index} could not deliver to shard {peer} at "
                    f"{self._peer_addresses[peer]}: {detail}",
                ) from error

        await asyncio.gather(
            *(deliver(peer, batch) for peer, batch in outgoing.items() if not batch.is_empty())
        )

    # --- RPCs ------------------------------------------------------------------------------

    async def Configure(self, stream: Stream[pb.ConfigureRequest, pb.ConfigureReply]) -> None:
        token = self._admit_configure(stream)

        async def work(request: pb.ConfigureRequest) -> pb.ConfigureReply:
            await self.close()
            self._engine = None
            self._token = None  # the previous session is over, whether or not this one starts
            bounds = np.asarray(request.shard_bounds, dtype=np.int64)
            if len(bounds) < 2 or not 0 <= request.shard_index < len(bounds) - 1:
                raise ValueError(f"shard index {request.shard_index} outside {len(bounds) - 1}")
            if len(request.peer_addresses) != len(bounds) - 1:
                raise ValueError("one peer address per shard is required")
            for peer, address in enumerate(request.peer_addresses):
                try:
                    parse_address(address)
                except ValueError:
                    raise ValueError(f"peer address {peer} is not host:port") from None
            algorithm = request.algorithm
            weights = array_from_proto(request.edge_weights, default="<f8")
            engine = ShardEngine(
                shard_index=request.shard_index,
                bounds=bounds,
                indptr=array_from_proto(request.indptr),
                neighbors=array_from_proto(request.neighbors),
                edge_weights=weights if algorithm.weighted else None,
                algorithm=ShardAlgorithm(
                    rule=Rule(algorithm.rule),
                    memory=Memory(algorithm.memory),
                    mode=Mode(algorithm.mode),
                    order=Order(algorithm.order),
                    prior_partner_factor=algorithm.prior_partner_factor,
                    weighted=algorithm.weighted,
                ),
            )
            self._peer_addresses = list(request.peer_addresses)
            for peer, address in enumerate(self._peer_addresses):
                if peer == request.shard_index:
                    self._peers.append(None)
                    continue
                channel = self._transport.channel(address, token=token)  # connects when used
                self._channels.append(channel)
                self._peers.append(NodeShardStub(channel))
            self._engine = engine
            self._configuration_id = request.configuration_id
            self._token = token
            release_free_memory()  # the parsed request's buffers
            log.info(
                "shard configured",
                configuration=request.configuration_id,
                shard=engine.index,
                vertices=engine.n_local,
                halo=len(engine.halo_ids),
            )
            return pb.ConfigureReply(
                local_vertices=engine.n_local, halo_ids=array_to_proto(engine.halo_ids)
            )

        await self._handle(stream, work, admitted=True)

    async def Reset(self, stream: Stream[pb.ResetRequest, pb.Empty]) -> None:
        async def work(request: pb.ResetRequest) -> pb.Empty:
            engine = self._require(request.configuration_id)
            engine.reset(
                request.run_key,
                array_from_proto(request.values, default="<f8"),
                array_from_proto(request.halo_values, default="<f8"),
            )
            return pb.Empty()

        await self._handle(stream, work)

    async def RunRounds(self, stream: Stream[pb.RunRoundsRequest, pb.RunRoundsReply]) -> None:
        async def work(request: pb.RunRoundsRequest) -> pb.RunRoundsReply:
            engine = self._require(request.configuration_id)
            history_ids = array_from_proto(request.history.vertices)
            outcome = engine.run_rounds(
                max_rounds=request.stop.max_rounds,
                until_converged=request.stop.until_converged,
                epsilon=request.stop.epsilon,
                history_every=request.history.every,
                history_ids=history_ids if len(history_ids) else None,
            )
            return pb.RunRoundsReply(
                rounds=[aggregates_to_proto(a) for a in outcome.rounds],
                converged=outcome.converged,
                history=[
                    pb.HistorySample(round=r, values=array_to_proto(v)) for r, v in outcome.history
                ],
            )

        await self._handle(stream, work)

    async def Propose(self, stream: Stream[pb.PhaseRequest, pb.PhaseReply]) -> None:
        async def work(request: pb.PhaseRequest) -> pb.PhaseReply:
            engine = self._require(request.configuration_id)
            outgoing = engine.propose(request.round)
            await self._send_to_peers(outgoing, round_number=request.round, kind=pb.REQUESTS)
            return pb.PhaseReply()

        await self._handle(stream, work)

    async def Resolve(self, stream: Stream[pb.PhaseRequest, pb.PhaseReply]) -> None:
        async def work(request: pb.PhaseRequest) -> pb.PhaseReply:
            engine = self._require(request.configuration_id)
            outgoing = engine.resolve(request.round)
            await self._send_to_peers(outgoing, round_number=request.round, kind=pb.REPLIES)
            return pb.PhaseReply()

        await self._handle(stream, work)

    async def Settle(self, stream: Stream[pb.PhaseRequest, pb.PhaseReply]) -> None:
        async def work(request: pb.PhaseRequest) -> pb.PhaseReply:
            engine = self._require(request.configuration_id)
            return pb.PhaseReply(aggregates=aggregates_to_proto(engine.settle(request.round)))

        await self._handle(stream, work)

    async def SequentialTurn(self, stream: Stream[pb.TurnRequest, pb.PhaseReply]) -> None:
        async def work(request: pb.TurnRequest) -> pb.PhaseReply:
            engine = self._require(request.configuration_id)
            outgoing = engine.sequential_turn(request.round, request.start, request.stop)
            await self._send_to_peers(outgoing, round_number=request.round, kind=pb.UPDATES)
            return pb.PhaseReply()

        await self._handle(stream, work)

    async def SelectPartners(self, stream: Stream[pb.PhaseRequest, pb.PartnersReply]) -> None:
        async def work(request: pb.PhaseRequest) -> pb.PartnersReply:
            engine = self._require(request.configuration_id)
            partners = engine.select_partners(request.round)
            return pb.PartnersReply(partners=array_to_proto(partners))

        await self._handle(stream, work)

    async def InitiationOrder(self, stream: Stream[pb.PhaseRequest, pb.OrderReply]) -> None:
        async def work(request: pb.PhaseRequest) -> pb.OrderReply:
            engine = self._require(request.configuration_id)
            return pb.OrderReply(order=array_to_proto(engine.initiation_order(request.round)))

        await self._handle(stream, work)

    async def ScheduleRound(self, stream: Stream[pb.ScheduleRequest, pb.Empty]) -> None:
        async def work(request: pb.ScheduleRequest) -> pb.Empty:
            engine = self._require(request.configuration_id)
            outgoing = engine.schedule_round(
                request.round,
                array_from_proto(request.initiators),
                array_from_proto(request.partners),
                array_from_proto(request.waves),
            )
            await self._send_to_peers(
                outgoing, round_number=request.round, kind=pb.WAVE_VALUES, wave=0
            )
            return pb.Empty()

        await self._handle(stream, work)

    async def Wave(self, stream: Stream[pb.WaveRequest, pb.Empty]) -> None:
        async def work(request: pb.WaveRequest) -> pb.Empty:
            engine = self._require(request.configuration_id)
            outgoing = engine.wave(request.round, request.wave)
            await self._send_to_peers(
                outgoing, round_number=request.round, kind=pb.WAVE_VALUES, wave=request.wave + 1
            )
            return pb.Empty()

        await self._handle(stream, work)

    async def Deliver(self, stream: Stream[pb.DeliverRequest, pb.Empty]) -> None:
        async def work(request: pb.DeliverRequest) -> pb.Empty:
            engine = self._require(request.configuration_id)
            batch = _batch_from_request(request)
            if request.kind == pb.UPDATES:
                engine.accept_updates(batch)
            elif request.kind == pb.WAVE_VALUES:
                engine.accept_wave_values(request.round, request.wave, batch)
            elif request.kind in _KIND_NAMES:
                engine.accept(request.round, _KIND_NAMES[request.kind], request.from_shard, batch)
            else:
                raise ValueError(f"unknown delivery kind {request.kind}")
            return pb.Empty()

        await self._handle(stream, work)

    async def GetValues(self, stream: Stream[pb.GetValuesRequest, pb.GetValuesReply]) -> None:
        async def work(request: pb.GetValuesRequest) -> pb.GetValuesReply:
            engine = self._require(self._configuration_id)
            ids = array_from_proto(request.vertices)
            return pb.GetValuesReply(values=array_to_proto(engine.values(ids)))

        await self._handle(stream, work)

    async def Terminate(self, stream: Stream[pb.Empty, pb.Empty]) -> None:
        async def work(request: Any) -> pb.Empty:
            await self.close()
            self._engine = None
            self._configuration_id = ""
            self._token = None
            return pb.Empty()

        await self._handle(stream, work)


def _peer(stream: Stream[Any, Any]) -> str:
    """The caller's address, for the log of a refused call."""
    address = stream.peer.addr()
    return f"{address[0]}:{address[1]}" if address else "unknown"
