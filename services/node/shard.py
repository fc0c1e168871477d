"""One shard of a graph: its vertices' state in numpy arrays and the phases of a round.

This module knows nothing about gRPC: what a phase must send to other shards it returns as
:class:`Batch` objects keyed by shard index, and what other shards send it arrives through
the ``accept_*`` methods. The server moves batches between shards; a single-shard run calls
the same phases back to back (:meth:`ShardEngine.run_rounds`), so one and many shards run
exactly the same arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gossipsim.common.errors import InvalidInput
from gossipsim.common.model.aggregates import Aggregates
from gossipsim.common.model.algorithms import Memory, Mode, Order, Rule
from gossipsim.common.model.convergence import is_converged
from gossipsim.common.model.rng import round_key
from gossipsim.common.model.rng_kernels import shuffled_order
from gossipsim.node import kernels
from gossipsim.node.exact_sums import aggregates_of

REQUESTS = "requests"
REPLIES = "replies"
_EMPTY_I64 = np.empty(0, dtype=np.int64)
_EMPTY_F64 = np.empty(0, dtype=np.float64)


class PhaseError(InvalidInput):
    """A phase was called out of order or with inputs that do not fit the configuration."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardAlgorithm:
    rule: Rule
    memory: Memory
    mode: Mode
    order: Order
    prior_partner_factor: float
    weighted: bool


@dataclass(slots=True, kw_only=True)
class Batch:
    """Arrays one shard sends another in one phase (unused arrays stay empty)."""

    ids: np.ndarray = field(default_factory=lambda: _EMPTY_I64)
    partners: np.ndarray = field(default_factory=lambda: _EMPTY_I64)
    x: np.ndarray = field(default_factory=lambda: _EMPTY_F64)
    w: np.ndarray = field(default_factory=lambda: _EMPTY_F64)
    priority: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    event_targets: np.ndarray = field(default_factory=lambda: _EMPTY_I64)
    event_partners: np.ndarray = field(default_factory=lambda: _EMPTY_I64)
    event_changed: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.bool_))

    def is_empty(self) -> bool:
        return len(self.ids) == 0 and len(self.event_targets) == 0


@dataclass(frozen=True, slots=True, kw_only=True)
class _Schedule:
    """This shard's exchanges of one sequential round, sorted by wave (round order within)."""

    round: int
    bounds: np.ndarray  # exchanges of wave w are [bounds[w], bounds[w + 1])
    initiators: np.ndarray
    partners: np.ndarray
    left: np.ndarray  # slots of the initiators
    right: np.ndarray  # slots of the partners
    owned_left: np.ndarray
    owned_right: np.ndarray

    def range(self, wave: int) -> tuple[int, int]:
        if not 0 <= wave < len(self.bounds) - 1:
            return 0, 0
        return int(self.bounds[wave]), int(self.bounds[wave + 1])


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundsOutcome:
    rounds: list[Aggregates]  # [0] is the initial state
    converged: bool
    history: list[tuple[int, np.ndarray]]


def _take(array: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Select from an optional array: an unused (empty) one stays empty."""
    return array[mask] if len(array) else array


def _concat(batches: list[Batch], name: str) -> np.ndarray:
    return np.concatenate([getattr(b, name) for b in batches])


class ShardEngine:
    """The state and round phases of one shard (see the module docstring)."""

    def __init__(
        self,
        *,
        shard_index: int,
        bounds: np.ndarray,
        indptr: np.ndarray,
        neighbors: np.ndarray,
        edge_weights: np.ndarray | None,
        algorithm: ShardAlgorithm,
    ) -> None:
        self.index = shard_index
        self.bounds = bounds.astype(np.int64)
        self.shard_count = len(bounds) - 1
        self.first = int(bounds[shard_index])
        self.n_local = int(bounds[shard_index + 1]) - self.first
        self.num_vertices = int(bounds[-1])
        self.algorithm = algorithm
        self._check_adjacency(indptr, neighbors)
        self.indptr = indptr.astype(np.int64, copy=False)
        # int32 ids (any graph under 2**31 vertices) halve the largest array of the shard
        self.neighbors = (
            neighbors if neighbors.dtype in (np.int32, np.int64) else neighbors.astype(np.int64)
        )
        # Memory penalizes partners through their weights, so uniform selection with memory
        # becomes weighted selection over initial weights of 1 (the seed's DefaultMemory).
        self.weighted = algorithm.weighted or algorithm.memory is not Memory.NONE
        if algorithm.weighted and edge_weights is not None:
            if len(edge_weights) != len(neighbors):
                raise PhaseError(
                    f"{len(edge_weights)} edge weights for {len(neighbors)} neighbour entries"
                )
            base = edge_weights
        elif self.weighted:
            base = np.ones(len(neighbors))
        else:
            base = _EMPTY_F64
        self.start_weights = np.ascontiguousarray(base, dtype=np.float64)
        self.weights = self.start_weights.copy()
        self.remembered = np.zeros(len(self.weights), dtype=np.bool_)
        self.halo_ids = _EMPTY_I64
        # Slots equal global ids on a single shard, and synchronous mode never uses them.
        self.slots = self.neighbors
        self.exports: dict[int, np.ndarray] = {}
        if algorithm.mode is Mode.SEQUENTIAL and self.shard_count > 1:
            self._build_halo()
        n_slots = self.n_local + len(self.halo_ids)
        self.x = np.zeros(n_slots)
        self.w = np.ones(n_slots)
        self.dirty = np.zeros(n_slots, dtype=np.bool_)
        self.run_key = 0
        self._order_cache: tuple[int, np.ndarray] | None = None
        self._chosen_cache: tuple[int, np.ndarray] | None = None
        self._schedule: _Schedule | None = None
        self._wave_inbox: dict[tuple[int, int], list[Batch]] = {}
        self._round = -1
        self._inbox: dict[tuple[int, str], dict[int, Batch]] = {}
        self._contacts: list[tuple[np.ndarray, np.ndarray]] = []
        self._snapshot = _EMPTY_F64

    # --- configuration -------------------------------------------------------------------

    def _check_adjacency(self, indptr: np.ndarray, neighbors: np.ndarray) -> None:
        if len(indptr) != self.n_local + 1 or indptr[0] != 0 or indptr[-1] != len(neighbors):
            raise PhaseError(
                f"shard {self.index}: row pointers do not fit {self.n_local} vertices "
                f"and {len(neighbors)} neighbour entries"
            )
        degrees = np.diff(indptr)
        if np.any(degrees < 0):
            raise PhaseError(f"shard {self.index}: row pointers are not ascending")
        isolated = np.flatnonzero(degrees == 0)
        if len(isolated):
            raise PhaseError(
                f"vertex {self.first + int(isolated[0])} has no neighbours, but every vertex "
                "must be able to pick a peer; remove isolated vertices from the graph"
            )
        if len(neighbors) and (neighbors.min() < 0 or neighbors.max() >= self.num_vertices):
            raise PhaseError(f"shard {self.index}: neighbour ids outside 0..{self.num_vertices}")

    def _owner(self, ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.bounds, ids, side="right") - 1

    def _build_halo(self) -> None:
        """Sequential mode: copies of remote neighbours, and who needs which local values."""
        remote = (self.neighbors < self.first) | (self.neighbors >= self.first + self.n_local)
        self.halo_ids = np.unique(self.neighbors[remote])
        self.slots = np.where(
            remote,
            self.n_local + np.searchsorted(self.halo_ids, self.neighbors),
            self.neighbors - self.first,
        )
        rows = np.repeat(np.arange(self.n_local), np.diff(self.indptr))
        owners = self._owner(self.neighbors)
        for peer in range(self.shard_count):
            if peer != self.index:
                self.exports[peer] = np.unique(rows[owners == peer])

    @property
    def rule(self) -> int:
        return int(self.algorithm.rule)

    # --- runs ----------------------------------------------------------------------------

    def reset(self, run_key: int, values: np.ndarray, halo_values: np.ndarray) -> None:
        """Start a run (or repetition): values, push-sum weights and memory start afresh."""
        if len(values) != self.n_local:
            raise PhaseError(f"expected {self.n_local} initial values, got {len(values)}")
        if len(halo_values) != len(self.halo_ids):
            raise PhaseError(
                f"expected {len(self.halo_ids)} halo initial values, got {len(halo_values)}"
            )
        self.run_key = run_key
        self.x = np.concatenate([values, halo_values]).astype(np.float64)
        self.w = np.ones(len(self.x))
        self.weights = self.start_weights.copy()
        self.remembered[:] = False
        self.dirty[:] = False
        self._order_cache = None
        self._chosen_cache = None
        self._schedule = None
        self._wave_inbox = {}
        self._round = 0  # rounds proper start at 1
        self._inbox = {}
        self._contacts = []

    def aggregates(self) -> Aggregates:
        x = self.x[: self.n_local]
        if self.algorithm.rule is Rule.PUSH_SUM:
            w = self.w[: self.n_local]
            return aggregates_of(x / w, x, w)
        return aggregates_of(x, x)

    def values(self, ids: np.ndarray | None = None) -> np.ndarray:
        """Current values (push-sum: estimates) of local vertices, by global id."""
        x = self.x[: self.n_local]
        if self.algorithm.rule is Rule.PUSH_SUM:
            x = x / self.w[: self.n_local]
        if ids is None or len(ids) == 0:
            return x.copy()
        local = ids - self.first
        if local.min() < 0 or local.max() >= self.n_local:
            raise PhaseError(f"shard {self.index} does not own all of the requested vertices")
        return x[local]

    def run_rounds(
        self,
        *,
        max_rounds: int,
        until_converged: bool,
        epsilon: float,
        history_every: int = 0,
        history_ids: np.ndarray | None = None,
    ) -> RoundsOutcome:
        """A whole run on a single shard, with no round trip per round."""
        if self.shard_count != 1:
            raise PhaseError("run_rounds needs a single-shard configuration")
        rounds = [self.aggregates()]
        history = [(0, self.values(history_ids))] if history_every else []
        converged = is_converged(self.algorithm.rule, rounds[0], epsilon)
        r = 0
        while r < max_rounds and not (until_converged and converged):
            r += 1
            self.local_round(r)
            rounds.append(self.aggregates())
            converged = is_converged(self.algorithm.rule, rounds[-1], epsilon)
            if history_every and r % history_every == 0:
                history.append((r, self.values(history_ids)))
        return RoundsOutcome(rounds=rounds, converged=converged, history=history)

    def local_round(self, round_number: int) -> None:
        """One round when this shard holds every vertex: the phases back to back."""
        if self.algorithm.mode is Mode.SEQUENTIAL:
            self.sequential_turn(round_number, 0, self.num_vertices)
        else:
            self.propose(round_number)
            self.resolve(round_number)
            self.settle(round_number)

    # --- sequential mode -----------------------------------------------------------------

    def initiation_order(self, round_number: int) -> np.ndarray:
        if self.algorithm.order is Order.FIXED:
            return np.arange(self.num_vertices, dtype=np.int64)
        if self._order_cache is None or self._order_cache[0] != round_number:
            rkey = round_key(self.run_key, round_number)
            self._order_cache = (round_number, shuffled_order(rkey, self.num_vertices))
        return self._order_cache[1]

    def sequential_turn(self, round_number: int, start: int, stop: int) -> dict[int, Batch]:
        """Positions [start, stop) of the round's order, all initiated by local vertices.

        Returns, per peer shard, the values this turn changed that the peer holds (its own
        vertices, or halo copies of them) and the memory events of its vertices.
        """
        if self.algorithm.mode is not Mode.SEQUENTIAL:
            raise PhaseError("sequential turn on a shard configured for synchronous mode")
        if not 0 <= start <= stop <= self.num_vertices:
            raise PhaseError(f"turn positions [{start}, {stop}) outside the round's order")
        initiators = self.initiation_order(round_number)[start:stop]
        local = initiators - self.first
        if len(local) and (local.min() < 0 or local.max() >= self.n_local):
            raise PhaseError(f"turn [{start}, {stop}) includes vertices shard {self.index} lacks")
        events = len(initiators) if self.algorithm.memory is not Memory.NONE else 0
        event_targets = np.empty(events, dtype=np.int64)
        event_partners = np.empty(events, dtype=np.int64)
        event_changed = np.empty(events, dtype=np.bool_)
        rkey = round_key(self.run_key, round_number)
        partner_slots = _EMPTY_I64
        if self.algorithm.memory is Memory.NONE:
            partner_slots = self.slots[self._round_choices(round_number)[local]]
        count = kernels.sequential_pass(
            initiators,
            self.first,
            self.n_local,
            self.indptr,
            self.neighbors,
            self.slots,
            self.x,
            self.w,
            self.weights,
            self.start_weights,
            self.remembered,
            self.dirty,
            self.rule,
            self.weighted,
            int(self.algorithm.memory),
            self.algorithm.prior_partner_factor,
            rkey,
            event_targets,
            event_partners,
            event_changed,
            partner_slots,
            self.shard_count > 1,
        )
        return self._turn_updates(
            event_targets[:count], event_partners[:count], event_changed[:count]
        )

    def _round_choices(self, round_number: int) -> np.ndarray:
        """The CSR entry each local vertex contacts this round (memoryless selection only)."""
        if self._chosen_cache is None or self._chosen_cache[0] != round_number:
            picks = kernels.select_all(
                self.first,
                self.n_local,
                self.indptr,
                self.weights,
                self.weighted,
                round_key(self.run_key, round_number),
            )
            self._chosen_cache = (round_number, picks)
        return self._chosen_cache[1]

    # --- sequential mode in waves (several shards, no memory) ----------------------------

    def select_partners(self, round_number: int) -> np.ndarray:
        """The neighbour (global id) each local vertex contacts this round."""
        if self.algorithm.mode is not Mode.SEQUENTIAL or self.algorithm.memory is not Memory.NONE:
            raise PhaseError("partners are chosen up front only in sequential mode without memory")
        return self.neighbors[self._round_choices(round_number)].astype(np.int64)

    def _slot_of(self, ids: np.ndarray) -> np.ndarray:
        local = (ids >= self.first) & (ids < self.first + self.n_local)
        return np.where(local, ids - self.first, self.n_local + np.searchsorted(self.halo_ids, ids))

    def schedule_round(
        self, round_number: int, initiators: np.ndarray, partners: np.ndarray, waves: np.ndarray
    ) -> dict[int, Batch]:
        """Keep this shard's exchanges of the round by wave; send what wave 0 needs."""
        if not len(initiators) == len(partners) == len(waves):
            raise PhaseError("a round schedule needs as many partners and waves as initiators")
        order = np.argsort(waves, kind="stable")  # within a wave, round order is kept
        initiators, partners, waves = initiators[order], partners[order], waves[order]
        owned_left = (initiators >= self.first) & (initiators < self.first + self.n_local)
        owned_right = (partners >= self.first) & (partners < self.first + self.n_local)
        if len(initiators) and not np.all(owned_left | owned_right):
            raise PhaseError(f"the schedule holds exchanges that do not touch shard {self.index}")
        self._wave_inbox = {key: v for key, v in self._wave_inbox.items() if key[0] >= round_number}
        top = int(waves[-1]) + 1 if len(waves) else 0
        self._schedule = _Schedule(
            round=round_number,
            bounds=np.searchsorted(waves, np.arange(top + 1)),
            initiators=initiators,
            partners=partners,
            left=self._slot_of(initiators),
            right=self._slot_of(partners),
            owned_left=owned_left,
            owned_right=owned_right,
        )
        return self._wave_values(0)

    def accept_wave_values(self, round_number: int, wave: int, batch: Batch) -> None:
        """Values for one wave, kept until it starts.

        They can arrive early: a peer that finished wave w sends its values for wave w+1
        while this shard may not have run wave w yet, and wave w may still need the same
        vertices' older values.
        """
        self._wave_inbox.setdefault((round_number, wave), []).append(batch)

    def wave(self, round_number: int, wave: int) -> dict[int, Batch]:
        """Apply this shard's exchanges of one wave; send what the next wave needs."""
        schedule = self._schedule
        if schedule is None or schedule.round != round_number:
            raise PhaseError(f"wave {wave} of round {round_number} without its schedule")
        for batch in self._wave_inbox.pop((round_number, wave), []):
            self.accept_updates(batch)
        lo, hi = schedule.range(wave)
        kernels.apply_pairs(self.rule, self.x, self.w, schedule.left[lo:hi], schedule.right[lo:hi])
        return self._wave_values(wave + 1)

    def _wave_values(self, wave: int) -> dict[int, Batch]:
        """Values of local ends of the wave's cross-shard exchanges, for the other ends' owners."""
        schedule = self._schedule
        assert schedule is not None
        lo, hi = schedule.range(wave)
        left_local = schedule.owned_left[lo:hi]
        right_local = schedule.owned_right[lo:hi]
        sends_left = left_local & ~right_local
        sends_right = right_local & ~left_local
        ids = np.concatenate(
            [schedule.initiators[lo:hi][sends_left], schedule.partners[lo:hi][sends_right]]
        )
        destination = np.concatenate(
            [schedule.partners[lo:hi][sends_left], schedule.initiators[lo:hi][sends_right]]
        )
        slots = ids - self.first
        owners = self._owner(destination)
        return {
            peer: Batch(
                ids=ids[owners == peer],
                x=self.x[slots[owners == peer]],
                w=self.w[slots[owners == peer]],
            )
            for peer in np.unique(owners).tolist()
        }

    def _turn_updates(
        self, targets: np.ndarray, partners: np.ndarray, changed: np.ndarray
    ) -> dict[int, Batch]:
        if self.shard_count == 1:
            self.dirty[:] = False
            return {}
        dirty_local = np.flatnonzero(self.dirty[: self.n_local])
        dirty_halo = np.flatnonzero(self.dirty[self.n_local :])
        halo_slots = self.n_local + dirty_halo
        event_owner = self._owner(targets)
        out = {}
        for peer, exported in self.exports.items():
            local = np.intersect1d(dirty_local, exported, assume_unique=True)
            slots = np.concatenate([local, halo_slots])
            mine = event_owner == peer
            out[peer] = Batch(
                ids=np.concatenate([local + self.first, self.halo_ids[dirty_halo]]),
                x=self.x[slots],
                w=self.w[slots],
                event_targets=targets[mine],
                event_partners=partners[mine],
                event_changed=changed[mine],
            )
        self.dirty[:] = False
        return out

    def accept_updates(self, batch: Batch) -> None:
        """Values another shard's turn changed, and memory events of local vertices."""
        owned = (batch.ids >= self.first) & (batch.ids < self.first + self.n_local)
        slots = batch.ids[owned] - self.first
        self.x[slots] = batch.x[owned]
        self.w[slots] = batch.w[owned]
        remote_ids = batch.ids[~owned]
        position = np.searchsorted(self.halo_ids, remote_ids)
        position = np.minimum(position, max(len(self.halo_ids) - 1, 0))
        present = self.halo_ids[position] == remote_ids if len(self.halo_ids) else np.zeros(0, bool)
        halo_slots = self.n_local + position[present]
        self.x[halo_slots] = batch.x[~owned][present]
        self.w[halo_slots] = batch.w[~owned][present]
        if len(batch.event_targets):
            self._remember(batch.event_targets, batch.event_partners, batch.event_changed)

    def _remember(self, vertices: np.ndarray, partners: np.ndarray, changed: np.ndarray) -> None:
        """Memory updates of local vertices for their contacts, in order."""
        kernels.replay_events(
            self.first,
            vertices,
            partners,
            changed,
            self.indptr,
            self.neighbors,
            self.weights,
            self.start_weights,
            self.remembered,
            int(self.algorithm.memory),
            self.algorithm.prior_partner_factor,
        )

    # --- synchronous mode ----------------------------------------------------------------

    def _begin_phase(self, round_number: int, expected: str) -> None:
        if self.algorithm.mode is not Mode.SYNCHRONOUS:
            raise PhaseError(f"{expected} on a shard configured for sequential mode")
        if round_number < 1:
            raise PhaseError(f"round numbers start at 1, got {round_number}")

    def _split_by_owner(self, batch: Batch, owner_of: np.ndarray) -> dict[int, Batch]:
        out: dict[int, Batch] = {}
        owners = self._owner(owner_of)
        for peer in range(self.shard_count):
            mine = owners == peer
            out[peer] = Batch(
                ids=batch.ids[mine],
                partners=_take(batch.partners, mine),
                x=_take(batch.x, mine),
                w=_take(batch.w, mine),
                priority=_take(batch.priority, mine),
            )
        return out

    def propose(self, round_number: int) -> dict[int, Batch]:
        """Phase 1: this shard's requests, by the shard that owns each target."""
        self._begin_phase(round_number, "propose")
        self._round = round_number
        self._inbox = {key: box for key, box in self._inbox.items() if key[0] >= round_number}
        self._contacts = []
        self._snapshot = self.x[: self.n_local].copy()
        source, target, px, pw, priority = kernels.propose(
            self.first,
            self.n_local,
            self.indptr,
            self.neighbors,
            self.x,
            self.w,
            self.weights,
            self.weighted,
            self.rule,
            round_key(self.run_key, round_number),
        )
        requests = Batch(ids=source, partners=target, x=px, w=pw, priority=priority)
        if self.algorithm.rule in (Rule.PUSH_SUM, Rule.RUMOR_PUSH):
            self._contacts.append((source, target))  # no reply will confirm these contacts
        outgoing = self._split_by_owner(requests, target)
        self._inbox.setdefault((round_number, REQUESTS), {})[self.index] = outgoing.pop(self.index)
        return outgoing

    def accept(self, round_number: int, kind: str, from_shard: int, batch: Batch) -> None:
        """Requests or replies from another shard.

        Requests for round r may arrive before this shard has begun round r itself (the
        runner starts all shards' proposals at once), so they are kept by round.
        """
        if not self._round <= round_number <= self._round + 1:
            raise PhaseError(
                f"{kind} for round {round_number} from shard {from_shard}, "
                f"but shard {self.index} is in round {self._round}"
            )
        self._inbox.setdefault((round_number, kind), {})[from_shard] = batch

    def _take_inbox(self, kind: str) -> Batch:
        """Everything delivered for the current round, in shard order.

        A shard with nothing for this one sends nothing: the runner only starts a phase after
        every shard's deliveries of the previous phase were acknowledged, so an absent batch
        is an empty one, not a late one.
        """
        box = self._inbox.pop((self._round, kind), {})
        batches = [box[k] for k in sorted(box)]
        return Batch(
            ids=_concat(batches, "ids"),
            partners=_concat(batches, "partners"),
            x=_concat(batches, "x"),
            w=_concat(batches, "w"),
            priority=_concat(batches, "priority"),
        )

    def resolve(self, round_number: int) -> dict[int, Batch]:
        """Phase 2: answer the requests to local vertices; replies go to the requesters."""
        self._begin_phase(round_number, "resolve")
        if round_number != self._round:
            raise PhaseError(f"resolve for round {round_number} during round {self._round}")
        requests = self._take_inbox(REQUESTS)
        if self.algorithm.rule is Rule.PUSH_SUM:
            order = np.lexsort((requests.ids, requests.partners))
            requests = Batch(
                ids=requests.ids[order],
                partners=requests.partners[order],
                x=requests.x[order],
                w=requests.w[order],
                priority=requests.priority[order],
            )
        requester, partner, reply, has_reply = kernels.resolve(
            self.first,
            self.n_local,
            requests.ids,
            requests.partners,
            requests.x,
            requests.w,
            requests.priority,
            self.x,
            self.w,
            self.rule,
        )
        self._contacts.append((partner, requester))
        replies = Batch(ids=requester[has_reply], partners=partner[has_reply], x=reply[has_reply])
        outgoing = self._split_by_owner(replies, replies.ids)
        self._inbox.setdefault((round_number, REPLIES), {})[self.index] = outgoing.pop(self.index)
        return outgoing

    def settle(self, round_number: int) -> Aggregates:
        """Phase 3 (synchronous): apply replies and memory; the shard's end-of-round state.

        In sequential mode, and for round 0, there is nothing to apply: it only reports.
        """
        if self.algorithm.mode is Mode.SEQUENTIAL or round_number == 0:
            return self.aggregates()
        self._begin_phase(round_number, "settle")
        if round_number != self._round:
            raise PhaseError(f"settle for round {round_number} during round {self._round}")
        replies = self._take_inbox(REPLIES)
        kernels.settle(self.first, replies.ids, replies.x, self.x, self.rule)
        if self.algorithm.memory is not Memory.NONE:
            self._contacts.append((replies.ids, replies.partners))
            vertices = np.concatenate([c[0] for c in self._contacts])
            partners = np.concatenate([c[1] for c in self._contacts])
            # Complex memory first forgets for every vertex whose value changed this round,
            # then every contact multiplies; multiplications commute, so contact order and
            # sharding do not matter.
            if self.algorithm.memory is Memory.COMPLEX:
                changed = self.x[: self.n_local] != self._snapshot
                kernels.restore_weights(changed, self.indptr, self.weights, self.start_weights)
            self._remember(vertices, partners, np.zeros(len(vertices), dtype=np.bool_))
        self._contacts = []
        return self.aggregates()
