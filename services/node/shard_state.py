"""The state every shard holds, whatever its execution mode: vertex values and weights.

State lives in flat arrays indexed by *slot* (see :mod:`gossipsim.node.kernels`): the shard's
own vertices first, then the halo, copies of remote neighbours that sequential mode needs on
several shards. Each execution mode adds its phases in its own module
(:mod:`~gossipsim.node.sequential_turns`, :mod:`~gossipsim.node.sequential_waves`,
:mod:`~gossipsim.node.synchronous_phases`); :class:`gossipsim.node.shard.ShardEngine` combines
them. What a mode keeps between the phases of a run it clears in :meth:`ShardState._forget_run`,
which every mode extends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gossipsim.common.errors import ProtocolMisuse
from gossipsim.common.model.aggregates import Aggregates
from gossipsim.common.model.algorithms import Memory, Mode, Order, Rule
from gossipsim.node import kernels
from gossipsim.node.exact_sums import aggregates_of

EMPTY_I64 = np.empty(0, dtype=np.int64)
EMPTY_F64 = np.empty(0, dtype=np.float64)


class PhaseError(ProtocolMisuse):
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

    ids: np.ndarray = field(default_factory=lambda: EMPTY_I64)
    partners: np.ndarray = field(default_factory=lambda: EMPTY_I64)
    x: np.ndarray = field(default_factory=lambda: EMPTY_F64)
    w: np.ndarray = field(default_factory=lambda: EMPTY_F64)
    priority: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    event_targets: np.ndarray = field(default_factory=lambda: EMPTY_I64)
    event_partners: np.ndarray = field(default_factory=lambda: EMPTY_I64)
    event_changed: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.bool_))

    def is_empty(self) -> bool:
        return len(self.ids) == 0 and len(self.event_targets) == 0


class ShardState:
    """The vertex state of one shard and what every mode does with it."""

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
            base = EMPTY_F64
        self.start_weights = np.ascontiguousarray(base, dtype=np.float64)
        self.weights = self.start_weights.copy()
        self.remembered = np.zeros(len(self.weights), dtype=np.bool_)
        self.halo_ids = EMPTY_I64
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
        self._round = -1  # no run yet: reset() makes it 0, and rounds proper start at 1
        self._forget_run()

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

    def _forget_run(self) -> None:
        """Clear what the modes keep between the phases of a run (at start and each reset)."""

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
        self._round = 0  # rounds proper start at 1
        self._forget_run()

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
        selected: np.ndarray = x[local]
        return selected

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
