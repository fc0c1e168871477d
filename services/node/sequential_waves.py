"""Sequential mode in waves: several shards, no memory.

Without memory every vertex's partner can be chosen up front
(:meth:`SequentialWaves.select_partners`); the runner then groups the round's exchanges into
dependency waves (:mod:`gossipsim.runner.waves`), whose exchanges touch disjoint vertices. A
shard applies its exchanges of each wave and sends the values that the next wave needs on other
shards, which gives the same results as the plain sequence of turns in far fewer calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gossipsim.common.model.algorithms import Memory, Mode
from gossipsim.node import kernels
from gossipsim.node.sequential_turns import SequentialTurns
from gossipsim.node.shard_state import Batch, PhaseError


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


class SequentialWaves(SequentialTurns):
    """The waves of sequential mode (see the module docstring)."""

    _schedule: _Schedule | None
    _wave_inbox: dict[tuple[int, int], list[Batch]]

    def _forget_run(self) -> None:
        super()._forget_run()
        self._schedule = None
        self._wave_inbox = {}

    def select_partners(self, round_number: int) -> np.ndarray:
        """The neighbour (global id) each local vertex contacts this round."""
        if self.algorithm.mode is not Mode.SEQUENTIAL or self.algorithm.memory is not Memory.NONE:
            raise PhaseError("partners are chosen up front only in sequential mode without memory")
        partners: np.ndarray = self.neighbors[self._round_choices(round_number)]
        return partners.astype(np.int64)

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
