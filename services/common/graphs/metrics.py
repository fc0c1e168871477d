"""Structural metrics of a graph, computed once per graph from its CSR arrays.

Why not networkx throughout: it needs ~1 KB per edge and pure-Python loops, so a 1e6-vertex
graph would take gigabytes and hours. Here everything runs on scipy/numpy views of the CSR
arrays, and the expensive metrics switch from exact to estimated with size:

- clustering: exact when ``n <= exact_limit``, else the mean over ~2000 sampled vertices;
- diameter and average path length (of the largest component): all-pairs BFS when the
  component has at most ``exact_limit`` vertices, else BFS from 20 sampled sources for
  the path length and repeated double sweeps for the diameter (a lower bound);
- algebraic connectivity and spectral gap: dense eigenvalues up to
  :data:`DENSE_SPECTRUM_LIMIT` vertices, else LOBPCG for a bounded number of iterations,
  accepted only when its residual bounds the error to ~1 % (graphs with a tiny gap, like long
  paths or large grids, converge too slowly and get ``None``);
- Louvain communities and modularity: networkx, skipped above ``louvain_limit`` vertices
  (default :data:`LOUVAIN_LIMIT`; networkx needs ~1 KB per edge and minutes beyond that).

Estimated metrics are named in :attr:`GraphMetrics.estimated`, skipped ones (``None``) in
:attr:`GraphMetrics.skipped`. Everything is deterministic for a given ``seed``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Any, TypeAlias

import networkx as nx
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as sla

from gossipsim.common.graphs.graph import FloatArray, Graph, IntArray

__all__ = [
    "DENSE_SPECTRUM_LIMIT",
    "LOUVAIN_LIMIT",
    "GraphMetrics",
    "compute_metrics",
    "louvain_communities",
    "modularity",
]

DENSE_SPECTRUM_LIMIT = 2000
"""Largest component solved with dense eigenvalues (~0.4 s at 2000 vertices)."""

LOUVAIN_LIMIT = 20_000
"""Largest graph given to networkx Louvain by default. Measured on 2 cores: ~12 s at 2e4
vertices and ~70 s at 5e4 for a random 4-out graph, over 10 minutes for a 1e5-vertex path; the
2e5 once planned would stall metrics for many minutes. Callers may pass a larger limit."""

CLUSTERING_SAMPLES = 2000
PATH_SOURCES = 20
DIAMETER_SWEEPS = 2
LOBPCG_ITERATIONS = 100
SPECTRAL_TOLERANCE = 1e-2
"""Relative error bound under which an iterative eigenvalue is reported."""

_TRIANGLE_CHUNK_WORK = 4_000_000
_BFS_CHUNK = 256

SparseMatrix: TypeAlias = sp.csr_matrix


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphMetrics:
    """What :func:`compute_metrics` found; ``None`` where a metric is undefined or skipped."""

    nodes: int
    edges: int
    density: float
    degree_min: int
    degree_max: int
    degree_mean: float
    degree_std: float
    isolated_vertices: int
    average_clustering: float | None
    assortativity: float | None
    components: int
    largest_component: int
    diameter: int | None
    average_path_length: float | None
    communities: int | None
    modularity: float | None
    algebraic_connectivity: float | None
    spectral_gap: float | None
    estimated: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, int | float | None]:
        """The metric values, flat and JSON-able; ``estimated``/``skipped`` stay attributes."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("estimated", "skipped")
        }


def compute_metrics(
    graph: Graph, *, seed: int = 0, exact_limit: int = 5000, louvain_limit: int = LOUVAIN_LIMIT
) -> GraphMetrics:
    """Compute every metric of :class:`GraphMetrics`; see the module docstring for limits."""
    if graph.n == 0:
        raise ValueError("a graph without vertices has no metrics")
    rng = np.random.default_rng(seed)
    adjacency = _adjacency(graph)
    found = _Findings(values=_degree_metrics(graph))
    found.add(
        "average_clustering",
        _average_clustering(adjacency, graph.degrees, rng, exact=graph.n <= exact_limit),
        estimated=graph.n > exact_limit,
    )
    found.add("assortativity", _assortativity(adjacency, graph.degrees))
    count, labels = csgraph.connected_components(adjacency, directed=False)
    component = _largest_component(adjacency, labels)
    found.add("components", int(count))
    found.add("largest_component", component.shape[0])
    _add_distances(found, component, rng, exact=component.shape[0] <= exact_limit)
    _add_communities(found, graph, seed, run=graph.n <= louvain_limit)
    _add_spectrum(found, component, seed)
    return GraphMetrics(
        **found.values, estimated=tuple(found.estimated), skipped=tuple(found.skipped)
    )


@dataclass(slots=True)
class _Findings:
    """Metric values as they are found, with the names of estimated and skipped ones."""

    values: dict[str, Any]
    estimated: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)

    def add(self, name: str, value: object, *, estimated: bool = False) -> None:
        self.values[name] = value
        if estimated:
            self.estimated.append(name)

    def skip(self, name: str) -> None:
        self.values[name] = None
        self.skipped.append(name)


def _degree_metrics(graph: Graph) -> dict[str, Any]:
    n, m, degrees = graph.n, graph.num_edges, graph.degrees
    return {
        "nodes": n,
        "edges": m,
        "density": 2.0 * m / (n * (n - 1)) if n > 1 else 0.0,
        "degree_min": int(degrees.min()),
        "degree_max": int(degrees.max()),
        "degree_mean": float(degrees.mean()),
        "degree_std": float(degrees.std()),
        "isolated_vertices": int(np.count_nonzero(degrees == 0)),
    }


def _add_distances(
    found: _Findings, component: SparseMatrix, rng: np.random.Generator, *, exact: bool
) -> None:
    if exact:
        diameter, path_length = _exact_distances(component)
    else:
        diameter, path_length = _estimated_distances(component, rng)
    found.add("diameter", diameter, estimated=not exact)
    found.add("average_path_length", path_length, estimated=not exact)


def _add_communities(found: _Findings, graph: Graph, seed: int, *, run: bool) -> None:
    if not run:
        found.skip("communities")
        found.skip("modularity")
        return
    membership = louvain_communities(graph, seed=seed)
    found.add("communities", int(membership.max()) + 1)
    found.add("modularity", modularity(graph, membership))


def _add_spectrum(found: _Findings, component: SparseMatrix, seed: int) -> None:
    connectivity, gap, iterative = _spectrum(component, seed)
    for name, value in (("algebraic_connectivity", connectivity), ("spectral_gap", gap)):
        if value is None and component.shape[0] > 1:
            found.skip(name)
        else:
            found.add(name, value, estimated=iterative)


def louvain_communities(graph: Graph, seed: int = 0) -> IntArray:
    """Louvain community id per vertex, numbered ``0..c-1`` by each community's first vertex.

    Numbering by first vertex (networkx returns sets in no promised order) keeps the ids
    stable for peer-selection strategies that store them.
    """
    found = nx.community.louvain_communities(graph.to_networkx(), seed=seed)
    membership = np.empty(graph.n, dtype=np.int64)
    for community_id, members in enumerate(sorted(found, key=min)):
        membership[np.fromiter(members, dtype=np.int64, count=len(members))] = community_id
    return membership


def modularity(graph: Graph, membership: npt.ArrayLike) -> float | None:
    """Newman modularity of a partition, from the CSR arrays; ``None`` for an edgeless graph."""
    labels = np.asarray(membership, dtype=np.int64)
    m = graph.num_edges
    if m == 0:
        return None
    rows = np.repeat(np.arange(graph.n), graph.degrees)
    inside = np.count_nonzero(labels[rows] == labels[graph.indices]) / 2
    community_degree = np.bincount(labels, weights=graph.degrees)
    return float(inside / m - np.sum((community_degree / (2.0 * m)) ** 2))


# --- local structure ----------------------------------------------------------------------


def _adjacency(graph: Graph) -> SparseMatrix:
    data = np.ones(len(graph.indices), dtype=np.float64)
    return sp.csr_matrix((data, graph.indices, graph.indptr), shape=(graph.n, graph.n))


def _average_clustering(
    adjacency: SparseMatrix, degrees: IntArray, rng: np.random.Generator, *, exact: bool
) -> float:
    """Mean local clustering, vertices of degree < 2 counting 0 (as networkx does)."""
    n = adjacency.shape[0]
    if exact or n <= CLUSTERING_SAMPLES:
        rows = np.arange(n)
    else:
        rows = np.sort(rng.choice(n, size=CLUSTERING_SAMPLES, replace=False))
    triangles = _triangles(adjacency, degrees, rows)
    pairs = degrees[rows] * (degrees[rows] - 1) / 2.0
    local = np.divide(triangles, pairs, out=np.zeros(len(rows)), where=pairs > 0)
    return float(local.mean())


def _triangles(adjacency: SparseMatrix, degrees: IntArray, rows: IntArray) -> FloatArray:
    """Triangles through each of ``rows``, in chunks whose sparse product stays small.

    For a row v, ``(A[v] @ A) ∘ A[v]`` sums to twice its triangles; the product costs the sum
    of its neighbours' degrees, so chunks are cut by that work, not by row count.
    """
    work = np.cumsum(adjacency[rows] @ degrees.astype(np.float64))
    bounds = np.searchsorted(work, np.arange(_TRIANGLE_CHUNK_WORK, work[-1], _TRIANGLE_CHUNK_WORK))
    result = np.empty(len(rows))
    for chunk in np.split(np.arange(len(rows)), bounds):
        if len(chunk) == 0:
            continue
        block = adjacency[rows[chunk]]
        result[chunk] = np.asarray((block @ adjacency).multiply(block).sum(axis=1)).ravel() / 2
    return result


def _assortativity(adjacency: SparseMatrix, degrees: IntArray) -> float | None:
    """Degree Pearson correlation over edge ends, without materialising per-edge arrays.

    Summing over both directions of every edge, with c = d - (edge-weighted mean degree):
    covariance = cᵀ A c and variance = Σ d c². ``None`` when all edge ends share one degree.
    """
    d = degrees.astype(np.float64)
    total = d.sum()
    if total == 0:
        return None
    centred = d - float(d @ d) / total
    variance = float(d @ centred**2)
    if variance <= 1e-12 * float(d @ d**2):
        return None
    return float(centred @ (adjacency @ centred)) / variance


# --- distances ----------------------------------------------------------------------------


def _largest_component(adjacency: SparseMatrix, labels: IntArray) -> SparseMatrix:
    sizes = np.bincount(labels)
    if len(sizes) == 1:
        return adjacency
    members = np.flatnonzero(labels == int(np.argmax(sizes)))
    return adjacency[members][:, members].tocsr()


def _exact_distances(component: SparseMatrix) -> tuple[int, float]:
    size = component.shape[0]
    if size == 1:
        return 0, 0.0
    longest, total = 0.0, 0.0
    for start in range(0, size, _BFS_CHUNK):
        sources = np.arange(start, min(size, start + _BFS_CHUNK))
        distances = _bfs(component, sources)
        longest = max(longest, float(distances.max()))
        total += float(distances.sum())
    return int(longest), total / (size * (size - 1))


def _estimated_distances(component: SparseMatrix, rng: np.random.Generator) -> tuple[int, float]:
    """Mean distance from sampled sources; diameter as the best of repeated double sweeps.

    A double sweep (BFS from v, then from the vertex farthest from v) returns an eccentricity,
    so it never overestimates; on real networks it almost always hits the diameter.
    """
    size = component.shape[0]
    sources = rng.choice(size, size=min(size, PATH_SOURCES), replace=False)
    distances = _bfs(component, sources)
    path_length = float(distances.sum()) / (len(sources) * (size - 1))
    longest = distances.max(axis=1)
    diameter = float(longest.max())
    for start in range(min(DIAMETER_SWEEPS, len(sources))):
        vertex = int(np.argmax(distances[start]))
        for _ in range(2):
            sweep = _bfs(component, np.array([vertex]))[0]
            diameter = max(diameter, float(sweep.max()))
            vertex = int(np.argmax(sweep))
    return int(diameter), path_length


def _bfs(component: SparseMatrix, sources: IntArray) -> FloatArray:
    distances: FloatArray = csgraph.shortest_path(
        component, method="D", directed=True, unweighted=True, indices=sources
    )
    return distances.reshape(len(sources), -1)


# --- spectrum -----------------------------------------------------------------------------


def _spectrum(component: SparseMatrix, seed: int) -> tuple[float | None, float | None, bool]:
    """Laplacian λ2 and 1 − λ2 of the random-walk matrix (= λ2 of the normalised Laplacian).

    Returns the two values and whether they were found iteratively.
    """
    size = component.shape[0]
    if size < 2:
        return None, None, False
    degrees = np.asarray(component.sum(axis=1)).ravel()
    laplacian = (sp.diags(degrees) - component).tocsr()
    if size <= DENSE_SPECTRUM_LIMIT:
        scale = 1.0 / np.sqrt(degrees)
        normalized = scale[:, None] * laplacian.toarray() * scale[None, :]
        return (
            _second_eigenvalue(laplacian.toarray()),
            _second_eigenvalue(normalized),
            False,
        )
    rng = np.random.default_rng(seed)
    connectivity = _iterative_second(laplacian, None, degrees, rng)
    gap = _iterative_second(laplacian, degrees, degrees, rng)
    return connectivity, gap, True


def _second_eigenvalue(matrix: FloatArray) -> float:
    values = np.linalg.eigvalsh(matrix)
    return max(float(values[1]), 0.0)


def _iterative_second(
    laplacian: SparseMatrix,
    mass: FloatArray | None,
    degrees: FloatArray,
    rng: np.random.Generator,
) -> float | None:
    """Smallest eigenvalue of ``L x = λ B x`` off the constant vector (B = I or D), by LOBPCG.

    Accepted only when the residual bounds the error below :data:`SPECTRAL_TOLERANCE` of the
    value: for B = D, ``|θ − λ| ≤ ‖r‖_{D⁻¹}`` with x D-normalised, else ``|θ − λ| ≤ ‖r‖``.
    """
    size = laplacian.shape[0]
    start = rng.standard_normal((size, 1))
    constant = np.ones((size, 1))
    b_matrix = sp.diags(mass) if mass is not None else None
    with warnings.catch_warnings():
        # LOBPCG warns when it stops at maxiter; the residual test below decides instead.
        warnings.simplefilter("ignore")
        values, vectors = sla.lobpcg(
            laplacian,
            start,
            B=b_matrix,
            M=sp.diags(1.0 / degrees),
            Y=constant,
            largest=False,
            tol=1e-8,
            maxiter=LOBPCG_ITERATIONS,
        )
    theta = float(values[0])
    x = vectors[:, 0]
    weights = mass if mass is not None else np.ones(size)
    x = x / math.sqrt(float(x @ (weights * x)))
    residual = laplacian @ x - theta * weights * x
    bound = math.sqrt(float(residual @ (residual / weights)))
    if not math.isfinite(theta) or theta <= 0 or bound > SPECTRAL_TOLERANCE * theta:
        return None
    return theta
