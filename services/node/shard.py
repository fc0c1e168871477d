"""One shard of a graph: its vertices' state in numpy arrays and the phases of a round.

This module knows nothing about gRPC: what a phase must send to other shards it returns as
:class:`Batch` objects keyed by shard index, and what other shards send it arrives through
the ``accept_*`` methods. The server moves batches between shards; a single-shard run calls
the same phases back to back (:meth:`ShardEngine.run_rounds`), so one and many shards run
exactly the same arithmetic.

The state is in :mod:`gossipsim.node.shard_state`; each execution mode's phases are in a module
of their own: :mod:`~gossipsim.node.sequential_turns`, :mod:`~gossipsim.node.sequential_waves`
and :mod:`~gossipsim.node.synchronous_phases`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gossipsim.common.model.aggregates import Aggregates
from gossipsim.common.model.algorithms import Mode
from gossipsim.common.model.convergence import is_converged
from gossipsim.node.sequential_waves import SequentialWaves
from gossipsim.node.shard_state import PhaseError
from gossipsim.node.synchronous_phases import SynchronousPhases


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundsOutcome:
    rounds: list[Aggregates]  # [0] is the initial state
    converged: bool
    history: list[tuple[int, np.ndarray]]


class ShardEngine(SequentialWaves, SynchronousPhases):
    """The state and round phases of one shard, in every mode (see the module docstring)."""

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
