"""Sequential mode in turns: vertices initiate one after another, in the round's order.

On one shard a round is a single turn. On several shards a turn is a stretch of the round's
order whose initiators one shard owns (the runner uses turns where memory makes partners depend
on the state, or where a fixed order makes turns few); the shard applies it and returns the
values it changed that peers hold (their vertices, or halo copies of them) and the memory events
of their vertices, which :meth:`SequentialTurns.accept_updates` applies on the other side.
"""

from __future__ import annotations

import numpy as np

from gossipsim.common.model.algorithms import Memory, Mode, Order
from gossipsim.common.model.rng import round_key
from gossipsim.common.model.rng_kernels import shuffled_order
from gossipsim.node import kernels
from gossipsim.node.shard_state import EMPTY_I64, Batch, PhaseError, ShardState


class SequentialTurns(ShardState):
    """The turns of sequential mode (see the module docstring)."""

    _order_cache: tuple[int, np.ndarray] | None
    _chosen_cache: tuple[int, np.ndarray] | None

    def _forget_run(self) -> None:
        super()._forget_run()
        self._order_cache = None
        self._chosen_cache = None

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
        partner_slots = EMPTY_I64
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
