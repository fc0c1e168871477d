"""Graphs from a generator by name: the ``generator`` form of a graph description.

Only the generators of :data:`ACCEPTED_GENERATORS` are accepted, each with an estimate of its
vertices and edges computed from its parameters before anything is built: a spec comes from
anyone who may submit one, and a generator whose size is unknown until it has run (a Kneser
graph of ``n = 10**6``, a cograph of ``2**n`` vertices) would take the memory of the service
that checks it. A networkx generator without an estimate is refused by name, like a name that
is no generator at all. docs/spec.md lists the accepted ones.

The CSR-native generators of :mod:`gossipsim.common.graphs.csr_generators` win for their names
and are the only ones allowed above :data:`NETWORKX_MAX_VERTICES`; networkx builds the others.
The estimate is checked against :class:`GraphLimits`: vertices, edges, and the memory the build
would take (:func:`~gossipsim.common.graphs.limits.csr_build_bytes` or
:func:`~gossipsim.common.graphs.limits.networkx_build_bytes`). Generators whose running time
grows with the square of their vertices whatever their edges (a navigable small world draws
each long-range link from all vertices) are held to :data:`PAIRWISE_MAX_VERTICES`.

``seed`` defaults to 0, so a generated graph is always reproducible; it is passed only to
generators that take one. Parameters are checked by name, type, range and combination before
the generator runs; estimates use Python's exact integers with exponents capped, so a huge
parameter (``n: 1000000`` for a Kneser graph) is refused in microseconds.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

from gossipsim.common.errors import GraphError
from gossipsim.common.graphs import csr_generators as graph_generators
from gossipsim.common.graphs.graph import Graph
from gossipsim.common.graphs.labels import graph_from_networkx
from gossipsim.common.graphs.limits import (
    GraphLimits,
    csr_build_bytes,
    is_int,
    networkx_build_bytes,
)

__all__ = [
    "ACCEPTED_GENERATORS",
    "NATIVE_GENERATORS",
    "NETWORKX_MAX_VERTICES",
    "PAIRWISE_MAX_VERTICES",
    "Size",
    "estimate_size",
    "is_list_parameter",
    "load_generated",
    "takes_seed",
]

NETWORKX_MAX_VERTICES = 200_000
"""Most vertices of a graph built with networkx, whatever its edges: networkx loops in Python
and keeps about 1 KB per vertex (:data:`~gossipsim.common.graphs.limits.NETWORKX_BYTES_PER_VERTEX`),
so a larger graph takes minutes and hundreds of MB before its first round; above this only
the CSR-native generators run."""

PAIRWISE_MAX_VERTICES = 2_500
"""Most vertices of a generator that visits every pair of vertices in Python (about 3 s at
this size: 6 million pairs)."""

MAX_LIST_ITEMS = 1_000
"""Most entries of a list parameter that is not a per-vertex sequence (block sizes, offsets,
an LCF shift list): each entry multiplies the generator's work."""

MAX_DIMENSIONS = 10
"""Most dimensions of a geometric generator (positions take ``n * dim`` floats)."""

MAX_TRIES = 1_000
"""Most attempts a generator that retries until its graph is connected may be given."""

NATIVE_GENERATORS: Mapping[str, Callable[..., Graph]] = {
    "random_k_out_graph": graph_generators.random_k_out_graph,
    "complete_graph": graph_generators.complete_graph,
    "cycle_graph": graph_generators.cycle_graph,
    "path_graph": graph_generators.path_graph,
    "grid_2d_graph": graph_generators.grid_2d_graph,
    "gnm_random_graph": graph_generators.gnm_random_graph,
    "dense_gnm_random_graph": graph_generators.gnm_random_graph,
    "fast_gnp_random_graph": graph_generators.fast_gnp_random_graph,
    "gnp_random_graph": graph_generators.fast_gnp_random_graph,
    "erdos_renyi_graph": graph_generators.fast_gnp_random_graph,
    "binomial_graph": graph_generators.fast_gnp_random_graph,
}
"""Generator names served from CSR; the G(n, p) aliases are one distribution, drawn fast."""

_UNSETTABLE = frozenset(
    {
        "seed",
        "create_using",
        "backend",
        "backend_kwargs",
        # objects a document cannot describe, or that would bypass the estimate
        "pos",
        "pos_name",
        "weight",
        "weight_name",
        "metric",
        "p_dist",
        "initial_graph",
        "nodelist",
        "kernel",
        "default",
    }
)
_PROBABILITIES = frozenset({"p", "q", "p_in", "p_out", "p1", "p2", "mu"})
_COUNTS = frozenset({"m", "k", "d", "m1", "m2", "h", "l", "N", "tries", "max_tries", "dim"})
_NOT_PROBABILITIES: Mapping[str, frozenset[str]] = {
    "chordal_cycle_graph": frozenset({"p"}),
    "paley_graph": frozenset({"p"}),
    "navigable_small_world_graph": frozenset({"p", "q"}),
    "random_geometric_graph": frozenset({"p"}),
}
_NOT_GENERATORS = frozenset(
    {
        "geometric_edges",
        "graph_atlas_g",
        "nonisomorphic_trees",
        "number_of_nonisomorphic_trees",
        "random_powerlaw_tree_sequence",
    }
)
_NETWORKX_ERRORS = (
    nx.NetworkXException,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    ZeroDivisionError,
    OverflowError,
)
_HUGE = 2**128
"""Stands for any count past every limit: estimates are capped here rather than computed."""


@dataclass(frozen=True, slots=True)
class Size:
    """Upper bounds (or close expectations, for random graphs) of a generator's result."""

    vertices: int
    edges: int


class _Params:
    """A generator's parameters, read with their type and range checked.

    Each read raises :class:`GraphError` naming the parameter, so an estimator is also the
    complete check of the parameters it uses.
    """

    def __init__(self, values: Mapping[str, Any], field: str) -> None:
        self._values = values
        self._field = field

    def field(self, key: str) -> str:
        return f"{self._field}.{key}"

    def count(self, key: str, default: int | None = None, *, minimum: int = 0) -> int:
        value = self._values.get(key, default)
        if not (is_int(value) and value >= minimum):
            raise GraphError(
                f"{key} must be an integer of at least {minimum}, got {_shown(value)}",
                field=self.field(key),
            )
        return int(value)

    def number(self, key: str, default: float, *, low: float, high: float = math.inf) -> float:
        value = self._values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise GraphError(f"{key} must be a number, got {_shown(value)}", field=self.field(key))
        number = float(value)
        if not (math.isfinite(number) and low <= number <= high):
            raise GraphError(
                f"{key} must be a finite number in [{low:g}, {high:g}], got {_shown(value)}",
                field=self.field(key),
            )
        return number

    def counts(self, key: str, *, max_items: int, minimum: int | None = 0) -> list[int]:
        """A list of integers (``minimum=None``: of any sign) of at most ``max_items``."""
        value = self._list(key, max_items)
        for index, item in enumerate(value):
            if not is_int(item) or (minimum is not None and item < minimum):
                at_least = "" if minimum is None else f" of at least {minimum}"
                raise GraphError(
                    f"must be an integer{at_least}, got {_shown(item)}",
                    field=f"{self.field(key)}[{index}]",
                )
        return [int(item) for item in value]

    def numbers(self, key: str, *, max_items: int) -> list[float]:
        value = self._list(key, max_items)
        for index, item in enumerate(value):
            ok = isinstance(item, int | float) and not isinstance(item, bool)
            if not (ok and math.isfinite(item) and item >= 0):
                raise GraphError(
                    f"must be a finite number >= 0, got {_shown(item)}",
                    field=f"{self.field(key)}[{index}]",
                )
        return [float(item) for item in value]

    def matrix(self, key: str, size: int) -> list[list[float]]:
        """A ``size`` x ``size`` matrix of probabilities (a list of rows)."""
        rows = self._list(key, size)
        if len(rows) != size:
            raise GraphError(f"must have {size} rows, one per block", field=self.field(key))
        matrix: list[list[float]] = []
        for index, row in enumerate(rows):
            if not isinstance(row, Sequence) or isinstance(row, str) or len(row) != size:
                raise GraphError(
                    f"must be a row of {size} probabilities", field=f"{self.field(key)}[{index}]"
                )
            for item in row:
                if isinstance(item, bool) or not isinstance(item, int | float):
                    raise GraphError(
                        f"must be a row of {size} probabilities",
                        field=f"{self.field(key)}[{index}]",
                    )
            matrix.append([float(item) for item in row])  # in [0, 1]: checked as p already
        return matrix

    def flag(self, key: str) -> bool:
        """Whether a switch is on (networkx treats any true value so)."""
        return bool(self._values.get(key, False))

    def _list(self, key: str, max_items: int) -> Sequence[Any]:
        value = self._values.get(key)
        if not isinstance(value, Sequence) or isinstance(value, str | bytes):
            raise GraphError(f"{key} must be a list, got {_shown(value)}", field=self.field(key))
        if len(value) > max_items:
            raise GraphError(
                f"{key} may have at most {max_items:,} entries, got {len(value):,}",
                field=self.field(key),
            )
        return value


@dataclass(frozen=True, slots=True)
class _Estimator:
    size: Callable[[_Params], Size]
    pairwise: bool = False  # visits every pair of vertices in Python, whatever the edges


def load_generated(source: Mapping[str, Any], *, limits: GraphLimits, field: str) -> Graph:
    """Build ``source["generator"]`` from ``params`` and ``seed`` once they pass the checks."""
    name = source["generator"]
    if not isinstance(name, str):
        raise GraphError("the generator must be named by a string", field=f"{field}.generator")
    native = NATIVE_GENERATORS.get(name)
    function = native or _networkx_generator(name, f"{field}.generator")
    params = _checked_params(name, function, source.get("params"), f"{field}.params")
    seed = _checked_seed(source.get("seed", 0), f"{field}.seed")
    _precheck_size(name, params, native is not None, limits, field)
    if "seed" in inspect.signature(function).parameters:
        params = {**params, "seed": seed}
    try:
        result = function(**params)
    except _NETWORKX_ERRORS as exc:
        # the text is networkx's about the spec's own parameters, never about a file
        raise GraphError(f"{name} failed: {exc}", field=f"{field}.params") from exc
    label = "-".join([name, *(f"{key}{value}" for key, value in sorted(params.items()))])
    if isinstance(result, Graph):
        return dataclasses.replace(result, name=label)
    if not isinstance(result, nx.Graph):
        raise GraphError(
            f"{name} returned a {type(result).__name__}, not a graph", field=f"{field}.generator"
        )
    return graph_from_networkx(result, name=label)


_LIST_PARAMETERS: Mapping[str, frozenset[str]] = {
    "stochastic_block_model": frozenset({"sizes", "p"}),
    "random_partition_graph": frozenset({"sizes"}),
    "configuration_model": frozenset({"deg_sequence"}),
    "havel_hakimi_graph": frozenset({"deg_sequence"}),
    "degree_sequence_tree": frozenset({"deg_sequence"}),
    "expected_degree_graph": frozenset({"w"}),
    "circulant_graph": frozenset({"offsets"}),
    "LCF_graph": frozenset({"shift_list"}),
}


def is_list_parameter(generator: str, key: str) -> bool:
    """Whether ``key`` of ``generator`` takes a list as its one value (block sizes, a degree
    sequence), so that a list there is not a sweep of several values."""
    return key in _LIST_PARAMETERS.get(generator, frozenset())


def takes_seed(generator: str) -> bool:
    """Whether ``generator`` draws its graph at random (takes a ``seed``): another seed, another
    realization. False for a name that is not an accepted generator."""
    function = NATIVE_GENERATORS.get(generator)
    if function is None and generator in ACCEPTED_GENERATORS:
        function = getattr(nx, generator, None)
    return function is not None and "seed" in inspect.signature(function).parameters


def estimate_size(name: str, params: Mapping[str, Any], *, field: str = "params") -> Size:
    """The estimated size of generator ``name`` with ``params``; GraphError if either is bad."""
    estimator = ACCEPTED_GENERATORS.get(name)
    if estimator is None:
        raise GraphError(f"generator {_shown(name)} is not accepted", field=field)
    return _estimate(estimator, params, field)


def _estimate(estimator: _Estimator, params: Mapping[str, Any], field: str) -> Size:
    try:
        return estimator.size(_Params(params, field))
    except OverflowError:  # a float product of counts far past 64 bits: far past any limit
        raise GraphError(
            "the parameters are too large to estimate the graph's size", field=field
        ) from None


def _networkx_generator(name: str, field: str) -> Callable[..., Any]:
    """The networkx generator of that name if it is accepted; anything else refused by name."""
    function: Callable[..., Any] | None = (
        getattr(nx, name, None) if re.fullmatch(r"[a-zA-Z]\w*", name) else None
    )
    if not _is_generator(name, function):
        close = difflib.get_close_matches(name, sorted(ACCEPTED_GENERATORS), n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise GraphError(f"unknown generator {name!r}{hint}", field=field)
    assert function is not None
    graph_inputs = [p for p in inspect.signature(function).parameters if p == "G"]
    if graph_inputs:
        raise GraphError(f"{name} transforms a graph; it cannot build one from params", field=field)
    if name not in ACCEPTED_GENERATORS:
        raise GraphError(
            f"networkx's {name} is not accepted: only generators whose size can be estimated"
            " from their parameters before they run are (docs/spec.md lists them)",
            field=field,
        )
    return function


def _is_generator(name: str, function: object) -> bool:
    return (
        inspect.isfunction(function)
        and function.__module__.startswith("networkx.generators")
        and not name.startswith("is_")
        and name not in _NOT_GENERATORS
    )


def _checked_params(
    generator: str, function: Callable[..., Any], raw: object, field: str
) -> dict[str, Any]:
    """Refuse unknown, missing and out-of-range parameters before calling the generator."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise GraphError(f"params must be a mapping, got {type(raw).__name__}", field=field)
    signature = inspect.signature(function)
    settable = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in _UNSETTABLE
    ]
    names = {p.name for p in settable}
    for key in raw:
        if key not in names:
            takes = ", ".join(p.name for p in settable) or "no parameters"
            raise GraphError(
                f"unknown parameter {_shown(key)} for {generator}; it takes {takes}",
                field=f"{field}.{key}",
            )
    missing = [p.name for p in settable if p.default is p.empty and p.name not in raw]
    if missing:
        raise GraphError(f"{generator} needs {', '.join(missing)}", field=field)
    for key, value in raw.items():
        _check_param(generator, key, value, f"{field}.{key}")
    _check_relations(generator, raw, field)
    return dict(raw)


def _check_param(generator: str, key: str, value: object, field: str) -> None:
    if key == "n" and not (is_int(value) and value >= 1):
        raise GraphError(f"n must be an integer of at least 1, got {_shown(value)}", field=field)
    if key in _COUNTS and not (is_int(value) and value >= 0):
        raise GraphError(f"{key} must be a non-negative integer, got {_shown(value)}", field=field)
    if key in _PROBABILITIES and key not in _NOT_PROBABILITIES.get(generator, ()):
        for number in _numbers_in(value):
            if not 0.0 <= number <= 1.0:
                raise GraphError(
                    f"{key} is a probability and must lie in [0, 1], got {_shown(value)}",
                    field=field,
                )


def _numbers_in(value: object) -> Iterable[float]:
    """Every number in a scalar or nested list (stochastic_block_model takes a matrix)."""
    if isinstance(value, bool):
        yield math.nan
    elif isinstance(value, int | float):
        yield float(value)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for item in value:
            yield from _numbers_in(item)
    else:
        yield math.nan


def _check_relations(generator: str, params: Mapping[str, Any], field: str) -> None:
    """Parameter combinations that are wrong together, reported before networkx complains."""
    n, m, k = params.get("n"), params.get("m"), params.get("k")
    if generator == "random_k_out_graph" and is_int(k) and is_int(n) and k >= n:
        raise GraphError(f"k must be less than n = {n}, got {k}", field=f"{field}.k")
    gnm = NATIVE_GENERATORS.get(generator) is graph_generators.gnm_random_graph
    if gnm and is_int(m) and is_int(n) and m > n * (n - 1) // 2:
        raise GraphError(
            f"m must be at most n(n-1)/2 = {n * (n - 1) // 2}, got {m}", field=f"{field}.m"
        )
    ba_family = (
        "barabasi_albert_graph",
        "extended_barabasi_albert_graph",
        "powerlaw_cluster_graph",
    )
    if generator in ba_family and is_int(m) and is_int(n) and not 1 <= m < n:
        raise GraphError(f"m must lie in 1..n-1 = 1..{n - 1}, got {m}", field=f"{field}.m")


def _checked_seed(seed: object, field: str) -> int:
    if not (is_int(seed) and seed >= 0):
        raise GraphError(f"seed must be a non-negative integer, got {_shown(seed)}", field=field)
    return int(seed)


def _precheck_size(
    generator: str, params: Mapping[str, Any], native: bool, limits: GraphLimits, field: str
) -> None:
    """Refuse from the parameters alone what would be too big (or too slow) to build."""
    where = f"{field}.params"
    estimator = ACCEPTED_GENERATORS[generator]
    size = _estimate(estimator, params, where)
    limits.check_vertices(size.vertices, field=where)
    if not native and size.vertices > NETWORKX_MAX_VERTICES:
        raise GraphError(
            f"{generator} is built with networkx, which is limited to"
            f" {NETWORKX_MAX_VERTICES:,} vertices (asked for {size.vertices:,}); above that use"
            f" a CSR-native generator: {', '.join(sorted(NATIVE_GENERATORS))}",
            field=f"{field}.generator",
        )
    if estimator.pairwise and size.vertices > PAIRWISE_MAX_VERTICES:
        raise GraphError(
            f"{generator} visits every pair of vertices, so it is limited to"
            f" {PAIRWISE_MAX_VERTICES:,} vertices (asked for {size.vertices:,})",
            field=where,
        )
    limits.check_edges(size.edges, field=where)
    if native:
        limits.check_memory(
            csr_build_bytes(size.vertices, size.edges), what=f"this {generator}", field=where
        )
    else:
        limits.check_memory(
            networkx_build_bytes(size.vertices, size.edges),
            what=f"this {generator} with networkx (about 0.5 KB per edge and 1 KB per vertex)",
            field=where,
        )


def _shown(value: object) -> str:
    """A parameter's value for a message, cut short: params come from the spec itself."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


# --- arithmetic of estimates: exact integers, capped where they could explode ---------------


def _power(base: int, exponent: int) -> int:
    """``base ** exponent``, or :data:`_HUGE` when that is astronomically large."""
    if base < 2:
        return 1 if base == 1 or exponent == 0 else 0
    return _HUGE if exponent > 128 else int(base**exponent)


def _comb(n: int, k: int) -> int:
    """``math.comb(n, k)`` capped at :data:`_HUGE`: at most ~130 steps for any n and k."""
    if k < 0 or k > n:
        return 0
    k = min(k, n - k)
    value = 1
    for i in range(1, k + 1):
        value = value * (n - k + i) // i  # C(n-k+i, i): exact at every step, and growing
        if value > _HUGE:
            return _HUGE
    return value


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def _likely_at_most(mean: float) -> int:
    """A bound that a sum of independent coin flips with this ``mean`` exceeds with
    probability below one in a billion (six standard deviations, which are below its root)."""
    return math.ceil(mean + 6 * math.sqrt(mean) + 6)


def _fixed(vertices: int, edges: int) -> _Estimator:
    return _Estimator(lambda p: Size(vertices, edges))


def _n_vertices(edges: Callable[[int, _Params], int]) -> _Estimator:
    """A generator of ``n`` vertices and ``edges(n, params)`` edges."""

    def size(p: _Params) -> Size:
        n = p.count("n", minimum=1)
        return Size(n, edges(n, p))

    return _Estimator(size)


# --- estimators of the generators that need more than a line --------------------------------


def _balanced_tree(p: _Params) -> Size:
    r, h = p.count("r"), p.count("h")
    if r >= 2:
        power = _power(r, h + 1)
        vertices = _HUGE if power >= _HUGE else (power - 1) // (r - 1)
    else:
        vertices = h + 1 if r == 1 else 1
    return Size(vertices, max(vertices - 1, 0))


def _gnp(p: _Params) -> Size:
    n = p.count("n", minimum=1)
    return Size(n, _likely_at_most(p.number("p", 0.0, low=0.0, high=1.0) * _pairs(n)))


def _kneser(p: _Params) -> Size:
    n, k = p.count("n", minimum=1), p.count("k", minimum=1)
    vertices = _comb(n, k)
    return Size(vertices, vertices * _comb(n - k, k) // 2)


def _turan(p: _Params) -> Size:
    n, r = p.count("n", minimum=1), p.count("r", minimum=1)
    if r > n:
        raise GraphError(f"r must lie in 1..n = 1..{n}, got {r}", field=p.field("r"))
    small, big = r - n % r, n % r  # parts of n // r and of n // r + 1 vertices
    inside = small * _pairs(n // r) + big * _pairs(n // r + 1)
    return Size(n, _pairs(n) - inside)


def _mycielski(p: _Params) -> Size:
    n = p.count("n", minimum=1)
    if n > 64:
        return Size(_HUGE, _HUGE)
    vertices, edges = 1, 0  # M1 is one vertex; M(i+1) has 2V + 1 vertices and 3E + V edges
    for _ in range(n - 1):
        vertices, edges = 2 * vertices + 1, 3 * edges + vertices
    return Size(vertices, edges)


def _navigable_small_world(p: _Params) -> Size:
    n, dim = p.count("n", minimum=1), p.count("dim", 2, minimum=1)
    reach, links = p.count("p", 1, minimum=1), p.count("q", 1)
    p.number("r", 2.0, low=0.0)
    vertices = _power(n, dim)
    lattice = min(vertices, _power(2 * reach + 1, dim))  # neighbours within distance p
    return Size(vertices, vertices * (lattice + links))


def _random_cograph(p: _Params) -> Size:
    vertices = _power(2, p.count("n", minimum=1))
    return Size(vertices, _pairs(vertices))


def _partition_edges(sizes: Sequence[int], p_in: float, p_out: float) -> int:
    inside = sum(_pairs(size) for size in sizes)
    return _likely_at_most(p_in * inside + p_out * (_pairs(sum(sizes)) - inside))


def _random_partition(p: _Params) -> Size:
    sizes = p.counts("sizes", max_items=MAX_LIST_ITEMS)
    p_in = p.number("p_in", 0.0, low=0.0, high=1.0)
    p_out = p.number("p_out", 0.0, low=0.0, high=1.0)
    return Size(sum(sizes), _partition_edges(sizes, p_in, p_out) * (2 if _directed(p) else 1))


def _planted_partition(p: _Params) -> Size:
    groups, size = p.count("l"), p.count("k")
    p_in = p.number("p_in", 0.0, low=0.0, high=1.0)
    p_out = p.number("p_out", 0.0, low=0.0, high=1.0)
    inside = groups * _pairs(size)
    edges = _likely_at_most(p_in * inside + p_out * (_pairs(groups * size) - inside))
    return Size(groups * size, edges * (2 if _directed(p) else 1))


def _stochastic_block_model(p: _Params) -> Size:
    sizes = p.counts("sizes", max_items=MAX_LIST_ITEMS)
    matrix = p.matrix("p", len(sizes))
    edges = 0.0
    for i, size_i in enumerate(sizes):
        edges += matrix[i][i] * _pairs(size_i)
        for j in range(i + 1, len(sizes)):
            edges += max(matrix[i][j], matrix[j][i]) * size_i * sizes[j]
    return Size(sum(sizes), _likely_at_most(edges) * (2 if _directed(p) else 1))


def _directed(p: _Params) -> bool:
    """Directed variants draw each direction apart: up to twice the undirected edges."""
    return p.flag("directed")


def _random_geometric(p: _Params) -> Size:
    n = p.count("n", minimum=1)
    radius = p.number("radius", 0.0, low=0.0)
    dim = p.count("dim", 2, minimum=1)
    if dim > MAX_DIMENSIONS:
        raise GraphError(f"dim may be at most {MAX_DIMENSIONS}, got {dim}", field=p.field("dim"))
    p.number("p", 2.0, low=1.0)
    # a ball of that radius in any p-norm lies in a cube of side 2r: the share of pairs closer
    # than the radius is at most that cube's volume in the unit cube
    share = min(1.0, (2 * radius) ** dim)
    return Size(n, _likely_at_most(share * _pairs(n)))


def _scale_free(p: _Params) -> Size:
    n = p.count("n", minimum=1)
    new_vertex = p.number("alpha", 0.41, low=0.0, high=1.0) + p.number(
        "gamma", 0.05, low=0.0, high=1.0
    )
    p.number("beta", 0.54, low=0.0, high=1.0)
    p.number("delta_in", 0.2, low=0.0)
    p.number("delta_out", 0.0, low=0.0)
    if new_vertex <= 0.0:
        raise GraphError("alpha + gamma must be positive", field=p.field("alpha"))
    # every step adds an edge, and a vertex with probability alpha + gamma
    return Size(n, math.ceil(n / new_vertex) + 3)


def _degree_sequence(p: _Params) -> Size:
    degrees = p.counts("deg_sequence", max_items=NETWORKX_MAX_VERTICES)
    return Size(len(degrees), (sum(degrees) + 1) // 2)


def _degree_sequence_tree(p: _Params) -> Size:
    degrees = p.counts("deg_sequence", max_items=NETWORKX_MAX_VERTICES)
    return Size(len(degrees), max(len(degrees) - 1, 0))


def _expected_degree(p: _Params) -> Size:
    weights = p.numbers("w", max_items=NETWORKX_MAX_VERTICES)
    return Size(len(weights), _likely_at_most(sum(weights) / 2))


def _circulant(p: _Params) -> Size:
    n = p.count("n", minimum=1)
    offsets = p.counts("offsets", max_items=MAX_LIST_ITEMS)
    return Size(n, n * len(offsets))


def _lcf(p: _Params) -> Size:
    n = p.count("n", minimum=1)
    shifts = p.counts("shift_list", max_items=MAX_LIST_ITEMS, minimum=None)
    return Size(n, n + len(shifts) * p.count("repeats"))


def _with_tries(edges: Callable[[int, _Params], int]) -> _Estimator:
    """A generator that retries until connected: ``tries`` is capped at :data:`MAX_TRIES`."""

    def size(p: _Params) -> Size:
        tries = p.count("tries", 100)
        if tries > MAX_TRIES:
            raise GraphError(
                f"tries may be at most {MAX_TRIES:,}, got {tries:,}", field=p.field("tries")
            )
        n = p.count("n", minimum=1)
        return Size(n, edges(n, p))

    return _Estimator(size)


_SMALL_NAMED_GRAPHS = (
    "bull_graph",
    "chvatal_graph",
    "cubical_graph",
    "davis_southern_women_graph",
    "desargues_graph",
    "diamond_graph",
    "dodecahedral_graph",
    "florentine_families_graph",
    "frucht_graph",
    "heawood_graph",
    "hoffman_singleton_graph",
    "house_graph",
    "house_x_graph",
    "icosahedral_graph",
    "karate_club_graph",
    "krackhardt_kite_graph",
    "les_miserables_graph",
    "moebius_kantor_graph",
    "octahedral_graph",
    "pappus_graph",
    "petersen_graph",
    "sedgewick_maze_graph",
    "tetrahedral_graph",
    "truncated_cube_graph",
    "truncated_tetrahedron_graph",
    "tutte_graph",
)
"""Fixed graphs of the literature: at most 77 vertices and 254 edges each."""

# --- estimators of the one-line families -------------------------------------------------


def _grid(p: _Params) -> Size:
    rows, columns = p.count("m", minimum=1), p.count("n", minimum=1)
    return Size(rows * columns, 2 * rows * columns)


def _barbell(p: _Params) -> Size:
    bells, handle = p.count("m1"), p.count("m2")
    return Size(2 * bells + handle, 2 * _pairs(bells) + handle + 1)


def _binomial_tree(p: _Params) -> Size:
    vertices = _power(2, p.count("n"))
    return Size(vertices, vertices - 1)


def _ladder(p: _Params) -> Size:  # two rails of n vertices (circular: closed into rings)
    n = p.count("n", minimum=1)
    return Size(2 * n, 3 * n)


def _dorogovtsev(p: _Params) -> Size:
    edges = _power(3, p.count("n"))
    return Size((edges + 3) // 2, edges)


def _full_rary_tree(p: _Params) -> Size:
    p.count("r")
    n = p.count("n", minimum=1)
    return Size(n, n - 1)


def _generalized_petersen(p: _Params) -> Size:
    n = p.count("n", minimum=1)
    p.count("k", minimum=1)
    return Size(2 * n, 3 * n)


def _graph_atlas(p: _Params) -> Size:
    if p.count("i") > 1252:
        raise GraphError("i must lie in 0..1252 (the atlas's graphs)", field=p.field("i"))
    return Size(7, 21)


def _hkn_harary(p: _Params) -> Size:
    k, n = p.count("k", minimum=1), p.count("n", minimum=1)
    return Size(n, (k * n + 1) // 2 + 1)  # ceil(kn/2), and one more when k and n are odd


def _hypercube(p: _Params) -> Size:
    n = p.count("n", minimum=1)
    return Size(_power(2, n), n * _power(2, n - 1))


def _lollipop(p: _Params) -> Size:
    clique, path = p.count("m"), p.count("n", minimum=1)
    return Size(clique + path, _pairs(clique) + path)


def _tadpole(p: _Params) -> Size:
    cycle, path = p.count("m"), p.count("n", minimum=1)
    return Size(cycle + path, cycle + path)


def _margulis(p: _Params) -> Size:
    n = p.count("n", minimum=1)
    return Size(n * n, 4 * n * n)  # 8-regular with loops and repeats: at most 4 edges each


def _prime_order(edges: Callable[[int], int]) -> _Estimator:
    """Generators of ``p`` vertices (a prime, by networkx's rules)."""

    def size(p: _Params) -> Size:
        order = p.count("p", minimum=1)
        return Size(order, edges(order))

    return _Estimator(size)


def _star(p: _Params) -> Size:
    n = p.count("n", minimum=1)
    return Size(n + 1, n)


def _sudoku(p: _Params) -> Size:
    n = p.count("n", 3)
    vertices = _power(n, 4)
    return Size(vertices, vertices * (3 * n * n + 1) // 2)


def _hexagonal(p: _Params) -> Size:
    cells = (p.count("m") + 1) * (p.count("n", minimum=1) + 1)
    return Size(2 * cells, 3 * cells)


def _triangular(p: _Params) -> Size:
    cells = (p.count("m") + 1) * (p.count("n", minimum=1) + 1)
    return Size(cells, 3 * cells)


def _caveman(p: _Params) -> Size:
    caves, size = p.count("l"), p.count("k")
    return Size(caves * size, caves * _pairs(size) + caves)


def _ring_of_cliques(p: _Params) -> Size:
    cliques, size = p.count("num_cliques"), p.count("clique_size")
    return Size(cliques * size, cliques * (_pairs(size) + 1))


def _windmill(p: _Params) -> Size:
    blades, size = p.count("n", minimum=1), p.count("k")
    return Size(blades * max(size - 1, 0) + 1, blades * _pairs(size))


ACCEPTED_GENERATORS: Mapping[str, _Estimator] = {
    # CSR-native
    "random_k_out_graph": _n_vertices(lambda n, p: n * p.count("k")),
    "complete_graph": _n_vertices(lambda n, p: _pairs(n)),
    "cycle_graph": _n_vertices(lambda n, p: n),
    "path_graph": _n_vertices(lambda n, p: n - 1),
    "grid_2d_graph": _Estimator(_grid),
    "gnm_random_graph": _n_vertices(lambda n, p: p.count("m")),
    "dense_gnm_random_graph": _n_vertices(lambda n, p: p.count("m")),
    "fast_gnp_random_graph": _Estimator(_gnp),
    "gnp_random_graph": _Estimator(_gnp),
    "erdos_renyi_graph": _Estimator(_gnp),
    "binomial_graph": _Estimator(_gnp),
    # deterministic families
    "balanced_tree": _Estimator(_balanced_tree),
    "barbell_graph": _Estimator(_barbell),
    "binomial_tree": _Estimator(_binomial_tree),
    "chordal_cycle_graph": _prime_order(lambda order: 2 * order),
    "circulant_graph": _Estimator(_circulant),
    "circular_ladder_graph": _Estimator(_ladder),
    "dorogovtsev_goltsev_mendes_graph": _Estimator(_dorogovtsev),
    "empty_graph": _Estimator(lambda p: Size(p.count("n", 0), 0)),
    "full_rary_tree": _Estimator(_full_rary_tree),
    "generalized_petersen_graph": _Estimator(_generalized_petersen),
    "graph_atlas": _Estimator(_graph_atlas),
    "hkn_harary_graph": _Estimator(_hkn_harary),
    "hnm_harary_graph": _n_vertices(lambda n, p: p.count("m")),
    "hypercube_graph": _Estimator(_hypercube),
    "kneser_graph": _Estimator(_kneser),
    "ladder_graph": _Estimator(_ladder),
    "LCF_graph": _Estimator(_lcf),
    "lollipop_graph": _Estimator(_lollipop),
    "margulis_gabber_galil_graph": _Estimator(_margulis),
    "mycielski_graph": _Estimator(_mycielski),
    "null_graph": _fixed(0, 0),
    "paley_graph": _prime_order(_pairs),
    "star_graph": _Estimator(_star),
    "sudoku_graph": _Estimator(_sudoku),
    "tadpole_graph": _Estimator(_tadpole),
    "trivial_graph": _fixed(1, 0),
    "turan_graph": _Estimator(_turan),
    "wheel_graph": _n_vertices(lambda n, p: 2 * n),
    # lattices
    "hexagonal_lattice_graph": _Estimator(_hexagonal),
    "triangular_lattice_graph": _Estimator(_triangular),
    # communities
    "caveman_graph": _Estimator(_caveman),
    "connected_caveman_graph": _Estimator(_caveman),
    "relaxed_caveman_graph": _Estimator(_caveman),
    "ring_of_cliques": _Estimator(_ring_of_cliques),
    "windmill_graph": _Estimator(_windmill),
    "planted_partition_graph": _Estimator(_planted_partition),
    "random_partition_graph": _Estimator(_random_partition),
    "stochastic_block_model": _Estimator(_stochastic_block_model),
    # random growth and rewiring
    "barabasi_albert_graph": _n_vertices(lambda n, p: n * p.count("m")),
    "dual_barabasi_albert_graph": _n_vertices(lambda n, p: n * max(p.count("m1"), p.count("m2"))),
    "extended_barabasi_albert_graph": _n_vertices(lambda n, p: 2 * n * p.count("m")),
    "powerlaw_cluster_graph": _n_vertices(lambda n, p: n * p.count("m")),
    "watts_strogatz_graph": _n_vertices(lambda n, p: n * (p.count("k") // 2)),
    "newman_watts_strogatz_graph": _n_vertices(lambda n, p: n * p.count("k")),
    "connected_watts_strogatz_graph": _with_tries(lambda n, p: n * (p.count("k") // 2)),
    "random_regular_graph": _n_vertices(lambda n, p: (n * p.count("d") + 1) // 2),
    "random_labeled_tree": _n_vertices(lambda n, p: n - 1),
    "gn_graph": _n_vertices(lambda n, p: n - 1),
    "gnr_graph": _n_vertices(lambda n, p: n - 1),
    "scale_free_graph": _Estimator(_scale_free),
    "random_geometric_graph": _Estimator(_random_geometric),
    "navigable_small_world_graph": _Estimator(_navigable_small_world, pairwise=True),
    "random_cograph": _Estimator(_random_cograph),
    # from degree sequences given in the spec
    "configuration_model": _Estimator(_degree_sequence),
    "havel_hakimi_graph": _Estimator(_degree_sequence),
    "degree_sequence_tree": _Estimator(_degree_sequence_tree),
    "expected_degree_graph": _Estimator(_expected_degree),
    **{name: _fixed(100, 300) for name in _SMALL_NAMED_GRAPHS},
}
"""Every generator accepted by name, with the estimate of its size from its parameters."""
