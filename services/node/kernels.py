"""The per-vertex gossip loops, compiled with numba.

State lives in flat arrays indexed by *slot*: slots ``0..n_local-1`` are the shard's own
vertices (global id ``first + slot``), higher slots are the halo, copies of remote neighbours
that sequential mode needs. ``neighbors`` holds global ids (rows sorted ascending), ``slots``
the same entries as slot indices.

Rule codes are ``gossipsim.common.model.algorithms.Rule`` values; they are repeated here as plain
integers because numba cannot use Python enums in nopython code.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gossipsim.common.model.rng import STREAM_COIN, STREAM_PRIORITY, STREAM_SELECT
from gossipsim.common.model.rng_kernels import (
    draw_u64,
    draw_unit,
)

MIN, MAX, AVERAGE, PUSH_SUM, RUMOR_PUSH, RUMOR_PULL, RUMOR_PUSH_PULL = 1, 2, 3, 4, 5, 6, 7
MEMORY_NONE, MEMORY_SIMPLE, MEMORY_COMPLEX = 0, 1, 2
INFORMED = 1.0


@njit(cache=True, inline="always")
def select_edge(
    row: int, vertex: int, indptr: np.ndarray, weights: np.ndarray, weighted: bool, rkey: np.uint64
) -> int:
    """The CSR entry a vertex contacts: uniform, or by weight as the seed did it.

    Seed rule: if the weights sum to zero or less, add 1 to each until they sum to more than
    zero (on a copy: the stored weights stay as they are).
    """
    start: int = indptr[row]
    degree: int = indptr[row + 1] - start
    u = draw_unit(rkey, vertex, STREAM_SELECT)
    if not weighted:
        return start + min(int(u * degree), degree - 1)
    total = 0.0
    for e in range(start, start + degree):
        total += weights[e]
    shift = 0.0
    while total + shift * degree <= 0.0:
        shift += 1.0
    target = u * (total + shift * degree)
    acc = 0.0
    for e in range(start, start + degree):
        acc += weights[e] + shift
        if target < acc:
            return e
    return start + degree - 1


@njit(cache=True, inline="always")
def remember(
    row: int,
    edge: int,
    changed: bool,
    indptr: np.ndarray,
    weights: np.ndarray,
    start_weights: np.ndarray,
    remembered: np.ndarray,
    memory: int,
    factor: float,
) -> None:
    """Apply the prior-partner penalty for one contact of one end (docs/design.md,
    Execution semantics: peer selection)."""
    if memory == MEMORY_COMPLEX:
        if changed:
            for e in range(indptr[row], indptr[row + 1]):
                weights[e] = start_weights[e]
        weights[edge] *= factor
    elif memory == MEMORY_SIMPLE and not remembered[edge]:
        weights[edge] *= factor
        remembered[edge] = True


@njit(cache=True)
def find_edge(row: int, partner: int, indptr: np.ndarray, neighbors: np.ndarray) -> int:
    """The CSR entry of ``partner`` in ``row`` (rows are sorted): binary search."""
    lo: int = indptr[row]
    hi: int = indptr[row + 1]
    while lo < hi:
        mid = (lo + hi) // 2
        if neighbors[mid] < partner:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, inline="always")
def exchange(rule: int, x: np.ndarray, w: np.ndarray, i: int, j: int) -> tuple[bool, bool]:
    """One sequential exchange between slots i (initiator) and j, applied in place.

    Returns whether each end's value changed (complex memory forgets on a change).
    """
    xi = x[i]
    xj = x[j]
    if rule in (MIN, MAX):
        a = min(xi, xj) if rule == MIN else max(xi, xj)
        x[i] = a
        x[j] = a
        return a != xi, a != xj
    if rule == AVERAGE:
        a = (xi + xj) * 0.5
        x[i] = a
        x[j] = a
        return a != xi, a != xj
    if rule == PUSH_SUM:
        x[i] = xi * 0.5
        w[i] = w[i] * 0.5
        x[j] = xj + x[i]
        w[j] = w[j] + w[i]
        return True, True
    informed_i = xi == INFORMED
    informed_j = xj == INFORMED
    if (rule in (RUMOR_PUSH, RUMOR_PUSH_PULL)) and informed_i and not informed_j:
        x[j] = INFORMED
        return False, True
    if (rule in (RUMOR_PULL, RUMOR_PUSH_PULL)) and informed_j and not informed_i:
        x[i] = INFORMED
        return True, False
    return False, False


@njit(cache=True)
def select_all(
    first: int,
    n_local: int,
    indptr: np.ndarray,
    weights: np.ndarray,
    weighted: bool,
    rkey: np.uint64,
) -> np.ndarray:
    """The CSR entry every local vertex will contact this round, computed in id order.

    Valid only when selection does not change during the round (no memory). Walking the
    adjacency in id order streams through memory; the exchange loop that follows then only
    touches the value array, which is what makes shuffled rounds fast (random-order rows
    miss the cache on every initiator).
    """
    chosen = np.empty(n_local, dtype=np.int64)
    for i in range(n_local):
        chosen[i] = select_edge(i, first + i, indptr, weights, weighted, rkey)
    return chosen


@njit(cache=True)
def sequential_pass(
    initiators: np.ndarray,
    first: int,
    n_local: int,
    indptr: np.ndarray,
    neighbors: np.ndarray,
    slots: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    weights: np.ndarray,
    start_weights: np.ndarray,
    remembered: np.ndarray,
    dirty: np.ndarray,
    rule: int,
    weighted: bool,
    memory: int,
    factor: float,
    rkey: np.uint64,
    event_targets: np.ndarray,
    event_partners: np.ndarray,
    event_changed: np.ndarray,
    partner_slots: np.ndarray,
    track_dirty: bool,
) -> int:
    """Let each initiator (global ids, all local) contact one neighbour, in the given order.

    ``partner_slots`` holds each initiator's pre-selected partner slot, by position (see
    :func:`select_all`), or is empty when selection must happen inline because memory changes
    weights mid-round.
    Memory updates of halo vertices cannot be applied here (their weights live on their own
    shard), so they are returned as events, in order, for the owner to replay.
    Returns the number of events written.
    """
    events = 0
    preselected = partner_slots.shape[0] > 0
    for k in range(initiators.shape[0]):
        g = initiators[k]
        i = g - first
        e = -1
        if preselected:
            j = partner_slots[k]
        else:
            e = select_edge(i, g, indptr, weights, weighted, rkey)
            j = slots[e]
        changed_i, changed_j = exchange(rule, x, w, i, j)
        if track_dirty:
            if changed_i:
                dirty[i] = True
            if changed_j:
                dirty[j] = True
        if memory == MEMORY_NONE:
            continue
        remember(i, e, changed_i, indptr, weights, start_weights, remembered, memory, factor)
        if j < n_local:
            back = find_edge(j, g, indptr, neighbors)
            remember(j, back, changed_j, indptr, weights, start_weights, remembered, memory, factor)
        else:
            event_targets[events] = neighbors[e]
            event_partners[events] = g
            event_changed[events] = changed_j
            events += 1
    return events


@njit(cache=True)
def replay_events(
    first: int,
    targets: np.ndarray,
    partners: np.ndarray,
    changed: np.ndarray,
    indptr: np.ndarray,
    neighbors: np.ndarray,
    weights: np.ndarray,
    start_weights: np.ndarray,
    remembered: np.ndarray,
    memory: int,
    factor: float,
) -> None:
    """Apply memory events another shard recorded for this shard's vertices, in order."""
    for k in range(targets.shape[0]):
        row = targets[k] - first
        edge = find_edge(row, partners[k], indptr, neighbors)
        remember(row, edge, changed[k], indptr, weights, start_weights, remembered, memory, factor)


@njit(cache=True)
def propose(
    first: int,
    n_local: int,
    indptr: np.ndarray,
    neighbors: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    weights: np.ndarray,
    weighted: bool,
    rule: int,
    rkey: np.uint64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Synchronous phase 1: every vertex decides whom it contacts, from the round-start state.

    Averaging is a random matching: each vertex flips a coin; an active vertex proposes to
    the neighbour it selects, and only if that neighbour is passive (every shard can compute
    every vertex's coin, so no message is needed to know). Push-sum keeps half of its mass
    and sends the other half.
    Returns (source, target, x payload, w payload, priority) of each request.
    """
    source = np.empty(n_local, dtype=np.int64)
    target = np.empty(n_local, dtype=np.int64)
    px = np.empty(n_local, dtype=np.float64)
    pw = np.empty(n_local, dtype=np.float64)
    priority = np.empty(n_local, dtype=np.uint64)
    k = 0
    for i in range(n_local):
        g = first + i
        if rule == AVERAGE and draw_unit(rkey, g, STREAM_COIN) < 0.5:
            continue
        if rule == RUMOR_PUSH and x[i] != INFORMED:
            continue
        if rule == RUMOR_PULL and x[i] == INFORMED:
            continue
        e = select_edge(i, g, indptr, weights, weighted, rkey)
        partner = neighbors[e]
        if rule == AVERAGE:
            if draw_unit(rkey, partner, STREAM_COIN) >= 0.5:
                continue
            priority[k] = draw_u64(rkey, g, STREAM_PRIORITY)
        if rule == PUSH_SUM:
            x[i] *= 0.5
            w[i] *= 0.5
            pw[k] = w[i]
        source[k] = g
        target[k] = partner
        px[k] = x[i]
        k += 1
    return source[:k], target[:k], px[:k], pw[:k], priority[:k]


@njit(cache=True)
def resolve(
    first: int,
    n_local: int,
    source: np.ndarray,
    target: np.ndarray,
    px: np.ndarray,
    pw: np.ndarray,
    priority: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    rule: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Synchronous phase 2: each vertex answers the requests addressed to it.

    Replies carry the target's round-start value, so the result does not depend on the
    order requests arrive in; for push-sum the caller sorts requests by (target, source)
    first, because float additions do depend on order.
    Returns accepted requests as (requester, partner, reply value, has_reply).
    """
    count = source.shape[0]
    accepted = np.zeros(count, dtype=np.bool_)
    reply = np.empty(count, dtype=np.float64)
    if rule == AVERAGE:
        best = np.full(n_local, -1, dtype=np.int64)
        for k in range(count):
            d = target[k] - first
            b = best[d]
            if (
                b < 0
                or priority[k] < priority[b]
                or (priority[k] == priority[b] and source[k] < source[b])
            ):
                best[d] = k
        for d in range(n_local):
            k = best[d]
            if k >= 0:
                accepted[k] = True
                reply[k] = x[d]
                x[d] = (x[d] + px[k]) * 0.5
    else:
        for k in range(count):
            accepted[k] = True
            reply[k] = x[target[k] - first]
        for k in range(count):
            d = target[k] - first
            if rule == MIN:
                x[d] = min(x[d], px[k])
            elif rule in (MAX, RUMOR_PUSH, RUMOR_PUSH_PULL):
                x[d] = max(x[d], px[k])
            elif rule == PUSH_SUM:
                x[d] += px[k]
                w[d] += pw[k]
    has_reply = rule in (MIN, MAX, AVERAGE, RUMOR_PULL, RUMOR_PUSH_PULL)
    keep = np.flatnonzero(accepted)
    flags = np.full(keep.shape[0], has_reply)
    return source[keep], target[keep], reply[keep], flags


@njit(cache=True)
def settle(first: int, requester: np.ndarray, value: np.ndarray, x: np.ndarray, rule: int) -> None:
    """Synchronous phase 3: requesters take in the replies to their requests."""
    for k in range(requester.shape[0]):
        i = requester[k] - first
        if rule == MIN:
            x[i] = min(x[i], value[k])
        elif rule in (MAX, RUMOR_PULL, RUMOR_PUSH_PULL):
            x[i] = max(x[i], value[k])
        elif rule == AVERAGE:
            x[i] = (x[i] + value[k]) * 0.5


@njit(cache=True)
def restore_weights(
    changed: np.ndarray, indptr: np.ndarray, weights: np.ndarray, start_weights: np.ndarray
) -> None:
    """Complex memory forgets: rows of vertices whose value changed get their initial weights."""
    for i in np.flatnonzero(changed):
        for e in range(indptr[i], indptr[i + 1]):
            weights[e] = start_weights[e]


@njit(cache=True)
def apply_pairs(
    rule: int, x: np.ndarray, w: np.ndarray, left: np.ndarray, right: np.ndarray
) -> None:
    """Sequential exchanges between slot pairs (initiator, partner), in order.

    A remote end is a halo slot holding the value its owner sent for this exchange; what the
    exchange writes there is discarded, the owner computes the same on its side.
    """
    for k in range(left.shape[0]):
        exchange(rule, x, w, left[k], right[k])
