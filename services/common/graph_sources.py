"""Turn a graph description from a spec into a :class:`Graph`.

A description is a plain mapping (as parsed from YAML or JSON) with exactly one key that picks
its form:

- ``generator``: a generator by name with ``params`` and ``seed``. The CSR-native generators
  of :mod:`gossipsim.common.graph_generators` win for their names and are the only ones allowed
  above :data:`NETWORKX_MAX_VERTICES`; any other networkx generator works below that. ``seed``
  defaults to 0, so a generated graph is always reproducible; it is passed only to generators
  that take one.
- ``adjacency`` (or ``adjacencyList``, the seed's spelling): lines ``"u v1 v2 …,"``.
- ``file``: an edge list, adjacency list, GraphML, GEXF or GML file.
- ``resource``: a YAML file holding one seed ``kind: Graph`` resource.

Every form also takes ``name`` and initial values (``values`` as a list or ``valueList`` as the
seed's comma-separated string). Everything is checked before anything big is built, because a
mistyped ``n`` should fail in milliseconds with the parameter's name, not after minutes of
swapping; errors are :class:`GraphError` with ``field`` set to the path of the culprit.

Vertex order: when every vertex label is an integer, vertices are numbered by label order, so
the seed's ``0..n-1`` labels keep their numbers and ``valueList`` entry ``i`` belongs to label
``i`` (the seed operator sorts the same way); other labels are numbered by first appearance.
Labels that are not exactly ``0..n-1`` are kept in :attr:`Graph.labels`.
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import inspect
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import networkx as nx
import numpy as np
import yaml

from gossipsim.common import graph_generators
from gossipsim.common.errors import GraphError
from gossipsim.common.graph import FloatArray, Graph, IntArray

__all__ = [
    "NATIVE_GENERATORS",
    "NETWORKX_MAX_VERTICES",
    "GraphLimits",
    "find_seed_graphs",
    "load_graph",
    "load_seed_graph_resource",
    "parse_value_list",
]

NETWORKX_MAX_VERTICES = 200_000
"""networkx needs about 1 KB per edge and Python loops; above this only native generators run."""

SEED_API_VERSION = "gossip.io/v1"

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

_FORMS = ("generator", "adjacency", "adjacencyList", "file", "resource")
_COMMON_KEYS = frozenset({"name", "values", "valueList"})
_FORM_KEYS: Mapping[str, frozenset[str]] = {
    "generator": frozenset({"params", "seed"}),
    "file": frozenset({"format"}),
}
_FILE_FORMATS: Mapping[str, str] = {
    ".edgelist": "edgelist",
    ".edges": "edgelist",
    ".txt": "edgelist",
    ".csv": "csv",
    ".adjlist": "adjlist",
    ".graphml": "graphml",
    ".gexf": "gexf",
    ".gml": "gml",
}
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


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphLimits:
    """Largest graph a source may build; guards the machine against a typo in ``n``.

    The defaults fit a 16 GB machine with room for the simulation itself; the settings
    ``GOSSIPSIM_MAX_VERTICES`` and ``GOSSIPSIM_MAX_EDGES`` raise them.
    """

    max_vertices: int = 10_000_000
    max_edges: int = 100_000_000

    def __post_init__(self) -> None:
        for name in ("max_vertices", "max_edges"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"GraphLimits.{name} must be a positive integer, got {value!r}")

    def check_vertices(self, n: int, *, field: str) -> None:
        if n > self.max_vertices:
            raise GraphError(
                f"the graph would have {n:,} vertices, over the limit of {self.max_vertices:,};"
                " raise it with the setting GOSSIPSIM_MAX_VERTICES if the machine has the memory",
                field=field,
            )

    def check_edges(self, m: int, *, field: str) -> None:
        if m > self.max_edges:
            raise GraphError(
                f"the graph would have {m:,} edges, over the limit of {self.max_edges:,};"
                " raise it with the setting GOSSIPSIM_MAX_EDGES if the machine has the memory",
                field=field,
            )

    def check(self, graph: Graph, *, field: str) -> None:
        self.check_vertices(graph.n, field=field)
        self.check_edges(graph.num_edges, field=field)


def load_graph(
    source: Mapping[str, Any],
    *,
    limits: GraphLimits = GraphLimits(),
    base_dir: Path | None = None,
    field: str = "graph",
) -> Graph:
    """Build the graph a spec describes; raise :class:`GraphError` naming the bad field."""
    if not isinstance(source, Mapping):
        raise GraphError(f"expected a mapping, got {type(source).__name__}", field=field)
    form = _select_form(source, field)
    if form == "generator":
        graph = _load_generated(source, limits=limits, field=field)
    elif form in ("adjacency", "adjacencyList"):
        graph = _graph_from_adjacency(
            source[form], name="adjacency", limits=limits, field=f"{field}.{form}"
        )
    elif form == "file":
        graph = _load_file(source, limits=limits, base_dir=base_dir, field=field)
    else:
        graph = _load_resource(source["resource"], limits, base_dir, f"{field}.resource")
    graph = _apply_overrides(graph, source, field)
    if graph.n == 0:
        raise GraphError("the graph has no vertices", field=field)
    limits.check(graph, field=field)
    return graph


def load_seed_graph_resource(
    doc: Mapping[str, Any],
    *,
    limits: GraphLimits = GraphLimits(),
) -> Graph:
    """Build the graph of a parsed seed ``kind: Graph`` resource, values from ``valueList``."""
    if not isinstance(doc, Mapping):
        raise GraphError(f"a Graph resource must be a mapping, got {type(doc).__name__}")
    _check_resource_header(doc)
    name = doc["metadata"]["name"]
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        raise GraphError("a Graph resource needs a spec mapping", field="spec")
    if "adjacencyList" not in spec:
        raise GraphError("a Graph resource needs spec.adjacencyList", field="spec.adjacencyList")
    graph = _graph_from_adjacency(
        spec["adjacencyList"], name=name, limits=limits, field="spec.adjacencyList"
    )
    raw_values = spec.get("valueList")
    if raw_values is None or raw_values == "":
        return graph
    values = parse_value_list(raw_values, n=graph.n, field="spec.valueList")
    return graph.with_initial_values(values)


def find_seed_graphs(
    directory_or_glob: str | Path, match_labels: Mapping[str, str] | None = None
) -> list[Path]:
    """Files holding a seed ``kind: Graph`` resource whose labels include ``match_labels``.

    A directory is searched recursively for ``*.yaml``/``*.yml``; anything else is a file or a
    glob pattern (``**`` allowed). Files of other kinds are passed over silently, since a
    resource directory usually mixes Graphs and Simulations.
    """
    wanted = {str(key): str(value) for key, value in (match_labels or {}).items()}
    return sorted(
        path for path in _candidate_files(Path(directory_or_glob)) if _holds_graph(path, wanted)
    )


def parse_value_list(raw: object, *, n: int, field: str) -> FloatArray:
    """Initial values from a list of numbers or the seed's ``"51,14,98,"`` string."""
    if isinstance(raw, str):
        items: list[object] = [item.strip() for item in raw.strip().rstrip(",").split(",")]
    elif isinstance(raw, Sequence):
        items = list(raw)
    else:
        raise GraphError(
            f"expected a list of numbers or a comma-separated string, got {type(raw).__name__}",
            field=field,
        )
    values = np.array([_number(item, index, field) for index, item in enumerate(items)])
    if len(values) != n:
        raise GraphError(f"has {len(values)} values for a graph of {n} vertices", field=field)
    return values.astype(np.float64)


# --- form selection and overrides ---------------------------------------------------------


def _select_form(source: Mapping[str, Any], field: str) -> str:
    forms = [key for key in _FORMS if key in source]
    if len(forms) != 1:
        found = f"found {', '.join(forms)}" if forms else "found none"
        raise GraphError(f"give exactly one of {', '.join(_FORMS)}; {found}", field=field)
    allowed = _COMMON_KEYS | _FORM_KEYS.get(forms[0], frozenset()) | {forms[0]}
    for key in source:
        if key not in allowed:
            raise GraphError(
                f"unknown key {key!r} for a {forms[0]} graph;"
                f" allowed: {', '.join(sorted(allowed))}",
                field=f"{field}.{key}",
            )
    return forms[0]


def _apply_overrides(graph: Graph, source: Mapping[str, Any], field: str) -> Graph:
    """``name`` and explicit values given beside any form replace what the form produced."""
    if "name" in source:
        name = source["name"]
        if not isinstance(name, str) or not name:
            raise GraphError("name must be a non-empty string", field=f"{field}.name")
        graph = dataclasses.replace(graph, name=name)
    if "values" in source and "valueList" in source:
        raise GraphError("give values or valueList, not both", field=f"{field}.values")
    for key in ("values", "valueList"):
        if key in source:
            values = parse_value_list(source[key], n=graph.n, field=f"{field}.{key}")
            graph = graph.with_initial_values(values)
    return graph


# --- generators -------------------------------------------------------------------------


def _load_generated(source: Mapping[str, Any], *, limits: GraphLimits, field: str) -> Graph:
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
    return _graph_from_networkx(result, name=label)


def _networkx_generator(name: str, field: str) -> Callable[..., Any]:
    """The networkx generator function of that name; anything else is refused by name."""
    function = getattr(nx, name, None) if re.fullmatch(r"[a-zA-Z]\w*", name) else None
    if not _is_generator(name, function):
        known = sorted(set(NATIVE_GENERATORS) | set(_networkx_generator_names()))
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise GraphError(f"unknown generator {name!r}{hint}", field=field)
    assert function is not None
    graph_inputs = [p for p in inspect.signature(function).parameters if p == "G"]
    if graph_inputs:
        raise GraphError(f"{name} transforms a graph; it cannot build one from params", field=field)
    return function  # type: ignore[no-any-return]


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
    if key == "n" and not (_is_int(value) and value >= 1):
        raise GraphError(f"n must be an integer of at least 1, got {value!r}", field=field)
    if key in _COUNTS and not (_is_int(value) and value >= 0):
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
    if generator == "random_k_out_graph" and _is_int(k) and _is_int(n) and k >= n:
        raise GraphError(f"k must be less than n = {n}, got {k}", field=f"{field}.k")
    gnm = NATIVE_GENERATORS.get(generator) is graph_generators.gnm_random_graph
    if gnm and _is_int(m) and _is_int(n) and m > n * (n - 1) // 2:
        raise GraphError(
            f"m must be at most n(n-1)/2 = {n * (n - 1) // 2}, got {m}", field=f"{field}.m"
        )
    ba_family = (
        "barabasi_albert_graph",
        "extended_barabasi_albert_graph",
        "powerlaw_cluster_graph",
    )
    if generator in ba_family and _is_int(m) and _is_int(n) and not 1 <= m < n:
        raise GraphError(f"m must lie in 1..n-1 = 1..{n - 1}, got {m}", field=f"{field}.m")


def _checked_seed(seed: object, field: str) -> int:
    if not (_is_int(seed) and seed >= 0):
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
    return n if _is_int(n) else None


def _expected_edges(generator: str, params: Mapping[str, Any]) -> int | None:
    estimate = _EDGE_COUNTS.get(generator)
    if estimate is None:
        return None
    try:
        return math.floor(estimate(params))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


# --- adjacency lists and edge lists -------------------------------------------------------


def _graph_from_adjacency(raw: object, *, name: str, limits: GraphLimits, field: str) -> Graph:
    """Parse seed/networkx adjacency lines: the first vertex is adjacent to all the others."""
    heads, tokens, counts = _split_adjacency(raw, field)
    if len(tokens) - len(heads) > 2 * limits.max_edges:
        limits.check_edges(len(tokens) - len(heads), field=field)
    ids, n, labels = _index_labels(tokens)
    limits.check_vertices(n, field=field)
    is_head = np.zeros(len(tokens), dtype=bool)
    is_head[heads] = True
    src = np.repeat(ids[is_head], counts)
    return Graph.from_edges(n, src, ids[~is_head], name=name, labels=labels)


def _split_adjacency(raw: object, field: str) -> tuple[list[int], list[str], list[int]]:
    """Token positions of line heads, all tokens in order, and neighbour counts per line."""
    if isinstance(raw, str):
        lines: Sequence[object] = raw.splitlines()
    elif isinstance(raw, Sequence):
        lines = raw
    else:
        raise GraphError(
            f"expected a list of lines or a text, got {type(raw).__name__}", field=field
        )
    heads: list[int] = []
    tokens: list[str] = []
    counts: list[int] = []
    for number, line in enumerate(lines, start=1):
        parts = _adjacency_tokens(line, number, field)
        if parts:
            heads.append(len(tokens))
            counts.append(len(parts) - 1)
            tokens.extend(parts)
    return heads, tokens, counts


def _adjacency_tokens(line: object, number: int, field: str) -> list[str]:
    """A line's labels; blank and ``#`` comment lines have none, as in networkx adjlists."""
    if _is_int(line):
        line = str(line)
    if not isinstance(line, str):
        raise GraphError(
            f"line {number} is a {type(line).__name__}, not a line of vertex labels",
            field=f"{field}[{number}]",
        )
    text = line.split("#", 1)[0].strip()
    if not text:
        return []
    body = text.removesuffix(",").rstrip()
    if not body or "," in body:
        raise GraphError(
            f"line {number} ({line!r}) cannot be parsed: expected 'u v1 v2 …' with at most one"
            " trailing comma",
            field=f"{field}[{number}]",
        )
    return body.split()


def _parse_edge_lines(text: str, *, csv: bool, limits: GraphLimits, field: str) -> list[str]:
    """Endpoint tokens of an edge list, two per edge; extra columns (weights) are ignored."""
    rows = [
        (number, line.split("#", 1)[0].split("%", 1)[0].replace(",", " ").split())
        for number, line in enumerate(text.splitlines(), start=1)
    ]
    rows = [(number, parts) for number, parts in rows if parts]
    limits.check_edges(len(rows), field=field)
    if csv and len(rows) > 1 and not _all_ints(rows[0][1][:2]) and _all_ints(rows[1][1][:2]):
        rows = rows[1:]  # a header line above numeric rows
    tokens: list[str] = []
    for number, parts in rows:
        if len(parts) < 2:
            raise GraphError(
                f"line {number} ({' '.join(parts)!r}) needs two vertices",
                field=f"{field}[{number}]",
            )
        tokens.extend(parts[:2])
    return tokens


def _index_labels(tokens: Sequence[str]) -> tuple[IntArray, int, tuple[str, ...] | None]:
    """Number the distinct labels: numerically if all are integers, else by first appearance."""
    numbers = _as_integers(tokens)
    if numbers is not None:
        distinct = np.sort(numbers)
        if len(distinct):
            distinct = distinct[np.concatenate(([True], distinct[1:] != distinct[:-1]))]
        n = len(distinct)
        identity = n == 0 or (distinct[0] == 0 and distinct[-1] == n - 1)
        labels = None if identity else tuple(str(label) for label in distinct.tolist())
        return np.searchsorted(distinct, numbers).astype(np.int64), n, labels
    index: dict[str, int] = {}
    ids = np.fromiter(
        (index.setdefault(token, len(index)) for token in tokens), dtype=np.int64, count=len(tokens)
    )
    return ids, len(index), tuple(index)


def _as_integers(tokens: Sequence[str]) -> IntArray | None:
    if not tokens:
        return np.empty(0, dtype=np.int64)
    try:
        return np.asarray(tokens, dtype=str).astype(np.int64)
    except (ValueError, OverflowError):
        return None


def _all_ints(tokens: Sequence[str]) -> bool:
    return bool(tokens) and _as_integers(tokens) is not None


def _graph_from_networkx(graph: nx.Graph, *, name: str) -> Graph:
    """Convert with the label rule above; a numeric ``value`` on every vertex becomes a value."""
    nodes = list(graph.nodes)
    ids, n, labels = _index_labels([str(node) for node in nodes])
    position = dict(zip(nodes, ids.tolist(), strict=True))
    edges = np.array(
        [(position[u], position[v]) for u, v in graph.edges()], dtype=np.int64
    ).reshape(-1, 2)
    values = _node_values(graph, nodes, ids)
    return Graph.from_edges(
        n, edges[:, 0], edges[:, 1], name=name, labels=labels, initial_values=values
    )


def _node_values(graph: nx.Graph, nodes: list[Any], ids: IntArray) -> FloatArray | None:
    raw = [graph.nodes[node].get("value") for node in nodes]
    if not raw or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw):
        return None
    values = np.empty(len(nodes), dtype=np.float64)
    values[ids] = raw
    return values if bool(np.isfinite(values).all()) else None


# --- files and seed resources ------------------------------------------------------------


def _load_file(
    source: Mapping[str, Any], *, limits: GraphLimits, base_dir: Path | None, field: str
) -> Graph:
    path = _resolve(source["file"], base_dir, f"{field}.file")
    file_format = _file_format(path, source.get("format"), field)
    try:
        if file_format in ("edgelist", "csv", "adjlist"):
            return _load_text_graph(path, file_format, limits, f"{field}.file")
        reader: Callable[[Path], nx.Graph] = {
            "graphml": nx.read_graphml,
            "gexf": nx.read_gexf,
            "gml": _read_gml,
        }[file_format]
        graph = reader(path)
    except (OSError, UnicodeDecodeError, nx.NetworkXError, ValueError, SyntaxError) as exc:
        raise GraphError(
            f"cannot read {path} as {file_format}: {exc}", field=f"{field}.file"
        ) from exc
    return _graph_from_networkx(graph, name=_stem(path))


def _load_text_graph(path: Path, file_format: str, limits: GraphLimits, field: str) -> Graph:
    text = _read_text(path)
    if file_format == "adjlist":
        return _graph_from_adjacency(text, name=_stem(path), limits=limits, field=field)
    tokens = _parse_edge_lines(text, csv=file_format == "csv", limits=limits, field=field)
    ids, n, labels = _index_labels(tokens)
    limits.check_vertices(n, field=field)
    return Graph.from_edges(n, ids[0::2], ids[1::2], name=_stem(path), labels=labels)


def _read_text(path: Path) -> str:
    if path.suffix == ".gz":
        import gzip

        with gzip.open(path, "rt", encoding="utf-8") as stream:
            return stream.read()
    if path.suffix == ".bz2":
        import bz2

        with bz2.open(path, "rt", encoding="utf-8") as stream:
            return stream.read()
    return path.read_text(encoding="utf-8")


def _read_gml(path: Path) -> nx.Graph:
    """GML vertices by their ``label``, or by ``id`` in files that leave labels out."""
    try:
        return nx.read_gml(path)
    except nx.NetworkXError as exc:
        if "label" not in str(exc):
            raise
        return nx.read_gml(path, label="id")


def _file_format(path: Path, given: object, field: str) -> str:
    formats = sorted(set(_FILE_FORMATS.values()))
    if given is not None:
        if given not in formats:
            raise GraphError(
                f"unknown format {given!r}; known: {', '.join(formats)}", field=f"{field}.format"
            )
        return str(given)
    suffixes = [s for s in path.suffixes if s not in (".gz", ".bz2")]
    found = _FILE_FORMATS.get(suffixes[-1].lower()) if suffixes else None
    if found is None:
        raise GraphError(
            f"cannot tell the format of {path.name} from its extension; set format to one of"
            f" {', '.join(formats)}",
            field=f"{field}.format",
        )
    return found


def _load_resource(raw: object, limits: GraphLimits, base_dir: Path | None, field: str) -> Graph:
    path = _resolve(raw, base_dir, field)
    docs = [doc for doc in _yaml_documents(path, field) if doc is not None]
    graphs = [doc for doc in docs if isinstance(doc, Mapping) and doc.get("kind") == "Graph"]
    if len(graphs) > 1:
        raise GraphError(f"{path} holds {len(graphs)} Graph resources; expected one", field=field)
    if not graphs and len(docs) != 1:
        raise GraphError(f"{path} holds no Graph resource", field=field)
    try:
        return load_seed_graph_resource(graphs[0] if graphs else docs[0], limits=limits)
    except GraphError as exc:
        raise GraphError(f"in {path}: {exc}", field=field) from exc


def _check_resource_header(doc: Mapping[str, Any]) -> None:
    if doc.get("apiVersion") != SEED_API_VERSION:
        raise GraphError(
            f"apiVersion is {doc.get('apiVersion')!r}; expected {SEED_API_VERSION!r}",
            field="apiVersion",
        )
    if doc.get("kind") != "Graph":
        raise GraphError(f"kind is {doc.get('kind')!r}; expected 'Graph'", field="kind")
    metadata = doc.get("metadata")
    if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str):
        raise GraphError("a Graph resource needs metadata.name", field="metadata.name")


def _candidate_files(target: Path) -> list[Path]:
    if target.is_dir():
        return [p for p in target.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()]
    if target.is_file():
        return [target]
    if any(char in str(target) for char in "*?["):
        return [Path(p) for p in glob.glob(str(target), recursive=True) if Path(p).is_file()]
    raise GraphError(f"{target} is neither a directory, a file nor a glob pattern")


def _holds_graph(path: Path, wanted: Mapping[str, str]) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GraphError(f"cannot read {path}: {exc}") from exc
    if "Graph" not in text or any(value not in text for value in wanted.values()):
        return False  # cheap pre-filter: parsing hundreds of 1000-vertex resources takes seconds
    for doc in _parse_yaml(text, path, field=None):
        if isinstance(doc, Mapping) and doc.get("kind") == "Graph":
            metadata = doc.get("metadata")
            labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
            labels = labels if isinstance(labels, Mapping) else {}
            if all(str(labels.get(key)) == value for key, value in wanted.items()):
                return True
    return False


def _yaml_documents(path: Path, field: str) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GraphError(f"cannot read {path}: {exc}", field=field) from exc
    return _parse_yaml(text, path, field)


def _parse_yaml(text: str, path: Path, field: str | None) -> list[Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return list(yaml.load_all(text, Loader=loader))
    except yaml.YAMLError as exc:
        raise GraphError(f"{path} is not valid YAML: {exc}", field=field) from exc


def _resolve(raw: object, base_dir: Path | None, field: str) -> Path:
    if not isinstance(raw, str | Path) or not str(raw):
        raise GraphError(f"expected a file path, got {raw!r}", field=field)
    path = Path(raw).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        raise GraphError(f"no such file: {path}", field=field)
    return path


def _stem(path: Path) -> str:
    return path.name.split(".", 1)[0] or path.name


# --- small checks -------------------------------------------------------------------------


def _number(item: object, index: int, field: str) -> float:
    try:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ValueError
        value = float(item)
    except ValueError:
        raise GraphError(
            f"value {index + 1} ({item!r}) is not a number", field=f"{field}[{index + 1}]"
        ) from None
    if not math.isfinite(value):
        raise GraphError(f"value {index + 1} is {item!r}; values must be finite", field=field)
    return value
