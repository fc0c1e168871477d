"""Synchronous mode: every vertex acts on the round-start state, in three phases.

Propose (each vertex's request, to the shard that owns its target), resolve (answers to the
requests, back to the requesters' shards) and settle (apply the replies and memory). Requests
for a round can arrive before this shard has begun it, so deliveries are kept by round.
"""

from __future__ import annotations

import numpy as np

from gossipsim.common.model.aggregates import Aggregates
from gossipsim.common.model.algorithms import Memory, Mode, Rule
from gossipsim.common.model.rng import round_key
from gossipsim.node import kernels
from gossipsim.node.shard_state import EMPTY_F64, Batch, PhaseError, ShardState

REQUESTS = "requests"
REPLIES = "replies"


def _take(array: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Select from an optional array: an unused (empty) one stays empty."""
    return array[mask] if len(array) else array


def _concat(batches: list[Batch], name: str) -> np.ndarray:
    return np.concatenate([getattr(b, name) for b in batches])


class SynchronousPhases(ShardState):
    """The phases of synchronous mode (see the module docstring)."""

    _inbox: dict[tuple[int, str], dict[int, Batch]]
    _contacts: list[tuple[np.ndarray, np.ndarray]]
    _snapshot: np.ndarray

    def _forget_run(self) -> None:
        super()._forget_run()
        self._inbox = {}
        self._contacts = []
        self._snapshot = EMPTY_F64

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
