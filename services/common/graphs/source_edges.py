"""The ``edges`` form of a graph: a graph as built, carried inline in a spec.

``gossipsim submit`` reads a spec's local graph files on the user's machine, where the paths
mean what they mean to ``gossipsim run``, and sends each graph inline, because the scheduler
and the runners read no local files (``GOSSIPSIM_GRAPH_ROOTS`` is empty by default). What
travels is the graph as it was built, not the file's text: vertex numbers fixed, labels and
initial values explicit. The services then rebuild exactly the graph the user's machine built
— the same numbering, labels and values, hence the same runs and results — with no file
system, no file-format parser and no numbering rule involved::

    {name: net, vertices: 4, edges: "0 1\\n1 2\\n2 3", labels: [a, b, c, d],
     values: [1.0, 0.0, 0.0, 0.0]}

``vertices`` (default: one more than the largest endpoint) numbers the vertices ``0..n-1``.
``edges`` are pairs of those numbers, in either direction (loops and repeats dropped, as
everywhere), written either as a list of pairs (``[[0, 1], [1, 2]]``, handy by hand) or as a
text of whitespace-separated numbers, a pair per line (what ``gossipsim submit`` sends: it is
a single JSON string, so a message of a million edges is decoded, hashed and copied at C speed
rather than as a million little lists). ``labels`` (optional) names the vertices in order;
``values`` is the key common to every form.

Sizes are checked against :class:`GraphLimits` before anything is built, and errors name the
pair (``edges[12]``, the 13th) and what was expected, never the value found there: a graph may
be someone's data.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

import numpy as np

from gossipsim.common.errors import GraphError
from gossipsim.common.graphs.graph import Graph, IntArray
from gossipsim.common.graphs.limits import GraphLimits, csr_build_bytes, is_int

__all__ = ["EDGES_FORM_KEYS", "edges_source", "graph_from_edge_list"]

EDGES_FORM_KEYS = frozenset({"vertices", "labels"})
"""Keys the ``edges`` form takes besides ``edges`` and the keys common to every form."""

_MAX_DIGITS = 18  # a vertex number of more digits is past any vertex limit (and int64)


def graph_from_edge_list(source: Any, *, limits: GraphLimits, field: str) -> Graph:
    """The graph ``source["edges"]`` describes (with ``vertices`` and ``labels``), named
    ``edges`` unless the caller applies ``name``; :class:`GraphError` naming the field."""
    given = _vertex_count(source.get("vertices"), limits, f"{field}.vertices")
    bound = given if given is not None else limits.max_vertices
    raw, where = source["edges"], f"{field}.edges"
    if isinstance(raw, str):
        src, dst = _text_endpoints(raw, bound, limits, where)
    else:
        src, dst = _list_endpoints(raw, bound, limits, where)
    n = given if given is not None else _implied_vertices(src, dst)
    limits.check_memory(
        csr_build_bytes(n, len(src)),
        what=f"a graph of {n:,} vertices and {len(src):,} edges",
        field=where,
    )
    labels = _labels(source.get("labels"), n, f"{field}.labels")
    return Graph.from_edges(n, src, dst, name="edges", labels=labels)


def edges_source(graph: Graph) -> dict[str, Any]:
    """``graph`` as an ``edges`` source that builds it again exactly: its name, vertex count,
    each edge once as a line ``u v`` (``u < v``, in CSR order), and its labels and initial
    values if it has them. JSON-able (a float64 value survives JSON unchanged)."""
    rows = np.repeat(np.arange(graph.n, dtype=np.int64), graph.degrees)
    upper = rows < graph.indices
    pairs = zip(rows[upper].tolist(), graph.indices[upper].tolist(), strict=True)
    source: dict[str, Any] = {
        "name": graph.name,
        "vertices": graph.n,
        "edges": "\n".join(f"{u} {v}" for u, v in pairs),
    }
    if graph.labels is not None:
        source["labels"] = list(graph.labels)
    if graph.initial_values is not None:
        source["values"] = graph.initial_values.tolist()
    return source


def _vertex_count(raw: object, limits: GraphLimits, field: str) -> int | None:
    if raw is None:
        return None
    if not is_int(raw) or raw < 1:
        raise GraphError("must be the number of vertices, an integer >= 1", field=field)
    limits.check_vertices(int(raw), field=field)
    return int(raw)


def _pair_error(bound: int, field: str, index: int) -> GraphError:
    return GraphError(
        f"expected a pair of vertex numbers in 0..{bound - 1:,}", field=f"{field}[{index}]"
    )


def _text_endpoints(
    text: str, bound: int, limits: GraphLimits, field: str
) -> tuple[IntArray, IntArray]:
    """Both endpoints of every pair of a text of numbers ``u v``, checked with numpy."""
    if not text.isascii():
        raise GraphError(
            "expected lines 'u v' of vertex numbers written in ASCII digits", field=field
        )
    tokens = text.split()
    if len(tokens) % 2:
        raise GraphError(
            f"holds {len(tokens):,} vertex numbers, an odd count; expected lines 'u v'",
            field=field,
        )
    limits.check_edges(len(tokens) // 2, field=field)
    if not tokens:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    digits = np.array(tokens)
    del tokens
    bad = ~np.char.isdigit(digits) | (np.char.str_len(digits) > _MAX_DIGITS)
    if bad.any():
        raise _pair_error(bound, field, int(np.argmax(bad)) // 2)
    numbers = digits.astype(np.int64)
    del digits
    outside = numbers >= bound
    if outside.any():
        raise _pair_error(bound, field, int(np.argmax(outside)) // 2)
    return numbers[0::2], numbers[1::2]


def _list_endpoints(
    raw: object, bound: int, limits: GraphLimits, field: str
) -> tuple[IntArray, IntArray]:
    """Both endpoints of every pair of a list ``[[u, v], …]``, its length checked first."""
    if isinstance(raw, bytes) or not isinstance(raw, Sequence):
        raise GraphError(
            f"expected a list of pairs [u, v] or lines 'u v', got a {type(raw).__name__}",
            field=field,
        )
    limits.check_edges(len(raw), field=field)
    src, dst = array("q"), array("q")
    for index, pair in enumerate(raw):
        if (
            isinstance(pair, str | bytes)
            or not isinstance(pair, Sequence)
            or len(pair) != 2
            or not all(is_int(end) and 0 <= end < bound for end in pair)
        ):
            raise _pair_error(bound, field, index)
        src.append(int(pair[0]))
        dst.append(int(pair[1]))
    return np.frombuffer(src, dtype=np.int64), np.frombuffer(dst, dtype=np.int64)


def _implied_vertices(src: IntArray, dst: IntArray) -> int:
    """Without ``vertices``: one more than the largest endpoint (0 for no edges)."""
    return int(max(src.max(), dst.max())) + 1 if len(src) else 0


def _labels(raw: object, n: int, field: str) -> tuple[str, ...] | None:
    """``n`` distinct vertex names in vertex order, or None where none are given."""
    if raw is None:
        return None
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        raise GraphError(
            f"expected a list of {n:,} vertex names, got a {type(raw).__name__}", field=field
        )
    if len(raw) != n:
        raise GraphError(f"has {len(raw):,} labels for a graph of {n:,} vertices", field=field)
    seen: set[str] = set()
    for index, label in enumerate(raw):
        if not isinstance(label, str):
            raise GraphError("expected a vertex name (a string)", field=f"{field}[{index}]")
        if label in seen:
            raise GraphError("repeats the label of an earlier vertex", field=f"{field}[{index}]")
        seen.add(label)
    return tuple(raw)
