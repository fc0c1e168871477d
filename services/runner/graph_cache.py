"""What a runner keeps between runs, within a memory budget: built graphs and warm shard sessions.

A sweep runs many runs on the same graph and algorithm, so a runner keeps the graphs it built
(with their metrics) and the shard sessions it configured, and reuses them. Kept without
bound, a runner that sees many graphs grows until its pod is killed (run.start comes from the
broker: anyone who may publish one chooses how many distinct graphs the runner builds). So
everything kept is held in one :class:`BudgetCache`, bounded by bytes
(``GOSSIPSIM_RUNNER_CACHE_BYTES``):

* each entry carries an estimate of the memory it holds (:func:`graph_footprint`,
  :func:`session_footprint`);
* the least recently used entries go first, until a new one fits;
* an entry larger than the whole budget is used for its run and not kept; room is made before
  a session is built (:meth:`BudgetCache.reserve`), so for such a session everything else is
  let go first, since it breaks the budget alone.

The cache hands back what it lets go instead of releasing it: a session is closed with an
``await`` (its nodes go back to the launcher), which only its owner can do.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from gossipsim.common.graphs.drawing import GraphDrawing
from gossipsim.common.graphs.graph import Graph

__all__ = [
    "NODE_BYTES_PER_NEIGHBOUR",
    "NODE_BYTES_PER_VERTEX",
    "BudgetCache",
    "LoadedGraph",
    "Stored",
    "drawing_footprint",
    "graph_footprint",
    "session_footprint",
]

V = TypeVar("V")

# What the node shards of a session hold beyond the graph's own arrays (node/shard_state.py,
# node/kernels.py): per vertex the values, weights and flags and the kernels' work arrays
# (about 90 bytes), per neighbour entry the selection weights, their start copy and the memory
# flags (17 bytes). Rounded up: the estimate is there to keep a pod inside its memory limit.
NODE_BYTES_PER_VERTEX = 96
NODE_BYTES_PER_NEIGHBOUR = 24


@dataclass(frozen=True, slots=True)
class LoadedGraph:
    """A built and checked graph with its metrics, as the runner keeps it between runs."""

    graph: Graph
    metrics: dict[str, Any]


def graph_footprint(loaded: LoadedGraph) -> int:
    """Bytes a kept graph holds: its arrays and labels, and its metrics (a few dozen numbers)."""
    metrics = sys.getsizeof(loaded.metrics) + 64 * len(loaded.metrics)
    return loaded.graph.nbytes + metrics


def drawing_footprint(drawing: GraphDrawing) -> int:
    """Bytes a kept graph drawing holds: Python tuples of floats and ints and label strings,
    about 8 objects per vertex and 2 per edge at ~40 bytes each, rounded up."""
    return 400 * drawing.n + 100 * len(drawing.sources)


def session_footprint(graph: Graph) -> int:
    """Bytes a warm shard session holds, from its graph: the graph it keeps alive in the runner,
    and the shards' copies of it with their per-vertex and per-neighbour state in the node
    processes (local ones share the runner's memory; pods are held while the session is)."""
    in_nodes = (
        graph.indptr.nbytes
        + graph.indices.nbytes
        + graph.n * NODE_BYTES_PER_VERTEX
        + len(graph.indices) * NODE_BYTES_PER_NEIGHBOUR
    )
    return graph.nbytes + in_nodes


@dataclass(frozen=True, slots=True)
class Stored(Generic[V]):
    """What :meth:`BudgetCache.put` did: whether the value is kept, and what it let go."""

    kept: bool
    evicted: list[V] = field(default_factory=list)


class BudgetCache(Generic[V]):
    """Values by key within ``budget`` bytes (each value's size given by its owner), least
    recently used out first. Not thread-safe: one owner, on one event loop."""

    def __init__(self, budget: int) -> None:
        if budget < 0:
            raise ValueError(f"a cache budget is a number of bytes >= 0, got {budget}")
        self.budget = budget
        self._entries: OrderedDict[str, tuple[V, int]] = OrderedDict()
        self._used = 0

    @property
    def used(self) -> int:
        """Bytes the kept values hold, by their estimates."""
        return self._used

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[str]:
        """The keys, least recently used first (a snapshot: the cache may change meanwhile)."""
        return iter(list(self._entries))

    def get(self, key: str) -> V | None:
        """The value kept under ``key`` (now the most recently used), or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def fits(self, nbytes: int) -> bool:
        """Whether a value of ``nbytes`` can be kept at all."""
        return nbytes <= self.budget

    def reserve(self, nbytes: int) -> list[V]:
        """Let go of the least recently used values until ``nbytes`` more fit (all of them,
        if ``nbytes`` is over the budget); returns them for their owner to release."""
        evicted: list[V] = []
        while self._entries and self._used + nbytes > self.budget:
            _, (value, size) = self._entries.popitem(last=False)
            self._used -= size
            evicted.append(value)
        return evicted

    def put(self, key: str, value: V, nbytes: int) -> Stored[V]:
        """Keep ``value`` under ``key`` as the most recently used, making room for it; a value
        over the whole budget is not kept (and nothing is let go for it)."""
        if nbytes < 0:
            raise ValueError(f"a value's size is a number of bytes >= 0, got {nbytes}")
        previous = self.pop(key)
        evicted = [] if previous is None or previous is value else [previous]
        if not self.fits(nbytes):
            return Stored(kept=False, evicted=evicted)
        evicted += self.reserve(nbytes)
        self._entries[key] = (value, nbytes)
        self._used += nbytes
        return Stored(kept=True, evicted=evicted)

    def pop(self, key: str) -> V | None:
        """Remove and return the value under ``key``, or None."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return None
        self._used -= entry[1]
        return entry[0]

    def clear(self) -> list[V]:
        """Remove every value; returns them, least recently used first."""
        values = [value for value, _ in self._entries.values()]
        self._entries.clear()
        self._used = 0
        return values
