"""Graphs from a generator by name: the ``generator`` form of a graph description.

The CSR-native generators of :mod:`gossipsim.common.graphs.csr_generators` win for their names and
are the only ones allowed above :data:`NETWORKX_MAX_VERTICES`; any other networkx generator
works below that. ``seed`` defaults to 0, so a generated graph is always reproducible; it is
passed only to generators that take one.

Parameters are checked by name, range and combination, and the size of the result is
estimated from them, before the generator runs: a generator with a mistyped ``n`` would
otherwise allocate for minutes before networkx complains.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import networkx as nx

from gossipsim.common.errors import GraphError
from gossipsim.common.graphs import csr_generators as graph_generators
from gossipsim.common.graphs.graph import Graph
from gossipsim.common.graphs.labels import graph_from_networkx
from gossipsim.common.graphs.limits import GraphLimits, is_int

__all__ = ["NATIVE_GENERATORS", "NETWORKX_MAX_VERTICES", "load_generated"]

NETWORKX_MAX_VERTICES = 200_000
"""networkx needs about 1 KB per edge and Python loops; above this only native generators run."""

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

_UNSETTABLE = frozenset({"seed", "create_using", "backend", "backend_kwargs"})
_PROBABILITIES = frozenset({"p", "q", "p_in", "p_out", "p1", "p2", "mu"})
_COUNTS = frozenset({"m", "k", "d", "m1", "m2", "h", "l", "N", "tries", "max_tries", "dim"})
_NOT_PROBABILITIES: Mapping[str, frozenset[str]] = {
    "chordal_cycle_graph": frozenset({"p"}),
    "paley_graph": frozenset({"p"}),
    "navigable_small_world_graph": frozenset({"p", "q"}),
    "random_geometric_graph": frozenset({"p"}),
    "soft_random_geometric_graph": frozenset({"p"}),
    "thresholded_random_geometric_graph": frozenset({"p"}),
    "random_unlabeled_rooted_forest": frozenset({"q"}),
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
        raise GraphError(f"{name} failed: {exc}", field=f"{field}.params") from exc
    label = "-".join([name, *(f"{key}{value}" for key, value in sorted(params.items()))])
    if isinstance(result, Graph):
        return dataclasses.replace(result, name=label)
    if not isinstance(result, nx.Graph):
        raise GraphError(
            f"{name} returned a {type(result).__name__}, not a graph", field=f"{field}.generator"
        )
    return graph_from_networkx(result, name=label)


def _networkx_generator(name: str, field: str) -> Callable[..., Any]:
    """The networkx generator function of that name; anything else is refused by name."""
    function: Callable[..., Any] | None = (
        getattr(nx, name, None) if re.fullmatch(r"[a-zA-Z]\w*", name) else None
    )
    if not _is_generator(name, function):
        known = sorted(set(NATIVE_GENERATORS) | set(_networkx_generator_names()))
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise GraphError(f"unknown generator {name!r}{hint}", field=field)
    assert function is not None
    graph_inputs = [p for p in inspect.signature(function).parameters if p == "G"]
    if graph_inputs:
        raise GraphError(f"{name} transforms a graph; it cannot build one from params", field=field)
    return function


def _is_generator(name: str, function: object) -> bool:
    return (
        inspect.isfunction(function)
        and function.__module__.startswith("networkx.generators")
        and not name.startswith("is_")
        and name not in _NOT_GENERATORS
    )


def _networkx_generator_names() -> Iterable[str]:
    return (name for name in dir(nx) if _is_generator(name, getattr(nx, name)))


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
                f"unknown parameter {key!r} for {generator}; it takes {takes}",
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
        raise GraphError(f"n must be an integer of at least 1, got {value!r}", field=field)
    if key in _COUNTS and not (is_int(value) and value >= 0):
        raise GraphError(f"{key} must be a non-negative integer, got {value!r}", field=field)
    if key in _PROBABILITIES and key not in _NOT_PROBABILITIES.get(generator, ()):
        for number in _numbers_in(value):
            if not 0.0 <= number <= 1.0:
                raise GraphError(
                    f"{key} is a probability and must lie in [0, 1], got {value!r}", field=field
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
        raise GraphError(f"seed must be a non-negative integer, got {seed!r}", field=field)
    return int(seed)


def _precheck_size(
    generator: str, params: Mapping[str, Any], native: bool, limits: GraphLimits, field: str
) -> None:
    """Refuse from the parameters alone what would be too big to build."""
    vertices = _expected_vertices(generator, params)
    if vertices is not None:
        limits.check_vertices(vertices, field=f"{field}.params")
        if not native and vertices > NETWORKX_MAX_VERTICES:
            raise GraphError(
                f"{generator} is built with networkx, which is limited to"
                f" {NETWORKX_MAX_VERTICES:,} vertices (asked for {vertices:,}); above that use"
                f" a CSR-native generator: {', '.join(sorted(NATIVE_GENERATORS))}",
                field=f"{field}.generator",
            )
    edges = _expected_edges(generator, params)
    if edges is not None:
        limits.check_edges(edges, field=f"{field}.params")


_VERTEX_COUNTS: Mapping[str, Callable[[Mapping[str, Any]], int]] = {
    "grid_2d_graph": lambda p: p["m"] * p["n"],
    "hexagonal_lattice_graph": lambda p: 2 * (p["m"] + 1) * (p["n"] + 1),
    "triangular_lattice_graph": lambda p: (p["m"] + 1) * (p["n"] + 1),
    "hypercube_graph": lambda p: 2 ** min(p["n"], 64),
    "binomial_tree": lambda p: 2 ** min(p["n"], 64),
    "mycielski_graph": lambda p: 3 * 2 ** min(max(p["n"] - 2, 0), 64),
    "dorogovtsev_goltsev_mendes_graph": lambda p: 3 ** min(p["n"], 64),
    "margulis_gabber_galil_graph": lambda p: p["n"] ** 2,
    "sudoku_graph": lambda p: p.get("n", 3) ** 4,
    "balanced_tree": lambda p: (p["h"] + 1) * max(p["r"], 1) ** min(p["h"], 64),
    "caveman_graph": lambda p: p["l"] * p["k"],
    "connected_caveman_graph": lambda p: p["l"] * p["k"],
    "relaxed_caveman_graph": lambda p: p["l"] * p["k"],
    "planted_partition_graph": lambda p: p["l"] * p["k"],
    "windmill_graph": lambda p: p["n"] * p["k"],
    "lollipop_graph": lambda p: p["m"] + p["n"],
    "tadpole_graph": lambda p: p["m"] + p["n"],
    "random_partition_graph": lambda p: sum(p["sizes"]),
    "stochastic_block_model": lambda p: sum(p["sizes"]),
}

_EDGE_COUNTS: Mapping[str, Callable[[Mapping[str, Any]], float]] = {
    "random_k_out_graph": lambda p: p["n"] * p["k"],
    "complete_graph": lambda p: p["n"] * (p["n"] - 1) / 2,
    "gnm_random_graph": lambda p: p["m"],
    "dense_gnm_random_graph": lambda p: p["m"],
    "fast_gnp_random_graph": lambda p: p["p"] * p["n"] * (p["n"] - 1) / 2,
    "gnp_random_graph": lambda p: p["p"] * p["n"] * (p["n"] - 1) / 2,
    "erdos_renyi_graph": lambda p: p["p"] * p["n"] * (p["n"] - 1) / 2,
    "binomial_graph": lambda p: p["p"] * p["n"] * (p["n"] - 1) / 2,
    "barabasi_albert_graph": lambda p: p["n"] * p["m"],
    "extended_barabasi_albert_graph": lambda p: p["n"] * p["m"],
    "powerlaw_cluster_graph": lambda p: p["n"] * p["m"],
    "watts_strogatz_graph": lambda p: p["n"] * p["k"] / 2,
    "newman_watts_strogatz_graph": lambda p: p["n"] * p["k"],
    "connected_watts_strogatz_graph": lambda p: p["n"] * p["k"] / 2,
    "random_regular_graph": lambda p: p["n"] * p["d"] / 2,
    "caveman_graph": lambda p: p["l"] * p["k"] ** 2 / 2,
    "connected_caveman_graph": lambda p: p["l"] * p["k"] ** 2 / 2,
}


def _expected_vertices(generator: str, params: Mapping[str, Any]) -> int | None:
    estimate = _VERTEX_COUNTS.get(generator)
    try:
        if estimate is not None:
            return int(estimate(params))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    n = params.get("n")
    return n if is_int(n) else None


def _expected_edges(generator: str, params: Mapping[str, Any]) -> int | None:
    estimate = _EDGE_COUNTS.get(generator)
    if estimate is None:
        return None
    try:
        return math.floor(estimate(params))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
