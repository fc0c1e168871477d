"""The in-memory graph every part of gossipsim works on: undirected, simple, CSR arrays.

Why CSR and not networkx: a networkx graph costs about 1 KB per edge, so a 1e6-vertex graph
with 4e6 edges would need gigabytes before the first round. CSR needs 4 bytes per directed
edge entry plus 8 bytes per vertex, and it is what the node kernels consume directly.

Invariants (enforced by :meth:`Graph.from_edges`): vertices are ``0..n-1``; every edge is
stored in both directions; rows are sorted ascending; no self loops; no duplicate edges.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import networkx as nx

IntArray = npt.NDArray[np.int64]
IndexArray = npt.NDArray[np.int32] | npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class Graph:
    """An undirected simple graph in compressed sparse row form.

    ``labels`` keeps the original vertex names (from a file or a seed resource) so results
    can be written back in the user's terms; ``None`` means the labels are ``0..n-1``.
    ``initial_values`` are the seed ``valueList`` (or a file's values), one per vertex.
    """

    name: str
    indptr: IntArray
    indices: IndexArray
    labels: tuple[str, ...] | None = None
    initial_values: FloatArray | None = None

    @property
    def n(self) -> int:
        return len(self.indptr) - 1

    @property
    def num_edges(self) -> int:
        """Undirected edges (each is stored twice)."""
        return len(self.indices) // 2

    @property
    def degrees(self) -> IntArray:
        return np.diff(self.indptr)

    @property
    def nbytes(self) -> int:
        """About the memory this graph holds: its arrays exactly, its labels estimated (the
        strings and the tuple of them), so a cache of graphs can keep to a memory budget.
        Computed on each call (labels take a pass over the strings): keep the result."""
        size = self.indptr.nbytes + self.indices.nbytes
        if self.initial_values is not None:
            size += self.initial_values.nbytes
        if self.labels is not None:
            size += sys.getsizeof(self.labels) + sum(map(sys.getsizeof, self.labels))
        return size

    def neighbors(self, vertex: int) -> IndexArray:
        return self.indices[self.indptr[vertex] : self.indptr[vertex + 1]]

    def label(self, vertex: int) -> str:
        return self.labels[vertex] if self.labels is not None else str(vertex)

    @classmethod
    def from_edges(
        cls,
        n: int,
        src: npt.ArrayLike,
        dst: npt.ArrayLike,
        *,
        name: str,
        labels: tuple[str, ...] | None = None,
        initial_values: FloatArray | None = None,
    ) -> Graph:
        """Build from an edge list in either or both directions; loops and duplicates dropped."""
        s = np.asarray(src, dtype=np.int64)
        d = np.asarray(dst, dtype=np.int64)
        if s.shape != d.shape:
            raise ValueError("src and dst must have the same length")
        if len(s) and (min(s.min(), d.min()) < 0 or max(s.max(), d.max()) >= n):
            raise ValueError(f"edge endpoints must lie in 0..{n - 1}")
        keep = s != d
        s, d = s[keep], d[keep]
        # Encode each directed edge as one int64 key; sort in place and drop repeats. Rows
        # come from a binary search, not a division, to keep the peak memory of a 1e6-vertex
        # graph to a few copies of the key array.
        keys = np.concatenate([s * n + d, d * n + s])
        del s, d
        keys.sort()
        if len(keys):
            distinct = np.empty(len(keys), dtype=bool)
            distinct[0] = True
            np.not_equal(keys[1:], keys[:-1], out=distinct[1:])
            keys = keys[distinct]
            del distinct
        indptr = np.searchsorted(keys, np.arange(n + 1, dtype=np.int64) * n).astype(np.int64)
        np.remainder(keys, n, out=keys)
        # int32 column ids wherever they fit: half the memory of the largest array
        indices: IndexArray = keys.astype(np.int32) if n < 2**31 else keys
        del keys
        return cls(
            name=name,
            indptr=indptr,
            indices=indices,
            labels=labels,
            initial_values=initial_values,
        )

    @classmethod
    def from_networkx(cls, graph: nx.Graph, *, name: str) -> Graph:
        """Convert a networkx graph; vertices keep their order and become ``0..n-1``."""
        nodes = list(graph.nodes)
        position = {node: i for i, node in enumerate(nodes)}
        edges = np.array(
            [(position[u], position[v]) for u, v in graph.edges()], dtype=np.int64
        ).reshape(-1, 2)
        identity = all(isinstance(v, int) and v == i for i, v in enumerate(nodes))
        labels = None if identity else tuple(str(v) for v in nodes)
        return cls.from_edges(len(nodes), edges[:, 0], edges[:, 1], name=name, labels=labels)

    def to_networkx(self) -> nx.Graph:
        """A networkx copy, for metrics and plots on graphs small enough to afford it."""
        import networkx as nx

        graph = nx.Graph()
        graph.add_nodes_from(range(self.n))
        rows = np.repeat(np.arange(self.n), self.degrees)
        upper = rows < self.indices
        graph.add_edges_from(zip(rows[upper].tolist(), self.indices[upper].tolist(), strict=True))
        return graph

    def component_labels(self) -> tuple[int, IntArray]:
        """The number of connected components and each vertex's component (scipy's sparse
        search: linear in the edges, no networkx copy)."""
        from scipy.sparse import csr_array
        from scipy.sparse.csgraph import connected_components

        matrix = csr_array(
            (np.ones(len(self.indices), dtype=np.int8), self.indices, self.indptr),
            shape=(self.n, self.n),
        )
        count, labels = connected_components(matrix, directed=False)
        return int(count), labels.astype(np.int64)

    def largest_component(self) -> Graph:
        """The subgraph on the vertices of the largest connected component (the first of
        equal ones), renumbered in their order, with their labels and initial values; the
        graph itself when it is connected. An isolated vertex is a component of its own."""
        count, component = self.component_labels()
        if count <= 1:
            return self
        largest = int(np.argmax(np.bincount(component)))
        kept = np.flatnonzero(component == largest)
        number = np.full(self.n, -1, dtype=np.int64)
        number[kept] = np.arange(len(kept))
        rows = np.repeat(np.arange(self.n), self.degrees)
        inside = (number[rows] >= 0) & (number[self.indices] >= 0)
        return Graph.from_edges(
            len(kept),
            number[rows[inside]],
            number[self.indices[inside]],
            name=self.name,
            labels=None if self.labels is None else tuple(self.labels[v] for v in kept),
            initial_values=None if self.initial_values is None else self.initial_values[kept],
        )

    def with_initial_values(self, values: FloatArray | None) -> Graph:
        return Graph(
            name=self.name,
            indptr=self.indptr,
            indices=self.indices,
            labels=self.labels,
            initial_values=values,
        )
